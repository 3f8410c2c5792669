// Per-simulation shared state handed to every module: seed, logger, event counter and the root
// of the statistics tree. One object per simulation; never global.
#pragma once

#include <cstdint>
#include <exception>

#include "sim/errors.h"
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

  // SystemC catches whatever escapes a process and rethrows it from sc_start() as an sc_report
  // whose type is lost (E549 "uncaught exception", several lines long). Every process body runs
  // through guard(), which keeps an InputError or SimulationError here before SystemC sees it;
  // start_kernel() (sim/action_queue.h) then rethrows the kept error as itself.
  std::exception_ptr failure;
  template <class Body>
  void guard(Body&& body) {
    try {
      body();
    } catch (const InputError&) {
      if (!failure) failure = std::current_exception();
      throw;
    } catch (const SimulationError&) {
      if (!failure) failure = std::current_exception();
      throw;
    }
  }
};

}  // namespace mlasim
