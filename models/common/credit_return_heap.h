// Credits a link's receiver will hand back at known future times, as a min-heap by time.
//
// The order in which returns of equal time come out decides how many credits a reservation
// collects at once (it stops as soon as it has enough), and so the peak buffer reservation
// reported; the sift steps below are those of libstdc++'s std::push_heap and std::pop_heap with
// a "later" comparison, so runs match the fabric's earlier results exactly. Written out here,
// rather than calling the standard algorithms, so that they inline into the per-hop path, with
// the storage grown (rarely) and the sift after a pop out of line.
//
// The root (the earliest return) is kept inline, so a heap of at most one return, the common
// case on the per-hop path, never reads its out-of-line storage; element i > 0 of the standard
// heap's array lives at more_[i] (more_[0] is unused). The object is 32 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mlasim {

class CreditReturnHeap {
 public:
  struct Return {
    int64_t t;  // ps
    uint32_t credits;
  };
  CreditReturnHeap() = default;
  CreditReturnHeap(const CreditReturnHeap& o) { *this = o; }
  CreditReturnHeap(CreditReturnHeap&&) noexcept = default;
  CreditReturnHeap& operator=(CreditReturnHeap&&) noexcept = default;
  CreditReturnHeap& operator=(const CreditReturnHeap& o) {
    if (this == &o) return *this;
    root_ = o.root_;
    n_ = o.n_;
    cap_ = o.cap_;
    more_.reset(cap_ > 0 ? new Return[cap_] : nullptr);
    for (uint32_t i = 1; i < n_; ++i)
      more_[i] = o.more_[i];
    return *this;
  }

  bool empty() const { return n_ == 0; }
  size_t size() const { return n_; }
  // The earliest return (the heap must not be empty).
  const Return& top() const { return root_; }
  // Time of the earliest return, or INT64_MAX when there is none.
  int64_t earliest() const { return root_.t; }

  [[gnu::always_inline]] void push(Return r) {
    if (n_ == 0) {
      root_ = r;
      n_ = 1;
      return;
    }
    if (n_ >= cap_) grow();
    const auto hole = static_cast<ptrdiff_t>(n_++);
    sift_up(hole, r);
  }
  // Removes the earliest return. Emptying a heap of one is inlined; the sift of a larger heap is
  // a call, so that its registers do not burden the per-hop path around it (measured: 8 fewer
  // instructions per hop on the 128-host all-to-all, from spills saved).
  [[gnu::always_inline]] void pop() {
    if (n_ == 1) {
      n_ = 0;
      root_.t = INT64_MAX;
      return;
    }
    if (n_ == 2) {  // what pop_deep does with one left: it moves to the root
      n_ = 1;
      root_ = more_[1];
      return;
    }
    pop_deep();
  }

 private:
  // pop() of a heap of two or more.
  [[gnu::noinline]] void pop_deep() {
    const auto len = static_cast<ptrdiff_t>(n_) - 1;  // the heap's size afterwards
    --n_;
    Return* a = more_.get();
    const Return value = a[len];
    // Hole at the root moves down along the earlier children to a leaf, then the former last
    // element climbs back up from there. Children are never the root.
    ptrdiff_t hole = 0, child = 0;
    while (child < (len - 1) / 2) {
      child = 2 * (child + 1);
      if (a[child].t > a[child - 1].t) --child;
      at(hole) = a[child];
      hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
      child = 2 * (child + 1);
      at(hole) = a[child - 1];
      hole = child - 1;
    }
    if (hole == 0) {
      root_ = value;
    } else {
      sift_up(hole, value);
    }
  }

  Return& at(ptrdiff_t i) { return i == 0 ? root_ : more_[i]; }
  // Climbs from `hole` (> 0) towards the root while the parent is later than `value`.
  void sift_up(ptrdiff_t hole, Return value) {
    Return* a = more_.get();
    ptrdiff_t parent = (hole - 1) / 2;
    while (parent > 0 && a[parent].t > value.t) {
      a[hole] = a[parent];
      hole = parent;
      parent = (hole - 1) / 2;
    }
    if (parent == 0 && root_.t > value.t) {
      a[hole] = root_;
      root_ = value;
    } else {
      a[hole] = value;
    }
  }
  [[gnu::noinline]] void grow() {
    const uint32_t cap = cap_ == 0 ? 8 : 2 * cap_;
    std::unique_ptr<Return[]> more(new Return[cap]);
    for (uint32_t i = 1; i < n_; ++i)
      more[i] = more_[i];
    more_ = std::move(more);
    cap_ = cap;
  }
  Return root_{INT64_MAX, 0};
  std::unique_ptr<Return[]> more_;  // cap_ entries, [1, n_) in use
  uint32_t n_ = 0;
  uint32_t cap_ = 0;
};
static_assert(sizeof(CreditReturnHeap) == 32);

}  // namespace mlasim
