// HBM calibration runs (see hbm_calibration.h).
#include "models/hbm/hbm_calibration.h"

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

  HbmTrafficSpec one;
  one.total_bytes = one.request_bytes = params.org.burst.count();
  one.outstanding = 1;
  const HbmTrafficResult l = run_hbm_traffic(params, one);
  c.idle_latency_ns = l.mean_latency.to_ns();
  c.wall_seconds = s.wall_seconds + r.wall_seconds + l.wall_seconds;
  return c;
}

}  // namespace mlasim
