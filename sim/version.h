// The simulator's version string: project version plus `git describe` of the source tree,
// refreshed at every build (not only at configure time), recorded in each run's metadata.
#pragma once

namespace mlasim {

const char* version();

}  // namespace mlasim
