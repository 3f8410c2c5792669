// Command sequences on one pseudo-channel, checked against completion times computed by hand
// from the timing parameters (H800 defaults in tCK: CL 17, CWL 9, BL 2, RCD_RD 26, RCD_WR 13,
// RP 22, RAS 37, RC 59, WR 27, RTP 8, CCD_S/L 2/4, RRD_S/L 4/5, FAW 20, WTR_S/L 6/9).
// A read's data is complete at RD + CL + BL, a write's at WR + CWL + BL; the controller latency
// is set to 0 so a completion lands exactly on that cycle.
#include <gtest/gtest.h>

#include <vector>

#include "models/hbm/hbm_engine.h"

namespace mlasim {
namespace {

// One pseudo-channel, 4 bank groups x 4 banks, 1 KB rows. Address of (row, bank group, bank,
// column): consecutive bursts stay in one row of one bank.
HbmParams one_channel() {
  HbmParams p;
  p.org.stacks = 1;
  p.org.channels = 1;
  p.org.pseudo_channels = 1;
  p.org.sids = 1;
  p.org.rows = 1024;
  p.refresh.mode = RefreshMode::None;
  p.controller.latency = Time::ps(0);
  p.controller.address_map = "co,bg,ba,sid,pc,ch,st,ro";
  return p;
}
uint64_t addr(uint64_t row, uint64_t bg, uint64_t bank, uint64_t col) {
  return 32 * (col + 32 * (bg + 4 * (bank + 4 * row)));
}

struct Access {
  Time at;
  uint64_t address;
  uint64_t bytes = 32;
  bool write = false;
};

// Completion cycle of each access.
std::vector<int64_t> run(const HbmParams& p, const std::vector<Access>& accesses) {
  EventLoop loop;
  HbmEngine hbm(p, loop);
  std::vector<int64_t> done(accesses.size(), -1);
  for (size_t i = 0; i < accesses.size(); ++i) {
    loop.at(accesses[i].at, [&, i] {
      MemRequest r{accesses[i].address, Bytes(accesses[i].bytes), accesses[i].write};
      hbm.access(r, [&, i] { done[i] = loop.now().ps(); });
    });
  }
  loop.run();
  const int64_t tck = p.org.tck.ps();
  for (auto& d : done) {
    EXPECT_EQ(d % tck, 0) << "completion off the clock edge";
    d /= tck;
  }
  return done;
}

TEST(HbmTiming, ReadToClosedBankIsActPlusRcdPlusClPlusBurst) {
  // ACT at 0, RD at tRCD = 26, data done at 26 + 17 + 2.
  EXPECT_EQ(run(one_channel(), {{Time{}, addr(0, 0, 0, 0)}}), (std::vector<int64_t>{45}));
}

TEST(HbmTiming, SameRowReadsAreCcdLApartInOneBankAndCcdSAcrossGroups) {
  const HbmParams p = one_channel();
  // Same bank, same row: RD at 26 and 26 + tCCD_L.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0)}, {Time{}, addr(0, 0, 0, 1)}}),
            (std::vector<int64_t>{45, 49}));
  // Two bank groups: ACTs tRRD_S apart (0, 4), RDs at 26 and 30 (tRCD of the second ACT).
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0)}, {Time{}, addr(0, 1, 0, 0)}}),
            (std::vector<int64_t>{45, 49}));
  // Same bank group, other bank: ACTs tRRD_L apart (0, 5): RD at 31.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0)}, {Time{}, addr(0, 0, 1, 0)}}),
            (std::vector<int64_t>{45, 50}));
}

TEST(HbmTiming, RowConflictWaitsForRasThenRp) {
  const HbmParams p = one_channel();
  // Row 0 then row 1 of one bank: RD0 at 26; PRE at max(ACT + tRAS = 37, RD + tRTP = 34) = 37;
  // ACT at max(PRE + tRP = 59, ACT + tRC = 59) = 59; RD1 at 59 + 26 = 85, done 104.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0)}, {Time{}, addr(1, 0, 0, 0)}}),
            (std::vector<int64_t>{45, 104}));
  // A longer tRC binds instead: ACT at 70, done 70 + 26 + 19 = 115.
  HbmParams q = p;
  q.timing.rc = 70;
  EXPECT_EQ(run(q, {{Time{}, addr(0, 0, 0, 0)}, {Time{}, addr(1, 0, 0, 0)}}),
            (std::vector<int64_t>{45, 115}));
}

TEST(HbmTiming, ReadToPrechargeIsRtp) {
  // 10 row hits RD at 26, 30, ..., 62; PRE at 62 + tRTP = 70 (> ACT + tRAS); ACT at 92;
  // the row-1 read at 118, done 137.
  std::vector<Access> a;
  for (int c = 0; c < 10; ++c)
    a.push_back({Time{}, addr(0, 0, 0, c)});
  a.push_back({Time{}, addr(1, 0, 0, 0)});
  const auto done = run(one_channel(), a);
  EXPECT_EQ(done[9], 62 + 19);
  EXPECT_EQ(done[10], 137);
}

TEST(HbmTiming, WriteRecoveryAndWriteToRead) {
  const HbmParams p = one_channel();
  // Two writes, rows 0 and 1 of one bank (only writes queued: the controller drains them).
  // WR at tRCD_WR = 13, data end 13 + 9 + 2 = 24; PRE at max(37, 24 + tWR = 51) = 51;
  // ACT at 73; WR at 86; done 97.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0), 32, true}, {Time{}, addr(1, 0, 0, 0), 32, true}}),
            (std::vector<int64_t>{24, 97}));
  // Write, then a read of the same row arriving just after the WR: RD waits for the end of
  // the write data + tWTR_L = 24 + 9 = 33 (tRCD alone would allow 26): done 52.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0), 32, true}, {p.org.tck * 14, addr(0, 0, 0, 1)}}),
            (std::vector<int64_t>{24, 52}));
  // A read arriving before the WR issues is served first (reads have priority below the
  // write high-water mark): RD at 26, then WR at RD + tRTW = 43, done 54.
  EXPECT_EQ(run(p, {{Time{}, addr(0, 0, 0, 0), 32, true}, {p.org.tck, addr(0, 0, 0, 1)}}),
            (std::vector<int64_t>{54, 45}));
}

TEST(HbmTiming, FourActivateWindow) {
  HbmParams p = one_channel();
  // Five banks: four bank groups, then bank 1 of group 0. ACTs at 0, 4, 8, 12 (tRRD_S); the
  // fifth at max(12 + 4, 0 + tFAW = 20) = 20; its read at 46, done 65.
  std::vector<Access> a;
  for (int bg = 0; bg < 4; ++bg)
    a.push_back({Time{}, addr(0, bg, 0, 0)});
  a.push_back({Time{}, addr(0, 0, 1, 0)});
  EXPECT_EQ(run(p, a), (std::vector<int64_t>{45, 49, 53, 57, 65}));
  // Without the window the fifth ACT goes at 16: done 61.
  p.timing.faw = 1;
  EXPECT_EQ(run(p, a).back(), 61);
}

TEST(HbmTiming, AllBankRefreshBlocksForRfc) {
  HbmParams p = one_channel();
  p.refresh.mode = RefreshMode::AllBank;
  const int64_t tck = p.org.tck.ps();
  const int64_t refi = p.refresh.trefi.ps() / tck;            // 5104
  const int64_t rfc = (p.refresh.trfc.ps() + tck - 1) / tck;  // 459
  // The only pseudo-channel's first refresh is due at tREFI. A read arriving then waits for
  // REF + tRFC before its ACT.
  const auto done = run(p, {{Time::ps(refi * tck), addr(0, 0, 0, 0)}});
  EXPECT_EQ(done[0], refi + rfc + 45);
  // A read activated a cycle before: once the refresh is due nothing else issues; PREA waits
  // for ACT + tRAS = refi + 36, REF for PREA + tRP = refi + 58, and both reads start over
  // after tRFC (ACTs tRRD_S apart).
  const auto both = run(p, {{Time::ps((refi - 1) * tck), addr(0, 0, 0, 0)},
                            {Time::ps(refi * tck), addr(0, 1, 0, 0)}});
  EXPECT_EQ(both[0], refi + 58 + rfc + 45);
  EXPECT_EQ(both[1], refi + 58 + rfc + 4 + 45);
}

TEST(HbmTiming, RefreshesEveryRefiWhileIdle) {
  HbmParams p = one_channel();
  p.refresh.mode = RefreshMode::AllBank;
  EventLoop loop;
  HbmEngine hbm(p, loop);
  bool done = false;
  // An access after 1 ms of idling catches the channel up: one refresh per tREFI.
  loop.at(Time::us(1000), [&] {
    hbm.access(MemRequest{0, Bytes(32), false}, [&] { done = true; });
  });
  loop.run();
  ASSERT_TRUE(done);
  const int64_t refi = p.refresh.trefi.ps() / p.org.tck.ps();
  const int64_t now = Time::us(1000).ps() / p.org.tck.ps();
  EXPECT_EQ(static_cast<int64_t>(hbm.totals().refreshes), now / refi);
}

TEST(HbmTiming, PerBankRefreshBlocksOnlyItsBank) {
  HbmParams p = one_channel();
  p.refresh.mode = RefreshMode::PerBank;
  const int64_t tck = p.org.tck.ps();
  const int64_t interval = p.refresh.trefi.ps() / tck / 16;  // one bank every tREFI / 16
  const int64_t rfc_pb = (p.refresh.trfc_pb.ps() + tck - 1) / tck;
  // Bank 0 (group 0, bank 0) is refreshed first, at `interval`. A read to it waits tRFCpb;
  // a read to another bank at the same time does not.
  const auto done = run(p, {{Time::ps(interval * tck), addr(0, 0, 0, 0)},
                            {Time::ps(interval * tck), addr(0, 1, 0, 0)}});
  EXPECT_EQ(done[0], interval + rfc_pb + 45);
  EXPECT_EQ(done[1], interval + 45);
}

TEST(HbmTiming, ClosedPagePolicyReactivatesEveryTime) {
  HbmParams p = one_channel();
  p.controller.page_policy = PagePolicy::Closed;
  // The first read's bank auto-precharges at max(ACT + tRAS, RD + tRTP) = 37 once no hit is
  // queued; the second read (same row, a cycle after the first completes) needs a new ACT
  // at 37 + tRP = 59: done 59 + 45.
  const auto done = run(p, {{Time{}, addr(0, 0, 0, 0)}, {p.org.tck * 46, addr(0, 0, 0, 1)}});
  EXPECT_EQ(done[0], 45);
  EXPECT_EQ(done[1], 59 + 45);
  // With open pages the row is still open: RD at 46, done 65.
  EXPECT_EQ(run(one_channel(), {{Time{}, addr(0, 0, 0, 0)}, {p.org.tck * 46, addr(0, 0, 0, 1)}})[1],
            65);
}

TEST(HbmTiming, FrFcfsServesRowHitsBeforeAnOlderConflict) {
  const HbmParams p = one_channel();
  // Row 0 opened by the first read; then (a cycle later) a row-1 read, then row-0 reads.
  // FR-FCFS keeps row 0 open for the younger hits: they go at 26, 30, 34 and the row-1 read
  // waits for PRE at max(37, 34 + 8) = 42, ACT at 64, RD at 90: done 109.
  const Time one = p.org.tck;
  const auto done = run(p, {{Time{}, addr(0, 0, 0, 0)},
                            {one, addr(1, 0, 0, 0)},
                            {one, addr(0, 0, 0, 1)},
                            {one, addr(0, 0, 0, 2)}});
  EXPECT_EQ(done, (std::vector<int64_t>{45, 109, 49, 53}));
}

}  // namespace
}  // namespace mlasim
