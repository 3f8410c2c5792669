// WorkerPool: persistent threads for parallel loops (see worker_pool.h).
#include "sim/worker_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mlasim {

namespace {

// One step of a spin wait: a pause instruction, and every 64th step a yield, so a spinning
// thread gives its core away when there are more threads than cores.
void cpu_relax(uint32_t step) {
  if ((step & 63) == 63) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Pause-loop iterations a worker spins before sleeping: tens of microseconds, longer than the
// serial stretch between two parallel loops of a busy simulation.
constexpr uint32_t kSpins = 1 << 14;

}  // namespace

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned t = 1; t < threads; ++t)
    workers_.emplace_back([this, t] { worker_loop(t); });
}

WorkerPool::~WorkerPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void WorkerPool::work(unsigned thread) {
  try {
    (*fn_)(thread);
  } catch (...) {
    if (!failed_.exchange(true)) error_ = std::current_exception();
  }
}

void WorkerPool::worker_loop(unsigned thread) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (uint32_t s = 0; g == seen && s < kSpins; ++s) {
      cpu_relax(s);
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      // Read again after announcing the sleep: run() either sees this sleeper and notifies, or
      // its new generation is visible here.
      if (generation_.load(std::memory_order_seq_cst) == seen)
        generation_.wait(seen, std::memory_order_acquire);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_relaxed)) return;
    work(thread);
    busy_.fetch_sub(1, std::memory_order_release);
  }
}

void WorkerPool::run(const std::function<void(unsigned)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  fn_ = &fn;
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  busy_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
  work(0);
  for (uint32_t s = 0; busy_.load(std::memory_order_acquire) != 0; ++s)
    cpu_relax(s);
  fn_ = nullptr;
  if (failed_.load(std::memory_order_relaxed)) std::rethrow_exception(error_);
}

void WorkerPool::for_each(size_t n, const std::function<unsigned(size_t)>& owner,
                          const std::function<void(size_t, unsigned)>& fn) {
  if (workers_.empty()) {
    for (size_t i = 0; i < n; ++i)
      fn(i, 0);
    return;
  }
  const unsigned nt = threads();
  if (!lanes_) {
    lanes_ = std::make_unique<Lane[]>(nt);
    items_.resize(nt);
  }
  for (auto& v : items_)
    v.clear();
  for (size_t i = 0; i < n; ++i)
    items_[owner(i) % nt].push_back(i);
  for (unsigned t = 0; t < nt; ++t)
    lanes_[t].range.store(static_cast<uint64_t>(items_[t].size()) << 32, std::memory_order_relaxed);
  // Takes one item of lane u, from the front or the back; false when the lane is empty.
  auto take = [this](unsigned u, bool front, size_t& item) {
    std::atomic<uint64_t>& r = lanes_[u].range;
    uint64_t cur = r.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = cur & 0xffffffffu, b = cur >> 32;
      if (f >= b) return false;
      const uint64_t next = front ? cur + 1 : cur - (uint64_t{1} << 32);
      if (r.compare_exchange_weak(cur, next, std::memory_order_relaxed)) {
        item = items_[u][front ? f : b - 1];
        return true;
      }
    }
  };
  run([&](unsigned t) {
    size_t item = 0;
    while (take(t, true, item))
      fn(item, t);
    for (unsigned k = 1; k < nt; ++k) {
      const unsigned u = (t + k) % nt;
      while (take(u, false, item))
        fn(item, t);
    }
  });
}

}  // namespace mlasim
