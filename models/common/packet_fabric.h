// Packet-level link layer (`network.fidelity: packet`): messages are cut into packets of at
// most one MTU at the sending GPU; each link direction serialises a packet's wire bytes
// (payload plus the protocol's headers, at line rate times encoding efficiency), then the
// packet propagates and reaches the next node's input buffer. Flow control is credit based per
// virtual lane, in 64 B units as in InfiniBand: a packet leaves only when the receiver has
// advertised room for all of it, and room is returned upstream (after the link's propagation
// delay) once the packet's tail has left that buffer. Nothing is ever dropped; a full buffer
// stalls its upstream port, which fills its own buffers in turn (back-pressure, as PFC does on
// RoCE).
//
// Timing per hop: a cut-through node (switches) decides a packet's output `pipeline` after its
// head arrives and may start sending before its tail is in, but never so early that the tail
// would leave before arriving; a store-and-forward node (NIC, GPU) decides after the tail.
// Output arbitration is round-robin (or first-come first-served) among the inputs with packets
// waiting for that output; input buffers are organised as virtual output queues, so a packet
// waiting for a busy output never blocks one behind it bound elsewhere (no head-of-line
// blocking). A GPU's own messages form one more input, served round-robin per packet across
// its queue pairs.
//
// How it stays at one event per packet hop: a departure is decided arithmetically when the
// packet becomes eligible (start = max(eligible, wire free, credits back)) and only its arrival
// at the next node is an event. Credits coming back are applied at once by the upstream port,
// which commits waiting packets to start at the return time. The price: arbitration among
// packets waiting at the same output is settled when credits come back, not at the instant the
// wire frees, and a later packet on another virtual lane cannot fill a gap before an earlier
// committed one.
//
// Faults at a simulated time (network.faults.events): a dead link direction loses the packets
// on its wire (their tail had not arrived when it died), the packets waiting for it, and every
// packet routed into it afterwards; messages whose first link is dead wait at their source. A
// lost packet is resent by its source after network.retransmit.timeout: go-back-N resends every
// packet from the first one the receiver has not taken on (it takes them in sequence only and
// throws away what comes after a gap; with spraying or adaptive routing, whose packets may
// arrive out of order, it keeps those and throws away the resent copies), selective repeat only
// the lost ones; at the timeout after max_retries resends the message fails.
// Routes are rebuilt `detection_delay` after the fault (the owner's reroute hook); messages still
// sending then follow the new routes, while packets already inside the network keep their old ones.
// A degraded link keeps running at a fraction of its rate from the fault on. The sender learns
// what was lost without modelling ACK packets (as if every ACK came back at once), and a
// cut-through packet whose forwarding was decided before its link died escapes the loss.
//
// Shared switch memory (PacketNodeTraits::shared_per_port): a packet that has to wait for its
// output moves from its input buffer into the switch's shared memory when there is room, and
// its input credits go back upstream then (once its tail is in); an output may hold at most
// shared_alpha x the free memory. A packet that finds no room keeps its input credits until
// it leaves (it does not move into memory freed later). A pooled packet's memory is free again
// once its tail has left (its departure may be decided well before: packets are committed to
// an output back to back, up to a credit window ahead).
//
// Left out: link-level retransmission and bit errors, credit packets' own bandwidth,
// congestion control (DCQCN, IB CC), and the RC acknowledgements (a send completes when its
// last byte has left the GPU).
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "models/common/credit_return_heap.h"
#include "models/common/fabric.h"
#include "sim/chunked_vector.h"

namespace mlasim {

class PacketFabric final : public Fabric {
 public:
  PacketFabric(const sc_core::sc_module_name& name, SimContext& ctx, const NetworkParams& params);

  void finalize() override;
  void inject(NetworkNode& at, Message msg, std::function<void()> on_sent) override;
  double port_load(const NetworkNode& at, int port, int32_t dst) const override;
  std::vector<std::string> describe_in_flight() const override;
  const char* fidelity_name() const override { return "packet"; }
  bool only_faults_pending() const override;
  size_t bytes_per_in_flight_packet() const override;

  // Tests: called for every stay of a packet in an input buffer: the link it came in on, its
  // virtual lane, the credits it held and when it arrived (head) and left (tail).
  using ResidencyProbe =
      std::function<void(uint32_t link, uint8_t vl, uint32_t credits, int64_t from, int64_t to)>;
  void set_residency_probe(ResidencyProbe probe) { probe_ = std::move(probe); }
  // Tests: called as a packet takes room in a switch's shared memory (`bytes` > 0, waiting for
  // output `link`) and as that room is free again (`bytes` < 0, the time its tail is out).
  using PoolProbe = std::function<void(uint32_t link, int64_t bytes, int64_t at)>;
  void set_pool_probe(PoolProbe probe) { pool_probe_ = std::move(probe); }
  // Credits of a link's receiving buffer per virtual lane.
  int64_t credits_total(uint32_t link) const;

  static constexpr uint32_t kCreditBytes = 64;

 private:
  // kReady and kSent without a callback touch only fabric state (may run ahead of SystemC);
  // kSentNotify and kDeliver call into the GPU.
  enum EventKind : uint8_t {
    kReady = 1,
    kSent = 2,
    kSentNotify = 3,
    kDeliver = 4,
    kTimeout = 5,
    kFault = 6,
    kReroute = 7,
    kDrain = 8,  // a lane's source (link a, VL b) has messages whose setup ends now
    kNak = 9     // a NAK for message a reaches its sender: packets below b are missing
  };
  static constexpr uint8_t kDup = 1;     // packet flag: a resent copy the receiver already has
  static constexpr uint8_t kRetx = 2;    // packet flag: a resent packet that replaces a lost one
  static constexpr uint8_t kLast = 4;    // packet flag: the last of its message
  static constexpr uint8_t kPooled = 8;  // packet flag: waiting in its node's shared memory
  // Packet flag: a strict go-back-N resend, which (unlike a first transmission) may outlive its
  // message's delivery: it holds a reference, so that its message slot is not reused under it.
  static constexpr uint8_t kHeld = 16;
  static constexpr uint32_t kDupBit = 0x80000000u;
  static constexpr uint32_t kEventArg = 0xffffffu;  // an event's second argument (24 bits)
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kInlinePath = 6;
  static constexpr uint32_t kMaskedSlots = 63;  // inputs per output tracked in busy_slots

  // One cache line. What a hop can work out from the link it came in on is not stored: its
  // wire bytes and credits there, and when that node may forward it.
  struct alignas(64) Packet {
    int64_t head_in = 0;  // head arrival at the node it is in
    int64_t tail_in = 0;  // tail arrival there
    uint32_t msg = kNone;
    uint32_t seq = 0;
    uint32_t payload = 0;
    uint32_t in_link = kNone;  // link it arrived on (kNone at its source)
    int32_t dst = -1;
    uint8_t vl = 0;
    uint8_t hop = 0;  // links crossed so far (index into its message's path)
    uint8_t path_len = 0;
    uint8_t flags = 0;  // kDup, kRetx, kLast
    // Its message's route: copied into the packet when short (no cache miss on the message
    // per hop), else pointing at the message's (stable while the message lives).
    union {
      std::array<uint32_t, kInlinePath> path{};
      const uint32_t* far_path;
    };
    uint32_t link_at(uint32_t hop) const {
      return path_len > kInlinePath ? far_path[hop] : path[hop];
    }
  };
  static_assert(sizeof(Packet) == 64);
  // What cutting a message into packets reads, in one cache line (MsgState spans several, and
  // a source serving its messages round-robin per packet touches another one almost every time).
  struct alignas(64) MsgHot {
    int64_t ready = 0;    // earliest start of its first packet (setup latency)
    uint64_t unsent = 0;  // payload not yet cut into packets
    uint32_t next_seq = 0;
    uint32_t packets = 0;
    int32_t dst = -1;
    uint8_t vl = 0;
    uint8_t path_len = 0;
    bool resending = false;  // its MsgState::resend is not empty
    bool sending = false;    // holds its send queue (Fabric::claim_send) until all is cut
    // Its route as packets carry it (see Packet): its first links, or the whole when long.
    union {
      std::array<uint32_t, kInlinePath> path{};
      const uint32_t* far_path;
    };
  };
  static_assert(sizeof(MsgHot) == 64);
  struct MsgState {
    Message msg;
    std::function<void()> on_sent;
    uint32_t log_slot = 0;  // in the MessageLog, while in flight
    uint32_t refs = 0;      // released when sent and delivered
    uint64_t qp_seq = 0;
    uint32_t last_in_port = 0;
    // Reliability (faults only): lost sequence numbers awaiting the timer, packets to resend
    // (seq | kDupBit for copies, consumed from the back), timeouts so far.
    uint32_t retries = 0;
    // Strict go-back-N: the last resend plan went back to resent_from and covers seqs below
    // resent_below.
    uint32_t resent_from = 0, resent_below = 0;
    // A kTimeout event counts only if it carries this (b): a NAK's resend, and freeing the slot,
    // move it on (it survives the slot's reuse, so a timer of its last message is void).
    uint32_t timer_gen = 0;
    bool in_source = false;  // in its first link's source queues
    bool sent_done = false;  // the send completion has been scheduled
    bool timer = false;      // a retransmission timeout is pending
    bool nak_sent = false;   // strict go-back-N receiver: NAKed, the expected one not yet in
    bool failed = false;
    std::vector<uint32_t> lost;
    std::vector<uint32_t> resend;
    std::vector<uint32_t> path;  // links from source to destination (ECMP, fixed per flow)
  };
  using Return = CreditReturnHeap::Return;
  // A slot's waiting packets, first in first out: a vector read from `head`, compacted as it
  // drains (a deque costs a 512-byte block per slot, and there is a slot per input and output).
  struct PacketFifo {
    std::vector<uint32_t> items;
    uint32_t head = 0;
    bool empty() const { return head == items.size(); }
    uint32_t front() const { return items[head]; }
    void push_back(uint32_t pkt) { items.push_back(pkt); }
    void pop_front() {
      if (++head == items.size()) {
        items.clear();
        head = 0;
      } else if (head >= 64 && 2 * static_cast<size_t>(head) >= items.size()) {
        items.erase(items.begin(), items.begin() + head);
        head = 0;
      }
    }
    std::vector<uint32_t>::const_iterator begin() const { return items.begin() + head; }
    std::vector<uint32_t>::const_iterator end() const { return items.end(); }
    void clear() {
      items.clear();
      head = 0;
    }
  };
  struct Slot {
    uint32_t input;  // link the waiting packets came in on
    PacketFifo packets;
  };
  struct Source {
    std::deque<uint32_t> active;   // messages ready to send, served round-robin per packet
    std::deque<uint32_t> pending;  // messages still in their setup latency, by ready time
    bool empty() const { return active.empty() && pending.empty(); }
  };
  // What every hop reads comes first (one cache line), the queues' insides after it.
  struct VlState {
    int64_t free = 0;
    int64_t ready_at = 0;  // `free` holds from this time on
    int32_t total = 0;
    uint32_t rr = 0;
    uint32_t waiting = 0;
    uint32_t sourcing = 0;     // messages in `source` (active and pending)
    CreditReturnHeap returns;  // credits known to come back later (ends the first cache line)
    // Bit s: slots[s] holds packets (s < kMaskedSlots; the scan reads no empty slot).
    uint64_t busy_slots = 0;
    std::vector<Slot> slots;  // packets waiting for credits, per input
    Source source;
    bool idle() const { return waiting == 0 && sourcing == 0; }
  };
  // Everything a hop needs about its link, in one place (the per-hop path is bound by cache
  // misses): line state, the full-packet figures, the receiving node's timing, VL 0 inline.
  struct alignas(64) LinkState {
    int64_t wire_free = 0;
    int64_t mtu_ser = 0;    // serialisation of a full packet, ps
    int64_t prop = 0;       // propagation, ps
    int64_t to_delay = 0;   // receiving node's pipeline latency, ps
    int64_t to_sink = 0;    // its sink latency, ps
    uint32_t mtu_wire = 0;  // wire bytes of a full packet
    uint32_t to = 0;
    int32_t to_rank = -1;
    bool to_cut_through = false;
    bool fcfs = false;  // the sending node arbitrates first-come first-served
    bool dead = false;
    int64_t dead_at = INT64_MAX;
    VlState vl0;                    // its hot part is the link's second cache line
    uint64_t queued_bytes = 0;      // waiting for this output (adaptive routing's load)
    std::vector<VlState> more_vls;  // VL 1.. when network.vls > 1
    VlState& vl(uint8_t i) { return i == 0 ? vl0 : more_vls[i - 1]; }
    const VlState& vl(uint8_t i) const { return i == 0 ? vl0 : more_vls[i - 1]; }
  };

  friend class Fabric;  // run_events_as calls dispatch, is_internal and prefetch directly
  void run_events(int64_t now) override { run_events_as(*this, now); }
  void dispatch(uint8_t kind, uint32_t a, uint32_t b) override {
    if (kind == kReady) [[likely]] {
      on_ready(a);
    } else {
      dispatch_other(kind, a, b);
    }
  }
  void dispatch_other(uint8_t kind, uint32_t a, uint32_t b);
  // A hop misses the cache on its packet, then on the links it names. Two stages, the second
  // reading only what the first asked for one event earlier: event 2's packet, event 1's links
  // (each link's first two lines, and the statistics lines its hop writes: the counters and busy
  // series of the link it leaves on, the buffer occupancy of the one it came in on: about 3%
  // faster than the first two lines alone). A third stage (event 3's packet, event 1's credit
  // returns) measured 10% slower. Defined here so that the event loop inlines it.
  void prefetch(const Event* e1, const Event* e2) const override {
    if (e2 != nullptr && e2->kind() == kReady) prefetch_line(&pool_[e2->a]);
    if (e1 != nullptr && e1->kind() == kReady) {
      const Packet& p = pool_[e1->a];
      prefetch_line(&state_[p.in_link]);
      prefetch_line(&state_[p.in_link].vl0);
      prefetch_line(&link_ptr_[p.in_link]->stats.queue_byte_ps);
      if (!per_packet_routing_ && p.hop < p.path_len) {
        const uint32_t out = p.link_at(p.hop);
        prefetch_line(&state_[out]);
        prefetch_line(&state_[out].vl0);
        prefetch_line(&link_ptr_[out]->stats);
        prefetch_line(&link_ptr_[out]->stats.busy_series);
      }
    }
  }
  // A prefetch the optimiser keeps (GCC drops calls to a function that only prefetches).
  static void prefetch_line(const void* p) {
    __builtin_prefetch(p);
    asm volatile("" : : "r"(p));
  }
  bool is_internal(uint8_t kind, uint32_t a) const override;
  // The per-hop path (on_ready, forward, reserve, commit, free_input, return_credits) is inlined
  // into one body in packet_fabric.cpp: calls between them cost as much as their work. drain,
  // which serves queued packets and sources, stays out of line.
  void on_ready(uint32_t pkt);
  inline void forward(uint32_t pkt, uint32_t link, int64_t now);
  // Decides the next hop at the node (per-packet routing), then forwards.
  [[gnu::noinline]] void route(uint32_t pkt);
  [[gnu::noinline]] void drain(uint32_t link, uint8_t vl);
  // Reserves `credits` on a lane (`v`, of `ls`, the state of `link`) for a packet that may leave
  // from t0 on; false when they will not all be back in time.
  inline bool reserve(uint32_t link, LinkState& ls, VlState& v, uint32_t credits, int64_t t0,
                      int64_t now, int64_t* start);
  // Sends the packet at `start` (its wire bytes and serialisation on `link` given).
  inline void commit(uint32_t link, uint32_t pkt, int64_t start, uint32_t wire, int64_t ser,
                     int64_t now);
  // The room of `credits` in a link's input buffer, held since `from`, is free at `to`: the
  // probe hears of it and the credits go back upstream (what free_input does besides the
  // occupancy statistics). For the shared memory's source file.
  void vacate(uint32_t link, uint8_t vl, uint32_t credits, int64_t from, int64_t to);
  // release for the fault code (another source file); free_input is its inlined body.
  void release(uint32_t link, uint8_t vl, uint32_t credits, uint32_t wire, int64_t from,
               int64_t to);
  inline void free_input(uint32_t link, uint8_t vl, uint32_t credits, uint32_t wire, int64_t from,
                         int64_t to);
  inline void return_credits(uint32_t link, uint8_t vl, uint32_t credits, int64_t t);
  void init_shared_memory();  // sizes each node's shared memory (finalize)
  // A packet about to wait for `link` moves into the sending node's shared memory if there is
  // room (and the link's share allows): its input credits go back upstream at once.
  void try_pool(uint32_t pkt, uint32_t link, int64_t now);
  // A pooled packet's departure on `link` is decided, its tail out at `end` (or it is lost,
  // `end` now): its room in the shared memory is free again from `end` on.
  void leave_pool(uint32_t pkt, uint32_t link, int64_t end);
  // Applies the frees of a node's shared memory due by `now`.
  void free_pooled(uint32_t node, int64_t now);
  // When a packet that came in over a link may leave on the next one, where it takes `ser`.
  inline int64_t earliest_start(const Packet& p, int64_t ser) const;
  // Its routing hash (per-packet routing only; spraying varies it per packet).
  uint64_t hash_of(const Packet& p) const;
  // Its wire bytes on the link it came in on.
  uint32_t in_wire_of(const Packet& p) const { return wire_of(p.in_link, p.payload); }
  uint32_t make_packet(uint32_t msg);
  void unref(uint32_t msg);
  static bool has_more(const MsgHot& h) { return h.unsent > 0 || h.resending; }
  uint32_t next_payload(uint32_t msg) const;
  // Copies the message's path into its MsgHot (after every change of MsgState::path).
  void set_hot_path(uint32_t msg);
  uint32_t payload_of_seq(const MsgState& s, uint32_t seq) const;
  // Faults.
  void add_fault(FaultAction action) override;
  void apply_fault(uint32_t fault);
  void kill_link(uint32_t link);
  // `waited_for`: the link a waiting packet was queued for (a pooled one leaves that share).
  void lose(uint32_t pkt, uint32_t waited_for = kNone);
  void on_timeout(uint32_t msg, uint32_t gen);
  // NAKs: the receiver of message `msg` sends one (packets below `below` are missing), which
  // reaches the sender one path latency later (on_nak), where the resend starts.
  void send_nak(uint32_t msg, uint32_t below);
  void on_nak(uint32_t msg, uint32_t below);
  void arm_timer(MsgState& s, uint32_t msg);
  // The sender resends: strict go-back-N from the first packet not taken, else `lost` (sorted).
  // (`at`: what started it, for a failure's message.)
  void plan_resend(uint32_t msg, std::vector<uint32_t>& lost, const char* at);
  // Packet `pkt` is thrown away at its destination (a copy, one of a failed message, one out of
  // sequence under strict go-back-N); after a gap, the first packet not taken is asked for again
  // (as a lost one is) unless resends still waiting at the source will bring it.
  void throw_away(uint32_t pkt);
  void enqueue_source(uint32_t msg);
  // A message's first packets may go: it joins its first link's source (by ready time), which
  // is served now unless `drain_now` is false (the caller schedules it).
  void start_source(uint32_t msg, bool drain_now = true);
  // Message `msg` has been cut into packets: the next of its send queue starts.
  void pass_send_on(uint32_t msg);
  void refresh_paths();
  uint32_t wire_of(uint32_t link, uint32_t payload) const {
    return payload == mtu_ ? state_[link].mtu_wire
                           : static_cast<uint32_t>(link_ptr_[link]->overhead.wire_bytes(payload));
  }
  int64_t ser_of(uint32_t link, uint32_t payload) const {
    return payload == mtu_
               ? state_[link].mtu_ser
               : link_ptr_[link]->rate.transfer_time(Bytes(wire_of(link, payload))).ps();
  }
  static uint32_t credits_of(uint32_t wire) { return (wire + kCreditBytes - 1) / kCreditBytes; }

  std::vector<LinkState> state_;
  std::vector<Packet> pool_;
  std::vector<uint32_t> free_packets_;
  // By message, in chunks of 1,024 (a std::vector moved every record into fresh memory each
  // time it doubled: the benchmark's 16,256 messages are all posted at once).
  ChunkedVector<MsgState, 10> msgs_;
  std::vector<MsgHot> hot_;  // by message, beside msgs_
  std::vector<uint32_t> free_msgs_;
  // Packets of each message not yet delivered, apart from MsgState: the one field the
  // receiving end touches, kept dense so that it stays in cache.
  std::vector<uint32_t> undelivered_;
  std::vector<uint32_t> path_scratch_;
  uint64_t in_flight_ = 0;
  ResidencyProbe probe_;
  PoolProbe pool_probe_;
  std::vector<uint8_t> node_dead_;
  // Shared memory by node (switches with shared_per_port > 0): bytes free and capacity; by
  // link, the bytes pooled at its sender waiting for it.
  std::vector<int64_t> pool_free_, pool_cap_;
  std::vector<int64_t> pooled_for_;
  // By node: room in its shared memory held until a pooled packet's tail is out, a min-heap by
  // that time.
  struct PoolFree {
    int64_t at;
    uint32_t link;
    int64_t bytes;
    bool operator>(const PoolFree& o) const { return at > o.at; }
  };
  std::vector<std::vector<PoolFree>> pool_frees_;
  std::vector<std::vector<uint32_t>> retired_paths_;  // long paths packets may still point into
  std::vector<std::string> failed_messages_;
  size_t fault_events_pending_ = 0;  // kFault and kReroute events in the queue
  // Go-back-N as an RC receiver does it (timed faults, one path per message): only the next
  // packet in sequence is taken; one after a gap, or one it has, is thrown away. By message:
  // the next sequence number it takes.
  // With NAKs (network.retransmit.nak, one path per message) under selective repeat: the
  // sequence number after the highest the receiver has, a gap's start.
  bool strict_gbn_ = false, nak_ = false;
  std::vector<uint32_t> expected_;
  // Each link's rate before any degradation (filled at the first; a factor applies to it).
  std::vector<Bandwidth> nominal_rate_;
};

}  // namespace mlasim
