// FCT percentiles by selection against the definition: linear interpolation between the order
// statistics of a sorted copy. The summary's p50/p99 must not change by a bit when the report
// stops sorting millions of completion times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "models/common/network_report.h"

namespace mlasim {
namespace {

double sorted_quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

TEST(Quantile, SelectionMatchesTheSortedDefinitionBitForBit) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> value(0.0, 1000.0);
  for (size_t n : {1u, 2u, 3u, 10u, 99u, 100u, 101u, 1000u, 4097u}) {
    for (int dup = 0; dup < 2; ++dup) {
      std::vector<double> v(n);
      // With dup, few distinct values: equal order statistics on both sides of a quantile.
      for (double& x : v)
        x = dup ? static_cast<double>(rng() % 5) : value(rng);
      for (double p : {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
        const double want = sorted_quantile(v, p);
        std::vector<double> w = v;
        EXPECT_EQ(quantile_in_place(w, p), want) << "n " << n << " p " << p;
        // Reusing the reordered vector (as the report does for p50 then p99) changes nothing.
        EXPECT_EQ(quantile_in_place(w, 0.5), sorted_quantile(v, 0.5));
        EXPECT_EQ(quantile(v, p), want);
      }
    }
  }
  std::vector<double> empty;
  EXPECT_EQ(quantile_in_place(empty, 0.99), 0.0);
}

}  // namespace
}  // namespace mlasim
