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

class ActionQueue : public sc_core::sc_module {
 public:
  using Action = std::function<void()>;
  ActionQueue(sc_core::sc_module_name name, SimContext& ctx);

  void at(Time when, Action fn);  // absolute simulated time (>= now)
  void after(Time delay, Action fn) { at(sim_now() + delay, std::move(fn)); }
  size_t pending() const { return heap_.size(); }

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
  void fire();
  void arm();

  SimContext& ctx_;
  sc_core::sc_event wake_;
  std::priority_queue<Item, std::vector<Item>, Later> heap_;
  uint64_t seq_ = 0;
};

}  // namespace mlasim
