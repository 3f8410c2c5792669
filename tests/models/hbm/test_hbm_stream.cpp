// Streaming and random-access behaviour of the cycle-level HBM model against the pin peak
// (REFERENCE.md §3: a well-scheduled stream reaches roughly 85-93% of pin peak; random 32 B
// accesses far less, limited by row misses and tFAW).
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "models/hbm/hbm_engine.h"
#include "models/hbm/hbm_traffic.h"

namespace mlasim {
namespace {

TEST(HbmStream, SequentialReadReachesMostOfPinPeak) {
  const HbmParams p;
  HbmTrafficSpec s;
  s.total_bytes = 256ull << 20;
  s.request_bytes = 1 << 20;
  s.outstanding = 16;
  const HbmTrafficResult r = run_hbm_traffic(p, s);
  const double eff = r.bandwidth() / p.peak_bandwidth().bytes_per_s();
  EXPECT_GE(eff, 0.85);
  EXPECT_LE(eff, 0.95);
  // What is lost is mostly refresh: tRFC + tRP + re-activation every tREFI, about 10%.
  const double refresh =
      (p.refresh.trfc.to_ns() + (p.timing.rp + p.timing.rcd_rd) * p.org.tck.to_ns()) /
      p.refresh.trefi.to_ns();
  EXPECT_NEAR(1.0 - eff, refresh, 0.03);
}

TEST(HbmStream, ManyConcurrentStreamsStayEfficient) {
  // 64 streams of 16 KB requests in their own regions, 4 in flight each (a GPU's SMs each
  // streaming their operands): the default mapping keeps 512 B per pseudo-channel visit, so
  // row conflicts between streams cost little.
  const HbmParams p;
  EventLoop loop;
  HbmEngine hbm(p, loop);
  const int streams = 64;
  const uint64_t per_stream = 1 << 20, req = 16 << 10;
  std::vector<uint64_t> next(streams, 0);
  uint64_t done = 0;
  std::function<void(int)> issue = [&](int s) {
    if (next[s] >= per_stream) return;
    const uint64_t a = static_cast<uint64_t>(s) * (7ull << 20) + next[s];
    next[s] += req;
    hbm.access(MemRequest{a, Bytes(req), false}, [&, s] {
      done += req;
      issue(s);
    });
  };
  for (int s = 0; s < streams; ++s) {
    for (int d = 0; d < 4; ++d)
      issue(s);
  }
  loop.run();
  ASSERT_EQ(done, streams * per_stream);
  const double eff = done / loop.now().to_seconds() / p.peak_bandwidth().bytes_per_s();
  EXPECT_GT(eff, 0.8);
  const HbmTotals t = hbm.totals();
  EXPECT_GT(t.row_hits, 2 * (t.row_misses + t.row_conflicts));
}

TEST(HbmStream, RandomSmallReadsFallFarBelowPeak) {
  const HbmParams p;
  HbmTrafficSpec s;
  s.pattern = HbmPattern::Random;
  s.total_bytes = 32ull * 100000;
  s.request_bytes = 32;
  s.outstanding = 8192;
  const HbmTrafficResult r = run_hbm_traffic(p, s);
  const double eff = r.bandwidth() / p.peak_bandwidth().bytes_per_s();
  // Every access opens a row: at most 4 ACTs per tFAW per pseudo-channel, i.e. one 32 B burst
  // per tFAW / 4 cycles against one per tBL at the pin peak.
  const double faw_bound = static_cast<double>(p.timing.bl) / (p.timing.faw / 4.0);
  EXPECT_LT(eff, faw_bound);
  EXPECT_LT(eff, 0.5);
  EXPECT_GT(eff, 0.5 * faw_bound);
}

}  // namespace
}  // namespace mlasim
