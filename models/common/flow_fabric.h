// Flow-level network (`network.fidelity: flow`): every message is a fluid flow over the same
// route the packet fabric would take (the routing function with its ECMP hash). Rates are
// max-min fair (progressive filling over link payload capacities), recomputed when flows start
// or finish (at scale at most once per quantum, below); nothing happens in between, so a run
// costs a few events per message.
// All starts and finishes at one time share one recomputation, and it is incremental: a
// progressive filling reaches the same rates below the level theta at which the changed flows
// first matter (a finishing flow's old rate; for a link that gains flows, the level at which it
// would become the bottleneck with the new count), so flows below theta keep their rates and
// only the others connected to the changed links through flows at or above theta are refilled
// (smallest fair share first, from a heap of links). A flow's remaining bytes are brought up to
// date only when its rate changes; link utilisation series advance when a link's rate sum does.
// Exact max-min costs a refill of the thousands of flows an all-to-all couples at each of its
// tens of thousands of starts and ends. So, with more than network.flow.exact_below flows
// transferring, rates are recomputed at most once per network.flow.rate_update (quantum Q):
// starts and ends in between are batched into the next recomputation. A flow that starts
// sooner waits (rate 0, less than Q), unless no other flow with a rate uses any of its links
// (flows still waiting are not counted), when its rate involves nobody else and it starts at
// once; a flow that ends sooner completes at its own exact time but holds its share of its
// links until the recomputation (its links' utilisation series drop its rate at its end). A 1 ps
// quantum reproduces the exact algorithm; Q = 0 is exact mode. In either mode, when a flow ends
// and the next message of its send queue is ready over the same route, that one takes over the
// flow's places on its links and its rate at once: every link then carries the same flows, so a
// recomputation would give every flow the rate it has (this also spares it the wait for the
// next recomputation, in which its queue's share would stand idle). A flow starts after its setup
// latency (NIC doorbell, SM issue); its sender is done when the fluid transfer ends; it is
// delivered after the route's propagation and pipeline latencies plus the packet-pipeline fill a
// store-and-forward hop adds (one packet's serialisation per store-and-forward hop, less the
// bottleneck's, which the fluid term already holds).
//
// Capacities are payload rates of full MTU packets (line rate x encoding x MTU / wire bytes).
// Adaptive routing chooses per flow when it is injected (by the payload routed over each
// equal-cost output and not yet finished), not per packet.
// Left out: buffers, credits, back-pressure and queueing delay (queue and credit-stall
// statistics stay zero). A message's last, partial packet pays its headers: the fluid carries
// the payload that would take its wire time at full-packet rates.
// The packet model is the reference; a test keeps all-to-all completion times within 10%.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "models/common/fabric.h"

namespace mlasim {

class FlowFabric : public Fabric {
 public:
  FlowFabric(const sc_core::sc_module_name& name, SimContext& ctx, const NetworkParams& params);

  void finalize() override;
  void inject(NetworkNode& at, Message msg, std::function<void()> on_sent) override;
  std::vector<std::string> describe_in_flight() const override;
  const char* fidelity_name() const override { return "flow"; }
  // Adaptive routing (routing.mode: adaptive): a flow takes, hop by hop as it starts, the
  // equal-cost output whose way on (that link and the next few the route would take) has the
  // least payload on it, in ps at the link's capacity: the whole size of every flow routed
  // over it and not finished (not what each has left). Its route then stays.
  double port_load(const NetworkNode& at, int port, int32_t dst) const override;
  static constexpr int kLookaheadHops = 3;  // links past the chosen one that port_load reads
  // Due times are clamped here (a quarter of the int64 ps range, about 27 days): a flow still
  // transferring then is given up, and the run stops with its diagnosis (exit 3).
  static constexpr int64_t kFarPs = std::numeric_limits<int64_t>::max() / 4;
  uint64_t paths_restored = 0;  // flows on links put back in route order as shadows went off
  uint64_t marks_cleared = 0;   // times every recomputation mark was reset (the epoch wrapped)

  // Test hooks, for tests only. Shadows are switched off at the first injection at or after
  // t_ps, by the fallback a route that breaks their rule takes (0: off from the start).
  void test_drop_shadows_at(int64_t t_ps) { drop_shadows_at_ps_ = t_ps; }
  // The recomputation epoch and update generation start at these values (a short run then
  // crosses the points where they wrap or carry).
  void test_start_counters(uint32_t epoch, uint64_t generation) {
    recompute_epoch_ = epoch;
    generation_ = generation;
  }

 private:
  enum EventKind : uint8_t { kStart = 1, kUpdate = 2, kDeliver = 3 };
  struct Flow {
    Message msg;
    std::function<void()> on_sent;
    std::vector<uint32_t> path;  // only a path too long for Hot::hop
    std::vector<uint32_t> slot;  // only for a path too long for Hot::hop (see slots_of)
    int64_t tail_ps = 0;         // fluid end to delivery
    int64_t start_ps = 0;        // when the fluid transfer began
    uint32_t log_slot = 0;       // in the MessageLog, while in flight
    uint64_t qp_seq = 0;
    uint32_t in_port = -1;
    uint32_t dst_node = 0;        // where the path ends
    bool attached = false;        // listed in on_link_
    bool had_links = false;       // detached by the recomputation that finished it
    bool free_on_detach = false;  // delivered while still holding its share (quantum mode)
    bool given_up = false;        // still transferring at kFarPs
    bool off_series = false;      // ended; its rate already out of link_rate_ (quantum mode)
    bool sending = false;         // holds its send queue (Fabric::claim_send) until its end
  };
  // What the recomputation reads of every flow on a link, path included, in one cache line.
  static constexpr uint8_t kInlineHops = 10, kLongPath = 255;
  // Loops over flows in no memory order load the flow this many entries ahead.
  static constexpr size_t kPrefetchAhead = 8;
  struct alignas(64) Hot {
    double rate = 0;        // payload bytes per ps since Fluid::t0_ps
    double next_rate = 0;   // scratch: the rate the current recomputation sets
    uint32_t mark = 0;      // recompute_epoch_ while in the set being refilled
    bool fixed = false;     // scratch: next_rate set
    uint8_t hops = 0;       // path length, or kLongPath: the path is in Flow::path
    uint8_t rate_hops = 0;  // the path's first hops, those in the rate computation (the
                            // shadow links come after them; see set_path)
    uint32_t hop[kInlineHops] = {};
  };
  static_assert(sizeof(Hot) == 64);
  struct OnLink {
    uint32_t flow, hop;
  };
  struct Due {
    int64_t t_ps;
    uint32_t flow, version;
    bool operator>(const Due& o) const { return t_ps != o.t_ps ? t_ps > o.t_ps : flow > o.flow; }
  };
  // Due times, earliest first: a binary heap of the entries before a horizon, the later ones
  // unsorted until the heap runs dry (then the next window's worth moves into the heap). Most
  // entries are superseded by a new rate before they come near: they never pay for a place in
  // the heap. The window: a fixed span of time (quantum mode: rates change every quantum), or
  // with 0 the earliest eighth of the entries at each refill.
  class DueQueue {
   public:
    explicit DueQueue(int64_t window = 0) : window_(window) {}
    bool empty() const { return near_.empty() && far_.empty(); }
    size_t size() const { return near_.size() + far_.size(); }
    const Due& front() {  // not empty
      if (near_.empty()) refill();
      return near_.front();
    }
    void pop() {  // after front()
      std::pop_heap(near_.begin(), near_.end(), std::greater<Due>());
      near_.pop_back();
    }
    void push(const Due& d) {
      if (d.t_ps < horizon_) {
        near_.push_back(d);
        std::push_heap(near_.begin(), near_.end(), std::greater<Due>());
      } else {
        far_.push_back(d);
      }
    }
    // Refilling from scratch: reset(now), append() each entry, then seal().
    void reset(int64_t now) {
      near_.clear();
      far_.clear();
      horizon_ = window_ > 0 ? horizon_after(now) : std::numeric_limits<int64_t>::min();
    }
    void append(const Due& d) { (d.t_ps < horizon_ ? near_ : far_).push_back(d); }
    void seal() { std::make_heap(near_.begin(), near_.end(), std::greater<Due>()); }
    template <class Stale>
    void erase_if(Stale stale) {
      std::erase_if(near_, stale);
      std::erase_if(far_, stale);
      seal();
    }

   private:
    // Entries before the result go to the heap (at least those at `t`).
    int64_t horizon_after(int64_t t) {
      if (t == std::numeric_limits<int64_t>::max()) return t;
      if (window_ > 0)
        return t > std::numeric_limits<int64_t>::max() - window_
                   ? std::numeric_limits<int64_t>::max()
                   : t + window_;
      if (far_.size() < 64) return t + 1;
      times_.clear();
      for (const Due& d : far_)
        times_.push_back(d.t_ps);
      const auto eighth = times_.begin() + static_cast<std::ptrdiff_t>(times_.size() / 8);
      std::nth_element(times_.begin(), eighth, times_.end());
      return std::max(*eighth, t + 1);
    }
    void refill() {
      int64_t lo = std::numeric_limits<int64_t>::max();
      for (const Due& d : far_)
        lo = std::min(lo, d.t_ps);
      horizon_ = horizon_after(lo);
      size_t keep = 0;
      for (const Due& d : far_)
        (d.t_ps < horizon_ ? near_.push_back(d) : void(far_[keep++] = d));
      far_.resize(keep);
      seal();
    }
    std::vector<Due> near_;       // a min-heap
    std::vector<Due> far_;        // at or after horizon_
    std::vector<int64_t> times_;  // scratch
    int64_t window_ = 0;
    int64_t horizon_ = std::numeric_limits<int64_t>::min();  // nothing in the heap yet
  };

  void dispatch(uint8_t kind, uint32_t a, uint32_t b) override;
  void update(int64_t now);
  int64_t next_boundary(int64_t t) const;  // first time at or after t a recomputation may run
  void take_done(int64_t now, std::vector<uint32_t>& done);
  // Ended flow `id` hands its links and rate to the next message of its send queue when that
  // one may start now over the same links; false (nothing changed) otherwise.
  bool hand_over(uint32_t id, int64_t now);
  void recompute(int64_t now, const std::vector<uint32_t>& done);
  void schedule_next(int64_t now);
  void request_update(bool now_ok = false);  // now_ok: even before the next recomputation time
  void schedule_update(int64_t at);          // the update at `at` supersedes any pending one
  // A recomputation epoch no mark holds yet (all marks cleared before it would wrap).
  uint32_t next_epoch() {
    if (recompute_epoch_ == std::numeric_limits<uint32_t>::max()) clear_marks();
    return ++recompute_epoch_;
  }
  void clear_marks();
  // Link utilisation series: link l's (and its shadow's) brought up to `now` at its rate sum.
  void advance_series(uint32_t l, int64_t now);
  // Quantum mode: an ended flow keeps its share of its links until the next recomputation, but
  // moves no more bytes: its rate leaves the links' rate sums (their series) now.
  void end_in_series(uint32_t id, int64_t now);
  bool alone(uint32_t flow) const;  // no other flow on any link of its path
  // What every message on a route shares: propagation and pipeline latency, the bottleneck
  // payload rate, and the first packet's serialisation terms (for a full packet).
  struct RouteFacts : PathTiming {
    int64_t ser_sum_ps = 0, ser_max_ps = 0;
  };
  struct Route {
    uint32_t first = 0;  // into route_links_
    uint8_t hops = 0;
    RouteFacts facts;
  };
  // The route of a message from `node`, and its facts; false when there is none.
  bool route_of(uint32_t node, const Message& msg, std::vector<uint32_t>& path, RouteFacts& facts);
  // The kept route from `node` to rank `dst`, or null.
  const Route* kept_route(uint32_t node, uint32_t dst) const;
  void keep_route(uint32_t node, uint32_t dst, const std::vector<uint32_t>& path,
                  const RouteFacts& facts);
  void note_choice(uint32_t node, uint32_t dst);  // the route has a choice on the way
  // Sets the serialisation terms of `facts` for a first packet of min(bytes, mtu) bytes.
  void serialisation(const uint32_t* path, size_t hops, uint64_t bytes, RouteFacts& facts) const;
  void find_shadows();
  uint16_t shadow_mask(const std::vector<uint32_t>& path, int64_t now);
  // Stores a flow's path: its hops in route order, but those on shadow links (bits of `mask`)
  // moved after the others. Only the links' order along the route depends on it.
  void set_path(uint32_t id, const std::vector<uint32_t>& path, uint16_t mask);
  // Puts every stored path back in route order (shadows switched off).
  void restore_route_order();
  // The links of the flow's path that take part in the rate computation (shadows left out),
  // in route order.
  template <class Fn>
  void for_rate_links(uint32_t id, Fn&& fn) const {
    const Hot& h = hot_[id];
    const uint32_t* hop = h.hops == kLongPath ? flows_[id].path.data() : h.hop;
    for (uint32_t i = 0; i < h.rate_hops; ++i)
      fn(hop[i]);
  }

  void finish(uint32_t flow);
  void note_flow_on_links(uint32_t flow);
  // What the fluid transfers for a message of `bytes` payload over `path`: the payload, plus
  // the last partial packet's headers as payload at full-packet rates.
  double fluid_bytes(std::span<const uint32_t> path, uint64_t bytes) const;
  void link_attach(uint32_t id);
  void link_detach(uint32_t id);
  // queue_due false: the caller rebuilds the due-time queues afterwards.
  void set_rate(uint32_t id, double rate, int64_t now, bool queue_due);
  // The same without counting a recomputation's rerating (a hand-over).
  void retime(uint32_t id, double rate, int64_t now, bool queue_due);
  void give_up(uint32_t id);                  // reached kFarPs, still transferring
  void add_due(uint32_t id, bool keep_heap);  // the flow's entries in finish_at_ and done_at_
                                              // (keep_heap false: appended while refilling)
  void rebuild_due(int64_t now);              // both queues anew from the transferring flows
  // Fair share of an open link: its capacity left over its open flows.
  double share_of(uint32_t l) const { return std::max(0.0, cap_left_[l]) / unfrozen_on_[l]; }
  bool heap_less(uint32_t a, uint32_t b) const;
  void heap_place(uint32_t i, uint32_t link);
  void heap_up(uint32_t i);
  void heap_down(uint32_t i);
  void heap_remove_top();
  void heap_erase(uint32_t i);

  std::vector<Flow> flows_;
  std::vector<Hot> hot_;  // parallel to flows_
  // Also parallel: the fluid state, what finding and timing finishes reads.
  struct alignas(64) Fluid {
    double remaining = 0;  // payload bytes at time t0_ps
    double rate = 0;       // a copy of Hot::rate
    int64_t t0_ps = 0;
    double tolerance = 0;    // rounding residue taken as finished, bytes
    int64_t finish_ps = 0;   // fluid end at this rate, rounded up to whole ps
    int64_t done_ps = 0;     // first ps with only the rounding residue left
    uint32_t version = 0;    // invalidates heap entries of an earlier rate or an earlier flow
    uint32_t active_at = 0;  // index in active_ (beside what finding finishes reads)
    bool active = false;     // transferring
  };
  static_assert(sizeof(Fluid) == 64);
  std::vector<Fluid> fluid_;
  std::span<const uint32_t> path_of(uint32_t id) const {
    const Hot& h = hot_[id];
    if (h.hops == kLongPath) return flows_[id].path;
    return {h.hop, h.hops};
  }
  // Also parallel: the index of the flow in on_link_[path[i]], for paths that fit Hot::hop.
  std::vector<std::array<uint32_t, kInlineHops>> slots_;
  uint32_t* slots_of(uint32_t id) {
    if (hot_[id].hops != kLongPath) return slots_[id].data();
    Flow& f = flows_[id];
    f.slot.resize(f.path.size());
    return f.slot.data();
  }
  // Shadow links. Through a node with two ports that is not an endpoint, every flow entering by
  // one port leaves by the other (routes neither end there nor turn back), so the link in and
  // the link out carry the same flows, listed in the same order on both. Of such a pair, the
  // link with the larger capacity is the shadow. Along the filling both see the same held rates
  // and the same subtractions, and rounding is monotone, so the shadow's share is never below
  // its twin's: it never fixes a rate first (on a tie it would fix the same flows at the same
  // value). It is left out of the refill walk and the filling, which then do the same
  // operations in the same order; theta still takes its level (from its twin's flows). Its
  // flow list, rate sum and series are its twin's.
  std::vector<uint32_t> shadow_of_;  // by link: its shadow, or UINT32_MAX
  std::vector<uint8_t> is_shadow_;   // by link
  std::vector<uint32_t> through_;    // by link into a two-port node: the link out that follows
  std::vector<uint8_t> two_port_;    // by node: a two-port node that is not an endpoint
  bool shadows_on_ = true;           // off for good once a route breaks the rule above
  int64_t drop_shadows_at_ps_ = std::numeric_limits<int64_t>::max();  // test hook
  // Routes with no choice on the way ("kept"), by (node, destination rank), in an open-addressing
  // table that grows with what is kept. The routes that do have a choice are taken hop by hop;
  // one bit per (node, rank) says so, in a row a node gets when it first finds one, so a route
  // is classified once. Memory: the kept routes, plus ranks / 8 bytes per injecting node.
  struct KeptSlot {
    uint32_t node = UINT32_MAX;  // UINT32_MAX: empty
    uint32_t dst = 0;
    uint32_t route = 0;  // into routes_
  };
  static size_t kept_hash(uint32_t node, uint32_t dst, int shift) {
    return static_cast<size_t>(((uint64_t{node} << 32 | dst) * 0x9E3779B97F4A7C15ull) >> shift);
  }
  int32_t ranks_ = 0;
  std::vector<KeptSlot> kept_slots_;  // a power of two of them, at most half used
  int kept_shift_ = 64;               // 64 - log2(kept_slots_.size())
  std::vector<Route> routes_;
  std::vector<uint32_t> route_links_;
  std::vector<uint32_t> choice_row_;   // by node: first word in choice_bits_, or UINT32_MAX
  std::vector<uint64_t> choice_bits_;  // bit dst of a row: that route has a choice
  std::vector<uint32_t> free_flows_;
  std::vector<uint32_t> path_scratch_;
  std::vector<uint32_t> active_;   // transferring, in start order less swap-removals
  std::vector<uint32_t> arrived_;  // started since the last recomputation
  size_t arrived_checked_ = 0;     // of arrived_, those take_done has looked at
  std::vector<uint32_t> early_;    // quantum mode: started alone on their links (or empty)
  std::vector<double> capacity_;   // payload bytes per ps, per link
  std::vector<std::vector<OnLink>> on_link_;  // transferring flows per link
  std::vector<double> link_rate_;             // sum of the rates on the link
  std::vector<double> routed_bytes_;          // adaptive routing: bytes of unfinished flows
  mutable int lookahead_depth_ = 0;           // port_load's recursion down the route
  // port_load's values within one top-level call, by (link, depth): the next node's choice
  // evaluates each of its outputs, then the chosen one again (nothing changes meanwhile).
  struct LoadMemo {
    uint32_t link;
    int depth;
    double load;
  };
  mutable std::vector<LoadMemo> load_memo_;
  std::vector<int64_t> link_since_;     // when link_rate_ last changed
  DueQueue finish_at_;                  // fluid end, rounded up to whole ps
  DueQueue done_at_;                    // first ps with a rounding residue left
  int64_t quantum_ps_ = 0;              // network.flow.rate_update (0: exact)
  std::vector<uint32_t> pending_done_;  // ended, still holding their shares (quantum mode)
  int64_t last_recompute_ps_ = -1;      // quantum mode: when rates were last recomputed
  size_t exact_below_ = 0;              // network.flow.exact_below
  // Update events carry the generation they were scheduled with (56 bits: its low 32 bits
  // in the event's first argument, the next 24 in its second); a later one makes them stale.
  // For a stale event to pass for the current one, 2^56 updates would have to be scheduled
  // while it waits (years of run time).
  uint64_t generation_ = 0;
  int64_t update_pending_at_ = -1;
  uint64_t undelivered_ = 0;
  uint64_t beyond_horizon_ = 0;     // flows given up at kFarPs
  std::vector<std::string> stuck_;  // the first few of them, described
  // Scratch for the recomputation. Marks (link_mark_, Hot::mark) equal to the current epoch
  // are this recomputation's; when the epoch would wrap, every mark is cleared first.
  uint32_t recompute_epoch_ = 0;
  std::vector<uint32_t> link_mark_;
  std::vector<double> cap_left_;
  std::vector<uint32_t> unfrozen_on_;
  std::vector<double> heap_key_;     // key of an open link in link_heap_: a lower bound of its
                                     // share (its share when last sifted)
  std::vector<uint32_t> heap_at_;    // index of an open link in link_heap_
  std::vector<uint32_t> link_heap_;  // open links, smallest share first
  std::vector<uint32_t> arrivals_on_;
  std::vector<uint32_t> touched_links_;
  std::vector<uint32_t> rerate_;
  std::vector<double> rates_scratch_;
  std::vector<uint32_t> done_scratch_, due_scratch_, fresh_scratch_;
  std::vector<std::pair<uint32_t, uint32_t>> at_scratch_;
};

}  // namespace mlasim
