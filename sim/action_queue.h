// Event-driven scheduling for models: a module asks for a callback at a simulated time and the
// queue wakes exactly then (one sc_event, one SC_METHOD), never polling. Callbacks due at the
// same time run in the order they were scheduled, which keeps runs deterministic.
#pragma once

#include <systemc>

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "sim/sim_context.h"
#include "sim/units.h"

namespace mlasim {

// Current simulated time as a Time.
inline Time sim_now() {
  return Time::ps(static_cast<int64_t>(sc_core::sc_time_stamp().value()));
}

// sc_start() for the run loop. An InputError or SimulationError thrown inside a process reaches
// sc_start's caller as SystemC's sc_report, its type lost; the process guard kept the original
// (SimContext::guard), which is rethrown here as itself, so that main prints its own one-line
// message and exits 2 or 3. Any other failure stays an sc_report (an internal error).
void start_kernel(SimContext& ctx, const sc_core::sc_time& t, sc_core::sc_starvation_policy p);

// Callbacks ordered by their time, equal times in the order they were added: the heap behind
// ActionQueue and the standalone EventLoop (models/hbm/event_sink.h).
class TimedActions {
 public:
  using Action = std::function<void()>;
  void push(int64_t when_ps, Action fn) { heap_.push(Item{when_ps, seq_++, std::move(fn)}); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Time of the earliest callback (the heap must not be empty).
  int64_t next_ps() const { return heap_.top().when; }
  // Takes the earliest callback out.
  Action pop() {
    Action fn = std::move(const_cast<Item&>(heap_.top()).fn);
    heap_.pop();
    return fn;
  }

 private:
  struct Item {
    int64_t when;
    uint64_t seq;
    Action fn;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };
  std::priority_queue<Item, std::vector<Item>, Later> heap_;
  uint64_t seq_ = 0;
};

class ActionQueue : public sc_core::sc_module {
 public:
  using Action = std::function<void()>;
  ActionQueue(sc_core::sc_module_name name, SimContext& ctx);

  void at(Time when, Action fn);  // absolute simulated time (>= now)
  void after(Time delay, Action fn) { at(sim_now() + delay, std::move(fn)); }
  size_t pending() const { return heap_.size(); }

 private:
  void fire();
  void arm();

  SimContext& ctx_;
  sc_core::sc_event wake_;
  TimedActions heap_;
};

}  // namespace mlasim
