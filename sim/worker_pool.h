// WorkerPool: a few persistent threads that run one function on every thread at once, with the
// caller as thread 0, for models whose parts advance independently between synchronisation
// points (the cycle-level HBM's pseudo-channels). run() returns only when every thread is
// done. for_each() gives each item an owner thread (parts keep their core's cache from one
// call to the next) and lets idle threads take what is left. Which thread ran a part never
// reaches the results, because the callers keep each part's effects on shared state in the
// part's own log and apply the logs in a fixed order.
//
// Waiting: a worker spins (pause instructions, a yield every 64) for a short while after its
// last item and then sleeps on the generation counter, so a pool that is not used costs no CPU
// time, and spinning threads give way when there are more threads than cores.
// A pool of 1 thread runs everything on the caller.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace mlasim {

class WorkerPool {
 public:
  // `threads`: threads that run items, the caller included (1: no worker threads).
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }
  // Calls fn(t) on thread t for every t in [0, threads()) (0: the caller); returns when all
  // are done. An exception thrown by fn is rethrown here (the first one; the other threads
  // still finish).
  void run(const std::function<void(unsigned)>& fn);
  // Calls fn(i, t) once for every i in [0, n), t being the thread that runs it, returning when
  // all are done. Thread owner(i) runs item i if it gets there first: each thread runs its own
  // items in order, then takes the others' unclaimed items from the back, so parts keep their
  // thread (and its cache) while the load is even, and an uneven call still ends when the
  // work does.
  void for_each(size_t n, const std::function<unsigned(size_t)>& owner,
                const std::function<void(size_t, unsigned)>& fn);

 private:
  void work(unsigned thread);
  void worker_loop(unsigned thread);

  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> sleepers_{0};
  std::atomic<uint32_t> busy_{0};  // workers still inside the current generation
  std::atomic<bool> stop_{false};
  const std::function<void(unsigned)>* fn_ = nullptr;
  // for_each: each thread's items, and its lane: the range [front, back) of them not yet
  // taken, packed in one word (front in the low half) so that the owner taking from the front
  // and a thief taking from the back agree with one compare-and-swap, on a line of its own.
  struct alignas(64) Lane {
    std::atomic<uint64_t> range{0};
  };
  std::vector<std::vector<size_t>> items_;
  std::unique_ptr<Lane[]> lanes_;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace mlasim
