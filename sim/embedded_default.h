// The default scenario, embedded in the binary at build time (configs/scenarios/default.yaml).
#pragma once

#include <string_view>

namespace mlasim {

std::string_view embedded_default_scenario();

}  // namespace mlasim
