// Credits a link's receiver will hand back at known future times, as a min-heap by time.
//
// The order in which returns of equal time come out decides how many credits a reservation
// collects at once (it stops as soon as it has enough), and so the peak buffer reservation
// reported; the sift steps below are those of libstdc++'s std::push_heap and std::pop_heap with
// a "later" comparison, so runs match the fabric's earlier results exactly. Written out here,
// rather than calling the standard algorithms, so that they inline into the per-hop path, with
// the storage grown (rarely) out of line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlasim {

class CreditReturnHeap {
 public:
  struct Return {
    int64_t t;  // ps
    uint32_t credits;
  };
  bool empty() const { return n_ == 0; }
  size_t size() const { return n_; }
  // The earliest return (the heap must not be empty).
  const Return& top() const { return buf_[0]; }
  // Where the next pop reads (the front) and writes (the back): for prefetching.
  const Return* front_address() const { return buf_.data(); }
  const Return* back_address() const { return n_ > 0 ? buf_.data() + n_ - 1 : buf_.data(); }

  [[gnu::always_inline]] void push(Return r) {
    if (n_ == buf_.size()) grow();
    Return* a = buf_.data();
    ptrdiff_t hole = static_cast<ptrdiff_t>(n_++);
    sift_up(a, hole, 0, r);
  }
  // Removes the earliest return.
  [[gnu::always_inline]] void pop() {
    Return* a = buf_.data();
    const auto len = static_cast<ptrdiff_t>(n_) - 1;  // the heap's size afterwards
    --n_;
    if (len < 1) return;
    const Return value = a[len];
    a[len] = a[0];
    // Hole at the root moves down along the earlier children to a leaf, then the former last
    // element climbs back up from there.
    ptrdiff_t hole = 0, child = 0;
    while (child < (len - 1) / 2) {
      child = 2 * (child + 1);
      if (a[child].t > a[child - 1].t) --child;
      a[hole] = a[child];
      hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
      child = 2 * (child + 1);
      a[hole] = a[child - 1];
      hole = child - 1;
    }
    sift_up(a, hole, 0, value);
  }

 private:
  static void sift_up(Return* a, ptrdiff_t hole, ptrdiff_t top, Return value) {
    ptrdiff_t parent = (hole - 1) / 2;
    while (hole > top && a[parent].t > value.t) {
      a[hole] = a[parent];
      hole = parent;
      parent = (hole - 1) / 2;
    }
    a[hole] = value;
  }
  [[gnu::noinline]] void grow() { buf_.resize(buf_.empty() ? 8 : 2 * buf_.size()); }
  std::vector<Return> buf_;
  size_t n_ = 0;
};

}  // namespace mlasim
