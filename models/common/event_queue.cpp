// FabricEventQueue: timing wheel over the near future, radix heap beyond (see event_queue.h).
#include "models/common/event_queue.h"

#include <algorithm>

namespace mlasim {

namespace {

// Stable insertion sort by time: a slot holds few events, equal times keep their order.
void sort_by_time(FabricEvent* first, size_t n) {
  FabricEvent* const last = first + n;
  for (FabricEvent* k = first + (first != last); k < last; ++k) {
    const FabricEvent e = *k;
    FabricEvent* j = k;
    for (; j > first && (j - 1)->key > e.key; --j)
      *j = *(j - 1);
    *j = e;
  }
}

}  // namespace

const FabricEvent& RadixEventHeap::min_event() const {
  if (head0_ < buckets_[0].size()) return buckets_[0][head0_];
  if (min_of_ != nullptr) return (*min_of_)[min_at_];
  size_t i = 1;
  while (buckets_[i].empty())
    ++i;
  const std::vector<FabricEvent>& b = buckets_[i];
  size_t m = 0;
  for (size_t j = 1; j < b.size(); ++j)
    if (b[j].key < b[m].key) m = j;  // the first of equal times: they leave in push order
  min_of_ = &b;
  min_at_ = m;
  return b[m];
}

bool RadixEventHeap::refill_if_due(uint64_t t) {
  size_t i = 1;
  while (buckets_[i].empty())
    ++i;  // the caller checked size_ > 0 and bucket 0 is empty
  std::vector<FabricEvent>& from = buckets_[i];
  const uint64_t m = min_event().key;  // in bucket i (found once while the heap waits)
  if (m > t) return false;
  min_of_ = nullptr;
  buckets_[0].clear();
  head0_ = 0;
  last_ = m;
  // Every event of bucket i shares the bits above i - 1 with m, so each lands lower down.
  for (const FabricEvent& e : from)
    buckets_[bucket_of(e.key)].push_back(e);
  from.clear();
  return true;
}

void FabricEventQueue::take_spill(size_t i, uint32_t n) {
  for (uint32_t c = spill_head_[i]; n > 0;) {
    const uint32_t m = std::min(n, kInline);
    cur_.insert(cur_.end(), chunks_[c].e.begin(), chunks_[c].e.begin() + m);
    n -= m;
    const uint32_t next = chunk_next_[c];
    free_chunks_.push_back(c);
    c = next;
  }
  spill_head_[i] = spill_tail_[i] = kNoChunk;
}

void FabricEventQueue::insert_current(FabricEvent e) {
  if (in_slot_) {
    // The current slot's events are read in place: they move to cur_, where they can grow.
    cur_.assign(head_, end_);
    head_ = cur_.data();
    end_ = head_ + cur_.size();
    in_slot_ = false;
  }
  const auto head = static_cast<std::ptrdiff_t>(head_ - cur_.data());
  if (head_ == end_ || cur_.back().key <= e.key) {
    cur_.push_back(e);
  } else {
    // After every event of the same time already there.
    const auto at = std::upper_bound(cur_.begin() + head, cur_.end(), e.key,
                                     [](uint64_t k, const FabricEvent& x) { return k < x.key; });
    cur_.insert(at, e);
  }
  head_ = cur_.data() + head;
  end_ = cur_.data() + cur_.size();
}

size_t FabricEventQueue::next_occupied(size_t start) const {
  size_t w = start >> 6;
  uint64_t word = bits_[w] & (~uint64_t{0} << (start & 63));
  for (size_t n = 0; n <= kSlots / 64; ++n) {
    if (word != 0) return (w << 6) + static_cast<size_t>(__builtin_ctzll(word));
    w = (w + 1) % (kSlots / 64);
    word = bits_[w];
  }
  return kSlots;
}

const FabricEvent& FabricEventQueue::peek(size_t at) {
  if (at == kSlots) return far_.min_event();  // later than anything on the wheel
  const uint32_t n = count_[at];
  FabricEvent* const in = inline_[at].e.data();
  // Its own lines sorted as advance() would find them presorted. The spill holds later pushes,
  // so the first of equal times is in the lines; the spill's earliest (the first pushed of equal
  // times) is found by a scan, kept with the sort until the slot or its count changes (the
  // fabric looks at the next event at every activation while it waits).
  if (at != presorted_ || n != presorted_n_) {
    sort_by_time(in, std::min(n, kInline));
    presorted_ = at;
    presorted_n_ = n;
    presorted_spill_ = kNoSpill;
    uint64_t best = in->key;
    uint32_t left = n > kInline ? n - kInline : 0;
    for (uint32_t c = spill_head_[at]; left > 0; c = chunk_next_[c]) {
      const uint32_t m = std::min(left, kInline);
      for (uint32_t j = 0; j < m; ++j) {
        if (chunks_[c].e[j].key < best) {
          best = chunks_[c].e[j].key;
          presorted_spill_ = size_t{c} * kInline + j;
        }
      }
      left -= m;
    }
  }
  if (presorted_spill_ != kNoSpill) {
    return chunks_[presorted_spill_ / kInline].e[presorted_spill_ % kInline];
  }
  return *in;
}

void FabricEventQueue::advance(size_t at) {
  // The current slot is used up (and the queue is not empty).
  cur_.clear();
  const size_t start = (cursor_ + 1) & kMask;
  cursor_ = at != kSlots ? cursor_ + 1 + ((at - start) & kMask) : far_.min_key() >> kSlotBits;
  // The wheel now reaches kSlots slots from the cursor on: the far events it covers move onto
  // it, in time order (each later than everything already there).
  const uint64_t reach = (cursor_ + kSlots) << kSlotBits;
  while (far_.ready_by(reach - 1)) {
    const FabricEvent e = far_.pop_front();
    push_slot((e.key >> kSlotBits) & kMask, e);
  }
  const size_t i = cursor_ & kMask;
  const uint32_t n = count_[i];
  FabricEvent* const in = inline_[i].e.data();
  if (n <= kInline) {
    // Read in place (nothing is pushed into the current slot's lines: later events of its
    // time go through insert_current). Sorted already when it was the next slot and nothing
    // came in since.
    if (i != presorted_ || n != presorted_n_) sort_by_time(in, n);
    head_ = in;
    end_ = in + n;
    in_slot_ = true;
  } else {
    cur_.assign(in, in + kInline);
    take_spill(i, n - kInline);
    sort_by_time(cur_.data(), cur_.size());
    head_ = cur_.data();
    end_ = head_ + cur_.size();
    in_slot_ = false;
  }
  count_[i] = 0;
  bits_[i >> 6] &= ~(uint64_t{1} << (i & 63));
  peek_ = next_occupied((i + 1) & kMask);
  // The next occupied slot is sorted now too (when its events all lie in its own lines), so
  // that ahead() names the events that really come next across the slot boundary (in push
  // order, the packets prefetched for the first events of a slot were the wrong ones about one
  // time in five). The order the events leave in does not change: sorting stably what a slot
  // holds so far, then everything once more when it becomes current, gives what the second
  // sort alone would.
  presorted_ = kSlots;
  if (peek_ != kSlots && count_[peek_] <= kInline) {
    sort_by_time(inline_[peek_].e.data(), count_[peek_]);
    presorted_ = peek_;
    presorted_n_ = count_[peek_];
    presorted_spill_ = kNoSpill;
  }
}

}  // namespace mlasim
