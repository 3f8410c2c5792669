// What the fabric remembers of the messages it carries, in memory bounded by the messages in
// flight rather than by all those of the run (a 2,048-GPU decode step injects hundreds of
// millions): the first `keep_rows` messages in full (messages.csv, tests), the flow-completion
// times and slowdowns of all of them in logarithmic histograms (quantiles to 0.012%; minimum and
// maximum exact), the span from the first injection to the last delivery, and each source GPU's
// busy slices (merged [injected, delivered) intervals, by messages staying in the GPU's node
// and those leaving it) for the timeline.
// A message is opened when injected and closed when delivered; until then it holds a slot.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "sim/chunked_vector.h"
#include "sim/stats.h"

namespace mlasim {

struct Message;

struct MessageRecord {
  uint64_t id = 0;
  int32_t src = -1, dst = -1;
  uint64_t bytes = 0;
  int64_t injected_ps = 0;
  int64_t completed_ps = -1;  // -1: not delivered
  int64_t ideal_ps = 0;       // base latency + bytes / bottleneck payload rate
};

// Disjoint busy time of a source GPU: [start, end) with the messages and bytes merged into it.
struct BusySlice {
  int64_t start = 0, end = 0;
  uint64_t messages = 0, bytes = 0;
};

class MessageLog {
 public:
  explicit MessageLog(uint64_t keep_rows) : keep_rows_(keep_rows) {}
  // Busy slices tell messages within a node of `gpus_per_node` GPUs (ranks numbered node by
  // node) from those leaving it; 0 (the default) counts every message as leaving. Set before
  // the first message.
  void set_gpus_per_node(int gpus_per_node) { gpus_per_node_ = gpus_per_node; }

  // A message injected at `now_ps` (not before any earlier one) whose ideal completion time
  // is `ideal_ps`; returns its slot, which close() takes.
  uint32_t open(const Message& msg, int64_t now_ps, int64_t ideal_ps);
  void close(uint32_t slot, int64_t now_ps);

  uint64_t opened() const { return opened_; }
  uint64_t closed() const { return closed_; }
  uint64_t in_flight() const { return opened_ - closed_; }
  // The first keep_rows messages opened, in injection order.
  const ChunkedVector<MessageRecord>& rows() const { return rows_; }
  // Over delivered messages: completion time (delivered - injected, us) and slowdown (that
  // over the ideal time; 1 where the ideal is 0).
  const LogHistogram& fct_us() const { return fct_us_; }
  const LogHistogram& slowdown() const { return slowdown_; }
  // First injection and last delivery over delivered messages, ps (-1 with none).
  int64_t first_injected_ps() const { return first_ps_; }
  int64_t last_delivered_ps() const { return last_ps_; }
  // Busy slices of GPU `src` by its delivered messages, in time order; `same_node`: those
  // staying in its node.
  std::vector<BusySlice> busy(int32_t src, bool same_node) const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  // One source GPU's messages of one kind: slices merged so far, and the messages since the
  // oldest undelivered one (a later message can only be merged once every earlier one has
  // its end), in injection order.
  struct Track {
    std::vector<BusySlice> slices;
    std::deque<BusySlice> pending;  // end -1: not delivered yet
    uint64_t base = 0;              // sequence number of pending.front()
    uint64_t next = 0;              // sequence number of the next message opened
  };
  struct Slot {
    int64_t injected_ps = 0, ideal_ps = 0;
    uint64_t row = UINT64_MAX;  // in rows_, or UINT64_MAX
    uint64_t seq = 0;           // in its track
    uint32_t track = kNone;
    uint32_t next_free = kNone;
  };
  static void merge(std::vector<BusySlice>& out, const BusySlice& b);

  uint64_t keep_rows_;
  int gpus_per_node_ = 0;
  uint64_t opened_ = 0, closed_ = 0;
  ChunkedVector<MessageRecord> rows_;
  LogHistogram fct_us_, slowdown_;
  int64_t first_ps_ = -1, last_ps_ = -1;
  std::vector<Slot> slots_;
  uint32_t free_ = kNone;
  std::vector<Track> tracks_;  // [2 * src + same_node]
};

}  // namespace mlasim
