// Parameters of the cycle-level HBM model (`type: hbm`): organisation, command timing in
// clock cycles, refresh, and the controller's queues, page policy and address map.
//
// Defaults are the H800/H100 SXM5 HBM3 (configs/hardware/h800.yaml): 5 stacks x 16 channels x
// 2 pseudo-channels (160 independent 32-bit pseudo-channels), 32 B per BL8 burst. The pin rate
// is 5.24 Gb/s, below the 6.4 Gb/s bin, so tCK is scaled to 764 ps: 160 x 32 B / (2 x 764 ps)
// = 3.351 TB/s, the product's figure. JEDEC core timings are fixed in nanoseconds, so the cycle
// counts are the Ramulator 2 `HBM3_6400Mbps` counts (tCK 625 ps) converted at the new clock,
// ceil(n x 625 / 764), except the floor-clamped ones (nBL, nCCD_S). See REFERENCE.md §3.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "sim/params.h"

namespace mlasim {

enum class PagePolicy : uint8_t { Open, Closed };
enum class RefreshMode : uint8_t { AllBank, PerBank, None };
enum class HbmFastPath : uint8_t { Off, Columns, Rounds };

template <>
struct EnumNames<PagePolicy> {
  static constexpr std::array<std::pair<PagePolicy, std::string_view>, 2> values{
      {{PagePolicy::Open, "open"}, {PagePolicy::Closed, "closed"}}};
};
template <>
struct EnumNames<HbmFastPath> {
  static constexpr std::array<std::pair<HbmFastPath, std::string_view>, 3> values{
      {{HbmFastPath::Off, "off"},
       {HbmFastPath::Columns, "columns"},
       {HbmFastPath::Rounds, "rounds"}}};
};
template <>
struct EnumNames<RefreshMode> {
  static constexpr std::array<std::pair<RefreshMode, std::string_view>, 3> values{
      {{RefreshMode::AllBank, "all_bank"},
       {RefreshMode::PerBank, "per_bank"},
       {RefreshMode::None, "none"}}};
};

struct HbmOrganisation {
  // Pseudo-channels on the package (stacks x channels x pseudo_channels) at most this many.
  static constexpr uint64_t kMaxHbmPseudoChannels = 4096;
  uint32_t stacks = 5;
  uint32_t channels = 16;  // per stack
  uint32_t pseudo_channels = 2;
  uint32_t sids = 2;  // stack IDs (8-high: 2, 12-high: 3)
  uint32_t bank_groups = 4;
  uint32_t banks = 4;  // per bank group
  uint32_t rows = 16384;
  uint32_t columns = 32;  // bursts per row: page = columns x burst
  Bytes burst = Bytes(32);
  Time tck = Time::ps(764);
  template <class V>
  void visit(V& v) {
    v("stacks", stacks, "count", "HBM stacks on the package");
    v("channels", channels, "count",
      "channels per stack (stacks x channels x pseudo_channels at most 4096)");
    v("pseudo_channels", pseudo_channels, "count", "pseudo-channels per channel (independent)");
    v("sids", sids, "count", "stack IDs per pseudo-channel (banks multiply)");
    v("bank_groups", bank_groups, "count", "bank groups per SID");
    v("banks", banks, "count", "banks per bank group");
    v("rows", rows, "count", "rows per bank");
    v("columns", columns, "count", "burst-sized columns per row (page = columns x burst)");
    v("burst", burst, "B", "bytes moved by one RD/WR on one pseudo-channel (BL8 x 32 DQ)");
    v("tck", tck, "s", "command clock period; scaled so the pin peak matches the product");
  }
  void validate(const ParamCheck& c) const;
  uint32_t pseudo_channels_total() const { return stacks * channels * pseudo_channels; }
  uint32_t banks_per_pc() const { return sids * bank_groups * banks; }
};

// Command timing in tCK cycles (names as in JESD238 / Ramulator).
struct HbmTiming {
  uint32_t cl = 17;      // RD to first data
  uint32_t cwl = 9;      // WR to first data
  uint32_t bl = 2;       // data-bus cycles per burst
  uint32_t rcd_rd = 26;  // ACT to RD
  uint32_t rcd_wr = 13;  // ACT to WR
  uint32_t rp = 22;      // PRE to ACT
  uint32_t ras = 37;     // ACT to PRE
  uint32_t rc = 59;      // ACT to ACT, same bank
  uint32_t wr = 27;      // write recovery: end of write data to PRE
  uint32_t rtp = 8;      // RD to PRE
  uint32_t ccd_s = 2;    // column to column, different bank group
  uint32_t ccd_l = 4;    // column to column, same bank group
  uint32_t rrd_s = 4;    // ACT to ACT, different bank group
  uint32_t rrd_l = 5;    // ACT to ACT, same bank group
  uint32_t faw = 20;     // window holding at most four ACTs
  uint32_t wtr_s = 6;    // end of write data to RD, different bank group
  uint32_t wtr_l = 9;    // end of write data to RD, same bank group
  uint32_t rtw = 17;     // RD to WR (bus turnaround)
  template <class V>
  void visit(V& v) {
    v("cl", cl, "tCK", "read latency: RD to first data");
    v("cwl", cwl, "tCK", "write latency: WR to first data");
    v("bl", bl, "tCK", "data-bus cycles of one burst");
    v("rcd_rd", rcd_rd, "tCK", "tRCD for reads: ACT to RD, same bank");
    v("rcd_wr", rcd_wr, "tCK", "tRCD for writes: ACT to WR, same bank");
    v("rp", rp, "tCK", "tRP: PRE to ACT, same bank");
    v("ras", ras, "tCK", "tRAS: ACT to PRE, same bank");
    v("rc", rc, "tCK", "tRC: ACT to ACT, same bank");
    v("wr", wr, "tCK", "tWR: end of write data to PRE, same bank");
    v("rtp", rtp, "tCK", "tRTP: RD to PRE, same bank");
    v("ccd_s", ccd_s, "tCK", "tCCD_S: column to column, different bank group");
    v("ccd_l", ccd_l, "tCK", "tCCD_L: column to column, same bank group");
    v("rrd_s", rrd_s, "tCK", "tRRD_S: ACT to ACT, different bank group");
    v("rrd_l", rrd_l, "tCK", "tRRD_L: ACT to ACT, same bank group");
    v("faw", faw, "tCK", "tFAW: at most four ACTs in any window this long");
    v("wtr_s", wtr_s, "tCK", "tWTR_S: end of write data to RD, different bank group");
    v("wtr_l", wtr_l, "tCK", "tWTR_L: end of write data to RD, same bank group");
    v("rtw", rtw, "tCK", "RD to WR turnaround on the data bus");
  }
  void validate(const ParamCheck& c) const;
};

struct HbmRefresh {
  RefreshMode mode = RefreshMode::AllBank;
  Time trefi = Time::ns(3900);
  Time trfc = Time::ns(350);
  Time trfc_pb = Time::ns(200);
  template <class V>
  void visit(V& v) {
    v("mode", mode, "-",
      "all_bank (REFab every tREFI), per_bank (REFpb every tREFI/banks, round robin) or none");
    v("trefi", trefi, "s", "average interval between all-bank refreshes");
    v("trfc", trfc, "s", "all-bank refresh cycle time (16 Gb dies: 350 ns)");
    v("trfc_pb", trfc_pb, "s", "per-bank refresh cycle time");
  }
  void validate(const ParamCheck& c) const;
};

struct HbmControllerParams {
  uint32_t read_queue = 64;   // bursts per pseudo-channel
  uint32_t write_queue = 64;  // bursts per pseudo-channel
  uint32_t write_high = 48;
  uint32_t write_low = 16;
  PagePolicy page_policy = PagePolicy::Open;
  // Default: 512 B per pseudo-channel visit, bursts rotating over the 4 bank groups (so one
  // stream issues every tCCD_S), then the next pseudo-channel. Chunks of 512 B rather than
  // 128 B keep many concurrent streams (one per SM) from thrashing rows: 64-132 streams of
  // 16 KB requests reach ~0.87 of peak here against ~0.5 with 128 B (tests/models/hbm).
  std::string address_map = "bg,co:2,pc,ch,st,co,ba,sid,ro";
  HbmFastPath fast_path = HbmFastPath::Rounds;
  Time latency = Time::ns(15);
  uint32_t threads = 1;
  template <class V>
  void visit(V& v) {
    v("read_queue", read_queue, "bursts",
      "read queue per pseudo-channel: the FR-FCFS window; later bursts wait upstream");
    v("write_queue", write_queue, "bursts", "write queue per pseudo-channel");
    v("write_high", write_high, "bursts", "write-queue level that starts a write drain");
    v("write_low", write_low, "bursts", "write-queue level that ends a write drain");
    v("page_policy", page_policy, "-", "open (rows stay open) or closed (auto-precharge)");
    v("address_map", address_map, "-",
      "fields from least to most significant above the burst offset: st, ch, pc, sid, bg, ba, "
      "ro, co (co:N takes N bits of the column; the rest goes where 'co' appears again)");
    v("fast_path", fast_path, "-",
      "off: burst by burst; columns: runs of row hits in a tight loop; rounds: also whole "
      "rounds of an interleaved stream at once (all three give the same cycles)");
    v("latency", latency, "s", "controller + PHY latency added to every request (uncertain)");
    v("threads", threads, "count",
      "simulator threads, 1 to 64, advancing the pseudo-channels in parallel between "
      "controller events (1: none besides the caller); same results for any count; pays off on "
      "large requests to one GPU's HBM (kernel timing), not in cluster runs");
  }
  void validate(const ParamCheck& c) const;
};

struct HbmParams {
  HbmOrganisation org;
  HbmTiming timing;
  HbmRefresh refresh;
  HbmControllerParams controller;
  Bytes exposed;  // 0: the organisation's whole size
  template <class V>
  void visit(V& v) {
    v.group("org", org, "stacks, channels, banks, rows and the clock");
    v.group("timing", timing, "command timing in tCK");
    v.group("refresh", refresh, "refresh policy and timing");
    v.group("controller", controller, "queues, scheduling policy and address map");
    v("capacity", exposed, "B",
      "capacity the GPU exposes, for the KV-cache and overcommit figures, at most the "
      "organisation's whole size (0: all of it; the h200 preset sets 141GiB of its 144 GiB)");
  }
  void validate(const ParamCheck& c) const;
  // Pin peak: every pseudo-channel moving one burst every `bl` cycles.
  Bandwidth peak_bandwidth() const;
  // Bytes the organisation addresses (stacks x channels x ... x burst).
  Bytes organisation_capacity() const;
  // What the GPU exposes: `exposed`, or the organisation's whole size.
  Bytes capacity() const { return exposed.count() > 0 ? exposed : organisation_capacity(); }
};

}  // namespace mlasim
