// The fabric's event queue against a reference ordering (std::multimap keeps equal keys in
// insertion order): times from the current slot to far beyond the wheel, many equal times,
// pushes interleaved with lookups and partial drains.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "models/common/event_queue.h"

namespace mlasim {
namespace {

// Pushes up to max_pushes - 1 events a round at times drawn by `draw` (ps after now), takes out
// everything due a little later, and checks every event against the reference.
template <class Draw>
void check_against_reference(uint64_t seed, int rounds, int max_pushes, Draw draw) {
  std::mt19937_64 rng(seed);
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
  for (int round = 0; round < rounds; ++round) {
    const int pushes = static_cast<int>(rng() % static_cast<uint64_t>(max_pushes));
    for (int i = 0; i < pushes; ++i) {
      const uint64_t dt = draw(rng);
      push(now + dt - dt % 3);  // coarse times: many equal
    }
    ASSERT_EQ(q.size(), ref.size());
    if (ref.empty()) continue;
    // Looking does not take: the first of the earliest time, wherever it waits.
    EXPECT_EQ(q.top().key, ref.begin()->first);
    EXPECT_EQ(q.top().a, ref.begin()->second);
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
  EXPECT_EQ(popped, next_id);
  EXPECT_GT(popped, static_cast<uint64_t>(rounds));
}

TEST(FabricEventQueue, MatchesAStableReferenceOrder) {
  check_against_reference(7, 20000, 4, [](std::mt19937_64& rng) -> uint64_t {
    const uint64_t kind = rng() % 10;
    if (kind < 3) return 0;                  // same time as now: behind its equals
    if (kind < 7) return rng() % 2000;       // within a slot or two
    if (kind < 9) return rng() % 3'000'000;  // across the wheel
    return 5'000'000 + rng() % 200'000'000;  // beyond it
  });
}

// Dozens of events per slot: slots that overflow their own lines into spilled chunks, and
// pushes into the current slot while it is read in place.
TEST(FabricEventQueue, KeepsTheOrderWhenSlotsOverflow) {
  check_against_reference(11, 3000, 100, [](std::mt19937_64& rng) -> uint64_t {
    const uint64_t kind = rng() % 10;
    if (kind < 2) return 0;
    if (kind < 9) return rng() % 4000;  // a few slots ahead, 20 or more events each
    return rng() % 3'000'000;
  });
}

// Hundreds of events in a slot or two: chains of many spilled chunks, freed as each slot is
// taken and used again by later slots (so a chain mixes chunks of different ages).
TEST(FabricEventQueue, KeepsTheOrderAcrossChainsOfSpilledChunks) {
  check_against_reference(13, 2000, 300, [](std::mt19937_64& rng) -> uint64_t {
    const uint64_t kind = rng() % 10;
    if (kind < 1) return 0;
    if (kind < 9) return 1024 + rng() % 1024;  // all in the next slot or the one after
    return rng() % 100'000;
  });
}

// Looking at the next event takes nothing: beyond the wheel, a later push of an earlier time
// comes first, one of an equal time behind the first; on the wheel, a slot looked at before it
// is due still lets an earlier slot go first.
TEST(FabricEventQueue, LookingAtTheNextEventTakesNothing) {
  FabricEventQueue q;
  uint32_t id = 0;
  auto push = [&](uint64_t t) { q.push(FabricEvent{t, id++, 0}); };
  push(10'000'000);  // 0: beyond the wheel
  EXPECT_EQ(q.top().a, 0u);
  push(9'000'000);  // 1: earlier, still beyond
  EXPECT_EQ(q.top().a, 1u);
  push(9'000'000);  // 2: the same time, behind 1
  EXPECT_EQ(q.top().a, 1u);
  push(5'000);  // 3: on the wheel
  EXPECT_EQ(q.top().a, 3u);
  EXPECT_FALSE(q.ready_by(4'999));
  push(2'000);  // 4: an earlier slot than the one just looked at
  EXPECT_EQ(q.top().a, 4u);
  std::vector<uint32_t> order;
  while (q.ready_by(UINT64_MAX))
    order.push_back(q.pop_front().a);
  EXPECT_EQ(order, (std::vector<uint32_t>{4, 3, 1, 2, 0}));
}

}  // namespace
}  // namespace mlasim
