// The small event interface the timing engines (HBM controller, GPU tile scheduler) are written
// against, so that the same engine runs inside a SystemC simulation (ActionQueueSink, one
// ActionQueue per module) and without SystemC at all (EventLoop: calibration, benchmarks,
// `mlasim kernels`, tests that need many runs in one process). A MemoryPort is a memory as the
// engines see it: any-sized requests and a completion callback.
//
// Leaves out: cancellation of scheduled callbacks (engines ignore stale ones themselves).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/common/memory_model.h"
#include "sim/action_queue.h"
#include "sim/units.h"

namespace mlasim {

class EventSink {
 public:
  using Action = std::function<void()>;
  virtual ~EventSink() = default;
  virtual Time now() const = 0;
  // Runs `fn` at absolute time `when` (>= now); same-time callbacks run in scheduling order.
  virtual void at(Time when, Action fn) = 0;
};

// A standalone discrete-event loop: a time-ordered heap of callbacks, run to exhaustion.
class EventLoop final : public EventSink {
 public:
  Time now() const override { return now_; }
  void at(Time when, Action fn) override {
    if (when < now_) when = now_;
    heap_.push(when.ps(), std::move(fn));
  }
  // Runs callbacks until none are left; returns the number run.
  uint64_t run() {
    uint64_t n = 0;
    while (!heap_.empty())
      n += step();
    return n;
  }
  // Runs callbacks due before or at `limit`; now() ends at `limit` if the heap drained earlier.
  uint64_t run_until(Time limit) {
    uint64_t n = 0;
    while (!heap_.empty() && heap_.next_ps() <= limit.ps())
      n += step();
    if (now_ < limit) now_ = limit;
    return n;
  }
  bool empty() const { return heap_.empty(); }
  uint64_t events() const { return events_; }

 private:
  uint64_t step() {
    now_ = Time::ps(heap_.next_ps());
    Action fn = heap_.pop();
    ++events_;
    fn();
    return 1;
  }
  Time now_;
  TimedActions heap_;
  uint64_t events_ = 0;
};

// Drives an engine from a module's ActionQueue inside a SystemC simulation.
class ActionQueueSink final : public EventSink {
 public:
  explicit ActionQueueSink(ActionQueue& queue) : queue_(queue) {}
  Time now() const override { return sim_now(); }
  void at(Time when, Action fn) override { queue_.at(when, std::move(fn)); }

 private:
  ActionQueue& queue_;
};

// A memory as a timing engine sees it (HbmEngine, HbmBandwidthEngine, or a MemoryModel module
// through MemoryModelPort).
class MemoryPort {
 public:
  using Done = std::function<void()>;
  virtual ~MemoryPort() = default;
  virtual void access(const MemRequest& request, Done done) = 0;
  virtual Bandwidth peak_bandwidth() const = 0;
};

// Forwards to a SystemC memory module (whatever `hardware.memory` the scenario chose).
class MemoryModelPort final : public MemoryPort {
 public:
  explicit MemoryModelPort(MemoryModel& memory) : memory_(memory) {}
  void access(const MemRequest& request, Done done) override {
    memory_.access(request, std::move(done));
  }
  Bandwidth peak_bandwidth() const override { return memory_.peak_bandwidth(); }

 private:
  MemoryModel& memory_;
};

}  // namespace mlasim
