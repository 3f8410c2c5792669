// The raw SystemC timed-event rate, measured in the run that reports a model's speed: one
// module re-arms one timed notification N times (the cheapest possible timed event: its delay
// is built once, not per notification, as an efficient model would). The
// network benchmark prints packet hops per second beside it. Elaborated with the scenario
// (`network.probe_events`), run after the workload has finished.
#pragma once

#include <systemc>

#include <chrono>
#include <cstdint>

#include <time.h>

namespace mlasim {

class TimedEventProbe : public sc_core::sc_module {
 public:
  explicit TimedEventProbe(const sc_core::sc_module_name& name) : sc_core::sc_module(name) {
    SC_HAS_PROCESS(TimedEventProbe);
    SC_METHOD(tick);
    sensitive << ev_;
    dont_initialize();
  }
  // Runs `n` timed notifications 1 ns apart to starvation; returns notifications per wall
  // second (per_cpu_s(): per second of this process's CPU time, robust to a busy host).
  double measure(uint64_t n) {
    if (n == 0) return 0.0;
    remaining_ = n;
    ev_.notify(period_);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now();
    sc_core::sc_start();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double c = cpu_now() - c0;
    per_cpu_s_ = c > 0 ? static_cast<double>(n) / c : 0.0;
    return s > 0 ? static_cast<double>(n) / s : 0.0;
  }
  double per_cpu_s() const { return per_cpu_s_; }

 private:
  void tick() {
    if (--remaining_ > 0) ev_.notify(period_);
  }
  static double cpu_now() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  }
  sc_core::sc_event ev_;
  const sc_core::sc_time period_{1, sc_core::SC_NS};
  uint64_t remaining_ = 0;
  double per_cpu_s_ = 0;
};

}  // namespace mlasim
