// Synthetic traffic for memory engines without SystemC: a closed loop keeping `outstanding`
// requests in flight, sequential or uniformly random addresses. Used by `mlasim calibrate hbm`,
// the hardware benchmarks and the tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "models/hbm/event_sink.h"
#include "models/hbm/hbm_params.h"

namespace mlasim {

enum class HbmPattern { Sequential, Random };

struct HbmTrafficSpec {
  HbmPattern pattern = HbmPattern::Sequential;
  uint64_t total_bytes = 64ull << 20;
  uint64_t request_bytes = 64 << 10;
  uint32_t outstanding = 64;
  double write_fraction = 0.0;  // every k-th request a write, k = 1 / write_fraction
  uint64_t base = 0;
  uint64_t seed = 1;
};

struct HbmTrafficResult {
  Time elapsed;  // first issue to last completion
  uint64_t requests = 0;
  uint64_t bytes = 0;
  double wall_seconds = 0;
  uint64_t events = 0;  // callbacks the event loop ran
  Time mean_latency;
  double bandwidth() const { return elapsed.ps() ? bytes / elapsed.to_seconds() : 0.0; }
};

// Runs `spec` against a memory built on `loop` by `make` (a fresh loop per call).
HbmTrafficResult run_memory_traffic(
    const std::function<std::unique_ptr<MemoryPort>(EventSink&)>& make, const HbmTrafficSpec& spec);
// Same, on the cycle-level HBM model with `params`.
HbmTrafficResult run_hbm_traffic(const HbmParams& params, const HbmTrafficSpec& spec);

}  // namespace mlasim
