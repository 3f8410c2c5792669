// The fabric's event queue against a reference ordering (std::multimap keeps equal keys in
// insertion order): times from the current slot to far beyond the wheel, many equal times,
// pushes interleaved with lookups and partial drains.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "models/common/event_queue.h"

namespace mlasim {
namespace {

TEST(FabricEventQueue, MatchesAStableReferenceOrder) {
  std::mt19937_64 rng(7);
  FabricEventQueue q;
  std::multimap<uint64_t, uint32_t> ref;
  uint64_t now = 0;
  uint32_t next_id = 0;
  uint64_t popped = 0;
  auto push = [&](uint64_t t) {
    q.push(FabricEvent{t, next_id, 0});
    ref.emplace(t, next_id);
    ++next_id;
  };
  for (int round = 0; round < 20000; ++round) {
    const int pushes = static_cast<int>(rng() % 4);
    for (int i = 0; i < pushes; ++i) {
      const uint64_t kind = rng() % 10;
      uint64_t dt;
      if (kind < 3) {
        dt = 0;  // same time as now: behind every event of that time
      } else if (kind < 7) {
        dt = rng() % 2000;  // within a slot or two
      } else if (kind < 9) {
        dt = rng() % 3'000'000;  // across the wheel
      } else {
        dt = 5'000'000 + rng() % 200'000'000;  // beyond it
      }
      push(now + dt - dt % 3);  // coarse times: many equal
    }
    ASSERT_EQ(q.size(), ref.size());
    if (ref.empty()) continue;
    EXPECT_EQ(q.top().key, ref.begin()->first);
    // Take out everything due by a time a little ahead (sometimes nothing).
    const uint64_t until = now + rng() % 5000;
    while (q.ready_by(until)) {
      ASSERT_FALSE(ref.empty());
      const FabricEvent e = q.pop_front();
      ASSERT_EQ(e.key, ref.begin()->first);
      ASSERT_EQ(e.a, ref.begin()->second);
      now = e.key;
      ref.erase(ref.begin());
      ++popped;
    }
    EXPECT_TRUE(ref.empty() || ref.begin()->first > until);
    if (ref.empty() || rng() % 50 == 0) now = std::max(now, until);
  }
  while (q.ready_by(UINT64_MAX)) {
    const FabricEvent e = q.pop_front();
    ASSERT_EQ(e.a, ref.begin()->second);
    ref.erase(ref.begin());
    ++popped;
  }
  EXPECT_TRUE(ref.empty());
  EXPECT_TRUE(q.empty());
  EXPECT_GT(popped, 20000u);
}

}  // namespace
}  // namespace mlasim
