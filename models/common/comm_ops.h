// Collective communication ops of a GPU (all-to-all, ring all-gather / reduce-scatter /
// all-reduce), run on top of the GPU's network injection. GpuBase hands them the op when its
// dependencies are done and every collective message that arrives; they call back when the op
// is complete. Works on every network fidelity (placeholder, packet, flow).
//
// All-to-all: the op's row of the byte matrix is sent (one message per destination, zero
// entries skipped, posted in an order shifted by rank within and across nodes); it completes
// when all its sends have left and all the bytes its column expects have arrived. With
// `nvlink_forwarding` (DeepEP-style dispatch/combine), data for another node is sent as one
// message over the network to the GPU with this GPU's local index on that node, which forwards
// each GPU's part over NVLink (store-and-forward per message: the relay sends its parts once
// the whole message is in). With the op's `relay` matrix (DeepEP's per-node deduplication) the
// message to a relay carries the op's deduplicated bytes instead of the sum of its parts; and
// with `reduce` (combine) the direction turns round: a part for a GPU on another node goes over
// NVLink to the GPU here with that GPU's local index, which, once its own op has started and
// every part for that destination is in, sends their sum (the op's deduplicated bytes) over the
// network. A relay's op completes when its sums have left too.
//
// Ring collectives over `size` ranks (`start`, `start + stride`, ...): all-gather and
// reduce-scatter take size-1 steps, all-reduce 2(size-1); in each step a rank sends one chunk
// (bytes / size) to the next rank after receiving the previous step's chunk from the previous
// one. The reduction arithmetic is not timed (it runs on SMs; the GPU model owns them).
//
// Issuer: `sm` adds the GPU's issue latency (network.gpu_port.issue_latency) before the NIC's
// doorbell; `nic` (work requests posted ahead, triggered without SMs) only the doorbell.
// Tags tell concurrent collectives apart; reusing a tag before the previous op with it has
// completed on every rank mixes their bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/common/message.h"
#include "workloads/op_graph.h"

namespace mlasim {

// Ascending ranks written compactly as ranges ("0-3, 5, 9-11"), at most `max_ranges` of them
// before an ellipsis with the total count.
std::string rank_ranges(const std::vector<int32_t>& sorted, size_t max_ranges = 8);

class CommOps {
 public:
  using Inject = std::function<void(Message msg, std::function<void()> on_sent)>;
  using Complete = std::function<void(uint32_t op)>;

  CommOps(int32_t rank, uint64_t seed, Inject inject, Complete complete);

  static bool handles(const OpPayload& p);
  // Starts op `id` (its dependencies are done).
  void start(uint32_t id, const OpPayload& p);
  // A collective message for this GPU has fully arrived.
  void on_message(const Message& msg);
  // What an unfinished collective op `id` (payload `p`) waits on, naming the ranks whose
  // pieces have not arrived; empty if `id` is not one of ours.
  std::string describe(uint32_t id, const OpPayload& p) const;
  uint64_t relayed_messages() const { return relayed_; }

 private:
  // As a relay that sums parts (DeepEP combine): those for one destination on another node.
  struct Sum {
    uint64_t expect = 0;  // the parts' bytes (known once the op has started)
    uint64_t got = 0;
    uint64_t out = 0;  // bytes of the sum sent on (0 until the op has started)
    bool sent = false;
    std::vector<int32_t> from;  // ranks whose part has arrived (one part each; for the watchdog)
  };
  struct AllToAll {
    uint32_t op = 0;
    bool started = false;
    uint64_t expect = 0;
    uint64_t got = 0;
    std::vector<uint64_t> got_from;  // bytes arrived per source rank (for the watchdog)
    uint32_t sends_left = 0;
    bool sm_issued = true;
    uint8_t vl = 0;
    std::map<int32_t, Sum> sums;  // by destination
  };
  struct Ring {
    uint32_t op = 0;
    bool started = false;
    int32_t next = -1, prev = -1;
    int32_t steps = 0;
    uint64_t chunk = 0;
    int32_t received = 0;
    int32_t sent_done = 0;
    std::vector<int32_t> early_steps;  // steps that arrived before the op started
    bool sm_issued = true;
    uint8_t vl = 0;
  };

  Message make(int32_t dst, uint64_t bytes, int32_t tag, bool sm_issued, uint8_t vl);
  void start_all_to_all(uint32_t id, const AllToAllOp& op);
  std::vector<int32_t> post_order(int32_t n, int32_t gpus_per_node) const;
  void start_ring(uint32_t id, const RingCollectiveOp& op);
  void ring_send(int32_t tag, int32_t step);
  void check_all_to_all(int32_t tag);
  // Sends the sum for `dst` when the op has started and all its parts are in.
  void try_sum(int32_t tag, int32_t dst);
  // Calls f(peer, bytes) for what this rank's op expects from each other rank: its column, or
  // with summed parts (`reduce`) the same-node part of it and the relays' sums.
  template <class F>
  void for_each_expected(const AllToAllOp& op, F&& f) const;
  void check_ring(int32_t tag);

  int32_t rank_;
  uint64_t seed_;
  Inject inject_;
  Complete complete_;
  uint64_t next_id_ = 0;
  uint64_t relayed_ = 0;
  std::map<int32_t, AllToAll> a2a_;  // by tag
  std::map<int32_t, Ring> ring_;     // by tag
};

}  // namespace mlasim
