// HbmPseudoChannel's configuration from the parameters, and refresh: all-bank or per-bank
// refresh commands, and idle stretches of refresh skipped in one step (see
// hbm_pseudo_channel.h).
#include <algorithm>

#include "models/hbm/hbm_pseudo_channel.h"

namespace mlasim {

HbmPcConfig HbmPcConfig::from(const HbmParams& p) {
  const HbmTiming& t = p.timing;
  HbmPcConfig c{};
  c.cl = t.cl;
  c.cwl = t.cwl;
  c.bl = t.bl;
  c.rcd_rd = t.rcd_rd;
  c.rcd_wr = t.rcd_wr;
  c.rp = t.rp;
  c.ras = t.ras;
  c.rc = t.rc;
  c.wr = t.wr;
  c.rtp = t.rtp;
  c.ccd_s = t.ccd_s;
  c.ccd_l = t.ccd_l;
  c.rrd_s = t.rrd_s;
  c.rrd_l = t.rrd_l;
  c.faw = t.faw;
  c.wtr_s = t.wtr_s;
  c.wtr_l = t.wtr_l;
  c.rtw = t.rtw;
  c.banks = p.org.banks_per_pc();
  c.groups = p.org.sids * p.org.bank_groups;
  c.banks_per_group = p.org.banks;
  c.queue[0] = p.controller.read_queue;
  c.queue[1] = p.controller.write_queue;
  c.write_high = p.controller.write_high;
  c.write_low = p.controller.write_low;
  c.page_policy = p.controller.page_policy;
  c.fast_path = p.controller.fast_path;
  c.refresh_mode = p.refresh.mode;
  const int64_t tck = p.org.tck.ps();
  auto ceil_cycles = [tck](Time x) { return (x.ps() + tck - 1) / tck; };
  switch (p.refresh.mode) {
    case RefreshMode::AllBank:
      c.refi = p.refresh.trefi.ps() / tck;
      c.rfc = ceil_cycles(p.refresh.trfc);
      break;
    case RefreshMode::PerBank:
      // Every bank is refreshed once per tREFI, one bank at a time.
      c.refi = p.refresh.trefi.ps() / tck / c.banks;
      c.rfc = ceil_cycles(p.refresh.trfc_pb);
      break;
    case RefreshMode::None:
      c.refi = kNever;
      c.rfc = 0;
      break;
  }
  return c;
}

void HbmPseudoChannel::refresh(int64_t due) {
  dirty_ = ~uint64_t{0};
  row_cache_.valid = false;
  const HbmPcConfig& g = cfg_;
  const int64_t start = std::max(due, cur_);
  if (g.refresh_mode == RefreshMode::AllBank) {
    // Nothing else issues once the refresh is due: PREA when every open bank allows it, REF
    // when every bank is precharged, then all banks wait tRFC.
    int64_t pa = std::max(start, row_bus_ok_);
    bool any_open = false;
    for (const Bank& k : banks_) {
      if (k.open_row >= 0) {
        pa = std::max(pa, k.pre_ok);
        any_open = true;
      }
    }
    int64_t ref = start;
    if (any_open) {
      for (Bank& k : banks_) {
        if (k.open_row < 0) continue;
        stats_.bank_open_integral += static_cast<uint64_t>(pa - k.open_since);
        k.open_row = -1;
        k.act_ok = std::max(k.act_ok, pa + g.rp);
      }
      ++stats_.precharges;
      ref = pa + 1;
    }
    ref = std::max(ref, row_bus_ok_);
    for (const Bank& k : banks_)
      ref = std::max(ref, k.act_ok);
    for (Bank& k : banks_) {
      k.act_ok = ref + g.rfc;
      k.closed_for_conflict = false;
    }
    row_bus_ok_ = ref + 1;
    cur_ = std::max(cur_, ref);
    stats_.refresh_cycles += static_cast<uint64_t>(g.rfc);
  } else {
    Bank& k = banks_[refresh_bank_];
    if (k.open_row >= 0) {
      const int64_t p = std::max(start, k.pre_ok);
      stats_.bank_open_integral += static_cast<uint64_t>(p - k.open_since);
      k.open_row = -1;
      k.act_ok = std::max(k.act_ok, p + g.rp);
    }
    const int64_t ref = std::max(start, k.act_ok);
    k.act_ok = ref + g.rfc;
    k.closed_for_conflict = false;
    refresh_bank_ = (refresh_bank_ + 1) % g.banks;
    stats_.refresh_cycles += static_cast<uint64_t>(g.rfc);
  }
  ++stats_.refreshes;
  refresh_due_ += g.refi;
}

void HbmPseudoChannel::skip_idle_refreshes(int64_t until) {
  const HbmPcConfig& g = cfg_;
  if (g.refresh_mode == RefreshMode::None || refresh_due_ >= until) return;
  const int64_t round = g.refresh_mode == RefreshMode::AllBank ? g.refi : g.refi * g.banks;
  const int64_t rounds = (until - refresh_due_) / round - 2;
  if (rounds <= 0) return;
  // An idle channel only refreshes: after one round every bank is closed and the rounds
  // skipped here look alike, so they are counted, not simulated; the last two rounds before
  // `until` run normally and leave the bank timing exact.
  for (Bank& k : banks_) {
    if (k.open_row >= 0) {
      stats_.bank_open_integral +=
          static_cast<uint64_t>(std::max<int64_t>(0, refresh_due_ - k.open_since));
      k.open_row = -1;
      k.closed_for_conflict = false;
    }
  }
  dirty_ = ~uint64_t{0};
  row_cache_.valid = false;
  const int64_t steps = g.refresh_mode == RefreshMode::AllBank ? rounds : rounds * g.banks;
  stats_.refreshes += static_cast<uint64_t>(steps);
  stats_.refresh_cycles += static_cast<uint64_t>(steps * g.rfc);
  refresh_due_ += steps * g.refi;
  account(refresh_due_);
  cur_ = std::max(cur_, refresh_due_ - g.refi);
}

}  // namespace mlasim
