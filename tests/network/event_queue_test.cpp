// The fabric's event queue against a reference ordering (std::multimap keeps equal keys in
// insertion order): times from the current slot to far beyond the wheel, many equal times,
// pushes interleaved with lookups and partial drains.
#include <gtest/gtest.h>

#include <algorithm>
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

// Dozens of events of one far time (and of a later time in the same slot) move onto the wheel
// together when it turns to them: into the slot's lines and then its spill, in the order they
// were pushed; one looked at first, before its slot is due, is the first of them.
TEST(FabricEventQueue, AFarBurstMovesOntoTheWheelInOrder) {
  FabricEventQueue q;
  std::vector<std::pair<uint64_t, uint32_t>> expected;
  uint32_t id = 0;
  auto push = [&](uint64_t t) {
    q.push(FabricEvent{t, id, 0});
    expected.emplace_back(t, id++);
  };
  for (int i = 0; i < 40; ++i)
    push(i % 2 == 0 ? 20'000'500 : 20'000'000);  // beyond the wheel, one slot
  push(1'000);                                   // on the wheel
  EXPECT_EQ(q.top().a, 40u);
  std::stable_sort(expected.begin(), expected.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::pair<uint64_t, uint32_t>> order;
  EXPECT_TRUE(q.ready_by(1'000));
  order.emplace_back(q.front().key, q.pop_front().a);
  EXPECT_FALSE(q.ready_by(19'999'999));
  EXPECT_EQ(q.top().a, 1u);  // the first pushed of the earlier far time
  while (q.ready_by(UINT64_MAX)) {
    const FabricEvent e = q.pop_front();
    order.emplace_back(e.key, e.a);
  }
  EXPECT_EQ(order, expected);
}

// Looking at a slot whose earliest event was spilled finds that one; once that slot is taken,
// looking at the next slot (sorted ahead as the wheel turned) finds that slot's own first.
TEST(FabricEventQueue, LookingFindsASpilledFirstThenTheNextSlots) {
  FabricEventQueue q;
  uint32_t id = 0;
  auto push = [&](uint64_t t) { q.push(FabricEvent{t, id++, 0}); };
  for (int i = 0; i < 16; ++i)
    push(2'500);  // 0-15: slot 2's own lines
  for (int i = 0; i < 4; ++i)
    push(2'100);  // 16-19: spilled, yet the earliest
  push(4'600);    // 20: slot 4
  push(4'500);    // 21
  EXPECT_EQ(q.top().a, 16u);
  std::vector<uint32_t> slot2;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(q.ready_by(2'999));
    slot2.push_back(q.pop_front().a);
  }
  EXPECT_EQ(slot2, (std::vector<uint32_t>{16, 17, 18, 19, 0,  1,  2,  3,  4,  5,
                                          6,  7,  8,  9,  10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(q.top().a, 21u);
  EXPECT_EQ(q.top().key, 4'500u);
}

// ahead() names the events after the front: within the current slot exactly, then the next
// occupied slot's own lines (by time when they hold all its events, else in push order); none
// among a slot's spilled events.
TEST(FabricEventQueue, AheadNamesTheNextEventsForPrefetching) {
  FabricEventQueue q;
  uint32_t id = 0;
  auto push = [&](uint64_t t) { q.push(FabricEvent{t, id++, 0}); };
  push(2'100);  // 0: slot 2
  push(2'050);  // 1
  for (int i = 0; i < 3; ++i)
    push(4'000 - i);  // 2-4: slot 3, all in its lines
  ASSERT_TRUE(q.ready_by(2'100));
  EXPECT_EQ(q.front().a, 1u);
  ASSERT_NE(q.ahead(1), nullptr);
  EXPECT_EQ(q.ahead(1)->a, 0u);
  ASSERT_NE(q.ahead(2), nullptr);
  EXPECT_EQ(q.ahead(2)->a, 4u);  // slot 3 sorted ahead: time 3,998 first
  EXPECT_EQ(q.ahead(5), nullptr);
  q.pop_front();
  q.pop_front();
  for (int i = 0; i < 20; ++i)
    push(6'000 - i);  // 5-24: slot 5, 4 of them spilled
  ASSERT_TRUE(q.ready_by(4'000));
  EXPECT_EQ(q.front().a, 4u);
  ASSERT_NE(q.ahead(3), nullptr);
  EXPECT_EQ(q.ahead(3)->a, 5u);  // slot 5 overflows: its lines in push order
  EXPECT_EQ(q.ahead(3 + 15)->a, 20u);
  EXPECT_EQ(q.ahead(3 + 16), nullptr);  // spilled
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
