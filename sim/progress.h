// The progress line a run draws on a terminal: simulated time, the share of the op graphs'
// ops done, the wall time so far and, once there is enough to go on, an estimate of
// the wall time left. A long run (a packet-level step of a large cluster takes minutes to
// hours) then says when it will end, not only that it is alive.
#pragma once

#include <cstdint>
#include <string>

#include "sim/units.h"

namespace mlasim {

struct ProgressFigures {
  Time simulated;
  uint64_t ops_done = 0, ops_total = 0;  // ops finished and in all, every rank's
  double wall_s = 0;                     // since the simulation started
};

// The estimate of wall time left assumes the rest of the ops go at the rate of those done so
// far (ops of one step are of a few kinds, repeated layer after layer). None is given before
// 1% of the ops or 2 s of wall time, where it would be noise. Negative: no estimate.
double progress_eta_s(const ProgressFigures& f);

// One line of at most about 80 characters, no newline (the caller rewrites it in place with a
// carriage return).
std::string format_progress(const ProgressFigures& f);

}  // namespace mlasim
