// FlowFabric: max-min fair fluid flows over the packet fabric's routes (see flow_fabric.h).
#include "models/common/flow_fabric.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/errors.h"

namespace mlasim {

namespace {

// `now` plus `dt` ps rounded up, or kFarPs where that is not before it (a flow at an absurdly
// low rate, or NaN): no int64 overflow. A flow still transferring at kFarPs is given up.
// `dt` >= 0 (or NaN). Below 2^52 ps, the ceiling without a library call (ceil_small).
int64_t due_after(int64_t now, double dt) {
  if (dt < kCeilSmallBelow && now < FlowFabric::kFarPs - 4503599627370496) {
    return now + ceil_small(dt);
  }
  const double wait = std::ceil(dt);
  if (!(wait < static_cast<double>(FlowFabric::kFarPs - now))) return FlowFabric::kFarPs;
  return now + static_cast<int64_t>(wait);
}

// The cluster key that sets a link's line rate: cluster.<kind>.bandwidth, ib_fabric for
// InfiniBand between two switches (a tier such as "leaf->spine", no NIC at either end).
std::string bandwidth_key(const LinkTiming& t) {
  const bool between_switches = t.kind == "ib" && t.tier.find("nic") == std::string::npos;
  return fmt::format("cluster.{}.bandwidth", between_switches ? "ib_fabric" : t.kind);
}

// The key of the line coding applied to links of a kind.
std::string_view encoding_key(std::string_view kind) {
  if (kind == "ib") return "hardware.nic.ib_encoding";
  if (kind == "pcie") return "hardware.nic.pcie_encoding";
  return "hardware.nvswitch.encoding";
}

}  // namespace

FlowFabric::FlowFabric(const sc_core::sc_module_name& name, SimContext& ctx,
                       const NetworkParams& params)
    : Fabric(name, ctx, params),
      finish_at_(2 * params.flow.rate_update.ps()),
      done_at_(2 * params.flow.rate_update.ps()),
      quantum_ps_(params.flow.rate_update.ps()),
      exact_below_(params.flow.exact_below) {}

void FlowFabric::finalize() {
  Fabric::finalize();
  const size_t n = links_.size();
  capacity_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    capacity_[i] = links_[i].payload_bytes_per_s(mtu_) * 1e-12;
    // The max-min filling needs finite positive capacities (cluster link specs are checked
    // when read; this catches any other source, and rates too small for a normal double in
    // B/ps, whose shares would underflow).
    if (!(capacity_[i] >= std::numeric_limits<double>::min()) || !std::isfinite(capacity_[i])) {
      // Led by the key that made it so: configured bandwidths are at least 1 B/s (units.h),
      // so it is the line coding where that is below 1.
      const FabricLink& l = links_[i];
      const std::string bandwidth = bandwidth_key(l.timing);
      const std::string_view encoding = encoding_key(l.timing.kind);
      throw InputError(fmt::format(
          "{}: link {} has a payload rate of {:g} B/s ({} line rate ({}) x {:g} line coding "
          "({}), less headers): link rates must be finite and at least 1e-295 B/s for "
          "network.fidelity flow",
          l.overhead.encoding < 1.0 ? std::string(encoding) : bandwidth, l.name,
          l.payload_bytes_per_s(mtu_), l.timing.bandwidth.str(), bandwidth, l.overhead.encoding,
          encoding));
    }
  }
  on_link_.assign(n, {});
  link_rate_.assign(n, 0.0);
  link_since_.assign(n, 0);
  link_mark_.assign(n, 0);
  cap_left_.assign(n, 0.0);
  unfrozen_on_.assign(n, 0);
  heap_key_.assign(n, 0.0);
  heap_at_.assign(n, 0);
  arrivals_on_.assign(n, 0);
  find_shadows();
  ranks_ = 0;
  for (int32_t r : rank_of_)
    ranks_ = std::max(ranks_, r + 1);
  choice_row_.assign(nodes_.size(), UINT32_MAX);
}

void FlowFabric::inject(NetworkNode& at, Message msg, std::function<void()> on_sent) {
  std::vector<uint32_t>& path = path_scratch_;
  RouteFacts facts;
  if (!route_of(at.fabric_index, msg, path, facts)) {
    throw SimulationError(fmt::format("{}: no route to GPU {} (message {} from GPU {})", at.name(),
                                      msg.dst, msg.id, msg.src));
  }
  uint32_t id;
  if (!free_flows_.empty()) {
    id = free_flows_.back();
    free_flows_.pop_back();
  } else {
    id = static_cast<uint32_t>(flows_.size());
    flows_.emplace_back();
    hot_.emplace_back();
    slots_.emplace_back();
    fluid_.emplace_back();
  }
  Flow& f = flows_[id];
  const uint32_t version = fluid_[id].version + 1;  // the slot's old heap entries stay stale
  // A reused slot keeps its vectors' storage: no allocation per message.
  f.path.clear();
  f.attached = f.had_links = f.free_on_detach = f.given_up = f.off_series = f.sending = false;
  fluid_[id] = Fluid{};
  fluid_[id].version = version;
  hot_[id] = Hot{};
  const uint64_t bytes = msg.bytes.count();
  const int64_t now = now_ps();
  const int64_t setup = setup_ps(path, msg.sm_issued);
  f.log_slot = open_message(msg, ideal_ps(setup, facts, bytes), &f.qp_seq);
  fluid_[id].remaining = fluid_bytes(path, bytes);
  fluid_[id].tolerance = 1e-6 * std::max(1.0, fluid_[id].remaining);
  f.in_port = static_cast<uint32_t>(link_ptr_[path.back()]->to_port);
  // Latency after the fluid transfer: propagation and pipelines, plus the store-and-forward
  // pipeline fill of the first packet beyond the bottleneck hop.
  if (bytes < mtu_) serialisation(path.data(), path.size(), bytes, facts);
  f.tail_ps = facts.lat_ps + std::max<int64_t>(0, facts.ser_sum_ps - facts.ser_max_ps);
  const int64_t start = now + setup;
  f.dst_node = link_ptr_[path.back()]->to;
  set_path(id, path, shadow_mask(path, now));
  f.on_sent = std::move(on_sent);
  f.msg = std::move(msg);
  ++undelivered_;
  if (per_packet_routing_) {
    if (routed_bytes_.size() != links_.size()) routed_bytes_.assign(links_.size(), 0.0);
    for (uint32_t l : path)
      routed_bytes_[l] += static_cast<double>(bytes);
  }
  f.start_ps = start;  // until it starts: when it may (it may wait for its send queue)
  if (!claim_send(f.msg, id)) return;
  f.sending = true;
  schedule(start, kStart, id);
}

double FlowFabric::port_load(const NetworkNode& at, int port, int32_t dst) const {
  if (at.fabric_index >= out_links_.size() || routed_bytes_.empty()) return 0.0;
  const uint32_t link = out_links_[at.fabric_index][static_cast<size_t>(port)];
  double load = routed_bytes_[link] / capacity_[link];
  // A few hops further along the way the next node would choose (a fat-tree's uplink choice
  // also picks the spine's downlink): the route's most loaded link counts.
  const uint32_t to = link_ptr_[link]->to;
  if (lookahead_depth_ >= kLookaheadHops || rank_of_[to] == dst) return load;
  if (lookahead_depth_ == 0) load_memo_.clear();  // a new decision (dst is fixed within one)
  for (const LoadMemo& m : load_memo_)
    if (m.link == link && m.depth == lookahead_depth_) return m.load;
  ++lookahead_depth_;
  const int next = nodes_[to]->route_port(dst, 0);
  if (next >= 0) load = std::max(load, port_load(*nodes_[to], next, dst));
  --lookahead_depth_;
  load_memo_.push_back({link, lookahead_depth_, load});
  return load;
}

void FlowFabric::dispatch(uint8_t kind, uint32_t a, uint32_t b) {
  const int64_t now = now_ps();
  switch (kind) {
    case kStart: {
      fluid_[a].active = true;
      fluid_[a].t0_ps = now;
      flows_[a].start_ps = now;
      fluid_[a].active_at = static_cast<uint32_t>(active_.size());
      active_.push_back(a);
      // Quantum mode: a flow alone on its links, or an empty one, need not wait.
      if (quantum_ps_ > 0 && (fluid_[a].remaining <= fluid_[a].tolerance || alone(a))) {
        early_.push_back(a);
        request_update(true);
      } else {
        arrived_.push_back(a);
        request_update();
      }
      break;
    }
    case kUpdate:
      // Superseded by a later update?
      if (a != static_cast<uint32_t>(generation_) || b != ((generation_ >> 32) & 0xffffff)) return;
      update_pending_at_ = -1;
      update(now);
      break;
    case kDeliver: {
      Flow& f = flows_[a];
      // Payload for throughput.csv, spread evenly over the window in which the flow's bytes
      // reach the GPU: its fluid transfer shifted by the latency after it, ending now. Evenly,
      // not segment by segment at the flow's changing rates: that would cost the rate
      // recomputation (the fluid model's hot path) a series update per rerated flow for a
      // report, while the even spread keeps every byte and the time it arrived by (to within
      // the flow's duration). Crediting all bytes at delivery would put a long flow's whole
      // payload into one bin.
      if (const int64_t from = std::max<int64_t>(0, std::min(f.start_ps + f.tail_ps, now - 1));
          now > from) {
        delivered_series.add(
            from, now, static_cast<double>(f.msg.bytes.count()) / static_cast<double>(now - from),
            params_.report.bin.ps(), params_.report.max_bins);
      }
      Message msg = std::move(f.msg);
      const uint32_t log_slot = f.log_slot;
      const uint64_t qp_seq = f.qp_seq;
      const int in_port = static_cast<int>(f.in_port);
      NetworkNode& dst = *nodes_[f.dst_node];
      if (f.attached) {
        f.free_on_detach = true;  // the next recomputation frees the slot
      } else {
        free_flows_.push_back(a);
      }
      --undelivered_;
      complete_message(log_slot, qp_seq, dst, std::move(msg), in_port);
      break;
    }
    default:
      break;
  }
}

int64_t FlowFabric::next_boundary(int64_t t) const {
  if (quantum_ps_ <= 0 || last_recompute_ps_ < 0 || active_.size() <= exact_below_) return t;
  return std::max(t, last_recompute_ps_ + quantum_ps_);
}

bool FlowFabric::alone(uint32_t id) const {
  bool alone = true;  // a shadow has its twin's flows
  for_rate_links(id, [&](uint32_t l) { alone = alone && on_link_[l].empty(); });
  return alone;
}

void FlowFabric::request_update(bool now_ok) {
  // An update already due by the next recomputation time sees the new flow (and schedules the
  // recomputation if it is not one).
  const int64_t now = now_ps();
  const int64_t at = now_ok ? now : next_boundary(now);
  if (update_pending_at_ >= now && update_pending_at_ <= at) return;
  schedule_update(at);
}

void FlowFabric::schedule_update(int64_t at) {
  ++generation_;
  update_pending_at_ = at;
  schedule(at, kUpdate, static_cast<uint32_t>(generation_),
           static_cast<uint32_t>(generation_ >> 32) & 0xffffff);
}

void FlowFabric::update(int64_t now) {
  // Scratch storage kept across updates (swapped out: the senders' callbacks below run code
  // that must not see it in use).
  std::vector<uint32_t> done;
  done.swap(done_scratch_);
  take_done(now, done);
  bool left_links = false;  // some ended flow gave its links up
  for (uint32_t id : done)
    left_links = (flows_[id].attached && !hand_over(id, now)) || left_links;
  if (quantum_ps_ <= 0) {
    if (left_links || !arrived_.empty()) recompute(now, done);
  } else {
    // Ended flows are complete now but keep their shares until the next recomputation time.
    for (uint32_t id : done) {
      if (!flows_[id].attached) continue;
      pending_done_.push_back(id);
      if (series_enabled_) end_in_series(id, now);
    }
    if (next_boundary(now) != now && !early_.empty()) {
      // Between recomputations, flows that start on links nobody else uses get their rates at
      // once: those involve no other flow (and touch nothing but their own links). One that
      // has company by now waits like the others.
      std::vector<uint32_t> wait = std::move(arrived_);
      arrived_.clear();
      for (uint32_t id : early_)
        (!fluid_[id].active || alone(id) ? arrived_ : wait).push_back(id);
      if (!arrived_.empty()) recompute(now, {});
      arrived_ = std::move(wait);
      arrived_checked_ = arrived_.size();
    } else {
      arrived_.insert(arrived_.end(), early_.begin(), early_.end());
      arrived_checked_ = arrived_.size();
    }
    early_.clear();
    if (next_boundary(now) == now && (!pending_done_.empty() || !arrived_.empty())) {
      recompute(now, pending_done_);
      last_recompute_ps_ = now;
      for (uint32_t id : pending_done_) {
        Flow& f = flows_[id];
        if (!f.free_on_detach) continue;
        f.free_on_detach = false;
        free_flows_.push_back(id);
      }
      pending_done_.clear();
    }
  }
  schedule_next(now);
  for (uint32_t id : done)
    finish(id);
  done.clear();
  done_scratch_.swap(done);
}

void FlowFabric::take_done(int64_t now, std::vector<uint32_t>& done) {
  // Finish times are rounded up to whole ps, so a flow due now has at most a rounding residue
  // left; any flow within its residue tolerance finishes now.
  std::vector<uint32_t>& due = due_scratch_;
  due.clear();
  auto check = [&](uint32_t id) {
    Fluid& f = fluid_[id];
    if (!f.active) return true;
    const double left = f.remaining - f.rate * static_cast<double>(now - f.t0_ps);
    if (left > f.tolerance) return false;
    f.active = false;
    due.push_back(id);
    return true;
  };
  while (!done_at_.empty() && done_at_.front().t_ps <= now) {
    const Due d = done_at_.front();
    done_at_.pop();
    if (fluid_[d.flow].version != d.version) continue;
    if (check(d.flow)) continue;
    if (d.t_ps >= kFarPs) {
      give_up(d.flow);
    } else {
      done_at_.push({now + 1, d.flow, d.version});
    }
  }
  // Flows that started since the last recomputation have no rate yet: only an empty one can be
  // done, so each is looked at once (quantum mode keeps them waiting over several updates).
  for (size_t i = arrived_checked_; i < arrived_.size(); ++i)
    check(arrived_[i]);
  arrived_checked_ = arrived_.size();
  for (uint32_t id : early_)
    check(id);
  // Remove them from active_ in the order a front-to-back scan with swap-removal would meet
  // them (the order their senders are told, which orders what those inject next).
  done.clear();
  auto& at = at_scratch_;  // a min-heap of (index in active_, flow)
  at.clear();
  auto push = [&](uint32_t i, uint32_t id) {
    at.push_back({i, id});
    std::push_heap(at.begin(), at.end(), std::greater<>());
  };
  for (uint32_t id : due)
    push(fluid_[id].active_at, id);
  while (!at.empty()) {
    std::pop_heap(at.begin(), at.end(), std::greater<>());
    const auto [i, id] = at.back();
    at.pop_back();
    if (i >= active_.size() || active_[i] != id) continue;  // moved since
    done.push_back(id);
    const uint32_t last = active_.back();
    active_.pop_back();
    if (last == id) continue;
    active_[i] = last;
    fluid_[last].active_at = i;
    if (!fluid_[last].active) push(i, last);
  }
}

bool FlowFabric::hand_over(uint32_t id, int64_t now) {
  Flow& f = flows_[id];
  if (!f.sending || hot_[id].rate <= 0) return false;
  const uint32_t next = next_send(f.msg);
  if (next == kNoneWaiting || flows_[next].start_ps > now) return false;
  Fluid& fn = fluid_[next];
  if (fn.remaining <= fn.tolerance) return false;  // an empty one ends at once, as it would
  const Hot& from = hot_[id];
  const auto path = path_of(id), next_path = path_of(next);
  if (from.rate_hops != hot_[next].rate_hops ||
      !std::equal(path.begin(), path.end(), next_path.begin(), next_path.end())) {
    return false;
  }
  release_send(f.msg);
  f.sending = false;
  flows_[next].sending = true;
  flows_[next].start_ps = now;
  // The next message takes the ended one's places in the links' lists, and its rate: with the
  // same flows on every link, a recomputation would give them all the rates they have.
  const uint32_t* slot = slots_of(id);
  uint32_t* next_slot = slots_of(next);
  for (uint32_t h = 0; h < from.rate_hops; ++h) {
    next_slot[h] = slot[h];
    on_link_[path[h]][slot[h]].flow = next;
  }
  f.attached = false;
  flows_[next].attached = true;
  fn.active = true;
  fn.t0_ps = now;
  fn.active_at = static_cast<uint32_t>(active_.size());
  active_.push_back(next);
  retime(next, from.rate, now, true);
  ++flows_handed_over;
  return true;
}

void FlowFabric::give_up(uint32_t id) {
  // Its due times are dropped: it keeps its share of its links, never finishes, and the run
  // stops for want of progress (the watchdog's diagnosis lists it; exit 3).
  Fluid& f = fluid_[id];
  ++f.version;
  if (flows_[id].given_up) return;  // again, after a new rate
  flows_[id].given_up = true;
  ++beyond_horizon_;
  if (beyond_horizon_ > 4) return;
  const Message& m = flows_[id].msg;
  stuck_.push_back(fmt::format(
      "message {} from GPU {} to GPU {} ({} B) would still be transferring after {} s of "
      "simulated time, the most the flow model represents ({:g} B left at {} ps, moving at "
      "{:g} B/s)",
      m.id, m.src, m.dst, m.bytes.count(), kFarPs / 1'000'000'000'000, f.remaining, f.t0_ps,
      f.rate * 1e12));
}

void FlowFabric::set_rate(uint32_t id, double rate, int64_t now, bool queue_due) {
  ++flows_rerated;
  retime(id, rate, now, queue_due);
}

void FlowFabric::retime(uint32_t id, double rate, int64_t now, bool queue_due) {
  Fluid& f = fluid_[id];
  f.remaining -= f.rate * static_cast<double>(now - f.t0_ps);
  f.t0_ps = now;
  f.rate = rate;
  hot_[id].rate = rate;
  ++f.version;
  if (rate <= 0) return;
  const double left = std::max(0.0, f.remaining);
  f.finish_ps = due_after(now, left / rate);
  const double to_residue = std::max(0.0, (f.remaining - f.tolerance) / rate);
  f.done_ps = due_after(now, to_residue);
  if (queue_due) add_due(id, true);
}

void FlowFabric::add_due(uint32_t id, bool keep_heap) {
  const Fluid& f = fluid_[id];
  if (keep_heap) {
    finish_at_.push({f.finish_ps, id, f.version});
    done_at_.push({f.done_ps, id, f.version});
  } else {
    finish_at_.append({f.finish_ps, id, f.version});
    done_at_.append({f.done_ps, id, f.version});
  }
}

void FlowFabric::rebuild_due(int64_t now) {
  // The entries set_rate left valid, with the times it computed (a done_at_ entry pushed back
  // to re-check a rounding residue gets its computed time, also past: the next update looks at
  // it all the same).
  finish_at_.reset(now);
  done_at_.reset(now);
  const size_t n = active_.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) __builtin_prefetch(&fluid_[active_[i + kPrefetchAhead]]);
    const uint32_t id = active_[i];
    if (fluid_[id].active && fluid_[id].rate > 0) add_due(id, false);
  }
  finish_at_.seal();
  done_at_.seal();
}

void FlowFabric::schedule_next(int64_t now) {
  // Entries of superseded rates pile up; rebuild a heap once most of it is stale.
  auto compact = [&](DueQueue& heap) {
    if (heap.size() < 8 * active_.size() + 1024) return;
    heap.erase_if([&](const Due& d) {
      return fluid_[d.flow].version != d.version || !fluid_[d.flow].active;
    });
  };
  compact(finish_at_);
  compact(done_at_);
  DueQueue& ends = finish_at_;  // the next fluid end
  while (!ends.empty()) {
    const Due& d = ends.front();
    if (fluid_[d.flow].version == d.version && fluid_[d.flow].active) break;
    ends.pop();
  }
  int64_t next = std::numeric_limits<int64_t>::max();
  if (!ends.empty()) next = std::max(ends.front().t_ps, now + 1);
  if (!pending_done_.empty() || !arrived_.empty()) next = std::min(next, next_boundary(now + 1));
  if (next == std::numeric_limits<int64_t>::max()) return;
  schedule_update(next);
}

double FlowFabric::fluid_bytes(std::span<const uint32_t> path, uint64_t bytes) const {
  // Capacities are payload rates of full packets: a last, partial packet carries its headers
  // on fewer bytes, which the fluid counts as the payload that would take its wire time (the
  // most over the route's links, whose headers differ).
  const uint64_t rest = bytes % mtu_;
  if (rest == 0 && bytes > 0) return static_cast<double>(bytes);
  double extra = 0;
  for (uint32_t l : path) {
    const LinkOverhead& o = link_ptr_[l]->overhead;
    extra = std::max(extra, static_cast<double>(o.wire_bytes(rest)) * static_cast<double>(mtu_) /
                                    static_cast<double>(o.wire_bytes(mtu_)) -
                                static_cast<double>(rest));
  }
  return static_cast<double>(bytes) + extra;
}

void FlowFabric::note_flow_on_links(uint32_t id) {
  const uint64_t bytes = flows_[id].msg.bytes.count();
  const uint64_t full = bytes / mtu_, rest = bytes % mtu_;
  const uint64_t packets = full + (rest > 0 || bytes == 0 ? 1 : 0);
  for (uint32_t l : path_of(id)) {
    FabricLink& link = *link_ptr_[l];
    const uint64_t wire = full * link.overhead.wire_bytes(mtu_) +
                          (rest > 0 || bytes == 0 ? link.overhead.wire_bytes(rest) : 0);
    link.stats.bytes += bytes;
    link.stats.wire_bytes += wire;
    link.stats.packets += packets;
    ++link.stats.messages;
    link.stats.busy_ps += static_cast<uint64_t>(link.rate.transfer_time(Bytes(wire)).ps());
  }
}

void FlowFabric::finish(uint32_t id) {
  Flow& f = flows_[id];
  note_flow_on_links(id);
  if (!routed_bytes_.empty()) {
    const auto bytes = static_cast<double>(f.msg.bytes.count());
    for (uint32_t l : path_of(id))
      routed_bytes_[l] = std::max(0.0, routed_bytes_[l] - bytes);
  }
  schedule(now_ps() + f.tail_ps, kDeliver, id);
  if (f.sending) {
    // The next message of its queue pair starts (after its own setup latency, if that is
    // still running).
    f.sending = false;
    if (const uint32_t next = release_send(f.msg); next != kNoneWaiting) {
      flows_[next].sending = true;
      schedule(std::max(flows_[next].start_ps, now_ps()), kStart, next);
    }
  }
  if (f.on_sent) {
    auto cb = std::move(f.on_sent);
    f.on_sent = nullptr;
    cb();  // may inject more flows (flows_ may grow; `f` is not used after this)
  }
}

std::vector<std::string> FlowFabric::describe_in_flight() const {
  std::vector<std::string> out = stuck_;
  if (beyond_horizon_ > stuck_.size())
    out.push_back(fmt::format("... {} such messages in all", beyond_horizon_));
  if (undelivered_ > 0) {
    out.push_back(fmt::format("{} flows still in the network ({} transferring)", undelivered_,
                              active_.size()));
  }
  if (std::string w = describe_send_queues(); !w.empty()) out.push_back(std::move(w));
  return out;
}

}  // namespace mlasim
