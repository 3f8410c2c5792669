// HbmPseudoChannel's candidate bookkeeping for the FR-FCFS choice: each bank's wanted command,
// the column candidates in age order and the row scan (see hbm_pseudo_channel.h). The parts run
// at every command, oldest_column() and order_later(), are in hbm_pseudo_channel.cpp, inlined.
#include <algorithm>
#include <bit>
#include <cstring>

#include "models/hbm/hbm_pseudo_channel.h"

namespace mlasim {

void HbmPseudoChannel::refresh_candidates() const {
  const int t = type_;
  if (cached_type_ != t) {
    cached_type_ = t;
    dirty_ = ~uint64_t{0};
    col_order_n_ = 0;
    col_order_mask_ = 0;
  }
  for (uint64_t m = dirty_ & mask_[t]; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    const uint64_t bit = uint64_t{1} << b;
    const Bank& k = banks_[b];
    if (col_order_mask_ & bit) order_remove(b);
    col_mask_ &= ~bit;
    act_mask_ &= ~bit;
    pre_mask_ &= ~bit;
    mixed_mask_ &= ~bit;
    cand_seq_[b] = k.head_seq[t];
    cand_run_[b] = 0;
    if (k.open_row < 0) {
      act_mask_ |= bit;
      cand_part_[b] = k.act_ok;
      continue;
    }
    // The oldest hit on the open row, and whether some queued burst misses it.
    const RunQueue& q = k.q[t];
    int32_t hit = -1;
    bool miss = false;
    for (size_t i = 0; i < q.size(); ++i) {
      if (static_cast<int64_t>(q[i].row) == k.open_row) {
        if (hit < 0) hit = static_cast<int32_t>(i);
      } else {
        miss = true;
      }
    }
    if (hit < 0) {
      // No queued request wants the open row: close it for the oldest one.
      pre_mask_ |= bit;
      cand_part_[b] = k.pre_ok;
      continue;
    }
    col_mask_ |= bit;
    if (miss) mixed_mask_ |= bit;
    cand_part_[b] = t == 0 ? k.rd_ok : k.wr_ok;
    cand_run_[b] = static_cast<uint32_t>(hit);
    if (hit > 0) cand_seq_[b] = q[static_cast<size_t>(hit)].seq;
    order_insert(b);
  }
  dirty_ &= ~mask_[t];
  // Banks that ran out of bursts of this type leave the order too.
  for (uint64_t m = col_order_mask_ & ~mask_[t]; m; m &= m - 1)
    order_remove(static_cast<uint32_t>(std::countr_zero(m)));
}

void HbmPseudoChannel::opened_candidate(uint32_t b) {
  // As refresh_candidates() would find it: the row just opened is the head run's, so the head
  // is the oldest hit; the bank is mixed if another run wants another row.
  const Bank& k = banks_[b];
  const int t = type_;
  const uint64_t bit = uint64_t{1} << b;
  const RunQueue& q = k.q[t];
  bool miss = false;
  for (size_t i = 1; i < q.size(); ++i)
    miss |= static_cast<int64_t>(q[i].row) != k.open_row;
  act_mask_ &= ~bit;
  col_mask_ |= bit;
  if (miss) mixed_mask_ |= bit;
  cand_part_[b] = t == 0 ? k.rd_ok : k.wr_ok;
  cand_run_[b] = 0;
  order_insert(b);
  dirty_ &= ~bit;
}

void HbmPseudoChannel::order_remove(uint32_t b) const {
  uint32_t i = 0;
  while (col_order_[i] != b)
    ++i;
  // One block move: the byte-by-byte loop reloaded the count after every store.
  std::memmove(&col_order_[i], &col_order_[i + 1], col_order_n_ - i - 1);
  --col_order_n_;
  col_order_mask_ &= ~(uint64_t{1} << b);
}

void HbmPseudoChannel::order_insert(uint32_t b) const {
  const uint64_t seq = cand_seq_[b];
  uint32_t i = col_order_n_;
  for (; i > 0 && cand_seq_[col_order_[i - 1]] > seq; --i)
    col_order_[i] = col_order_[i - 1];
  col_order_[i] = static_cast<uint8_t>(b);
  ++col_order_n_;
  col_order_mask_ |= uint64_t{1} << b;
}

namespace {
// A scan's choice, the least (readiness, age), made without branches: each candidate becomes one
// 64-bit key of its readiness above the scan's floor, its age relative to the newest burst and
// its bank, and the least key wins. Ages are unique, so this is the same choice as comparing the
// pairs one by one. A key field that would overflow sends the scan to the exact pairwise loop.
constexpr int kKeyBankBits = 6;
constexpr int kKeySeqBits = 34;
constexpr int kKeyReadyBits = 64 - kKeySeqBits - kKeyBankBits;
constexpr uint64_t kKeyNone = ~uint64_t{0};
// `seq_base` is the newest age less 2^kKeySeqBits; `ready_or` and `age_or` collect every field
// for one overflow check after the scan (scan_overflow).
inline uint64_t scan_key(int64_t ready, int64_t floor, uint64_t seq, uint64_t seq_base, uint32_t b,
                         uint64_t& ready_or, uint64_t& age_or) {
  const auto dr = static_cast<uint64_t>(ready - floor);
  const uint64_t age = seq - seq_base;
  ready_or |= dr;
  age_or |= age;
  return (dr << (kKeySeqBits + kKeyBankBits)) | (age << kKeyBankBits) | b;
}
inline bool scan_overflow(uint64_t ready_or, uint64_t age_or) {
  return ((ready_or >> kKeyReadyBits) | (age_or >> kKeySeqBits)) != 0;
}
inline uint32_t key_bank(uint64_t key) {
  return static_cast<uint32_t>(key & ((uint64_t{1} << kKeyBankBits) - 1));
}
inline int64_t key_ready(uint64_t key, int64_t floor) {
  return floor + static_cast<int64_t>(key >> (kKeySeqBits + kKeyBankBits));
}
}  // namespace

HbmPseudoChannel::Candidate HbmPseudoChannel::scan_rows(uint64_t acts, uint64_t pres) const {
  Candidate row;
  if ((acts | pres) == 0) return row;
  const int64_t act_floor = std::max({act_any_ok_, faw_[faw_pos_] + cfg_.faw, row_bus_ok_, cur_});
  const int64_t pre_floor = std::max(row_bus_ok_, cur_);
  const int64_t* part = cand_part_.data();
  const uint64_t* seq = cand_seq_.data();
  const uint32_t* group = bank_group_.data();
  if (cfg_.banks <= (1u << kKeyBankBits)) {
    uint64_t ready_or = 0, age_or = 0;
    const uint64_t seq_base = seq_ - (uint64_t{1} << kKeySeqBits);
    uint64_t best = kKeyNone;
    for (uint64_t m = pres; m; m &= m - 1) {
      const auto b = static_cast<uint32_t>(std::countr_zero(m));
      const int64_t ready = std::max(part[b], pre_floor);
      best = std::min(best, scan_key(ready, pre_floor, seq[b], seq_base, b, ready_or, age_or));
    }
    // ACT readiness is never below the ACT floor (nor the PRE floor, so both share the key's):
    // a PRE ready before it wins outright.
    if (best == kKeyNone || key_ready(best, pre_floor) >= act_floor) {
      for (uint64_t m = acts; m; m &= m - 1) {
        const auto b = static_cast<uint32_t>(std::countr_zero(m));
        const int64_t ready = std::max({part[b], act_group_ok_[group[b]], act_floor});
        best = std::min(best, scan_key(ready, pre_floor, seq[b], seq_base, b, ready_or, age_or));
      }
    }
    if (!scan_overflow(ready_or, age_or) && best != kKeyNone) {
      const uint32_t b = key_bank(best);
      return Candidate{key_ready(best, pre_floor), seq[b], b, 0,
                       (acts >> b) & 1 ? Kind::Act : Kind::Pre};
    }
  }
  for (uint64_t m = acts; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    const int64_t ready = std::max({part[b], act_group_ok_[group[b]], act_floor});
    if (better(ready, seq[b], row.ready, row.seq)) row = Candidate{ready, seq[b], b, 0, Kind::Act};
  }
  for (uint64_t m = pres; m; m &= m - 1) {
    const auto b = static_cast<uint32_t>(std::countr_zero(m));
    const int64_t ready = std::max(part[b], pre_floor);
    if (better(ready, seq[b], row.ready, row.seq)) row = Candidate{ready, seq[b], b, 0, Kind::Pre};
  }
  return row;
}

void HbmPseudoChannel::row_candidate(uint32_t b, Candidate& row) const {
  const Bank& k = banks_[b];
  const uint64_t seq = k.head_seq[type_];
  if (k.open_row >= 0) {
    // No queued request wants the open row: close it for the oldest one.
    const int64_t ready = std::max({k.pre_ok, row_bus_ok_, cur_});
    if (better(ready, seq, row.ready, row.seq)) row = Candidate{ready, seq, b, 0, Kind::Pre};
  } else {
    const int64_t ready = std::max({k.act_ok, act_any_ok_, act_group_ok_[k.group],
                                    faw_[faw_pos_] + cfg_.faw, row_bus_ok_, cur_});
    if (better(ready, seq, row.ready, row.seq)) row = Candidate{ready, seq, b, 0, Kind::Act};
  }
}

}  // namespace mlasim
