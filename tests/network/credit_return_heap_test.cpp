// The credit-return heap against the standard heap algorithms it mirrors: with many returns of
// equal time but different credit counts, every pop must give the same return as
// std::pop_heap would (the order of equal times decides how many credits a reservation collects,
// and so the peak queue the packet fabric reports). The heap keeps its root inline and the rest
// out of line, so both large heaps and ones that keep emptying (the fabric's common case) are
// checked, and a copy must carry on exactly as the original.
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

struct Counts {
  size_t pops = 0, ties = 0, empties = 0, max_size = 0;
};

// Random pushes and pops on `heap` and on a std::push_heap/pop_heap vector, comparing every
// pop. A push happens with probability 1 - min(size, cap) / modulus, so the heap hovers below
// `cap` entries when cap <= modulus.
void run_against_standard(CreditReturnHeap& heap, std::vector<Return>& ref, std::mt19937_64& rng,
                          int steps, size_t modulus, size_t cap, Counts& c) {
  int64_t now = ref.empty() ? 0 : ref.front().t;
  for (int i = 0; i < steps; ++i) {
    const bool push = ref.empty() || rng() % modulus >= std::min(ref.size(), cap);
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
      ASSERT_EQ(got.t, want.t) << "pop " << c.pops;
      ASSERT_EQ(got.credits, want.credits) << "pop " << c.pops;
      heap.pop();
      std::pop_heap(ref.begin(), ref.end(), Later{});
      ref.pop_back();
      ++c.pops;
      if (!ref.empty() && ref.front().t == want.t) ++c.ties;
      if (ref.empty()) ++c.empties;
      now = want.t;
    }
    ASSERT_EQ(heap.size(), ref.size());
    ASSERT_EQ(heap.empty(), ref.empty());
    ASSERT_EQ(heap.earliest(), ref.empty() ? INT64_MAX : ref.front().t);
    c.max_size = std::max(c.max_size, ref.size());
  }
}

TEST(CreditReturnHeap, PopsInTheStandardHeapsOrderIncludingEqualTimes) {
  std::mt19937_64 rng(5);
  CreditReturnHeap heap;
  std::vector<Return> ref;
  Counts c;
  run_against_standard(heap, ref, rng, 200000, 64, 60, c);
  EXPECT_GT(c.pops, 50000u);
  EXPECT_GT(c.ties, 10000u);  // equal times were exercised, not just distinct ones
  EXPECT_GT(c.max_size, 40u);
}

TEST(CreditReturnHeap, SmallHeapsThatKeepEmptyingPopInTheStandardOrder) {
  // At most a few returns at a time: the inline root and the first out-of-line entries.
  std::mt19937_64 rng(11);
  CreditReturnHeap heap;
  std::vector<Return> ref;
  Counts c;
  run_against_standard(heap, ref, rng, 200000, 3, 3, c);
  EXPECT_GT(c.pops, 50000u);
  EXPECT_GT(c.empties, 10000u);
  EXPECT_GT(c.ties, 1000u);
  EXPECT_EQ(c.max_size, 3u);
}

TEST(CreditReturnHeap, ACopyCarriesOnAsTheOriginal) {
  std::mt19937_64 rng(17);
  CreditReturnHeap heap;
  std::vector<Return> ref;
  Counts c;
  run_against_standard(heap, ref, rng, 5000, 64, 30, c);
  ASSERT_GT(ref.size(), 10u);
  CreditReturnHeap copy(heap);
  CreditReturnHeap assigned;
  assigned = heap;
  std::vector<Return> ref_copy = ref, ref_assigned = ref;
  std::mt19937_64 rng_copy = rng, rng_assigned = rng;
  run_against_standard(heap, ref, rng, 20000, 64, 30, c);
  run_against_standard(copy, ref_copy, rng_copy, 20000, 64, 30, c);
  run_against_standard(assigned, ref_assigned, rng_assigned, 20000, 64, 30, c);
}

}  // namespace
}  // namespace mlasim
