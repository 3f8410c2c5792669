// HbmEngine: the cycle-level HBM controller as a plain C++ timing engine (no SystemC). It
// splits each request into 32 B bursts by the address map, hands every pseudo-channel its
// share (a burst range the channel walks with a cursor), advances the pseudo-channels lazily
// and reports each request's completion at the exact time its last burst's data is through
// (plus the controller latency).
//
// Events: the engine wakes only when a request could complete. At each wake every busy
// pseudo-channel takes the shares that arrived since its last step (advancing to each arrival
// first) and is advanced to the present; the next wake is the earliest time any outstanding
// request could possibly complete (a lower bound from its bursts left and the channels' next
// possible column command), so completions are always discovered before they are due.
// Streaming 1 GiB in 1 MiB requests costs about two thousand events, not 33 million; an
// arriving request advances nothing, it waits in its channels' inboxes.
//
// Parallel advance (controller.threads > 1): pseudo-channels are independent between two
// controller events, so the ones a wake steps run on a WorkerPool, each channel on the same
// thread from one step to the next. What they do to the shared request table, and the state
// the engine keeps of them, goes to a per-thread log that the engine applies in the order the
// serial loop visits them, so completions, their order and every result are those of one
// thread. Between steps the engine reads those logs rather than the channels (only a
// single-burst request's completion bound and the statistics look into a channel): a cache
// line that moves between cores costs hundreds of nanoseconds, about what advancing a channel
// by a few bursts does.
//
// Runs under SystemC through HbmController (hbm_controller.h) or standalone on an EventLoop.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <vector>

#include "models/hbm/event_sink.h"
#include "models/hbm/hbm_address_map.h"
#include "models/hbm/hbm_params.h"
#include "models/hbm/hbm_pseudo_channel.h"
#include "sim/stats.h"
#include "sim/worker_pool.h"

namespace mlasim {

// What the controller tracks per request; it counts the bursts down as the pseudo-channels'
// logs report them issued.
struct HbmRequestState {
  uint64_t remaining = 0;  // bursts whose column command has not issued
  // Per pseudo-channel share: bursts not yet issued there; for a share of one burst, its
  // bank and row (for a tighter completion bound).
  struct Part {
    uint32_t pc;
    uint64_t left;
    int32_t bank = -1;
    uint32_t row = 0;
  };
  std::vector<Part> parts;
  int64_t last_done = 0;  // latest data-complete cycle among issued bursts
  bool write = false;
  bool live = false;
  int64_t arrival = 0;  // ps
  uint64_t bytes = 0;
  std::function<void()> done;
};

struct HbmRequestTable {
  std::vector<HbmRequestState> requests;
  std::vector<uint32_t> finished;  // requests whose last burst has issued, not yet handled
};

// Figures summed over all pseudo-channels.
struct HbmTotals {
  uint64_t read_bursts = 0, write_bursts = 0;
  uint64_t activates = 0, precharges = 0;
  uint64_t row_hits = 0, row_misses = 0, row_conflicts = 0;
  uint64_t refreshes = 0;
  uint64_t refresh_cycles = 0;
  uint64_t queue_integral = 0, intake_integral = 0, bank_open_integral = 0;
};

class HbmEngine final : public MemoryPort {
 public:
  HbmEngine(const HbmParams& params, EventSink& events);
  HbmEngine(const HbmEngine&) = delete;
  HbmEngine& operator=(const HbmEngine&) = delete;

  void access(const MemRequest& request, Done done) override;
  Bandwidth peak_bandwidth() const override { return params_.peak_bandwidth(); }

  const HbmParams& params() const { return params_; }
  // Brings every pseudo-channel's statistics up to the present (advancing busy ones).
  HbmTotals totals();
  uint64_t requests_completed() const { return completed_; }
  uint64_t outstanding() const { return outstanding_; }
  uint64_t wakes() const { return wakes_; }
  uint64_t bytes_read() const { return bytes_[0]; }
  uint64_t bytes_written() const { return bytes_[1]; }
  // Simulated time with at least one request outstanding.
  Time active_time() const;
  // Mean request latency, arrival to completion.
  Time mean_latency() const;
  // Registers counters and dump-time formulas (achieved bandwidth, hit rates, utilisation).
  void register_stats(StatGroup& group);

 private:
  int64_t cycle_at_or_after(Time t) const { return (t.ps() + tck_ - 1) / tck_; }
  uint32_t allocate_request();
  void push_range(uint64_t id, uint64_t b0, uint64_t b1, bool write, int64_t cycle);
  // Notes `pc` as busy, its next column command no earlier than `bound`.
  void mark_busy(uint32_t pc, int64_t bound);
  // What one step did to its pseudo-channel, logged by the thread that ran it.
  struct StepResult {
    uint32_t item;        // index into busy_ at the step
    uint32_t begin, end;  // its issued bursts' effects: [begin, end) of the thread's `issued`
    int64_t bound;        // the channel's next_column_bound() after the step
    bool busy;            // the channel's busy() after the step
  };
  struct alignas(64) ThreadLog {
    std::vector<StepResult> steps;
    std::vector<HbmPseudoChannel::Issued> issued;
  };
  // Steps every busy pseudo-channel: pushes what waits in its inbox (advancing to each
  // arrival first), then advances it to `cycle`. On the pool when there is one (each channel
  // on its owner thread unless another is idle), else here. Then result(i) is the outcome of
  // busy_[i] as it stood, and apply_issued(i) must be called once for each, in the serial
  // order.
  void step_busy(int64_t cycle);
  const StepResult& result(size_t item) const {
    const auto [t, k] = where_[item];
    return logs_[t].steps[k];
  }
  void apply_issued(size_t item);
  // Applies one issued burst range's effect on its request (the serial report()).
  void apply(const HbmPseudoChannel::Issued& e);
  // The pool thread that advances `pc` when no other is idle.
  unsigned owner(uint32_t pc) const;
  void on_wake(int64_t cycle);
  void schedule_wake(int64_t cycle);
  void handle_finished();
  void complete(uint32_t id);
  // A lower bound on when request `s` completes; any value >= `cutoff` once the bound is known
  // to reach it (the callers only compare it with an earlier wake).
  int64_t completion_bound(const HbmRequestState& s, int64_t now,
                           int64_t cutoff = std::numeric_limits<int64_t>::max()) const;
  void settle();

  HbmParams params_;
  EventSink& events_;
  HbmPcConfig cfg_;
  HbmAddressMap map_;
  int64_t tck_;
  HbmRequestTable table_;
  std::vector<uint32_t> free_ids_;
  std::vector<uint32_t> undiscovered_;  // requests with bursts still to issue
  std::vector<std::unique_ptr<HbmPseudoChannel>> pcs_;
  std::vector<uint32_t> busy_;
  std::vector<uint8_t> is_busy_;
  std::vector<int64_t> pc_bound_;  // each PC's next_column_bound() as of its last advance/push
  std::set<int64_t> wakes_pending_;
  struct SmallPiece {
    uint32_t pc;
    uint64_t begin, end;  // bursts
  };
  std::vector<SmallPiece> small_;  // scratch for requests of few chunks
  struct Piece {
    uint32_t pc;
    uint64_t count;       // bursts
    uint64_t begin, end;  // bursts
    bool spread;
  };
  std::vector<Piece> pieces_;  // scratch: one request's share of each PC, in push order
  // A request's share of a channel waiting to be pushed there at the channel's next step.
  struct Pending {
    uint64_t begin, end;  // the bursts of the range (spread: the channel's bursts within it)
    uint64_t count;       // of the channel's bursts
    int64_t cycle;        // arrival
    uint32_t req, part;
    bool write, spread;
  };
  std::vector<std::vector<Pending>> inbox_;           // per pseudo-channel, in arrival order
  std::unique_ptr<WorkerPool> pool_;                  // null with one thread
  std::vector<ThreadLog> logs_;                       // one per pool thread (one without a pool)
  std::vector<std::pair<uint32_t, uint32_t>> where_;  // item -> (thread, step) of the last run
  std::vector<uint32_t> order_;                       // scratch: items in on_wake()'s order

  uint64_t bytes_[2] = {0, 0};
  uint64_t requests_[2] = {0, 0};
  uint64_t completed_ = 0;
  uint64_t outstanding_ = 0;
  uint64_t wakes_ = 0;
  int64_t busy_since_ps_ = 0;
  uint64_t active_ps_ = 0;
  uint64_t latency_sum_ps_ = 0;
  Histogram latency_ns_{50.0, 40};
  HbmTotals totals_cache_;
};

}  // namespace mlasim
