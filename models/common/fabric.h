// The shared engine behind packet- and flow-level networks. One Fabric per simulation moves
// every message between NetworkNodes: it knows the link directions (one per port of every
// node), keeps their statistics, records every message's completion time against its ideal,
// and delivers finished messages to their GPUs, in post order per queue pair when asked.
//
// Why one engine rather than a SystemC process per node: SystemC costs about 250-750 ns of
// wall time per distinct timestamp and per activation (REFERENCE §5). The fabric keeps its own
// time-ordered queue of small typed events and wakes SystemC once per distinct timestamp, so a
// packet hop costs one queue push and pop (event_queue.h), and hops due at the same time share an
// activation. Deterministic: events at equal times run in the order they were scheduled.
//
// Left out here: the concrete transport (PacketFabric, FlowFabric).
#pragma once

#include <systemc>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/common/event_queue.h"
#include "models/common/message.h"
#include "models/common/message_log.h"
#include "models/common/network_node.h"
#include "models/common/network_params.h"
#include "sim/chunked_vector.h"
#include "sim/sim_context.h"
#include "sim/units.h"

namespace mlasim {

// Fixed-width bins over simulated time, each summing a quantity (busy picoseconds, byte x ps).
// When an interval would reach past `max_bins`, neighbouring bins merge and the width doubles,
// so a series never needs to know the run's length.
class TimeSeries {
 public:
  [[gnu::always_inline]] void add(int64_t t0_ps, int64_t t1_ps, double per_ps,
                                  int64_t initial_width_ps, int32_t max_bins) {
    // Common case, without a division: inside the bin the last interval ended in.
    if (t0_ps >= cur_lo_ && t1_ps <= cur_hi_) {
      cur_sum_ += static_cast<double>(t1_ps - t0_ps) * per_ps;
      return;
    }
    // Next: inside that bin and the one before it (a buffer stay that began earlier).
    if (t0_ps >= prev_lo_ && t1_ps <= cur_hi_ && t1_ps > t0_ps) {
      if (t1_ps <= cur_lo_) {
        prev_sum_ += static_cast<double>(t1_ps - t0_ps) * per_ps;
      } else {
        prev_sum_ += static_cast<double>(cur_lo_ - t0_ps) * per_ps;
        cur_sum_ += static_cast<double>(t1_ps - cur_lo_) * per_ps;
      }
      return;
    }
    // Next: from that bin into the one after it (time moving on), no merging due.
    if (t0_ps >= cur_lo_ && t0_ps < cur_hi_ && t1_ps > cur_hi_ && t1_ps - cur_hi_ <= width_ &&
        t1_ps - 1 < width_ * static_cast<int64_t>(max_bins)) {
      if (bins_.size() <= cur_ + 1) bins_.resize(cur_ + 2, 0.0);
      if (prev_lo_ < cur_lo_) bins_[cur_ - 1] = prev_sum_;
      prev_sum_ = cur_sum_ + static_cast<double>(cur_hi_ - t0_ps) * per_ps;
      ++cur_;
      prev_lo_ = cur_lo_;
      cur_lo_ = cur_hi_;
      cur_hi_ += width_;
      cur_sum_ = bins_[cur_] + static_cast<double>(t1_ps - cur_lo_) * per_ps;
      return;
    }
    // Next: wholly inside the bin after that one (the first interval of a new bin).
    if (t0_ps >= cur_hi_ && t1_ps > t0_ps && t1_ps - cur_hi_ <= width_ &&
        t1_ps - 1 < width_ * static_cast<int64_t>(max_bins)) {
      if (bins_.size() <= cur_ + 1) bins_.resize(cur_ + 2, 0.0);
      if (prev_lo_ < cur_lo_) bins_[cur_ - 1] = prev_sum_;
      prev_sum_ = cur_sum_;
      ++cur_;
      prev_lo_ = cur_lo_;
      cur_lo_ = cur_hi_;
      cur_hi_ += width_;
      cur_sum_ = bins_[cur_] + static_cast<double>(t1_ps - t0_ps) * per_ps;
      return;
    }
    if (t0_ps < prev_lo_ && t0_ps >= 0 && t1_ps > cur_lo_ && t1_ps <= cur_hi_) {
      add_back(t0_ps, t1_ps, per_ps);
      return;
    }
    add_slow(t0_ps, t1_ps, per_ps, initial_width_ps, max_bins);
  }
  int64_t width_ps() const { return width_; }
  const std::vector<double>& bins() const {
    store_current();
    return bins_;
  }
  // Bins re-cut to a width that is a multiple of this one's.
  std::vector<double> coarsened(int64_t width_ps) const;

 private:
  void add_slow(int64_t t0_ps, int64_t t1_ps, double per_ps, int64_t initial_width_ps,
                int32_t max_bins);
  // An interval ending in bin cur_ that began before bin cur_ - 1 (a long buffer stay).
  void add_back(int64_t t0_ps, int64_t t1_ps, double per_ps);
  // Bin cur_ is summed in cur_sum_, and bin cur_ - 1 (when there is one) in prev_sum_ (beside
  // the bounds, no access to the vector per interval), and written back when another bin is
  // touched or the bins are read: each bin gets the same additions in the same order as
  // summing in place.
  void store_current() const {
    if (cur_hi_ > cur_lo_) bins_[cur_] = cur_sum_;
    if (prev_lo_ < cur_lo_) bins_[cur_ - 1] = prev_sum_;
  }
  // What add() reads first, then the rest.
  int64_t cur_lo_ = 0, cur_hi_ = -1;  // bounds of bin cur_ (empty until the first interval)
  double cur_sum_ = 0;                // bin cur_'s value while it is the current bin
  int64_t prev_lo_ = 0;               // start of bin cur_ - 1 (cur_lo_ when there is none)
  double prev_sum_ = 0;               // bin cur_ - 1's value meanwhile
  int64_t width_ = 0;
  size_t cur_ = 0;
  mutable std::vector<double> bins_;
};

// Laid out by who writes it: a packet sent on the link writes the first two cache lines (the
// counters, the busy series), its stay in the receiving buffer the start of the third.
struct alignas(64) LinkStats {
  uint64_t bytes = 0;       // payload
  uint64_t wire_bytes = 0;  // payload plus headers
  uint64_t packets = 0;
  uint64_t messages = 0;          // flows (flow level) or last packets of messages (packet level)
  uint64_t busy_ps = 0;           // serialising
  uint64_t stall_ps = 0;          // data ready, wire free, no credits
  uint64_t peak_queue_bytes = 0;  // peak buffer reservation at the receiving end (credits)
  alignas(64) TimeSeries busy_series;  // busy ps per bin
  double queue_byte_ps = 0;            // integral of the receiving buffer's occupancy
  TimeSeries queue_series;             // byte x ps per bin
  // Integral of the bytes of packets that came in over this link held in the receiving switch's
  // shared memory (out of its input buffer; packet_fabric.h). Added to as packets go in (minus
  // bytes x time) and out (plus bytes x time), so complete once none is held.
  double shared_byte_ps = 0;
};

// One direction of a cable: output `from_port` of node `from` into input `to_port` of `to`.
// What every message or packet on it reads comes first (one cache line before the strings).
struct FabricLink {
  uint32_t from = 0, to = 0;  // fabric node indices
  int32_t from_port = -1, to_port = -1;
  LinkOverhead overhead;
  Bandwidth rate;  // line rate x encoding: what wire bytes serialise at
  LinkTiming timing;
  std::string name;  // "from->to"
  LinkStats stats;
  // Payload rate of full packets of `mtu` bytes.
  double payload_bytes_per_s(uint32_t mtu) const {
    return rate.bytes_per_s() * static_cast<double>(mtu) /
           static_cast<double>(overhead.wire_bytes(mtu));
  }
};

class Fabric : public sc_core::sc_module {
 public:
  Fabric(const sc_core::sc_module_name& name, SimContext& ctx, const NetworkParams& params);
  ~Fabric() override;

  // Elaboration: NetworkNode::connect registers each output port here; finalize() runs once
  // every link exists (caches traits, sizes credits).
  void add_link(NetworkNode& from, int port);
  virtual void finalize();
  // Routes depend on the network's state (adaptive routing): decide every hop of every packet
  // rather than once per message.
  void set_adaptive_routing(bool on) { per_packet_routing_ = per_packet_routing_ || on; }

  // Whether a node has one next hop only towards a GPU (no choice by flow hash or load), so
  // that a route it is on can be reused. Routes are decided hop by hop when not set.
  using SingleHopTest = std::function<bool(uint32_t node, int32_t dst)>;
  void set_single_hop_test(SingleHopTest test) { single_hop_ = std::move(test); }

  // Hands a message to the network at node `at`; `on_sent` runs when its last byte has left.
  virtual void inject(NetworkNode& at, Message msg, std::function<void()> on_sent) = 0;
  // Load of an output port for adaptive routing towards GPU `dst`: expected wait, ps (0 when
  // idle).
  virtual double port_load(const NetworkNode& at, int port, int32_t dst) const;
  // Faults at a simulated time (packet fidelity only): the link directions that go down, or
  // slow down to `bandwidth_factor` of their rate, and the nodes that die with them.
  struct FaultAction {
    int64_t at_ps = 0;
    std::vector<uint32_t> links;
    std::vector<uint32_t> nodes;
    double bandwidth_factor = 0.0;  // 0: down
    std::string what;               // for reports, e.g. "link leaf0:spine0 down"
  };
  struct FaultRecord {
    std::string what;
    int64_t at_ps = 0;
    int64_t reroute_ps = -1;  // when routes without it took effect (-1: not yet, or none)
    bool before_run = false;  // failed before the run (network.faults.{links,...}): at 0
    bool applied = false;     // it happened (a timed fault after the run's end never does)
  };
  // Runs `detection_delay` after fault i: the owner rebuilds the routes without faults 0..i.
  using RerouteHook = std::function<void(size_t fault)>;
  virtual void add_fault(FaultAction action);
  // A part failed before the run (any fidelity): the routes never used it, so it only goes
  // into the fault log, at time 0 with its routes in effect from 0, ahead of every fault at a
  // simulated time (those are the log's last fault_actions_.size() records, in order).
  void add_fault_before_run(std::string what) {
    const auto before = std::find_if(fault_log_.begin(), fault_log_.end(),
                                     [](const FaultRecord& r) { return !r.before_run; });
    fault_log_.insert(before, FaultRecord{std::move(what), 0, 0, true, true});
  }
  void set_reroute_hook(RerouteHook hook) { reroute_hook_ = std::move(hook); }
  const std::vector<FaultRecord>& faults() const { return fault_log_; }
  bool has_timed_faults() const { return !fault_actions_.empty(); }
  // Nothing left for the network but faults and their reroutes, which can move nothing: no
  // message alive (all delivered or failed) and no other event pending.
  virtual bool only_faults_pending() const { return false; }
  // When a message was last delivered to its GPU or given up on (-1: never).
  int64_t last_outcome_ps = -1;
  // One line per fault at a simulated time that no packet met: timed after the network's last
  // delivery (the run reached it before sim.max_time and applied it, or not).
  std::vector<std::string> unmet_faults() const;

  // Lines describing traffic still inside the network (for the watchdog and tests).
  virtual std::vector<std::string> describe_in_flight() const = 0;
  virtual const char* fidelity_name() const = 0;

  const std::deque<FabricLink>& links() const { return links_; }
  // The first network.report.max_message_rows messages opened, in injection order.
  const ChunkedVector<MessageRecord>& messages() const { return log_.rows(); }
  // Every message's completion figures and busy slices (bounded memory).
  const MessageLog& message_log() const { return log_; }
  // Busy slices tell messages within a node of this many GPUs from the others (timeline).
  void set_gpus_per_node(int gpus_per_node) { log_.set_gpus_per_node(gpus_per_node); }
  // Ports of each network switch as built (its radix), cabled or not (0: its cabled ports):
  // what a switch's per-port shared memory is sized by.
  void set_switch_ports(int ports) { switch_ports_ = ports; }
  const NetworkParams& params() const { return params_; }
  NetworkNode& node(uint32_t i) const { return *nodes_[i]; }
  size_t num_nodes() const { return nodes_.size(); }
  uint32_t link_of(uint32_t node, int port) const { return out_links_[node][port]; }
  // Largest packet payload: the NICs' MTU (in a fabric without NICs, the NVSwitch's transfer
  // unit).
  uint32_t mtu() const { return mtu_; }
  // Whether the packet size is the NICs' MTU (any fabric with NICs) rather than the NVSwitch's
  // transfer unit.
  bool packets_from_nics() const { return packets_from_nics_; }
  uint64_t bytes_sent_by(uint32_t node) const;

  // Conservation counters.
  uint64_t messages_injected = 0, messages_delivered = 0;
  uint64_t bytes_injected = 0, bytes_delivered = 0;
  // Of bytes_delivered, those that reached the GPU they are for (a relay's other parts are
  // delivered again when forwarded): the goodput's bytes.
  uint64_t final_bytes_delivered = 0;
  uint64_t packets_injected = 0, packets_delivered = 0;
  uint64_t packet_hops = 0;
  // Packet level: credits handed back beyond a lane's total, a packet having left before the
  // credits it used came back (must stay 0).
  uint64_t credit_violations = 0;  // packets put on a link
  uint64_t activations = 0;        // SystemC activations of the engine
  uint64_t events_ahead = 0;       // events run ahead of SystemC time
  // Flow level only (0 elsewhere): max-min rate recomputations, and the flows whose rate one
  // of them set (the cost network.flow.rate_update trades against accuracy).
  uint64_t rate_recomputations = 0;
  uint64_t flows_rerated = 0;
  // Flow level: flows that, as they ended, handed their links and rate to the next message of
  // their send queue (ready, on the same route), which then needed no recomputation.
  uint64_t flows_handed_over = 0;
  // Process CPU time from the first engine activation to the end of the latest one that left
  // the network idle (robust to a busy host; sampled every kCpuSampleEvery activations too).
  double cpu_seconds() const { return cpu_first_ < 0 ? 0.0 : cpu_last_ - cpu_first_; }
  uint64_t peak_in_flight_packets = 0;
  uint64_t peak_shared_buffer_bytes = 0;  // most any switch held in its shared memory at once
  // Faults: packets lost on dead links, resent by their NIC, duplicates thrown away at the
  // receiver (go-back-N), retransmission timeouts, NAKs that reached a sender and started a
  // resend, messages given up after max_retries, and
  // when the last resent packet arrived (-1: none).
  uint64_t packets_lost = 0, bytes_lost = 0, packets_retransmitted = 0, duplicate_packets = 0;
  uint64_t retransmit_timeouts = 0, retransmit_naks = 0, messages_failed = 0;
  uint64_t messages_unreachable = 0;  // of messages_failed: no route left after a fault
  // Why messages_failed (> 0) messages failed, counted by cause ("2 messages failed after
  // network.retransmit.max_retries resends and 1 message failed with no route left ...").
  std::string failed_messages_cause() const;
  int64_t last_repair_ps = -1;
  // Payload of packets delivered to GPUs (copies not counted), and its value at the first fault.
  uint64_t payload_delivered = 0, payload_delivered_at_fault = 0;
  // Payload bytes delivered to GPUs per time bin (throughput around faults).
  TimeSeries delivered_series;
  virtual size_t bytes_per_in_flight_packet() const { return 0; }

 protected:
  using Event = FabricEvent;  // 16 bytes: time in ps, then the event's kind and arguments
  [[gnu::always_inline]] void schedule(int64_t t_ps, uint8_t kind, uint32_t a, uint32_t b = 0) {
    schedule_from(now_ps(), t_ps, kind, a, b);
  }
  // The same where the caller knows the fabric's time (now_ps(), read once per event: a store
  // through any byte pointer would otherwise make the compiler read it again).
  [[gnu::always_inline]] void schedule_from(int64_t now, int64_t t_ps, uint8_t kind, uint32_t a,
                                            uint32_t b = 0) {
    if (t_ps < now) t_ps = now;
    queue_.push(Event{static_cast<uint64_t>(t_ps), a, static_cast<uint32_t>(kind) | (b << 8)});
    // While firing, the loop picks up events due now and re-arms once at its end.
    if (!in_fire_ && (armed_for_ < 0 || t_ps < armed_for_)) arm();
  }
  virtual void dispatch(uint8_t kind, uint32_t a, uint32_t b) = 0;
  // Events that touch only the fabric's own state (no callback into a GPU) may run ahead of
  // SystemC time, up to the next time anything else in the simulation can act.
  virtual bool is_internal(uint8_t /*kind*/, uint32_t /*a*/) const { return false; }
  // Hint: the next two events (null where not known); load their state while this one runs.
  virtual void prefetch(const Event* /*e1*/, const Event* /*e2*/) const {}
  // Runs the events due at `now` (SystemC's time), then, when the next one is internal, those
  // that may run ahead of SystemC. A fabric overrides it with run_events_as(*this, now), which
  // calls its dispatch, is_internal and prefetch directly rather than through the vtable.
  virtual void run_events(int64_t now) { run_events_as(*this, now); }
  template <class Self>
  void run_events_as(Self& self, int64_t now);
  // The fabric's time: the current event's while firing (possibly ahead of SystemC's).
  size_t pending_events() const { return queue_.size(); }
  int64_t now_ps() const {
    return in_fire_ ? vnow_ : static_cast<int64_t>(sc_core::sc_time_stamp().value());
  }

  // Route of a message from `node` to GPU `dst` following the routing function (ECMP); link
  // ids into `out`. False when `dst` cannot be reached.
  bool path_links(uint32_t node, int32_t dst, uint64_t hash, std::vector<uint32_t>& out) const;
  // What a message's ideal completion time takes from its path: propagation plus every node's
  // pipeline latency (the last node's sink latency), and the narrowest payload rate.
  struct PathTiming {
    int64_t lat_ps = 0;
    double bottleneck = std::numeric_limits<double>::infinity();  // bytes per s
  };
  // `parallel`: packets of one message may take any of the links parallel to each hop (spraying,
  // adaptive routing per packet), so a hop's rate is that of its parallel links together.
  PathTiming path_timing(const uint32_t* path, size_t hops, bool parallel = false) const;
  // Ideal completion time of `bytes`: setup + latencies + bytes over the bottleneck payload rate.
  // A transfer longer than kMaxDurationPs (units.h) is a SimulationError, not a wrapped figure.
  static int64_t ideal_ps(int64_t setup_ps, const PathTiming& timing, uint64_t bytes) {
    const double transfer = std::ceil(static_cast<double>(bytes) * 1e12 / timing.bottleneck);
    if (!(transfer <= static_cast<double>(kMaxDurationPs))) beyond_time_range(bytes, timing);
    return setup_ps + timing.lat_ps + static_cast<int64_t>(transfer);
  }
  [[noreturn]] static void beyond_time_range(uint64_t bytes, const PathTiming& timing);
  // The same over a whole path (0 for an empty one); with per-packet routing, over the links
  // parallel to each hop (the ideal must not be slower than what spraying reaches).
  int64_t ideal_ps(const std::vector<uint32_t>& path, uint64_t bytes, bool sm_issued = true) const;
  // Setup latency of a message over `path`: the doorbell of the first NIC on it (also when the
  // message reaches that NIC over NVLink first: cross-plane forwarding at the sender posts a
  // work request there), plus the sending GPU's issue latency when SMs issue it.
  int64_t setup_ps(const std::vector<uint32_t>& path, bool sm_issued = true) const;

  // Registers a new message: its MessageLog slot (held while it is in flight), and its sequence
  // number on its queue pair.
  uint32_t open_message(const Message& msg, int64_t ideal_ps, uint64_t* qp_seq);
  // Send queues. A queue pair's messages (same source, destination, tag and virtual lane: the
  // unit ECMP keeps on one path, Message::flow_hash) leave one after another in post order, as a
  // NIC works through a queue pair's work requests; different queue pairs share the wire packet
  // by packet (round-robin at the source). claim_send: true when
  // message `id` (the fabric's own index) may start now; otherwise it waits behind the one being
  // sent. release_send, once the one being sent has left (every byte cut into packets, or its
  // fluid transfer over): the next waiting, which now holds the queue, or kNoneWaiting (the
  // queue is free).
  static constexpr uint32_t kNoneWaiting = UINT32_MAX;
  bool claim_send(const Message& msg, uint32_t id);
  uint32_t release_send(const Message& msg);
  // The message release_send would hand the queue to now, without handing it over.
  uint32_t next_send(const Message& msg) const;
  // For the diagnosis of a run that stopped: messages waiting behind another (empty if none).
  std::string describe_send_queues() const;
  // The message's last byte has arrived at node `at` through `in_port`: delivers it (holding
  // it back while earlier messages of its queue pair are incomplete when in_order is set).
  void complete_message(uint32_t log_slot, uint64_t qp_seq, NetworkNode& at, Message&& msg,
                        int in_port);

  // Adds a serialisation interval and a buffer residency to a link's statistics.
  [[gnu::always_inline]] void note_busy(FabricLink& l, int64_t start, int64_t end) {
    l.stats.busy_ps += static_cast<uint64_t>(end - start);
    if (series_enabled_) {
      l.stats.busy_series.add(start, end, 1.0, params_.report.bin.ps(), params_.report.max_bins);
    }
  }
  [[gnu::always_inline]] void note_residency(FabricLink& l, uint64_t bytes, int64_t from,
                                             int64_t to) {
    if (to <= from) return;
    l.stats.queue_byte_ps += static_cast<double>(bytes) * static_cast<double>(to - from);
    if (series_enabled_) {
      l.stats.queue_series.add(from, to, static_cast<double>(bytes), params_.report.bin.ps(),
                               params_.report.max_bins);
    }
  }

  SimContext& ctx_;
  NetworkParams params_;
  std::vector<NetworkNode*> nodes_;
  std::vector<PacketNodeTraits> traits_;          // by node, cached at finalize()
  std::vector<int32_t> rank_of_;                  // by node: GPU rank it sinks, or -1
  std::vector<std::vector<uint32_t>> out_links_;  // [node][port] -> link id
  std::deque<FabricLink> links_;                  // deque: stats registrations point into it
  std::vector<FabricLink*> link_ptr_;             // the same, indexed without deque arithmetic
  MessageLog log_;
  std::vector<FaultAction> fault_actions_;
  std::vector<FaultRecord> fault_log_;
  RerouteHook reroute_hook_;
  SingleHopTest single_hop_;
  uint32_t mtu_ = 4096;
  bool packets_from_nics_ = false;
  bool series_enabled_ = true;
  int switch_ports_ = 0;
  bool per_packet_routing_ = false;
  // By link: the payload rate of the links parallel to it, those of its tier out of its sending
  // node and into its receiving node, whichever sum is smaller (a NIC's ports on 8 planes: 8
  // times one port's), set at finalize().
  std::vector<double> parallel_rate_;

 private:
  struct HeldDelivery {
    uint32_t log_slot;
    NetworkNode* at;
    Message msg;
    int in_port;
  };
  struct QueuePair {
    uint64_t posted = 0;
    uint64_t completed = 0;
    // Send queues of the pair with a message being sent (claim_send): how many; while one alone
    // and in_map is false, its tag and lane are here, otherwise all are in send_queues_.
    uint16_t holders = 0;
    bool in_map = false;
    uint8_t solo_vl = 0;
    int32_t solo_tag = 0;
    // Messages delivered ahead of an earlier one of the pair, by sequence number (rarely any).
    // Null while none is held (so the check for one reads no map).
    std::unique_ptr<std::unordered_map<uint64_t, HeldDelivery>> held;
  };
  // By (source rank + 1, destination rank + 1): dense rows rather than a hash table, which
  // missed the cache twice per message. References die when a row grows.
  QueuePair& queue_pair(int32_t src, int32_t dst);
  static constexpr uint64_t kCpuSampleEvery = 1024;
  static double process_cpu_s();
  void fire();
  void arm();
  void deliver_now(uint32_t log_slot, NetworkNode& at, Message&& msg, int in_port);

  sc_core::sc_event wake_;
  FabricEventQueue queue_;  // pending events by time
  int64_t armed_for_ = -1;
  double cpu_first_ = -1, cpu_last_ = 0;
  bool in_fire_ = false;
  int64_t vnow_ = 0;
  std::vector<std::vector<QueuePair>> qps_;
  // Send queues with a message being sent, of pairs with more than one such queue or with a
  // message waiting, and the messages waiting (fabric ids).
  struct SendKey {
    uint64_t pair;  // source + 1, destination + 1, virtual lane
    int32_t tag;
    bool operator==(const SendKey&) const = default;
  };
  struct SendKeyHash {
    size_t operator()(const SendKey& k) const {
      return static_cast<size_t>(
          (k.pair ^ static_cast<uint64_t>(static_cast<uint32_t>(k.tag)) << 40) *
              0x9E3779B97F4A7C15ull >>
          17);
    }
  };
  struct Waiting {  // first in first out; no allocation while empty
    std::vector<uint32_t> ids;
    size_t head = 0;
  };
  std::unordered_map<SendKey, Waiting, SendKeyHash> send_queues_;
  uint64_t send_waiting_count_ = 0;
  SendKey send_key(const Message& msg) const;
};

template <class Self>
void Fabric::run_events_as(Self& self, int64_t now) {
  // Events are counted here and added to the totals once (only sums are ever read).
  uint64_t ran = 0;
  while (queue_.ready_by(static_cast<uint64_t>(now))) {
    const Event e = queue_.pop_front();
    ++ran;
    vnow_ = e.t() < now ? now : e.t();
    self.prefetch(queue_.ahead(0), queue_.ahead(1));
    self.dispatch(e.kind(), e.a, e.b());
  }
  // Run ahead: nothing else can act before `limit` (our own wake is consumed), and internal
  // events call no other module, so processing them now gives the same results in far fewer
  // SystemC activations. The first external event stops the run; it fires at its own time.
  // (Asking SystemC for its next activity is not free of effects: it tidies the kernel's
  // timed-event queue, which was seen to change the order of other modules' simultaneous
  // events. Ask only when the answer is used, so runs match those that never ask.)
  if (!queue_.empty() && self.is_internal(queue_.top().kind(), queue_.top().a)) {
    const sc_core::sc_time gap = sc_core::sc_time_to_pending_activity();
    const auto limit = static_cast<int64_t>(
        std::min<sc_dt::uint64>(gap.value() + static_cast<sc_dt::uint64>(now),
                                static_cast<sc_dt::uint64>(std::numeric_limits<int64_t>::max())));
    uint64_t ahead = 0;
    while (queue_.ready_by(static_cast<uint64_t>(limit - 1)) &&
           self.is_internal(queue_.front().kind(), queue_.front().a)) {
      const Event e = queue_.pop_front();
      self.prefetch(queue_.ahead(0), queue_.ahead(1));
      ++ahead;
      vnow_ = e.t();
      self.dispatch(e.kind(), e.a, e.b());
    }
    ran += ahead;
    events_ahead += ahead;
  }
  ctx_.events += ran;
}

}  // namespace mlasim
