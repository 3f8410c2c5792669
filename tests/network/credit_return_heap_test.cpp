// The credit-return heap against the standard heap algorithms it mirrors: with many returns of
// equal time but different credit counts, every pop must give the same return as
// std::pop_heap would (the order of equal times decides how many credits a reservation collects,
// and so the peak queue the packet fabric reports).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "models/common/credit_return_heap.h"

namespace mlasim {
namespace {

using Return = CreditReturnHeap::Return;

struct Later {
  bool operator()(const Return& a, const Return& b) const { return a.t > b.t; }
};

TEST(CreditReturnHeap, PopsInTheStandardHeapsOrderIncludingEqualTimes) {
  std::mt19937_64 rng(5);
  CreditReturnHeap heap;
  std::vector<Return> ref;
  size_t pops = 0, ties = 0;
  int64_t now = 0;
  for (int i = 0; i < 200000; ++i) {
    // Mostly pushes while small, mostly pops while large; few distinct times, so ties abound.
    const bool push = ref.empty() || rng() % 64 >= std::min<size_t>(ref.size(), 60);
    if (push) {
      const Return r{now + static_cast<int64_t>(rng() % 8) * 100,
                     static_cast<uint32_t>(1 + rng() % 70)};
      heap.push(r);
      ref.push_back(r);
      std::push_heap(ref.begin(), ref.end(), Later{});
    } else {
      ASSERT_FALSE(heap.empty());
      const Return got = heap.top();
      const Return want = ref.front();
      ASSERT_EQ(got.t, want.t) << "pop " << pops;
      ASSERT_EQ(got.credits, want.credits) << "pop " << pops;
      heap.pop();
      std::pop_heap(ref.begin(), ref.end(), Later{});
      ref.pop_back();
      ++pops;
      if (!ref.empty() && ref.front().t == want.t) ++ties;
      now = want.t;
    }
    ASSERT_EQ(heap.size(), ref.size());
  }
  EXPECT_GT(pops, 50000u);
  EXPECT_GT(ties, 10000u);  // equal times were exercised, not just distinct ones
}

}  // namespace
}  // namespace mlasim
