// The fabric's queue of small typed events, ordered by time, equal times first in first out
// (which keeps runs deterministic). Times never go backwards: nothing is scheduled before the
// last event taken out.
//
// A timing wheel over the near future, with a radix heap for the far future. The wheel has
// kSlots slots of 2^kSlotBits ps each, covering the kSlots slot-widths from the current slot
// on; an event due in it is appended to its slot's list (no ordering work at push). A slot's
// first kInline events live in one flat array, in the slot's own cache lines, and its count in
// a small array, so that a push touches one line near the others in use (separate vectors per
// slot cost a dependent miss on the vector, then one on its buffer); only events past kInline
// spill, into a chain of chunks of kInline events that every slot draws from one pool, last
// freed first used (so the chunks in use stay few and in cache: spill vectors of their own
// kept each slot's largest burst, megabytes touched once per turn of the wheel). When the
// current slot runs out, the next non-empty one is found in a bitmap; once its first event is
// due (not before: looking at it sorts it in place and leaves it), its few events are sorted
// stably by time and taken from the front; an event scheduled into the current slot is
// inserted in order there. Events beyond the wheel wait in the radix heap
// and move onto the wheel, in order, as it turns. Every slot receives the events of one time
// in the order they were scheduled (the heap gives up its events in time order, first in first
// out, and only holds times later than any on the wheel), so equal times leave in that order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlasim {

// 16 bytes: time in ps, then the event's kind and arguments.
struct FabricEvent {
  uint64_t key;  // time, ps
  uint32_t a;
  uint32_t kind_b;  // kind (8 bits) | b << 8 (24 bits)
  int64_t t() const { return static_cast<int64_t>(key); }
  uint8_t kind() const { return static_cast<uint8_t>(kind_b & 0xff); }
  uint32_t b() const { return kind_b >> 8; }
};

// Radix heap: an event waits in the bucket of the highest bit in which its time differs from
// the last time taken out; taking the next one out re-sorts only the lowest non-empty bucket.
// Pushes are appends, and equal times leave in the order they came in (bucket 0 is a FIFO).
class RadixEventHeap {
 public:
  bool empty() const { return size_ == 0; }
  void push(FabricEvent e) {
    if (e.key < last_) e.key = last_;
    std::vector<FabricEvent>& b = buckets_[bucket_of(e.key)];
    b.push_back(e);
    ++size_;
    if (min_of_ != nullptr && e.key < (*min_of_)[min_at_].key) {
      min_of_ = &b;  // the new first (an equal time stays behind the one found)
      min_at_ = b.size() - 1;
    }
  }
  // Time of the next event (the heap must not be empty); looking does not re-sort.
  uint64_t min_key() const { return min_event().key; }
  // The next event itself (the first pushed of those at min_key()), left in place. Found by a
  // scan of the lowest bucket, kept until the next is taken out (the fabric looks at the next
  // event at every activation while it waits).
  const FabricEvent& min_event() const;
  // True when the next event is due at or before `t`; it is then taken by pop_front().
  bool ready_by(uint64_t t) {
    if (head0_ < buckets_[0].size()) return buckets_[0][head0_].key <= t;
    return size_ > 0 && refill_if_due(t);
  }
  FabricEvent pop_front() {
    const FabricEvent e = buckets_[0][head0_];
    --size_;
    min_of_ = nullptr;
    if (++head0_ == buckets_[0].size()) {
      buckets_[0].clear();
      head0_ = 0;
    }
    return e;
  }

 private:
  int bucket_of(uint64_t key) const { return key == last_ ? 0 : 64 - __builtin_clzll(key ^ last_); }
  bool refill_if_due(uint64_t t);
  std::array<std::vector<FabricEvent>, 65> buckets_;
  size_t head0_ = 0;
  uint64_t last_ = 0;
  size_t size_ = 0;
  // Where min_event() found the next event (null: not looked since the last one was taken).
  mutable const std::vector<FabricEvent>* min_of_ = nullptr;
  mutable size_t min_at_ = 0;
};

class FabricEventQueue {
 public:
  FabricEventQueue() : inline_(kSlots) {
    spill_head_.fill(kNoChunk);
    spill_tail_.fill(kNoChunk);
  }
  // Not copied or moved: head_ and end_ point into cur_ or a slot's lines.
  FabricEventQueue(const FabricEventQueue&) = delete;
  FabricEventQueue& operator=(const FabricEventQueue&) = delete;
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  [[gnu::always_inline]] void push(FabricEvent e) {
    if (e.key < floor_) e.key = floor_;
    const uint64_t slot = e.key >> kSlotBits;
    ++size_;
    if (slot <= cursor_) {
      insert_current(e);
    } else if (slot - cursor_ < kSlots) {
      push_slot(slot & kMask, e);
    } else {
      push_far(e);
    }
  }
  // The next event (the queue must not be empty). Looking does not take its slot: the wheel
  // turns only to events that are due (see ready_by).
  const FabricEvent& top() {
    if (head_ == end_) return peek(next_occupied((cursor_ + 1) & kMask));
    return *head_;
  }
  // True when the next event is due at or before `t`; it is then front(). The wheel turns to
  // the next event's slot only then: had it turned to a later slot before that slot was due,
  // every event scheduled meanwhile for an earlier time would have to be inserted in order
  // among that slot's events (a flood of them, at scale, when thousands of GPUs inject).
  bool ready_by(uint64_t t) {
    if (size_ == 0) return false;
    if (head_ == end_) {
      const size_t at = next_occupied((cursor_ + 1) & kMask);
      if (peek(at).key > t) return false;
      advance(at);
    }
    if (head_->key > t) return false;
    floor_ = head_->key;  // as a radix heap would: later pushes never precede it
    return true;
  }
  bool has_front() const { return head_ != end_; }
  const FabricEvent& front() const { return *head_; }
  // For prefetching only: an event soon after the front, about `k` places behind it (exactly
  // within the current slot; beyond it, from the own lines of the next slot that held events
  // when the current one was taken: by time when they held all its events then, else in the
  // order they were scheduled), or null.
  const FabricEvent* ahead(size_t k) const {
    if (k < static_cast<size_t>(end_ - head_)) return head_ + k;
    const size_t j = k - static_cast<size_t>(end_ - head_);
    if (peek_ == kSlots || j >= count_[peek_] || j >= kInline) return nullptr;
    return &inline_[peek_].e[j];
  }
  FabricEvent pop_front() {
    const FabricEvent e = *head_;
    --size_;
    if (++head_ == end_) {
      cur_.clear();
      head_ = end_ = cur_.data();
    }
    return e;
  }

 private:
  static constexpr int kSlotBits = 10;  // 1.024 ns per slot
  static constexpr size_t kSlots = 4096;
  static constexpr size_t kMask = kSlots - 1;
  static constexpr uint32_t kInline = 16;  // events a slot holds in its own lines (256 B)
  struct alignas(64) SlotEvents {
    std::array<FabricEvent, kInline> e;
  };
  [[gnu::always_inline]] void push_slot(size_t i, FabricEvent e) {
    const uint32_t n = count_[i]++;
    if (n < kInline) [[likely]] {
      inline_[i].e[n] = e;
    } else {
      push_spill(i, n - kInline, e);
    }
    bits_[i >> 6] |= uint64_t{1} << (i & 63);
  }
  // The `k`-th spilled event of slot `i` (a new chunk on the chain every kInline of them).
  void push_spill(size_t i, uint32_t k, FabricEvent e) {
    if (k % kInline == 0) {
      uint32_t c;
      if (!free_chunks_.empty()) {
        c = free_chunks_.back();
        free_chunks_.pop_back();
      } else {
        c = static_cast<uint32_t>(chunks_.size());
        chunks_.emplace_back();
        chunk_next_.push_back(kNoChunk);
      }
      chunk_next_[c] = kNoChunk;
      if (spill_tail_[i] == kNoChunk) {
        spill_head_[i] = c;
      } else {
        chunk_next_[spill_tail_[i]] = c;
      }
      spill_tail_[i] = c;
    }
    chunks_[spill_tail_[i]].e[k % kInline] = e;
  }
  // Appends slot `i`'s spilled events (`n` of them) to cur_ in push order and frees its chunks.
  void take_spill(size_t i, uint32_t n);
  void insert_current(FabricEvent e);
  // The next event while the current slot is used up (and the queue is not empty), without
  // turning the wheel: the first of the next occupied slot `at` (its own lines sorted in place,
  // its spill scanned), or of the heap when `at` is kSlots.
  const FabricEvent& peek(size_t at);
  // Rare (beyond the wheel), so out of line: push() inlines into the per-hop path.
  [[gnu::noinline]] void push_far(FabricEvent e) { far_.push(e); }
  // Turns the wheel to the next occupied slot `at` (kSlots: to the heap's first event).
  void advance(size_t at);
  // The first slot from `start` on (cyclically) that holds events, or kSlots when none does.
  size_t next_occupied(size_t start) const;
  // The current slot's events by time, from head_ on: in the slot's own lines when they all fit
  // there and none was inserted since (in_slot_), else in cur_.
  std::vector<FabricEvent> cur_;
  // The current slot's next event and its end (the per-event path reads no vector size); set
  // again whenever cur_ changes.
  const FabricEvent* head_ = nullptr;
  const FabricEvent* end_ = nullptr;
  bool in_slot_ = false;
  uint64_t cursor_ = 0;                   // number of the current slot (time >> kSlotBits)
  std::vector<SlotEvents> inline_;        // by slot: its first kInline events
  std::array<uint32_t, kSlots> count_{};  // by slot: its events
  static constexpr uint32_t kNoChunk = UINT32_MAX;
  std::array<uint32_t, kSlots> spill_head_{}, spill_tail_{};  // by slot: its chain of chunks
  std::vector<SlotEvents> chunks_;                            // spilled events, kInline a chunk
  std::vector<uint32_t> chunk_next_;          // by chunk: the next of its slot's chain
  std::vector<uint32_t> free_chunks_;         // last freed at the back
  std::array<uint64_t, kSlots / 64> bits_{};  // non-empty slots
  size_t peek_ = kSlots;                      // the next occupied slot, for ahead()
  size_t presorted_ = kSlots;                 // the slot advance() or peek() last sorted ahead
  uint32_t presorted_n_ = 0;                  // its events then
  // Then: its spilled event that comes first (chunk * kInline + place), if one precedes its lines.
  static constexpr size_t kNoSpill = SIZE_MAX;
  size_t presorted_spill_ = kNoSpill;
  RadixEventHeap far_;  // events beyond the wheel
  uint64_t floor_ = 0;
  size_t size_ = 0;
};

}  // namespace mlasim
