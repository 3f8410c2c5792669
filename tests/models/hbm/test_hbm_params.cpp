// HBM parameters from a config: errors name the key; the address map splits addresses into
// the fields it lists, mixed radix, and its per-pseudo-channel cursors visit exactly the bursts
// of a range that fall in their pseudo-channel.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "models/hbm/hbm_address_map.h"
#include "sim/errors.h"

namespace mlasim {
namespace {

std::string error_for(const std::string& yaml) {
  const ConfigNode root = load_config_string(yaml, "test.yaml", ".");
  try {
    read_params<HbmParams>(root.find("memory"), "hardware.memory", {"type"});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HbmParams, ErrorsNameTheKey) {
  EXPECT_NE(error_for("memory: {controller: {address_map: 'bg,pc,xx'}}")
                .find("hardware.memory.controller.address_map"),
            std::string::npos);
  EXPECT_NE(error_for("memory: {controller: {write_high: 80}}").find("controller.write_high"),
            std::string::npos);
  EXPECT_NE(error_for("memory: {timing: {rc: 10}}").find("timing.rc"), std::string::npos);
  EXPECT_EQ(error_for("memory: {org: {stacks: 4}}"), "");
}

TEST(HbmAddressMap, MixedRadixFieldsAndCursors) {
  const HbmOrganisation org;  // 5 stacks: 160 pseudo-channels, not a power of two
  const HbmAddressMap map(org, "bg,co:2,pc,ch,st,co,ba,sid,ro");
  EXPECT_EQ(map.bursts(), HbmParams{}.capacity().count() / 32);
  EXPECT_EQ(map.pc_chunk(), 16u);
  // Burst 0..15: bank groups rotate fastest, then two column bits, all in pseudo-channel 0.
  const auto a = map.locate(1), b = map.locate(4), c = map.locate(16);
  EXPECT_EQ(a.pc, 0u);
  EXPECT_EQ(map.bank_group_of(a.bank), 1u);
  EXPECT_EQ(b.column, 1u);
  EXPECT_EQ(c.pc, 1u);
  // Column bits above the pseudo-channels continue the column: 160 chunks later.
  EXPECT_EQ(map.locate(16 * 160).column, 4u);
  EXPECT_EQ(map.locate(16 * 160).pc, 0u);
  // Cursors: every burst of an odd range in exactly one pseudo-channel's walk.
  const uint64_t begin = 12345, end = begin + 100000;
  uint64_t visited = 0;
  for (uint32_t pc = 0; pc < org.pseudo_channels_total(); ++pc) {
    HbmAddressMap::Cursor cur;
    const uint64_t count = map.count_in_pc(begin, end, pc);
    uint64_t n = 0;
    if (map.first_in_pc(begin, end, pc, cur)) {
      for (; cur.valid(); cur.next()) {
        ASSERT_EQ(map.locate(cur.index()).pc, pc);
        ASSERT_EQ(map.locate(cur.index()).bank, cur.bank());
        ASSERT_EQ(map.locate(cur.index()).row, cur.row());
        ++n;
      }
    }
    ASSERT_EQ(n, count) << "pseudo-channel " << pc;
    visited += n;
  }
  EXPECT_EQ(visited, end - begin);
}

TEST(HbmAddressMap, PcOfChunkAgreesWithLocate) {
  // The cycle table (PC digits together above the chunk) and the fallback (split PC digits)
  // must both name the PC that locate() finds for every burst of the chunk.
  const HbmOrganisation org;
  for (const char* spec : {"bg,co:2,pc,ch,st,co,ba,sid,ro", "co:2,pc,bg,ch,st,co,ba,sid,ro",
                           "bg,co,ba,sid,pc,ch,st,ro"}) {
    const HbmAddressMap map(org, spec);
    const uint64_t chunk = map.pc_chunk();
    for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{159}, uint64_t{160}, uint64_t{161},
                       uint64_t{12345}, map.bursts() / chunk - 1}) {
      for (uint64_t x = k * chunk; x < (k + 1) * chunk; x += chunk / 2 + 1)
        ASSERT_EQ(map.pc_of_chunk(k), map.locate(x).pc) << spec << " chunk " << k;
    }
  }
}

TEST(HbmAddressMap, SkippingRoundsMatchesStepping) {
  // uniform_rounds(n) counts whole rounds whose banks and rows repeat, the row's last one
  // included; skip_rounds() over any number of them must land where n x rounds next() calls
  // do, the carry into the next banks included.
  const HbmOrganisation org;
  const HbmAddressMap map(org, "bg,co:2,pc,ch,st,co,ba,sid,ro");
  const uint32_t n = org.bank_groups;
  const uint64_t end = map.bursts();
  int checked_final = 0;
  for (const uint64_t begin : {uint64_t{0}, uint64_t{16 * 160 * 7}, uint64_t{16 * 160 * 8 + 4}}) {
    HbmAddressMap::Cursor start;
    ASSERT_TRUE(map.first_in_pc(begin, end, 3, start));
    for (int step = 0; step < 300; ++step, start.next()) {
      if (!start.at_round_start()) continue;
      const uint64_t rounds = start.uniform_rounds(n);
      ASSERT_GT(rounds, 0u) << "a cursor at a round start in this map always has one";
      for (uint64_t r : {uint64_t{1}, rounds / 2, rounds}) {
        if (r == 0) continue;
        HbmAddressMap::Cursor skipped = start, stepped = start;
        std::vector<std::pair<uint32_t, uint32_t>> first_round;
        for (uint64_t i = 0; i < r * n; ++i) {
          if (i < n) {
            first_round.emplace_back(stepped.bank(), stepped.row());
          } else {
            ASSERT_EQ(stepped.bank(), first_round[i % n].first) << "burst " << i;
            ASSERT_EQ(stepped.row(), first_round[i % n].second) << "burst " << i;
          }
          stepped.next();
        }
        skipped.skip_rounds(n, r);
        ASSERT_EQ(skipped.index(), stepped.index());
        ASSERT_EQ(skipped.bank(), stepped.bank());
        ASSERT_EQ(skipped.row(), stepped.row());
        ASSERT_EQ(skipped.at_round_start(), stepped.at_round_start());
        if (r == rounds) {
          // The round after the last one goes to other banks (or another row).
          ASSERT_TRUE(stepped.bank() != first_round[0].first ||
                      stepped.row() != first_round[0].second);
          ++checked_final;
        }
      }
    }
  }
  EXPECT_GT(checked_final, 10);
}

}  // namespace
}  // namespace mlasim
