// The round-batching fast path of HbmPseudoChannel: whole rounds of a streaming rotation
// processed at once (see batch_rounds() in hbm_pseudo_channel.h).
//
// A well-interleaved stream leaves the read queue holding n runs in n different bank groups
// whose bursts alternate perfectly (run j holds ages s0 + j, s0 + j + n, ...), and the intake
// continuing the same pattern in the banks after them. FR-FCFS then issues one burst every
// tCCD_S in rotation, each issue admitting the next burst of the intake. Every check below is a
// condition under which the burst-by-burst loop provably makes exactly those choices, so
// skipping R rounds in one step gives the same cycles; when any check fails the caller falls
// back to the burst-by-burst loop.
#include <algorithm>
#include <bit>

#include "models/hbm/hbm_pseudo_channel.h"

namespace mlasim {

bool HbmPseudoChannel::batch_rounds(int64_t limit, int64_t horizon) {
  const int t = type_;
  const HbmPcConfig& g = cfg_;
  // The bank with the oldest head leads; its run's stride is the rotation's length n.
  uint32_t lead_bank = 64;
  uint64_t s0 = ~uint64_t{0};
  int nb = 0;
  for (uint64_t m = mask_[t]; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    ++nb;
    if (banks_[b].head_seq[t] < s0) {
      s0 = banks_[b].head_seq[t];
      lead_bank = b;
    }
  }
  if (nb < 2) return false;
  const Run& lead = banks_[lead_bank].q[t][0];
  const uint32_t n = lead.stride;
  if (lead.count < 2 || n < 2 || static_cast<int>(n) > nb || n > 64) return false;
  if (g.ccd_l > static_cast<int64_t>(n) * g.ccd_s) return false;
  // The rotation: banks whose heads are s0, s0 + 1, ..., s0 + n - 1; `other` is the oldest
  // head outside it.
  std::array<uint32_t, 64> rot;
  uint64_t found = 0;
  uint64_t other = ~uint64_t{0};
  for (uint64_t m = mask_[t]; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    const uint64_t d = banks_[b].head_seq[t] - s0;
    if (d < n) {
      rot[d] = b;
      found |= uint64_t{1} << d;
    } else {
      other = std::min(other, banks_[b].head_seq[t]);
    }
  }
  if (found != (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1)) return false;
  const int64_t floor = std::max(col_any_ok_[t], cur_);
  const int64_t c0 = floor;
  uint64_t groups = 0;
  for (uint32_t j = 0; j < n; ++j) {
    const Bank& k = banks_[rot[j]];
    const Run& r = k.q[t][0];
    if (r.stride != n || r.req != lead.req) return false;
    if (static_cast<int64_t>(r.row) != k.open_row) return false;
    if (groups & (uint64_t{1} << k.group)) return false;
    groups |= uint64_t{1} << k.group;
    // Bank j must be ready when its turn comes in the first round (later rounds follow).
    const int64_t turn = c0 + static_cast<int64_t>(j) * g.ccd_s;
    if ((t == 0 ? k.rd_ok : k.wr_ok) > turn || col_group_ok_[t][k.group] > turn) return false;
  }
  // The limits known already, checked before the admissions are looked at (a failed attempt
  // is then cheaper): bursts of other banks older than a round's would be chosen first, and
  // every issue must come before `limit` (refresh, arrivals) and not after the first row
  // command.
  uint64_t rounds = ~uint64_t{0} >> 1;
  if (other != ~uint64_t{0}) rounds = (other - s0) / n;
  const int64_t last_ok = std::min(limit - 1, horizon);
  if (last_ok < c0) return false;
  rounds = std::min<uint64_t>(rounds, static_cast<uint64_t>((last_ok - c0) / g.ccd_s + 1) / n);
  if (rounds < 2) return false;
  // Admissions: a full queue admits one burst per issue from the intake's front segment.
  Segment* seg = nullptr;
  std::array<uint32_t, 64> adm_bank;
  uint64_t refilled = 0;  // banks whose issuing run is also the one admissions extend
  if (!intake_[t].empty()) {
    if (window_[t] != g.queue[t]) return false;
    seg = &intake_[t].front();
    rounds = std::min({rounds, seg->cursor.uniform_rounds(n), seg->left / n});
    if (rounds < 2) return false;
    HbmAddressMap::Cursor peek = seg->cursor;
    for (uint32_t j = 0; j < n; ++j) {
      const uint32_t b = peek.bank();
      const Bank& k = banks_[b];
      if (k.q[t].empty()) return false;
      const Run& tail = k.q[t].back();
      // A one-burst tail takes stride n with its next burst, as refill() would give it.
      if (tail.req != seg->req || tail.row != peek.row() || (tail.count > 1 && tail.stride != n)) {
        return false;
      }
      if (tail.seq + static_cast<uint64_t>(tail.count - 1) * n != seq_ - n + j) return false;
      if (k.q[t].size() == 1) refilled |= uint64_t{1} << b;
      adm_bank[j] = b;
      peek.next();
    }
  }
  // A run that admissions do not extend must keep a burst (no bank drains: no closed-page
  // precharge, no change of candidates); one they extend keeps its length.
  for (uint32_t j = 0; j < n; ++j) {
    const uint32_t b = rot[j];
    if (!(refilled & (uint64_t{1} << b))) {
      rounds = std::min<uint64_t>(rounds, banks_[b].q[t][0].count - 1);
    }
  }
  // A write drain without admissions ends when the write queue falls to write_low.
  if (t == 1 && !seg && window_[0] > 0) {
    if (window_[1] <= g.write_low + n) return false;
    rounds = std::min<uint64_t>(rounds, (window_[1] - g.write_low - 1) / n);
  }
  if (rounds < 2) return false;

  // Apply R rounds: issues at c0, c0 + tCCD_S, ... in rotation.
  const uint64_t count = rounds * n;
  const int64_t c_last = c0 + static_cast<int64_t>(count - 1) * g.ccd_s;
  // Queue and intake integrals: the queue stays full (or shrinks by one per issue when
  // nothing is admitted); the intake shrinks by one per issue.
  account(c0);
  {
    const auto dt = static_cast<uint64_t>(g.ccd_s);
    const uint64_t steps = count - 1;
    const uint64_t tri = dt * steps * count / 2;  // sum over the steps of (i + 1) * dt
    const uint64_t total = window_[0] + window_[1];
    const uint64_t waiting = waiting_[0] + waiting_[1];
    stats_.queue_integral += total * dt * steps - (seg ? 0 : tri);
    stats_.intake_integral += waiting * dt * steps - (seg ? tri : 0);
    account_cycle_ = c_last;
  }
  const int64_t data = t == 0 ? g.cl + g.bl : g.cwl + g.bl;
  for (uint32_t j = 0; j < n; ++j) {
    Bank& k = banks_[rot[j]];
    Run& r = k.q[t][0];
    const int64_t last = c0 + static_cast<int64_t>((rounds - 1) * n + j) * g.ccd_s;
    col_group_ok_[t][k.group] = std::max(col_group_ok_[t][k.group], last + g.ccd_l);
    k.pre_ok = std::max(k.pre_ok, t == 0 ? last + g.rtp : last + g.cwl + g.bl + g.wr);
    if (t == 1) {
      col_group_ok_[0][k.group] =
          std::max(col_group_ok_[0][k.group], last + g.cwl + g.bl + g.wtr_l);
    }
    r.count -= static_cast<uint32_t>(rounds);
    r.seq += rounds * n;
    k.head_seq[t] = r.seq;
    dirty_ |= uint64_t{1} << rot[j];
    k.pending[t] -= static_cast<uint32_t>(rounds);
  }
  col_any_ok_[t] = std::max(col_any_ok_[t], c_last + g.ccd_s);
  if (t == 0) {
    col_any_ok_[1] = std::max(col_any_ok_[1], c_last + std::max(g.rtw, g.ccd_s));
  } else {
    col_any_ok_[0] = std::max(col_any_ok_[0], c_last + g.cwl + g.bl + g.wtr_s);
  }
  report(lead.req, lead.part, count, c_last + data);  // runs stay non-empty: not finished here
  stats_.bursts[t] += count;
  window_[t] -= static_cast<uint32_t>(count);
  if (seg) {
    for (uint32_t j = 0; j < n; ++j) {
      Bank& k = banks_[adm_bank[j]];
      k.q[t].back().count += static_cast<uint32_t>(rounds);
      k.q[t].back().stride = n;
      k.pending[t] += static_cast<uint32_t>(rounds);
      dirty_ |= uint64_t{1} << adm_bank[j];
    }
    seq_ += count;
    window_[t] += static_cast<uint32_t>(count);
    waiting_[t] -= count;
    seg->cursor.skip_rounds(n, rounds);
    seg->left -= count;
    if (seg->left == 0 || !seg->cursor.valid()) intake_[t].pop_front();
  }
  cur_ = c_last;
  commands_ += count;
  return true;
}

}  // namespace mlasim
