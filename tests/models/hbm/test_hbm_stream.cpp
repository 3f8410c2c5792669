// Streaming and random-access behaviour of the cycle-level HBM model against the pin peak.
#include <gtest/gtest.h>

#include "models/hbm/hbm_traffic.h"

namespace mlasim {
namespace {

TEST(HbmStream, SequentialReachesMostOfPeak) {
  HbmParams p;
  HbmTrafficSpec s;
  s.total_bytes = 256ull << 20;
  s.request_bytes = 1 << 20;
  s.outstanding = 16;
  const auto r = run_hbm_traffic(p, s);
  const double eff = r.bandwidth() / p.peak_bandwidth().bytes_per_s();
  std::printf("stream eff %.4f wall %.3f s events %lu  bursts/s %.3g\n", eff, r.wall_seconds,
              (unsigned long)r.events, r.bytes / 32.0 / r.wall_seconds);
  EXPECT_GE(eff, 0.85);
  EXPECT_LE(eff, 0.95);
}

TEST(HbmStream, RandomSmallReadsFallFarBelowPeak) {
  HbmParams p;
  HbmTrafficSpec s;
  s.pattern = HbmPattern::Random;
  s.total_bytes = 32ull * 200000;
  s.request_bytes = 32;
  s.outstanding = 8192;
  const auto r = run_hbm_traffic(p, s);
  const double eff = r.bandwidth() / p.peak_bandwidth().bytes_per_s();
  std::printf("random eff %.4f wall %.3f s events %lu req/s %.3g lat %s\n", eff, r.wall_seconds,
              (unsigned long)r.events, r.requests / r.wall_seconds, r.mean_latency.str().c_str());
  EXPECT_LT(eff, 0.5);
}

}  // namespace
}  // namespace mlasim
