// Bounded per-message bookkeeping of the fabrics (see message_log.h).
#include "models/common/message_log.h"

#include <algorithm>

#include "models/common/message.h"

namespace mlasim {

// `b` starts no earlier than anything merged into `out` before it.
void MessageLog::merge(std::vector<BusySlice>& out, const BusySlice& b) {
  if (!out.empty() && b.start <= out.back().end) {
    out.back().end = std::max(out.back().end, b.end);
    out.back().messages += b.messages;
    out.back().bytes += b.bytes;
  } else {
    out.push_back(b);
  }
}

uint32_t MessageLog::open(const Message& msg, int64_t now_ps, int64_t ideal_ps) {
  uint32_t s = free_;
  if (s == kNone) {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    free_ = slots_[s].next_free;
  }
  Slot& slot = slots_[s];
  slot = Slot{};
  slot.injected_ps = now_ps;
  slot.ideal_ps = ideal_ps;
  if (rows_.size() < keep_rows_) {
    MessageRecord r;
    r.id = msg.id;
    r.src = msg.src;
    r.dst = msg.dst;
    r.bytes = msg.bytes.count();
    r.injected_ps = now_ps;
    r.ideal_ps = ideal_ps;
    slot.row = rows_.size();
    rows_.push_back(r);
  }
  if (msg.src >= 0) {
    const bool same_node =
        gpus_per_node_ > 0 && msg.dst >= 0 && msg.src / gpus_per_node_ == msg.dst / gpus_per_node_;
    const size_t t = 2 * static_cast<size_t>(msg.src) + (same_node ? 1 : 0);
    if (tracks_.size() <= t) tracks_.resize(t + 1);
    Track& track = tracks_[t];
    slot.track = static_cast<uint32_t>(t);
    slot.seq = track.next++;
    track.pending.push_back(BusySlice{now_ps, -1, 1, msg.bytes.count()});
  }
  ++opened_;
  return s;
}

void MessageLog::close(uint32_t s, int64_t now_ps) {
  Slot& slot = slots_[s];
  const double fct_ps = static_cast<double>(now_ps - slot.injected_ps);
  fct_us_.sample(fct_ps * 1e-6);
  slowdown_.sample(slot.ideal_ps > 0 ? fct_ps / static_cast<double>(slot.ideal_ps) : 1.0);
  first_ps_ = first_ps_ < 0 ? slot.injected_ps : std::min(first_ps_, slot.injected_ps);
  last_ps_ = std::max(last_ps_, now_ps);
  if (slot.row != UINT64_MAX) rows_[slot.row].completed_ps = now_ps;
  if (slot.track != kNone) {
    Track& track = tracks_[slot.track];
    track.pending[slot.seq - track.base].end = now_ps;
    while (!track.pending.empty() && track.pending.front().end >= 0) {
      merge(track.slices, track.pending.front());
      track.pending.pop_front();
      ++track.base;
    }
  }
  slot.next_free = free_;
  free_ = s;
  ++closed_;
}

std::vector<BusySlice> MessageLog::busy(int32_t src, bool same_node) const {
  const size_t t = 2 * static_cast<size_t>(src) + (same_node ? 1 : 0);
  if (src < 0 || t >= tracks_.size()) return {};
  const Track& track = tracks_[t];
  std::vector<BusySlice> out = track.slices;
  for (const BusySlice& b : track.pending)  // behind an undelivered message: left out
    if (b.end >= 0) merge(out, b);
  return out;
}

}  // namespace mlasim
