// Per-simulation shared state handed to every module: seed, logger, event counter and the root
// of the statistics tree. One object per simulation; never global.
#pragma once

#include <cstdint>

#include "sim/log.h"
#include "sim/stats.h"

namespace mlasim {

struct SimContext {
  explicit SimContext(uint64_t seed_ = 1, LogLevel level = LogLevel::Info)
      : seed(seed_), log(level) {}
  uint64_t seed;
  Logger log;
  uint64_t events = 0;  // model actions executed (each is one SystemC method activation)
  StatGroup stats{"root"};
};

}  // namespace mlasim
