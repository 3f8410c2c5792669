// PacketFabric under faults at a simulated time: links dying or slowing down, lost packets,
// the retransmission timer (go-back-N or selective repeat), and paths rebuilt after detection
// and NAKs from the receiver at a gap (see packet_fabric.h); what a run that stopped without
// finishing has in flight; and messages joining their first link's source queues (first
// transmissions in their queue pair's order, resends).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "models/common/packet_fabric.h"

namespace mlasim {

void PacketFabric::add_fault(FaultAction action) {
  const auto i = static_cast<uint32_t>(fault_actions_.size());
  fault_log_.push_back(FaultRecord{action.what, action.at_ps, -1});
  const int64_t at = action.at_ps;
  fault_actions_.push_back(std::move(action));
  // (Routing and spraying are set by now; packets of one message then keep to one path.)
  const bool one_path = !params_.spray && !per_packet_routing_;
  strict_gbn_ = params_.retransmit.mode == RetransmitMode::GoBackN && one_path;
  nak_ = params_.retransmit.nak && one_path;
  ++fault_events_pending_;
  schedule(at, kFault, i);
}

bool PacketFabric::only_faults_pending() const {
  if (pending_events() != fault_events_pending_) return false;
  // A message given up on stays allocated while copies of its packets may still be out.
  return std::all_of(msgs_.begin(), msgs_.end(),
                     [](const MsgState& s) { return s.refs == 0 || s.failed; });
}

void PacketFabric::apply_fault(uint32_t i) {
  const FaultAction& f = fault_actions_[i];
  fault_log_[fault_log_.size() - fault_actions_.size() + i].applied = true;
  if (node_dead_.empty()) {
    node_dead_.assign(nodes_.size(), 0);
    payload_delivered_at_fault = payload_delivered;  // the first fault
  }
  for (uint32_t n : f.nodes)
    node_dead_[n] = 1;
  for (uint32_t l : f.links) {
    if (f.bandwidth_factor > 0.0) {
      // The factor is of the link's nominal rate: a second degradation replaces the first.
      if (nominal_rate_.empty()) {
        for (const FabricLink& link : links_)
          nominal_rate_.push_back(link.rate);
      }
      FabricLink& link = links_[l];
      link.rate = Bandwidth::bytes_per_s(nominal_rate_[l].bytes_per_s() * f.bandwidth_factor);
      state_[l].mtu_ser = link.rate.transfer_time(Bytes(state_[l].mtu_wire)).ps();
    } else {
      kill_link(l);
    }
  }
  if (f.bandwidth_factor == 0.0) {
    ++fault_events_pending_;
    schedule(now_ps() + params_.faults.detection_delay.ps(), kReroute, i);
  }
}

void PacketFabric::kill_link(uint32_t link) {
  LinkState& ls = state_[link];
  if (ls.dead) return;
  ls.dead = true;
  ls.dead_at = now_ps();
  // Packets waiting for it are lost; those on its wire are lost when they would arrive.
  std::vector<uint32_t> waiting;
  for (uint8_t k = 0; k < params_.vls; ++k) {
    VlState& v = ls.vl(k);
    for (Slot& slot : v.slots) {
      waiting.insert(waiting.end(), slot.packets.begin(), slot.packets.end());
      slot.packets.clear();
    }
    v.busy_slots = 0;
    v.waiting = 0;
  }
  ls.queued_bytes = 0;
  for (uint32_t pkt : waiting)
    lose(pkt, link);
}

void PacketFabric::lose(uint32_t pkt, uint32_t waited_for) {
  const Packet& p = pool_[pkt];
  const uint32_t m = p.msg, seq = p.seq, in_link = p.in_link, payload = p.payload;
  const uint32_t in_wire = in_link != kNone ? in_wire_of(p) : 0, in_credits = credits_of(in_wire);
  const uint8_t flags = p.flags, vl = p.vl;
  const int64_t head_in = p.head_in;
  ++packets_lost;
  bytes_lost += payload;
  --in_flight_;
  free_packets_.push_back(pkt);
  MsgState& s = msgs_[m];
  // (A strict go-back-N resend of a packet the receiver has taken meanwhile is no loss; nor is
  // a first transmission that the last go-back sends again.)
  const bool taken =
      ((flags & kHeld) && seq < expected_[m]) ||
      (strict_gbn_ && !(flags & kRetx) && seq >= s.resent_from && seq < s.resent_below);
  if (flags & kDup) {
    unref(m);  // a copy: the receiver has (or will have) the original
  } else if (!s.failed && !taken) {
    s.lost.push_back(seq);
    if (!s.timer) arm_timer(s, m);
  }
  if (flags & kHeld) unref(m);  // (last: a lost packet still needed leaves the message alive)
  // The room it held in the buffer it sat in goes back upstream (last: this may send more);
  // a packet in a switch's shared memory already gave its credits back.
  if (flags & kPooled) {
    leave_pool(pkt, waited_for, now_ps());
  } else if (in_link != kNone) {
    release(in_link, vl, in_credits, in_wire, head_in, std::max(head_in, now_ps()));
  }
}

void PacketFabric::throw_away(uint32_t pkt) {
  const Packet& p = pool_[pkt];
  const uint32_t m = p.msg, seq = p.seq, in_link = p.in_link;
  const bool copy = (p.flags & kDup) != 0, held = (p.flags & kHeld) != 0;
  const uint32_t wire = in_wire_of(p);
  release(in_link, p.vl, credits_of(wire), wire, p.head_in, p.tail_in);
  ++duplicate_packets;
  --in_flight_;
  free_packets_.push_back(pkt);
  MsgState& s = msgs_[m];
  const bool gap = strict_gbn_ && !copy && !s.failed && seq > expected_[m];
  if (gap && nak_ && expected_[m] <= kEventArg) {
    // One NAK, naming the packet expected, until that packet is in (as an RC responder does).
    if (!s.nak_sent) {
      s.nak_sent = true;
      send_nak(m, expected_[m]);
    }
  } else if (gap && !s.timer && (s.resend.empty() || seq >= s.resent_below)) {
    s.lost.push_back(expected_[m]);
    arm_timer(s, m);
  }
  // A copy, or a strict go-back-N resend, keeps its message alive until it is gone.
  if (copy || held) unref(m);
}

void PacketFabric::arm_timer(MsgState& s, uint32_t m) {
  s.timer = true;
  schedule(now_ps() + params_.retransmit.timeout.ps(), kTimeout, m, s.timer_gen);
}

void PacketFabric::on_timeout(uint32_t m, uint32_t gen) {
  MsgState& s = msgs_[m];
  if (gen != s.timer_gen) return;  // restarted by a NAK's resend, or its message is gone
  s.timer = false;
  if (strict_gbn_) {
    // What the receiver has taken since needs no resend; the first packet it has not taken
    // does, when sent already (what came after it may have been thrown away meanwhile).
    std::erase_if(s.lost, [&](uint32_t seq) { return seq < expected_[m]; });
    // (With NAKs a packet thrown away brings a NAK instead: a timer then answers only losses,
    // and one whose packets a resend already covers asks for nothing.)
    if (!nak_ && s.lost.empty() && expected_[m] < hot_[m].next_seq) {
      s.lost.push_back(expected_[m]);
    }
  }
  if (s.lost.empty() || s.failed) return;
  ++retransmit_timeouts;
  plan_resend(m, s.lost, "its timeout");
}

void PacketFabric::send_nak(uint32_t m, uint32_t below) {
  // Back over the message's path at its latency, a header-only packet's serialisation per hop
  // (the NAK is not queued behind data: acknowledgements are not modelled as packets). It
  // keeps the message's slot until it arrives.
  const MsgState& s = msgs_[m];
  int64_t at = now_ps() + path_timing(s.path.data(), s.path.size()).lat_ps;
  for (uint32_t link : s.path)
    at += ser_of(link, 0);
  ++msgs_[m].refs;
  schedule(at, kNak, m, below);
}

void PacketFabric::on_nak(uint32_t m, uint32_t below) {
  MsgState& s = msgs_[m];
  std::vector<uint32_t> lost;
  if (!s.failed && undelivered_[m] != 0) {
    if (strict_gbn_) {
      // Back to the packet the NAK names, unless the receiver has it by now (a resend at the
      // timeout overtook the NAK) or a resend of it still waits at the source.
      const bool planned = !s.resend.empty() && (s.resend.back() & ~kDupBit) <= below;
      if (expected_[m] == below && !planned) {
        lost.push_back(below);
        s.lost.clear();  // the resend covers them all
      }
    } else {
      // Selective: the lost packets below the gap's end (those still on their way are not
      // asked for: the model knows which were lost); later losses keep waiting.
      auto mid =
          std::partition(s.lost.begin(), s.lost.end(), [&](uint32_t seq) { return seq >= below; });
      lost.assign(mid, s.lost.end());
      s.lost.erase(mid, s.lost.end());
    }
  }
  if (!lost.empty()) {
    ++retransmit_naks;
    s.timer_gen = (s.timer_gen + 1) & kEventArg;  // restarts: armed below for losses left
    s.timer = false;
    plan_resend(m, lost, "a NAK");
    if (!s.failed && !s.lost.empty()) arm_timer(s, m);
  }
  unref(m);  // (last: the NAK's reference)
}

void PacketFabric::plan_resend(uint32_t m, std::vector<uint32_t>& lost, const char* at) {
  MsgState& s = msgs_[m];
  if (++s.retries > static_cast<uint32_t>(params_.retransmit.max_retries)) {
    s.failed = true;
    ++messages_failed;
    last_outcome_ps = now_ps();
    failed_messages_.push_back(fmt::format(
        "message {} from GPU {} to GPU {} failed: {} packets still to resend at {}, after {} "
        "resends (network.retransmit.max_retries)",
        s.msg.id, s.msg.src, s.msg.dst,
        strict_gbn_ ? hot_[m].next_seq - std::min(expected_[m], lost.front()) : lost.size(), at,
        s.retries - 1));
    lost.clear();
    s.lost.clear();
    return;
  }
  std::sort(lost.begin(), lost.end());
  lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
  // seq -> copy? Resends still waiting to go keep their place; a lost packet is never a copy.
  std::map<uint32_t, bool> plan;
  for (uint32_t r : s.resend)
    plan[r & ~kDupBit] = (r & kDupBit) != 0;
  if (params_.retransmit.mode == RetransmitMode::GoBackN) {
    // Strict: back to the first packet the receiver has not taken, every one resent in full
    // (it threw away what came after the gap); else from the first lost one, copies of those
    // that got through marked as such.
    const uint32_t from = strict_gbn_ ? std::min(expected_[m], lost.front()) : lost.front();
    s.resent_from = from;
    s.resent_below = hot_[m].next_seq;
    for (uint32_t seq = from; seq < hot_[m].next_seq; ++seq) {
      const bool copy = !strict_gbn_ && !std::binary_search(lost.begin(), lost.end(), seq);
      auto [it, fresh] = plan.emplace(seq, copy);
      if (!fresh) it->second = it->second && copy;
    }
  } else {
    for (uint32_t seq : lost)
      plan[seq] = false;
  }
  lost.clear();
  s.resend.clear();
  for (auto it = plan.rbegin(); it != plan.rend(); ++it)  // consumed from the back: lowest first
    s.resend.push_back(it->first | (it->second ? kDupBit : 0));
  hot_[m].resending = !s.resend.empty();
  enqueue_source(m);
}

void PacketFabric::start_source(uint32_t m, bool drain_now) {
  MsgState& s = msgs_[m];
  s.in_source = true;
  const uint32_t link = s.path.front();
  const uint8_t vl = s.msg.vl;
  // Pending messages stay sorted by ready time (setup latencies may differ per message).
  auto& pending = state_[link].vl(vl).source.pending;
  auto it = pending.end();
  while (it != pending.begin() && hot_[*(it - 1)].ready > hot_[m].ready)
    --it;
  pending.insert(it, m);
  ++state_[link].vl(vl).sourcing;
  if (drain_now) drain(link, vl);
}

void PacketFabric::pass_send_on(uint32_t m) {
  hot_[m].sending = false;
  for (uint32_t next; (next = release_send(msgs_[m].msg)) != kNoneWaiting;) {
    if (msgs_[next].failed) continue;  // no route left while it waited: it never goes
    hot_[next].sending = true;
    start_source(next);
    return;
  }
}

void PacketFabric::enqueue_source(uint32_t m) {
  MsgState& s = msgs_[m];
  if (s.in_source || !has_more(hot_[m])) return;
  s.in_source = true;
  const uint32_t link = s.path.front();
  const uint8_t vl = s.msg.vl;
  state_[link].vl(vl).source.active.push_back(m);
  ++state_[link].vl(vl).sourcing;
  drain(link, vl);
}

void PacketFabric::refresh_paths() {
  std::vector<std::pair<uint32_t, uint8_t>> to_drain;
  std::vector<uint32_t> pass_on;  // failed while holding their send queue
  for (uint32_t m = 0; m < msgs_.size(); ++m) {
    MsgState& s = msgs_[m];
    if (s.refs == 0 || s.failed || s.path.empty() || undelivered_[m] == 0) continue;
    const uint32_t src = links_[s.path.front()].from;
    if (!path_links(src, s.msg.dst, s.msg.flow_hash, path_scratch_) || path_scratch_.empty()) {
      s.failed = true;
      ++messages_failed;
      ++messages_unreachable;
      last_outcome_ps = now_ps();
      failed_messages_.push_back(
          fmt::format("message {} from GPU {} to GPU {} failed: no route left after the fault "
                      "(destination unreachable)",
                      s.msg.id, s.msg.src, s.msg.dst));
      if (hot_[m].sending) pass_on.push_back(m);
      continue;
    }
    if (path_scratch_ == s.path) continue;
    const uint32_t old_first = s.path.front();
    // Packets in flight may point into a long path: keep it until the run ends.
    if (s.path.size() > kInlinePath) retired_paths_.push_back(std::move(s.path));
    s.path = path_scratch_;
    set_hot_path(m);
    if (s.in_source && old_first != s.path.front()) {
      const uint8_t vl = s.msg.vl;
      VlState& from = state_[old_first].vl(vl);
      for (auto* q : {&from.source.active, &from.source.pending}) {
        auto it = std::find(q->begin(), q->end(), m);
        if (it != q->end()) {
          q->erase(it);
          --from.sourcing;
        }
      }
      state_[s.path.front()].vl(vl).source.active.push_back(m);
      ++state_[s.path.front()].vl(vl).sourcing;
      to_drain.emplace_back(s.path.front(), vl);
    }
  }
  for (const auto& [link, vl] : to_drain)
    drain(link, vl);
  for (uint32_t m : pass_on)
    pass_send_on(m);
}

std::vector<std::string> PacketFabric::describe_in_flight() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < failed_messages_.size() && i < 4; ++i)
    out.push_back(failed_messages_[i]);
  if (failed_messages_.size() > 4) {
    out.push_back(fmt::format("... {} messages failed in all", failed_messages_.size()));
  }
  if (in_flight_ > 0) out.push_back(fmt::format("{} packets still in the network", in_flight_));
  if (std::string w = describe_send_queues(); !w.empty()) out.push_back(std::move(w));
  for (size_t i = 0; i < state_.size() && out.size() < 8; ++i) {
    for (uint8_t k = 0; k < params_.vls; ++k) {
      const VlState& v = state_[i].vl(k);
      if (state_[i].dead && !v.source.empty()) {
        out.push_back(fmt::format("{} is down: {} messages wait at their source", links_[i].name,
                                  v.source.active.size() + v.source.pending.size()));
      } else if (v.waiting > 0 || !v.source.empty()) {
        out.push_back(fmt::format("{}: {} packets wait for credits ({} of {} free)", links_[i].name,
                                  v.waiting, v.free, v.total));
      }
    }
  }
  return out;
}

}  // namespace mlasim
