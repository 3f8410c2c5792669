// ActionQueue: timed callbacks on one sc_event (see action_queue.h).
#include "sim/action_queue.h"

namespace mlasim {

ActionQueue::ActionQueue(sc_core::sc_module_name name, SimContext& ctx)
    : sc_core::sc_module(name), ctx_(ctx) {
  SC_HAS_PROCESS(ActionQueue);
  SC_METHOD(fire);
  sensitive << wake_;
  dont_initialize();
}

void ActionQueue::at(Time when, Action fn) {
  Time now = sim_now();
  if (when < now) when = now;
  heap_.push(when.ps(), std::move(fn));
  if (heap_.next_ps() == when.ps()) arm();
}

void ActionQueue::arm() {
  // sc_event keeps the earlier of two pending notifications, so re-arming is always safe.
  int64_t delay = heap_.next_ps() - sim_now().ps();
  if (delay <= 0) {
    wake_.notify(sc_core::SC_ZERO_TIME);
  } else {
    wake_.notify(sc_core::sc_time(static_cast<double>(delay), sc_core::SC_PS));
  }
}

void ActionQueue::fire() {
  ctx_.guard([this] {
    const int64_t now = sim_now().ps();
    while (!heap_.empty() && heap_.next_ps() <= now) {
      Action fn = heap_.pop();
      ++ctx_.events;
      fn();
    }
    if (!heap_.empty()) arm();
  });
}

void start_kernel(SimContext& ctx, const sc_core::sc_time& t, sc_core::sc_starvation_policy p) {
  try {
    sc_core::sc_start(t, p);
  } catch (const sc_core::sc_report&) {
    if (ctx.failure) std::rethrow_exception(ctx.failure);
    throw;
  }
}

}  // namespace mlasim
