// PacketFabric: MTU packets, credits per virtual lane, cut-through or store-and-forward hops
// (see packet_fabric.h).
#include "models/common/packet_fabric.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/errors.h"
#include "sim/hash.h"

namespace mlasim {

namespace {}  // namespace

PacketFabric::PacketFabric(const sc_core::sc_module_name& name, SimContext& ctx,
                           const NetworkParams& params)
    : Fabric(name, ctx, params) {}

void PacketFabric::finalize() {
  Fabric::finalize();
  state_.assign(links_.size(), LinkState{});
  for (size_t i = 0; i < links_.size(); ++i) {
    const FabricLink& l = links_[i];
    const uint64_t buffer = traits_[l.to].buffer_per_vl;
    const int64_t credits = static_cast<int64_t>(buffer / kCreditBytes);
    const uint32_t need = credits_of(static_cast<uint32_t>(l.overhead.wire_bytes(mtu_)));
    if (credits < need) {
      throw InputError(fmt::format(
          "{}: {} B per virtual lane cannot hold one {} B packet ({} B on the wire), the "
          "receiving buffer of link {}; raise it or lower the MTU (hardware.nic.mtu)",
          traits_[l.to].buffer_key.empty() ? std::string_view("buffer") : traits_[l.to].buffer_key,
          buffer, mtu_, l.overhead.wire_bytes(mtu_), l.name));
    }
    if (credits > INT32_MAX) {
      throw InputError(
          fmt::format("link {}: the receiving buffer ({} B per virtual lane) is 128 GiB or more",
                      l.name, buffer));
    }
    LinkState& ls = state_[i];
    ls.mtu_wire = static_cast<uint32_t>(l.overhead.wire_bytes(mtu_));
    ls.mtu_ser = l.rate.transfer_time(Bytes(ls.mtu_wire)).ps();
    ls.prop = l.timing.latency.ps();
    ls.to = l.to;
    ls.to_rank = rank_of_[l.to];
    ls.to_cut_through = traits_[l.to].cut_through;
    ls.fcfs = traits_[l.from].arbitration == Arbitration::Fcfs;
    ls.to_delay = traits_[l.to].pipeline.ps();
    ls.to_sink = traits_[l.to].sink_latency.ps();
    ls.more_vls.resize(static_cast<size_t>(params_.vls - 1));
    ls.vl0.free = ls.vl0.total = static_cast<int32_t>(credits);
    for (VlState& v : ls.more_vls)
      v.free = v.total = static_cast<int32_t>(credits);
  }
  init_shared_memory();
}

int64_t PacketFabric::credits_total(uint32_t link) const {
  return state_.at(link).vl0.total;
}

size_t PacketFabric::bytes_per_in_flight_packet() const {
  // A packet slot, its one pending event, and its index in a wait queue or free list.
  return sizeof(Packet) + sizeof(Event) + 2 * sizeof(uint32_t);
}

void PacketFabric::inject(NetworkNode& at, Message msg, std::function<void()> on_sent) {
  const uint32_t node = at.fabric_index;
  if (!path_links(node, msg.dst, msg.flow_hash, path_scratch_) || path_scratch_.empty()) {
    throw SimulationError(fmt::format("{}: no route to GPU {} (message {} from GPU {})", at.name(),
                                      msg.dst, msg.id, msg.src));
  }
  const int64_t ideal = ideal_ps(path_scratch_, msg.bytes.count(), msg.sm_issued);
  uint32_t m;
  if (!free_msgs_.empty()) {
    m = free_msgs_.back();
    free_msgs_.pop_back();
  } else {
    m = static_cast<uint32_t>(msgs_.size());
    msgs_.emplace_back();
    hot_.emplace_back();
  }
  MsgState& s = msgs_[m];
  MsgHot& h = hot_[m];
  const uint32_t timer_gen = s.timer_gen;
  s = MsgState{};
  s.timer_gen = timer_gen;
  h = MsgHot{};
  h.unsent = msg.bytes.count();
  h.packets = static_cast<uint32_t>(h.unsent == 0 ? 1 : (h.unsent + mtu_ - 1) / mtu_);
  if (undelivered_.size() < msgs_.size()) undelivered_.resize(msgs_.size());
  undelivered_[m] = h.packets;
  if (strict_gbn_ || nak_) {
    if (expected_.size() < msgs_.size()) expected_.resize(msgs_.size());
    expected_[m] = 0;
  }
  s.log_slot = open_message(msg, ideal, &s.qp_seq);
  h.ready = now_ps() + setup_ps(path_scratch_, msg.sm_issued);
  s.refs = 2;
  s.on_sent = std::move(on_sent);
  s.path = path_scratch_;  // packets follow it unless routing is decided per packet
  set_hot_path(m);
  msg.vl = static_cast<uint8_t>(msg.vl % params_.vls);
  const uint8_t vl = msg.vl;
  h.dst = msg.dst;
  h.vl = vl;
  s.msg = std::move(msg);
  if (!claim_send(s.msg, m)) return;  // behind an earlier message of its queue pair
  h.sending = true;
  // Its source is served when its setup ends, not now: every message a GPU posts at this time
  // is in the source by then and they share the wire packet by packet. (Served now, the first
  // one posted took a credit window of packets ahead of the others.)
  start_source(m, false);
  schedule(std::max(now_ps(), h.ready), kDrain, s.path.front(), vl);
}

uint32_t PacketFabric::make_packet(uint32_t m) {
  uint32_t p;
  if (!free_packets_.empty()) {
    p = free_packets_.back();
    free_packets_.pop_back();
  } else {
    p = static_cast<uint32_t>(pool_.size());
    pool_.emplace_back();
  }
  MsgHot& h = hot_[m];
  Packet& k = pool_[p];
  k = Packet{};
  k.msg = m;
  if (!h.resending) [[likely]] {
    k.seq = h.next_seq++;
    k.payload = static_cast<uint32_t>(std::min<uint64_t>(h.unsent, mtu_));
    h.unsent -= k.payload;
  } else {
    MsgState& s = msgs_[m];
    const uint32_t r = s.resend.back();
    s.resend.pop_back();
    h.resending = !s.resend.empty();
    k.seq = r & ~kDupBit;
    k.payload = payload_of_seq(s, k.seq);
    if (r & kDupBit) {
      k.flags = kDup;
      ++s.refs;  // the copy keeps its message alive until it is thrown away or lost
    } else {
      k.flags = kRetx;
      if (strict_gbn_) {
        k.flags |= kHeld;
        ++s.refs;
      }
    }
    ++packets_retransmitted;
  }
  if (k.seq + 1 == h.packets) k.flags |= kLast;
  k.dst = h.dst;
  k.vl = h.vl;
  k.path_len = h.path_len;
  if (h.path_len <= kInlinePath) {
    k.path = h.path;  // fixed size: a few vector moves, no memcpy call
  } else {
    k.far_path = h.far_path;
  }
  ++packets_injected;
  ++in_flight_;
  peak_in_flight_packets = std::max(peak_in_flight_packets, in_flight_);
  return p;
}

uint32_t PacketFabric::payload_of_seq(const MsgState& s, uint32_t seq) const {
  const uint64_t bytes = s.msg.bytes.count();
  const uint64_t offset = static_cast<uint64_t>(seq) * mtu_;
  return bytes <= offset ? 0 : static_cast<uint32_t>(std::min<uint64_t>(bytes - offset, mtu_));
}

uint32_t PacketFabric::next_payload(uint32_t m) const {
  const MsgHot& h = hot_[m];
  if (!h.resending) return static_cast<uint32_t>(std::min<uint64_t>(h.unsent, mtu_));
  return payload_of_seq(msgs_[m], msgs_[m].resend.back() & ~kDupBit);
}

void PacketFabric::set_hot_path(uint32_t m) {
  const std::vector<uint32_t>& path = msgs_[m].path;
  MsgHot& h = hot_[m];
  h.path_len = static_cast<uint8_t>(static_cast<uint16_t>(path.size()));
  if (path.size() <= kInlinePath) {
    h.path = {};
    std::copy_n(path.begin(), path.size(), h.path.begin());
  } else {
    h.far_path = path.data();
  }
}

void PacketFabric::unref(uint32_t m) {
  if (--msgs_[m].refs == 0) {
    msgs_[m].timer_gen = (msgs_[m].timer_gen + 1) & kEventArg;  // its timers are void
    msgs_[m].on_sent = nullptr;
    msgs_[m].msg.relay.reset();
    msgs_[m].path.clear();
    free_msgs_.push_back(m);
  }
}

[[gnu::always_inline]] inline int64_t PacketFabric::earliest_start(const Packet& p,
                                                                   int64_t ser) const {
  // When the node it is in may forward it (it is not that node's to sink), and cut-through:
  // the tail must not leave before it has arrived.
  const LinkState& in = state_[p.in_link];
  const int64_t ready = (in.to_cut_through ? p.head_in : p.tail_in) + in.to_delay;
  return std::max(ready, p.tail_in - ser);
}

uint64_t PacketFabric::hash_of(const Packet& p) const {
  const uint64_t flow = msgs_[p.msg].msg.flow_hash;
  return params_.spray ? flow ^ mix64(p.seq + 1) : flow;
}

[[gnu::always_inline]] inline bool PacketFabric::reserve(uint32_t link, LinkState& ls, VlState& v,
                                                         uint32_t credits, int64_t t0, int64_t now,
                                                         int64_t* start) {
  // Credit stall counts from when the packet could have gone but for credits; a start is
  // never in the past.
  const int64_t could = std::max(t0, ls.wire_free);
  const int64_t t = std::max(could, now);
  const int64_t horizon = std::max(t, v.ready_at);
  while (v.returns.earliest() <= horizon) {  // horizon < INT64_MAX, the empty heap's time
    v.free += v.returns.top().credits;
    v.returns.pop();
  }
  while (v.free < credits && !v.returns.empty()) {
    const Return r = v.returns.top();
    v.returns.pop();
    v.free += r.credits;
    v.ready_at = std::max(v.ready_at, r.t);
  }
  if (v.free < credits) return false;
  *start = std::max(t, v.ready_at);
  v.free -= credits;
  FabricLink& l = *link_ptr_[link];
  // Fresh packets have could >= now, so any delay past `could` is waiting for credits.
  l.stats.stall_ps += static_cast<uint64_t>(*start - could);
  const uint64_t reserved = static_cast<uint64_t>(v.total - v.free) * kCreditBytes;
  l.stats.peak_queue_bytes = std::max(l.stats.peak_queue_bytes, reserved);
  return true;
}

[[gnu::flatten]] void PacketFabric::drain(uint32_t link, uint8_t vl) {
  const int64_t now = now_ps();
  // (state_ never moves while running; the link's lane is looked up once.)
  LinkState& ls = state_[link];
  VlState& v = ls.vl(vl);
  const bool fcfs = ls.fcfs;
  // A dead link sends nothing: its waiting packets were lost when it died, and messages that
  // start on it wait at their source for the rebuilt routes.
  if (ls.dead) return;
  // Candidates: slots 0..n-1 (inputs), n (this node's own messages). (Inputs join the slots in
  // forward() only, never while a drain runs.)
  const uint32_t n = static_cast<uint32_t>(v.slots.size());
  while (true) {
    // Messages whose setup has elapsed by the time the wire frees join the round-robin.
    const int64_t horizon = std::max(now, ls.wire_free);
    while (v.sourcing > 0 && !v.source.pending.empty() &&
           hot_[v.source.pending.front()].ready <= horizon) {
      v.source.active.push_back(v.source.pending.front());
      v.source.pending.pop_front();
    }
    if (v.idle()) return;
    // The message the source would serve next: the round-robin's front, else the first due.
    const bool from_active = !v.source.active.empty();
    const uint32_t src_msg = v.sourcing == 0 ? kNone
                             : from_active   ? v.source.active.front()
                                             : v.source.pending.front();
    uint32_t pick = kNone;
    int64_t pick_t0 = 0;
    auto candidate_t0 = [&](uint32_t s) -> int64_t {
      if (s < n) {
        const Packet& p = pool_[v.slots[s].packets.front()];
        return earliest_start(p, ser_of(link, p.payload));
      }
      return hot_[src_msg].ready;
    };
    const uint32_t rr = v.rr <= n ? v.rr : v.rr % (n + 1);
    // Candidates in round-robin order: rr, rr + 1, ..., n, 0, ..., rr - 1.
    if (n <= kMaskedSlots) {
      const uint64_t busy = v.busy_slots | (v.sourcing > 0 ? uint64_t{1} << n : 0);
      const uint64_t from_rr = busy & (~uint64_t{0} << rr), before_rr = busy & ~from_rr;
      if (!fcfs) {
        if (busy != 0) {
          pick = static_cast<uint32_t>(__builtin_ctzll(from_rr != 0 ? from_rr : before_rr));
          pick_t0 = candidate_t0(pick);
        }
      } else {
        for (uint64_t part : {from_rr, before_rr}) {
          for (; part != 0; part &= part - 1) {
            const auto s = static_cast<uint32_t>(__builtin_ctzll(part));
            const int64_t t0 = candidate_t0(s);
            if (pick == kNone || t0 < pick_t0) pick = s, pick_t0 = t0;
          }
        }
      }
    } else {
      auto nonempty = [&](uint32_t s) {
        return s < n ? !v.slots[s].packets.empty() : v.sourcing > 0;
      };
      uint32_t s = rr;
      for (uint32_t i = 0; i <= n; ++i, s = s == n ? 0 : s + 1) {
        if (!nonempty(s)) continue;
        if (!fcfs) {
          pick = s;
          pick_t0 = candidate_t0(s);
          break;
        }
        const int64_t t0 = candidate_t0(s);
        if (pick == kNone || t0 < pick_t0) pick = s, pick_t0 = t0;
      }
    }
    if (pick == kNone) return;
    uint32_t payload;
    if (pick < n) {
      payload = pool_[v.slots[pick].packets.front()].payload;
    } else {
      payload = next_payload(src_msg);
    }
    const uint32_t wire = wire_of(link, payload);
    int64_t start = 0;
    if (!reserve(link, ls, v, credits_of(wire), pick_t0, now, &start)) {
      // Out of credits until some come back: the messages served next (round-robin, so by
      // then evicted from cache) are loaded meanwhile. (The front one was read just now.)
      const auto& active = v.source.active;
      auto it = active.begin();
      for (int i = 0; i < 2 && it != active.end() && ++it != active.end(); ++i)
        prefetch_line(&hot_[*it]);
      return;
    }
    uint32_t pkt;
    uint32_t cut = kNone;  // a message whose last bytes this packet takes
    if (pick < n) {
      PacketFifo& q = v.slots[pick].packets;
      pkt = q.front();
      q.pop_front();
      if (q.empty()) {
        if (pick < kMaskedSlots) v.busy_slots &= ~(uint64_t{1} << pick);
      } else {
        // The slot's next packet, cold by now, is read when this lane is next served.
        prefetch_line(&pool_[q.front()]);
      }
      --v.waiting;
      ls.queued_bytes -= pool_[pkt].payload;
    } else {
      const uint32_t m = src_msg;
      pkt = make_packet(m);
      if (hot_[m].unsent == 0 && hot_[m].sending) cut = m;
      (from_active ? v.source.active : v.source.pending).pop_front();
      if (has_more(hot_[m])) {
        v.source.active.push_back(m);  // round-robin across queue pairs
      } else {
        msgs_[m].in_source = false;
        --v.sourcing;
      }
    }
    v.rr = pick == n ? 0 : pick + 1;
    commit(link, pkt, start, wire, ser_of(link, payload), now);
    // The next message of its queue pair joins a source (this lane's included: its state is
    // whole again here, so a nested drain of it is safe).
    if (cut != kNone) pass_send_on(cut);
  }
}

[[gnu::always_inline]] inline void PacketFabric::forward(uint32_t pkt, uint32_t link, int64_t now) {
  if (state_[link].dead) [[unlikely]] {
    lose(pkt);
    return;
  }
  LinkState& ls = state_[link];
  const Packet& p = pool_[pkt];
  const uint8_t vl = p.vl;
  VlState& v = ls.vl(vl);
  if (v.idle()) {
    // Its wire bytes and serialisation here, worked out once.
    const uint32_t payload = p.payload;
    const bool full = payload == mtu_;
    const uint32_t wire = full ? ls.mtu_wire : wire_of(link, payload);
    const int64_t ser = full ? ls.mtu_ser : ser_of(link, payload);
    int64_t start = 0;
    if (reserve(link, ls, v, credits_of(wire), earliest_start(p, ser), now, &start)) {
      commit(link, pkt, start, wire, ser, now);
      return;
    }
  }
  // Blocked: wait in this input's queue for the output until credits come back (in the shared
  // memory if there is room; its input credits go back once it is queued).
  const uint32_t input = pool_[pkt].in_link;
  auto it = std::find_if(v.slots.begin(), v.slots.end(),
                         [input](const Slot& s) { return s.input == input; });
  if (it == v.slots.end()) {
    v.slots.push_back(Slot{input, {}});
    it = v.slots.end() - 1;
  }
  it->packets.push_back(pkt);
  const auto slot = static_cast<size_t>(it - v.slots.begin());
  if (slot < kMaskedSlots) v.busy_slots |= uint64_t{1} << slot;
  ++v.waiting;
  state_[link].queued_bytes += pool_[pkt].payload;
  if (!pool_cap_.empty() && pool_cap_[state_[input].to] != 0) try_pool(pkt, link, now);
}

[[gnu::always_inline]] inline void PacketFabric::commit(uint32_t link, uint32_t pkt, int64_t start,
                                                        uint32_t wire, int64_t ser, int64_t now) {
  // (Fields copied out: releasing may create packets and move the pool.)
  const Packet& q = pool_[pkt];
  const uint32_t payload = q.payload, in_link = q.in_link, msg = q.msg;
  const uint8_t vl = q.vl;
  const int64_t head_in = q.head_in;
  const bool last_of_message = (q.flags & kLast) != 0;
  FabricLink& l = *link_ptr_[link];
  LinkState& ls = state_[link];
  const int64_t end = start + ser;
  ls.wire_free = end;
  l.stats.bytes += payload;
  l.stats.wire_bytes += wire;
  ++l.stats.packets;
  note_busy(l, start, end);
  ++packet_hops;
  if (last_of_message) ++l.stats.messages;

  // The packet's tail leaves its input buffer now: that room goes back upstream (or, pooled,
  // its room in the shared memory is free again).
  if (q.flags & kPooled) [[unlikely]] {
    leave_pool(pkt, link, end);
  } else if (in_link != kNone) {
    const uint32_t in_wire = wire_of(in_link, payload), in_credits = credits_of(in_wire);
    free_input(in_link, vl, in_credits, in_wire, head_in, end);
  } else if (last_of_message && !msgs_[msg].sent_done) {
    // Last packet of a message left its GPU: the send is done when its tail is out.
    msgs_[msg].sent_done = true;
    schedule_from(now, end, msgs_[msg].on_sent ? kSentNotify : kSent, msg);
  }
  Packet& p = pool_[pkt];
  ++p.hop;
  p.in_link = link;
  p.head_in = start + ls.prop;
  p.tail_in = end + ls.prop;
  const bool sink = ls.to_rank == p.dst;
  const int64_t ready =
      sink ? p.tail_in + ls.to_sink : (ls.to_cut_through ? p.head_in : p.tail_in) + ls.to_delay;
  schedule_from(now, ready, kReady, pkt);
}

[[gnu::always_inline]] inline void PacketFabric::free_input(uint32_t link, uint8_t vl,
                                                            uint32_t credits, uint32_t wire,
                                                            int64_t from, int64_t to) {
  note_residency(*link_ptr_[link], wire, from, to);
  if (probe_) probe_(link, vl, credits, from, to);
  return_credits(link, vl, credits, to + state_[link].prop);
}

void PacketFabric::release(uint32_t link, uint8_t vl, uint32_t credits, uint32_t wire, int64_t from,
                           int64_t to) {
  free_input(link, vl, credits, wire, from, to);
}

void PacketFabric::vacate(uint32_t link, uint8_t vl, uint32_t credits, int64_t from, int64_t to) {
  if (probe_) probe_(link, vl, credits, from, to);
  return_credits(link, vl, credits, to + state_[link].prop);
}

[[gnu::always_inline]] inline void PacketFabric::return_credits(uint32_t link, uint8_t vl,
                                                                uint32_t credits, int64_t t) {
  VlState& v = state_[link].vl(vl);
  if (t <= v.ready_at) {
    v.free += credits;
  } else {
    v.returns.push(Return{t, credits});
  }
  if (v.free > v.total) ++credit_violations;
  if (!v.idle()) drain(link, vl);
}

void PacketFabric::dispatch_other(uint8_t kind, uint32_t a, uint32_t b) {
  if (kind == kDrain) {
    drain(a, static_cast<uint8_t>(b));
  } else if (kind == kDeliver) {
    MsgState& s = msgs_[a];
    Message msg = s.msg;
    const uint32_t log_slot = s.log_slot;
    const uint64_t qp_seq = s.qp_seq;
    const int in_port = static_cast<int>(s.last_in_port);
    NetworkNode& node = *nodes_[links_[s.path.back()].to];
    unref(a);
    complete_message(log_slot, qp_seq, node, std::move(msg), in_port);
  } else if (kind == kTimeout) {
    on_timeout(a, b);
  } else if (kind == kNak) {
    on_nak(a, b);
  } else if (kind == kFault) {
    --fault_events_pending_;
    apply_fault(a);
  } else if (kind == kReroute) {
    --fault_events_pending_;
    if (reroute_hook_) reroute_hook_(a);
    fault_log_[fault_log_.size() - fault_actions_.size() + a].reroute_ps = now_ps();
    refresh_paths();
  } else if (kind == kSent || kind == kSentNotify) {
    MsgState& s = msgs_[a];
    if (s.on_sent) {
      auto cb = std::move(s.on_sent);
      s.on_sent = nullptr;
      unref(a);
      cb();
    } else {
      unref(a);
    }
  }
}

bool PacketFabric::is_internal(uint8_t kind, uint32_t) const {
  return kind == kReady || kind == kSent || kind == kTimeout || kind == kNak || kind == kDrain;
}

[[gnu::flatten]] void PacketFabric::on_ready(uint32_t pkt) {
  const Packet& p = pool_[pkt];
  const LinkState& in = state_[p.in_link];
  const int64_t now = now_ps();  // read once (see Fabric::schedule_from)
  if (in.dead_at < p.tail_in && in.dead_at <= now) [[unlikely]] {
    lose(pkt);  // its link died before its tail was through
    return;
  }
  if (in.to_rank == p.dst) {
    // Thrown away: a packet of a message given up on, one out of sequence (strict go-back-N),
    // a resent copy of one the receiver already has.
    if ((messages_failed != 0 && msgs_[p.msg].failed) ||
        (strict_gbn_ && p.seq != expected_[p.msg]) || (p.flags & kDup)) [[unlikely]] {
      throw_away(pkt);
      return;
    }
    if (strict_gbn_) {
      ++expected_[p.msg];
      msgs_[p.msg].nak_sent = false;
    } else if (nak_ && p.seq >= expected_[p.msg]) {
      // Selective repeat keeps what comes after a gap, and NAKs the gap once (beyond 2^24
      // packets, more than an event carries, the timer alone recovers).
      if (p.seq > expected_[p.msg] && p.seq <= kEventArg) send_nak(p.msg, p.seq);
      expected_[p.msg] = p.seq + 1;
    }
    if (p.flags & kRetx) [[unlikely]]
      last_repair_ps = now;
    // GPU memory absorbs the packet as it arrives: its buffer room frees at the tail.
    // (Fields copied out: releasing may create packets and move the pool.)
    const uint32_t in_link = p.in_link, msg = p.msg;
    const uint32_t wire = in_wire_of(p);
    free_input(in_link, p.vl, credits_of(wire), wire, p.head_in, p.tail_in);
    ++packets_delivered;
    --in_flight_;
    free_packets_.push_back(pkt);
    payload_delivered += pool_[pkt].payload;
    delivered_series.add(now - 1, now, static_cast<double>(pool_[pkt].payload),
                         params_.report.bin.ps(), params_.report.max_bins);
    const bool held = (pool_[pkt].flags & kHeld) != 0;
    if (--undelivered_[msg] == 0) {
      // Delivery calls into the GPU: its own event, at the same time.
      msgs_[msg].last_in_port = static_cast<uint32_t>(link_ptr_[in_link]->to_port);
      schedule_from(now, now, kDeliver, msg);
    }
    if (held) [[unlikely]]
      unref(msg);  // (the delivery still holds its own reference)
    return;
  }
  if (!per_packet_routing_ && p.hop < p.path_len) {
    forward(pkt, p.link_at(p.hop), now);
    return;
  }
  route(pkt);
}

void PacketFabric::route(uint32_t pkt) {
  const Packet& p = pool_[pkt];
  const uint32_t at = state_[p.in_link].to;
  NetworkNode& node = *nodes_[at];
  const int port = node.route_port(p.dst, hash_of(p));
  if (port < 0 || static_cast<size_t>(port) >= out_links_[at].size()) {
    if (!fault_actions_.empty()) {
      lose(pkt);  // stranded by a fault: no route from here any more
      return;
    }
    throw SimulationError(fmt::format("{}: no route to GPU {} (message {} from GPU {})",
                                      node.name(), p.dst, msgs_[p.msg].msg.id,
                                      msgs_[p.msg].msg.src));
  }
  forward(pkt, out_links_[at][port], now_ps());
}

double PacketFabric::port_load(const NetworkNode& at, int port, int32_t) const {
  if (at.fabric_index >= out_links_.size() || state_.empty()) return 0.0;
  const uint32_t link = out_links_[at.fabric_index][port];
  const LinkState& s = state_[link];
  if (s.dead) return 1e30;  // a switch sees its own port go down at once
  const double backlog = static_cast<double>(std::max<int64_t>(0, s.wire_free - now_ps()));
  return backlog + static_cast<double>(s.queued_bytes) * 1e12 / links_[link].rate.bytes_per_s();
}

}  // namespace mlasim
