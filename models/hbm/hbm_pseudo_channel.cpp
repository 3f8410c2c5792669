// HbmPseudoChannel: bank state machines, FR-FCFS scheduling and refresh of one pseudo-channel
// (see hbm_pseudo_channel.h).
#include "models/hbm/hbm_pseudo_channel.h"

#include <algorithm>
#include <bit>

namespace mlasim {

// The helpers that run once per command (refill, oldest_column, find_candidates, order_later)
// are defined here and forced inline into advance() and issue_column(): as calls, with their
// candidates returned through memory, they cost a tenth of the decode kernel's instructions.
// issue_column() has a copy per read/write type, with the type a constant (another 7%).

namespace {
// A pure-loop run shorter than this many commands counts as short; rests grow up to the max.
constexpr uint64_t kPureMinRun = 32;
constexpr uint32_t kPureMaxRest = 4096;
}  // namespace

HbmPseudoChannel::HbmPseudoChannel(const HbmPcConfig& cfg, const HbmAddressMap& map, uint32_t index,
                                   uint32_t pcs_total)
    : cfg_(cfg), map_(map), index_(index), banks_(cfg.banks) {
  for (uint32_t b = 0; b < cfg.banks; ++b)
    banks_[b].group = b / cfg.banks_per_group;
  for (uint32_t b = 0; b < cfg.banks; ++b)
    bank_group_[b] = banks_[b].group;
  faw_.fill(-kNever);
  // Refreshes are staggered across pseudo-channels, as controllers do to spread the current.
  if (cfg.refresh_mode != RefreshMode::None) {
    refresh_due_ = cfg.refi * (index + 1) / pcs_total;
  }
}

int64_t HbmPseudoChannel::bank_column_bound(uint32_t bank, uint32_t row, bool write) const {
  const Bank& k = banks_[bank];
  const int64_t rcd = write ? cfg_.rcd_wr : cfg_.rcd_rd;
  if (k.open_row == static_cast<int64_t>(row)) return std::max(cur_, write ? k.wr_ok : k.rd_ok);
  if (k.open_row >= 0) return std::max(cur_, k.pre_ok) + cfg_.rp + rcd;
  return std::max(cur_, k.act_ok) + rcd;
}

void HbmPseudoChannel::account(int64_t c) {
  if (c <= account_cycle_) return;
  const auto dt = static_cast<uint64_t>(c - account_cycle_);
  stats_.queue_integral += (window_[0] + window_[1]) * dt;
  stats_.intake_integral += (waiting_[0] + waiting_[1]) * dt;
  account_cycle_ = c;
}

void HbmPseudoChannel::settle_stats(int64_t cycle) {
  account(cycle);
  for (Bank& b : banks_) {
    if (b.open_row >= 0 && cycle > b.open_since) {
      stats_.bank_open_integral += static_cast<uint64_t>(cycle - b.open_since);
      b.open_since = cycle;
    }
  }
}

void HbmPseudoChannel::push(uint64_t begin, uint64_t end, bool spread, uint32_t request,
                            uint32_t part, bool write, int64_t now, uint64_t bursts) {
  const int t = write ? 1 : 0;
  if (now > cur_) cur_ = now;
  account(now);
  intake_[t].push_back(Segment{begin, end, request, part, spread ? 1u : 0u, bursts});
  if (intake_[t].size() == 1) front_[t] = cursor_of(intake_[t].front());
  next_event_ = 0;
  waiting_[t] += bursts;
  refill(t, now);
  next_col_bound_ = std::min(next_col_bound_, now);
}

[[gnu::always_inline]] inline void HbmPseudoChannel::refill(int t, int64_t c) {
  refill_ = RefillNote{};
  if (window_[t] >= cfg_.queue[t] || intake_[t].empty()) return;
  account(c);
  // Whether the candidate cache is kept for this type (then a bank's entry, when not dirty, is
  // current and can be patched).
  const bool current = cached_type_ == t;
  while (window_[t] < cfg_.queue[t] && !intake_[t].empty()) {
    Segment& s = intake_[t].front();
    HbmAddressMap::Cursor& cursor = front_[t];
    const uint32_t b = cursor.bank();
    const uint32_t row = cursor.row();
    const uint64_t bit = uint64_t{1} << b;
    Bank& k = banks_[b];
    RunQueue& q = k.q[t];
    const uint64_t seq = seq_++;
    const bool hit = k.open_row == static_cast<int64_t>(row);
    if (q.empty()) {
      if (hit) {
        refill_.new_hit_banks |= bit;
      } else {
        refill_.new_row_bank = true;
      }
      q.push_back(Run{s.req, s.part, row, 1, 0, seq});
      k.sync_head(t);
      dirty_ |= bit;
    } else {
      Run& tail = q.back();
      if (hit != (k.open_row == static_cast<int64_t>(k.head_row[t]))) refill_.mixed = true;
      if (tail.req == s.req && tail.row == row && tail.count == 1) {
        tail.stride = static_cast<uint32_t>(seq - tail.seq);
        tail.count = 2;
      } else if (tail.req == s.req && tail.row == row &&
                 seq == tail.seq + static_cast<uint64_t>(tail.count) * tail.stride) {
        ++tail.count;
      } else {
        q.push_back(Run{s.req, s.part, row, 1, 0, seq});
        // A run queued behind others leaves the bank's candidate as it was (a closed bank still
        // wants an ACT for its head, an earlier hit stays the oldest), except that a hit makes a
        // bank waiting to precharge a column candidate and a miss makes a hit bank mixed.
        if (!current || (dirty_ & bit) != 0) {
          dirty_ |= bit;
        } else if ((col_mask_ & bit) != 0) {
          if (!hit) mixed_mask_ |= bit;
        } else if (hit && (pre_mask_ & bit) != 0) {
          dirty_ |= bit;
        }
      }
    }
    ++k.pending[t];
    mask_[t] |= bit;
    ++window_[t];
    --waiting_[t];
    cursor.next();
    if (--s.left == 0 || !cursor.valid()) pop_segment(t);
  }
}

void HbmPseudoChannel::update_mode() {
  if (type_ == 1) {
    if (window_[1] == 0 || (window_[1] <= cfg_.write_low && window_[0] > 0)) type_ = 0;
  } else if (window_[1] >= cfg_.write_high || (window_[0] == 0 && window_[1] > 0)) {
    type_ = 1;
  }
}

bool HbmPseudoChannel::has_hit(const Bank& b, int t) const {
  const RunQueue& q = b.q[t];
  for (size_t i = 0; i < q.size(); ++i) {
    if (static_cast<int64_t>(q[i].row) == b.open_row) return true;
  }
  return false;
}

[[gnu::always_inline]] inline HbmPseudoChannel::Candidate HbmPseudoChannel::oldest_column() const {
  // FR-FCFS over (readiness, age): if any bank can issue at the floor, the oldest such one
  // wins, and in age order it is the first; otherwise the earliest, the oldest on a tie.
  const int t = type_;
  const int64_t floor = std::max(col_any_ok_[t], cur_);
  const int64_t* col_group = col_group_ok_[t].data();
  int64_t best_ready = kNever;
  uint32_t best = 64;
  for (uint32_t i = 0; i < col_order_n_; ++i) {
    const uint32_t b = col_order_[i];
    const int64_t ready = std::max(cand_part_[b], col_group[bank_group_[b]]);
    if (ready <= floor) return Candidate{floor, cand_seq_[b], b, cand_run_[b], Kind::Col};
    if (ready < best_ready) {
      best_ready = ready;
      best = b;
    }
  }
  if (best == 64) return Candidate{};
  return Candidate{best_ready, cand_seq_[best], best, cand_run_[best], Kind::Col};
}

[[gnu::always_inline]] inline bool HbmPseudoChannel::find_candidates(Candidate& col) const {
  const int t = type_;
  // Banks whose candidates are recomputed now; every other bank's is as at the last scan.
  const uint64_t changed = cached_type_ == t ? dirty_ & mask_[t] : ~uint64_t{0};
  // Often nothing changed since the last scan (a column command that kept its run's bursts).
  if (changed != 0 || (col_order_mask_ & ~mask_[t]) != 0) refresh_candidates();
  const uint64_t live = mask_[t];
  const uint64_t acts = act_mask_ & live, pres = pre_mask_ & live;
  // The column command: the age order is current for every bank with a column candidate.
  col = oldest_column();
  // A kept row choice among the unchanged banks stays theirs while its command's floors are as
  // they were and the present has not passed its readiness (every other unchanged bank's
  // readiness is then the same too): only the changed banks are scanned against it.
  auto reuse = [&](const Cache& c) {
    return c.valid && cur_ <= c.best.ready &&
           (c.best.kind == Kind::None || (((live & ~changed) >> c.best.bank) & 1) != 0);
  };
  if (reuse(row_cache_)) {
    if (((acts | pres) & changed) != 0) {
      const Candidate fresh = scan_rows(acts & changed, pres & changed);
      const Candidate& kept = row_cache_.best;
      if (kept.kind == Kind::None || better(fresh.ready, fresh.seq, kept.ready, kept.seq)) {
        row_cache_.best = fresh;
      }
    }
  } else {
    row_cache_ = Cache{true, scan_rows(acts, pres)};
  }
  return (mixed_mask_ & live) == 0;
}

void HbmPseudoChannel::advance(int64_t until) {
  if (until <= cur_) return;
  if (until <= next_event_) {
    // Nothing can happen before `until` (nothing was pushed since the last scan).
    cur_ = until;
    return;
  }
  if (!busy()) skip_idle_refreshes(until);
  for (;;) {
    update_mode();
    Candidate col;
    const bool pure = find_candidates(col);
    const Candidate& row = row_cache_.best;
    const int64_t c = std::min(col.ready, row.ready);
    if (refresh_due_ <= c && refresh_due_ < until) {
      refresh(refresh_due_);
      continue;
    }
    if (c >= until) {
      const int64_t rcd = std::min(cfg_.rcd_rd, cfg_.rcd_wr);
      next_col_bound_ = std::min(col.ready, row.ready >= kNever ? kNever : row.ready + rcd);
      next_event_ = std::min(c, refresh_due_);
      break;
    }
    // The pure loop pays a scan to set up; where queues keep turning mixed after a few
    // commands it does not pay back (many interleaved streams, as in attention decode), so
    // after a short run that ended that way, or a very short one cut by `until` (a wake every
    // few commands), it rests, twice as long after each further one (either loop makes the
    // same choices).
    if (cfg_.fast_path != HbmFastPath::Off && pure && pure_rest_ == 0) {
      const uint64_t before = commands_;
      const bool turned_mixed = fast_pure(until);
      if (commands_ - before >= kPureMinRun) {
        pure_backoff_ = 0;
      } else if (turned_mixed || commands_ - before < kPureMinRun / 4) {
        pure_backoff_ = std::clamp<uint32_t>(pure_backoff_ * 2, 16, kPureMaxRest);
        pure_rest_ = pure_backoff_;
      }
      continue;
    }
    if (pure_rest_ > 0) --pure_rest_;
    if (col.ready == c) {
      issue_column(col.bank, col.run, c);
    } else if (row.kind == Kind::Act) {
      issue_act(row.bank, c);
    } else {
      issue_pre(row.bank, c);
    }
  }
  cur_ = std::max(cur_, until);
}

bool HbmPseudoChannel::fast_pure(int64_t until) {
  // Invariant while looping: every bank with queued bursts of type t is pure, either holding
  // only hits on its open row (a column candidate whose head run is its oldest hit) or none
  // (a row candidate: ACT if closed, PRE if open). The choices are those of the general loop
  // -- the oldest ready column command, else the oldest ready row command, column first on a
  // tie -- made over two small sets instead of a scan of every run of every bank.
  const int t = type_;
  const int64_t limit = std::min(until, refresh_due_);
  uint64_t hits = 0;
  for (uint64_t m = mask_[t]; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    if (banks_[b].open_row == static_cast<int64_t>(banks_[b].head_row[t])) hits |= uint64_t{1} << b;
  }
  auto best_row = [&] { return row_choice(mask_[t] & ~hits); };
  Candidate row = best_row();
  std::array<uint32_t, 64> ids;
  int n = 0;
  uint64_t ids_mask = ~hits;
  for (;;) {
    // Rounds start where the intake's cursor does (its lowest digit at zero).
    // After failures, attempts back off (exponentially, up to 64 round starts): under heavy
    // interleaving they rarely succeed and cost a scan each.
    if (cfg_.fast_path == HbmFastPath::Rounds &&
        (intake_[t].empty() || front_[t].at_round_start())) {
      if (batch_skip_ > 0) {
        --batch_skip_;
      } else if (const Batch b = batch_rounds(limit, hits, row); b == Batch::Done) {
        batch_backoff_ = 0;
        // The rounds may have drained the queue of this type.
        update_mode();
        if (type_ != t) return false;
        if (mask_[t] == 0) return false;
        // Another batch may follow at once (the intake is at a round start again).
        continue;
      } else if (b == Batch::Failed) {
        // The first failure after a success costs nothing more: a stream's batches end at
        // limits (a row change, a request's end) that pass within a round or two.
        batch_skip_ = batch_backoff_;
        batch_backoff_ = std::min<uint32_t>(16, std::max<uint32_t>(1, batch_backoff_ * 2));
      }
    }
    if (ids_mask != hits) {
      ids_mask = hits;
      n = 0;
      for (uint64_t m = hits; m; m &= m - 1)
        ids[n++] = static_cast<uint32_t>(std::countr_zero(m));
    }
    int best = -1;
    int64_t best_ready = kNever;
    uint64_t best_seq = 0;
    const int64_t floor = std::max(col_any_ok_[t], cur_);
    const int64_t* group_ok = col_group_ok_[t].data();
    for (int j = 0; j < n; ++j) {
      const Bank& k = banks_[ids[j]];
      const int64_t ready = std::max({t == 0 ? k.rd_ok : k.wr_ok, floor, group_ok[k.group]});
      const uint64_t seq = k.head_seq[t];
      if (better(ready, seq, best_ready, best_seq)) {
        best = j;
        best_ready = ready;
        best_seq = seq;
      }
    }
    if (std::min(best_ready, row.ready) >= limit) return false;
    if (best >= 0 && best_ready <= row.ready) {
      const uint32_t b = ids[best];
      issue_column(b, 0, best_ready);
      // The bank leaves the hits when it drained, or closed (auto-precharge) and was refilled.
      if (banks_[b].pending[t] == 0 ||
          banks_[b].open_row != static_cast<int64_t>(banks_[b].head_row[t])) {
        hits &= ~(uint64_t{1} << b);
      }
      if (refill_.mixed) return true;
      hits |= refill_.new_hit_banks;
      if (refill_.new_row_bank) row = best_row();
      update_mode();
      if (type_ != t) return false;
    } else {
      const uint32_t b = row.bank;
      if (row.kind == Kind::Act) {
        issue_act(b, row.ready);
        // The bank joins the column candidates if all its bursts want the row just opened.
        const RunQueue& q = banks_[b].q[t];
        for (size_t i = 1; i < q.size(); ++i) {
          if (q[i].row != q[0].row) return true;
        }
        hits |= uint64_t{1} << b;
      } else {
        issue_pre(b, row.ready);
      }
      // A row command is where a stream moves to new rows: the next rotation may batch at once.
      batch_skip_ = 0;
      batch_backoff_ = 0;
      row = best_row();
    }
    if (mask_[t] == 0) return false;
  }
}

[[gnu::always_inline]] inline void HbmPseudoChannel::order_later(uint32_t b) const {
  const uint64_t seq = cand_seq_[b];
  uint32_t i = 0;
  while (col_order_[i] != b)
    ++i;
  for (; i + 1 < col_order_n_ && cand_seq_[col_order_[i + 1]] < seq; ++i)
    col_order_[i] = col_order_[i + 1];
  col_order_[i] = static_cast<uint8_t>(b);
}

void HbmPseudoChannel::issue_column(uint32_t bank, uint32_t run, int64_t c) {
  // One copy per type, each with its type a constant.
  if (type_ == 0) {
    issue_column_of(0, bank, run, c);
  } else {
    issue_column_of(1, bank, run, c);
  }
}

[[gnu::always_inline]] inline void HbmPseudoChannel::issue_column_of(int t, uint32_t bank,
                                                                     uint32_t run, int64_t c) {
  ++commands_;
  account(c);
  const uint64_t bit = uint64_t{1} << bank;
  Bank& k = banks_[bank];
  Run& r = k.q[t][run];
  const HbmPcConfig& g = cfg_;
  const uint32_t group = k.group;
  // The timing is read before the first store (stores into the bank could alias the
  // configuration as far as the compiler knows).
  const int64_t ccd_s = g.ccd_s, ccd_l = g.ccd_l;
  int64_t done;
  if (t == 0) {
    const int64_t rtp = g.rtp, rtw = g.rtw, data = g.cl + g.bl;
    k.pre_ok = std::max(k.pre_ok, c + rtp);
    col_any_ok_[0] = std::max(col_any_ok_[0], c + ccd_s);
    col_group_ok_[0][group] = std::max(col_group_ok_[0][group], c + ccd_l);
    col_any_ok_[1] = std::max(col_any_ok_[1], c + std::max(rtw, ccd_s));
    done = c + data;
  } else {
    const int64_t data_end = c + g.cwl + g.bl;
    const int64_t wr = g.wr, wtr_s = g.wtr_s, wtr_l = g.wtr_l;
    k.pre_ok = std::max(k.pre_ok, data_end + wr);
    col_any_ok_[1] = std::max(col_any_ok_[1], c + ccd_s);
    col_group_ok_[1][group] = std::max(col_group_ok_[1][group], c + ccd_l);
    col_any_ok_[0] = std::max(col_any_ok_[0], data_end + wtr_s);
    col_group_ok_[0][group] = std::max(col_group_ok_[0][group], data_end + wtr_l);
    done = data_end;
  }
  report(r.req, r.part, 1, done);
  ++stats_.bursts[t];
  // A run that keeps bursts stays the bank's candidate with only its age moved on: the cached
  // candidate is patched rather than recomputed (when it is current and is this run).
  if (--r.count == 0) {
    k.q[t].erase(run);
    if (run == 0) k.sync_head(t);
    dirty_ |= bit;
  } else {
    r.seq += r.stride;
    if (run == 0) k.head_seq[t] = r.seq;
    if (cached_type_ == t && !(dirty_ & bit) && (col_mask_ & bit) && cand_run_[bank] == run) {
      cand_seq_[bank] = r.seq;
      order_later(bank);
    } else {
      dirty_ |= bit;
    }
  }
  if (--k.pending[t] == 0) {
    mask_[t] &= ~bit;
    // A drained bank leaves the age order now rather than at the next refresh_candidates().
    if (cached_type_ == t && (col_order_mask_ & bit) != 0) order_remove(bank);
  }
  --window_[t];
  cur_ = c;
  if (g.page_policy == PagePolicy::Closed && !has_hit(k, 0) && !has_hit(k, 1)) {
    // Auto-precharge (RDA/WRA): the bank closes as soon as tRTP / write recovery allow.
    const int64_t p = k.pre_ok;
    stats_.bank_open_integral += static_cast<uint64_t>(std::max<int64_t>(0, p - k.open_since));
    k.open_row = -1;
    k.act_ok = std::max(k.act_ok, p + g.rp);
    k.closed_for_conflict = false;
    ++stats_.precharges;
    dirty_ |= bit;
  }
  refill(t, c);
}

void HbmPseudoChannel::issue_act(uint32_t bank, int64_t c) {
  ++commands_;
  row_cache_.valid = false;
  const uint64_t bit = uint64_t{1} << bank;
  // Whether the bank's cached candidate (an ACT) is current: then it is patched below.
  const bool patch = cached_type_ == type_ && (dirty_ & bit) == 0 && (act_mask_ & bit) != 0;
  dirty_ |= bit;
  Bank& k = banks_[bank];
  const HbmPcConfig& g = cfg_;
  k.open_row = k.head_row[type_];
  k.open_since = c;
  k.rd_ok = c + g.rcd_rd;
  k.wr_ok = c + g.rcd_wr;
  k.pre_ok = std::max(k.pre_ok, c + g.ras);
  k.act_ok = c + g.rc;
  act_any_ok_ = c + g.rrd_s;
  act_group_ok_[k.group] = c + g.rrd_l;
  faw_[faw_pos_] = c;
  faw_pos_ = (faw_pos_ + 1) & 3;
  row_bus_ok_ = c + 1;
  ++stats_.activates;
  ++(k.closed_for_conflict ? stats_.row_conflicts : stats_.row_misses);
  k.closed_for_conflict = false;
  cur_ = c;
  if (patch) opened_candidate(bank);
}

void HbmPseudoChannel::issue_pre(uint32_t bank, int64_t c) {
  ++commands_;
  row_cache_.valid = false;
  const uint64_t bit = uint64_t{1} << bank;
  Bank& k = banks_[bank];
  stats_.bank_open_integral += static_cast<uint64_t>(c - k.open_since);
  k.open_row = -1;
  k.act_ok = std::max(k.act_ok, c + cfg_.rp);
  if (cached_type_ == type_ && (dirty_ & bit) == 0 && (pre_mask_ & bit) != 0) {
    // The bank wanted this PRE (it held no hits); closed, it wants an ACT for the same head.
    pre_mask_ &= ~bit;
    act_mask_ |= bit;
    cand_part_[bank] = k.act_ok;
  } else {
    dirty_ |= bit;
  }
  k.closed_for_conflict = true;
  row_bus_ok_ = c + 1;
  ++stats_.precharges;
  cur_ = c;
}

}  // namespace mlasim
