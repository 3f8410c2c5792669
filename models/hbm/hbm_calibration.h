// Calibration of the bandwidth fidelity against the cycle-level HBM model, without SystemC:
// a long sequential read (stream_efficiency), random 32 B reads with deep queues
// (random_efficiency), and single reads to an idle memory (idle_latency_ns, the median). `mlasim
// calibrate hbm` prints these; `type: hbm_bandwidth` takes its efficiency and latency from them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "models/hbm/hbm_params.h"

namespace mlasim {

struct HbmCalibrationOptions {
  uint64_t stream_bytes = 256ull << 20;
  uint64_t stream_request_bytes = 1 << 20;
  uint32_t stream_outstanding = 16;
  uint64_t random_requests = 200000;
  uint32_t random_outstanding = 8192;
};

struct HbmCalibration {
  double peak_bytes_per_s = 0;
  double stream_efficiency = 0;  // achieved / pin peak, sequential reads
  double random_efficiency = 0;  // achieved / pin peak, random 32 B reads
  double idle_latency_ns = 0;    // 32 B read to an idle memory, arrival to completion (median)
  double wall_seconds = 0;       // time the measurements took
};

HbmCalibration calibrate_hbm(const HbmParams& params, const HbmCalibrationOptions& options = {});

// The bandwidth fidelity (`type: hbm_bandwidth`) of a cycle-level HBM: its pin peak, and the
// stream efficiency and idle latency calibrated on it, rounded as the h800 defaults of
// HbmBandwidthParams are (five digits, 10 ps; so the h800 and h100 presets give exactly those).
// About 0.2 s (the random-read measurement is skipped).
struct HbmBandwidthFigures {
  double peak_bytes_per_s = 0;
  double efficiency = 0;
  double latency_ns = 0;
  // As the `hbm_bandwidth` section's keys and values: peak, efficiency, latency.
  std::array<std::pair<const char*, std::string>, 3> config_values() const;
};
HbmBandwidthFigures bandwidth_fidelity_of(const HbmParams& params);

}  // namespace mlasim
