// HBM calibration runs (see hbm_calibration.h).
#include "models/hbm/hbm_calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "models/hbm/hbm_engine.h"
#include "models/hbm/hbm_traffic.h"

namespace mlasim {

HbmCalibration calibrate_hbm(const HbmParams& params, const HbmCalibrationOptions& o) {
  HbmCalibration c;
  c.peak_bytes_per_s = params.peak_bandwidth().bytes_per_s();
  HbmTrafficSpec stream;
  stream.pattern = HbmPattern::Sequential;
  stream.total_bytes = o.stream_bytes;
  stream.request_bytes = o.stream_request_bytes;
  stream.outstanding = o.stream_outstanding;
  const HbmTrafficResult s = run_hbm_traffic(params, stream);
  c.stream_efficiency = s.bandwidth() / c.peak_bytes_per_s;

  HbmTrafficSpec random;
  random.pattern = HbmPattern::Random;
  random.request_bytes = params.org.burst.count();
  random.total_bytes = o.random_requests * random.request_bytes;
  random.outstanding = o.random_outstanding;
  const HbmTrafficResult r = run_hbm_traffic(params, random);
  c.random_efficiency = r.bandwidth() / c.peak_bytes_per_s;

  // Idle latency: single reads to random addresses, each alone in the memory; the median,
  // so that the few that meet a refresh do not count.
  {
    EventLoop loop;
    HbmEngine hbm(params, loop);
    std::mt19937_64 rng(1);
    std::vector<double> latency;
    for (int i = 0; i < 101; ++i) {
      const Time at = Time::us(2.0 * i);
      const uint64_t address = (rng() % (16ull << 30)) & ~uint64_t{31};
      loop.at(at, [&, at, address] {
        hbm.access(MemRequest{address, params.org.burst, false},
                   [&, at] { latency.push_back((loop.now() - at).to_ns()); });
      });
    }
    loop.run();
    std::sort(latency.begin(), latency.end());
    c.idle_latency_ns = latency[latency.size() / 2];
  }
  c.wall_seconds = s.wall_seconds + r.wall_seconds;
  return c;
}

std::array<std::pair<const char*, std::string>, 3> HbmBandwidthFigures::config_values() const {
  return {{{"peak", fmt::format("{}B/s", peak_bytes_per_s)},
           {"efficiency", fmt::format("{}", efficiency)},
           {"latency", fmt::format("{}ns", latency_ns)}}};
}

HbmBandwidthFigures bandwidth_fidelity_of(const HbmParams& params) {
  HbmCalibrationOptions options;
  options.random_requests = 1;
  const HbmCalibration c = calibrate_hbm(params, options);
  HbmBandwidthFigures f;
  f.peak_bytes_per_s = c.peak_bytes_per_s;
  f.efficiency = std::round(c.stream_efficiency * 1e5) / 1e5;
  f.latency_ns = std::round(c.idle_latency_ns * 100) / 100;
  return f;
}

}  // namespace mlasim
