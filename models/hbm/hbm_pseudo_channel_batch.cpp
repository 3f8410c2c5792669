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
//
// A stream's rows end every few dozen rounds, so the rounds also carry what happens around
// that: the next banks' first bursts are admitted into empty queues, their PRE and ACT are
// issued among the column commands (row and column commands use separate buses, and those banks'
// bursts are all younger), and the banks whose row is done drain in the last round. Without
// these a batch stopped at every row command and every new bank, and a stream spent most of
// its time burst by burst.
#include <algorithm>
#include <bit>

#include "models/hbm/hbm_pseudo_channel.h"

namespace mlasim {

HbmPseudoChannel::Batch HbmPseudoChannel::batch_rounds(int64_t limit, uint64_t& hits,
                                                       Candidate& row) {
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
  if (nb < 2) return Batch::Failed;
  const Run& lead = banks_[lead_bank].q[t][0];
  const uint32_t n = lead.stride;
  const uint32_t lead_req = lead.req, lead_part = lead.part;
  if (lead.count < 2 || n < 2 || static_cast<int>(n) > nb || n > 64) return Batch::Failed;
  if (g.ccd_l > static_cast<int64_t>(n) * g.ccd_s) return Batch::Failed;
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
  if (found != (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1)) return Batch::Failed;
  const int64_t floor = std::max(col_any_ok_[t], cur_);
  const int64_t c0 = floor;
  uint64_t groups = 0;
  for (uint32_t j = 0; j < n; ++j) {
    const Bank& k = banks_[rot[j]];
    const Run& r = k.q[t][0];
    if (r.stride != n || r.req != lead_req) return Batch::Failed;
    if (static_cast<int64_t>(r.row) != k.open_row) return Batch::Failed;
    if (groups & (uint64_t{1} << k.group)) return Batch::Failed;
    groups |= uint64_t{1} << k.group;
    // Bank j must be ready when its turn comes in the first round (later rounds follow).
    const int64_t turn = c0 + static_cast<int64_t>(j) * g.ccd_s;
    if ((t == 0 ? k.rd_ok : k.wr_ok) > turn || col_group_ok_[t][k.group] > turn)
      return Batch::Failed;
  }
  // Row commands go to the banks without hits. When each of them holds bursts of one row only,
  // its ACT just makes it one more hit bank, all of whose bursts are younger than the rounds'
  // (see `other` below) and never ready before the column bus is: the rounds go on as they
  // would around it, and the row commands are issued among them at their own times. Otherwise
  // an ACT could turn the queues mixed, and the rounds stop before the first row command.
  bool rows_inside = true;
  for (uint64_t m = mask_[t] & ~hits; m && rows_inside; m &= m - 1) {
    const RunQueue& q = banks_[std::countr_zero(m)].q[t];
    for (size_t i = 1; i < q.size(); ++i) {
      if (q[i].row != q[0].row) {
        rows_inside = false;
        break;
      }
    }
  }
  // The limits known already, checked before the admissions are looked at (a failed attempt
  // is then cheaper): bursts of other banks older than a round's would be chosen first, and
  // every issue must come before `limit` (refresh, arrivals) and, unless row commands can be
  // issued inside, not after the first row command.
  uint64_t rounds = ~uint64_t{0} >> 1;
  if (other != ~uint64_t{0}) rounds = (other - s0) / n;
  const int64_t last_ok = rows_inside ? limit - 1 : std::min(limit - 1, row.ready);
  if (last_ok < c0) return Batch::Failed;
  rounds = std::min<uint64_t>(rounds, static_cast<uint64_t>((last_ok - c0) / g.ccd_s + 1) / n);
  if (rounds < 2) return Batch::Failed;
  // Admissions: a full queue admits one burst per issue from the intake's front segment.
  Segment* seg = nullptr;
  std::array<uint32_t, 64> adm_bank;
  std::array<uint32_t, 64> adm_row;
  uint64_t refilled = 0;  // banks whose issuing run is also the one admissions extend
  uint64_t fresh = 0;     // banks with nothing queued that the first round's admissions reach
  if (!intake_[t].empty()) {
    if (window_[t] != g.queue[t]) return Batch::Failed;
    seg = &intake_[t].front();
    rounds = std::min({rounds, front_[t].uniform_rounds(n), seg->left / n});
    if (rounds < 2) return Batch::Failed;
    HbmAddressMap::Cursor peek = front_[t];
    for (uint32_t j = 0; j < n; ++j) {
      const uint32_t b = peek.bank();
      const Bank& k = banks_[b];
      adm_bank[j] = b;
      adm_row[j] = peek.row();
      if (k.q[t].empty()) {
        // The intake moving on to banks with nothing queued: each gets a new run when its first
        // burst is admitted. Without hits on it, the bank then wants a row command, which can
        // be issued inside the rounds only as above (else the next round start tries again).
        if (!rows_inside || (fresh >> b) & 1) return Batch::NextRound;
        fresh |= uint64_t{1} << b;
        peek.next();
        continue;
      }
      const Run& tail = k.q[t].back();
      // A one-burst tail takes stride n with its next burst, as refill() would give it.
      if (tail.req != seg->req || tail.row != peek.row() || (tail.count > 1 && tail.stride != n)) {
        return Batch::Failed;
      }
      if (tail.seq + static_cast<uint64_t>(tail.count - 1) * n != seq_ - n + j)
        return Batch::Failed;
      if (k.q[t].size() == 1) refilled |= uint64_t{1} << b;
      peek.next();
    }
  }
  // A run that admissions extend keeps its length. One they do not extend may run out in the
  // last round when it is all its bank holds and pages stay open: the bank then just leaves the
  // hits (it is older than every other burst, so its absence changes no later choice). Else it
  // must keep a burst (a closed page would precharge; a run behind it would become the head).
  for (uint32_t j = 0; j < n; ++j) {
    const uint32_t b = rot[j];
    if (!(refilled & (uint64_t{1} << b))) {
      const Bank& k = banks_[b];
      const uint32_t left = k.q[t][0].count;
      const bool may_drain = g.page_policy == PagePolicy::Open && k.pending[t] == left;
      rounds = std::min<uint64_t>(rounds, may_drain ? left : left - 1);
    }
  }
  // A write drain without admissions ends when the write queue falls to write_low.
  if (t == 1 && !seg && window_[0] > 0) {
    if (window_[1] <= g.write_low + n) return Batch::Failed;
    rounds = std::min<uint64_t>(rounds, (window_[1] - g.write_low - 1) / n);
  }
  if (rounds < 2) return Batch::Failed;

  // Apply R rounds: issues at c0, c0 + tCCD_S, ... in rotation.
  const uint64_t count = rounds * n;
  const int64_t c_last = c0 + static_cast<int64_t>(count - 1) * g.ccd_s;
  // First the row commands due by the last column command (one due at the same cycle as a
  // column command comes after it, as in the loop; either way it issues at its readiness).
  // They touch no column timing, so issuing them before the rounds' columns are applied gives
  // the same state; the choice after each is made as the loop makes it, with the present at
  // the command just issued.
  // A bank reached by the first round's admissions joins after the column command whose issue
  // admits its burst (column j admits burst j); without hits it joins the row choice then, made
  // again with the present at that column command.
  uint64_t rows_from = mask_[t] & ~hits;  // the banks the row choice is among
  if (fresh) {
    for (uint32_t j = 0; j < n; ++j) {
      const uint32_t b = adm_bank[j];
      if (!((fresh >> b) & 1)) continue;
      Bank& k = banks_[b];
      const auto burst_rounds = static_cast<uint32_t>(rounds);
      k.q[t].push_back(
          Run{seg->req, seg->part, adm_row[j], burst_rounds, burst_rounds > 1 ? n : 0, seq_ + j});
      k.sync_head(t);
      k.pending[t] += burst_rounds;
      mask_[t] |= uint64_t{1} << b;
      dirty_ |= uint64_t{1} << b;
    }
  }
  uint32_t next_fresh = fresh ? 0 : n;  // adm_bank is only set when admissions were looked at
  while (rows_inside) {
    while (next_fresh < n && !((fresh >> adm_bank[next_fresh]) & 1))
      ++next_fresh;
    const int64_t joins = next_fresh < n ? c0 + static_cast<int64_t>(next_fresh) * g.ccd_s : kNever;
    if (row.kind != Kind::None && row.ready <= c_last && row.ready < joins) {
      if (row.kind == Kind::Act) {
        issue_act(row.bank, row.ready);
        hits |= uint64_t{1} << row.bank;
      } else {
        issue_pre(row.bank, row.ready);
      }
      row = row_choice(rows_from & ~hits);
      continue;
    }
    if (joins == kNever) break;
    const uint32_t b = adm_bank[next_fresh++];
    if (banks_[b].open_row == static_cast<int64_t>(adm_row[next_fresh - 1])) {
      hits |= uint64_t{1} << b;  // a hit bank: younger than every burst of the rounds
    } else {
      rows_from |= uint64_t{1} << b;
      cur_ = joins;
      row = row_choice(rows_from & ~hits);
    }
  }
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
    const uint64_t bit = uint64_t{1} << rot[j];
    dirty_ |= bit;
    k.pending[t] -= static_cast<uint32_t>(rounds);
    if (!(refilled & bit) && r.count == rounds) {
      // Drained (see the bound above), as issue_column() leaves a drained bank.
      k.q[t].pop_front();
      mask_[t] &= ~bit;
      hits &= ~bit;
      if (cached_type_ == t && (col_order_mask_ & bit) != 0) order_remove(rot[j]);
      continue;
    }
    r.count -= static_cast<uint32_t>(rounds);
    r.seq += rounds * n;
    k.head_seq[t] = r.seq;
  }
  col_any_ok_[t] = std::max(col_any_ok_[t], c_last + g.ccd_s);
  if (t == 0) {
    col_any_ok_[1] = std::max(col_any_ok_[1], c_last + std::max(g.rtw, g.ccd_s));
  } else {
    col_any_ok_[0] = std::max(col_any_ok_[0], c_last + g.cwl + g.bl + g.wtr_s);
  }
  report(lead_req, lead_part, count, c_last + data);
  stats_.bursts[t] += count;
  window_[t] -= static_cast<uint32_t>(count);
  if (seg) {
    for (uint32_t j = 0; j < n; ++j) {
      if ((fresh >> adm_bank[j]) & 1) continue;  // its run was made above
      Bank& k = banks_[adm_bank[j]];
      k.q[t].back().count += static_cast<uint32_t>(rounds);
      k.q[t].back().stride = n;
      k.pending[t] += static_cast<uint32_t>(rounds);
      dirty_ |= uint64_t{1} << adm_bank[j];
    }
    seq_ += count;
    window_[t] += static_cast<uint32_t>(count);
    waiting_[t] -= count;
    front_[t].skip_rounds(n, rounds);
    seg->left -= count;
    if (seg->left == 0 || !front_[t].valid()) pop_segment(t);
  }
  cur_ = c_last;
  commands_ += count;
  return Batch::Done;
}

}  // namespace mlasim
