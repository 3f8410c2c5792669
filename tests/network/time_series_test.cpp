// Link time series against a plain reference: bins summed in place, one interval at a time, in
// the order given (the series caches its current bin and the one before in registers; each bin
// must still get the same additions in the same order, so the sums agree to the last bit).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "models/common/fabric.h"

namespace mlasim {
namespace {

// The definition: when an interval would reach past max_bins, neighbouring bins merge and the
// width doubles; then every bin it overlaps gets overlap x per_ps.
struct ReferenceSeries {
  int64_t width = 0;
  std::vector<double> bins;
  void add(int64_t t0, int64_t t1, double per_ps, int64_t initial_width, int32_t max_bins) {
    if (t1 <= t0) return;
    if (width == 0) width = std::max<int64_t>(1, initial_width);
    while ((t1 - 1) / width >= max_bins) {
      std::vector<double> merged((bins.size() + 1) / 2, 0.0);
      for (size_t i = 0; i < bins.size(); ++i)
        merged[i / 2] += bins[i];
      bins = std::move(merged);
      width *= 2;
    }
    const auto first = static_cast<size_t>(t0 / width);
    const auto last = static_cast<size_t>((t1 - 1) / width);
    if (bins.size() <= last) bins.resize(last + 1, 0.0);
    for (size_t i = first; i <= last; ++i) {
      const int64_t lo = std::max<int64_t>(t0, static_cast<int64_t>(i) * width);
      const int64_t hi = std::min<int64_t>(t1, static_cast<int64_t>(i + 1) * width);
      bins[i] += static_cast<double>(hi - lo) * per_ps;
    }
  }
};

TEST(TimeSeries, MatchesInPlaceSummationBitForBit) {
  constexpr int64_t kWidth = 1000;
  constexpr int32_t kMaxBins = 16;
  std::mt19937_64 rng(11);
  TimeSeries series;
  ReferenceSeries ref;
  int64_t now = 0;
  size_t checks = 0;
  for (int i = 0; i < 200000; ++i) {
    now += static_cast<int64_t>(rng() % 40);
    // Mostly short intervals ending near `now` (within a bin, or reaching back into the one
    // before it, as buffer stays do), some long ones, some empty; never ending before they
    // start (callers never ask that).
    const uint64_t kind = rng() % 10;
    int64_t len;
    if (kind < 5) {
      len = static_cast<int64_t>(rng() % 300);
    } else if (kind < 8) {
      len = static_cast<int64_t>(rng() % 2500);
    } else if (kind < 9) {
      len = static_cast<int64_t>(rng() % 20000);
    } else {
      len = 0;
    }
    const int64_t t1 = std::max<int64_t>(0, now - static_cast<int64_t>(rng() % 200));
    const int64_t t0 = std::max<int64_t>(0, t1 - len);
    const double per_ps = 0.25 + static_cast<double>(rng() % 1000) / 7.0;
    series.add(t0, t1, per_ps, kWidth, kMaxBins);
    ref.add(t0, t1, per_ps, kWidth, kMaxBins);
    if (i % 997 == 0) {  // reading flushes the cache; the series must carry on correctly
      ASSERT_EQ(series.bins(), ref.bins) << "after interval " << i;
      ++checks;
    }
  }
  EXPECT_EQ(series.width_ps(), ref.width);
  EXPECT_EQ(series.bins(), ref.bins);
  EXPECT_GT(ref.width, kWidth);  // the bins did merge along the way
  EXPECT_GT(checks, 100u);
}

}  // namespace
}  // namespace mlasim
