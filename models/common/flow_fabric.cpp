// FlowFabric: max-min fair fluid flows over the packet fabric's routes (see flow_fabric.h).
#include "models/common/flow_fabric.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/errors.h"

namespace mlasim {

FlowFabric::FlowFabric(const sc_core::sc_module_name& name, SimContext& ctx,
                       const NetworkParams& params)
    : Fabric(name, ctx, params) {}

void FlowFabric::finalize() {
  Fabric::finalize();
  capacity_.resize(links_.size());
  for (size_t i = 0; i < links_.size(); ++i)
    capacity_[i] = links_[i].payload_bytes_per_s(mtu_) * 1e-12;
  cap_left_.assign(links_.size(), 0.0);
  unfrozen_on_.assign(links_.size(), 0);
  flows_on_.assign(links_.size(), {});
}

void FlowFabric::inject(NetworkNode& at, Message msg, std::function<void()> on_sent) {
  std::vector<uint32_t> path;
  if (!path_links(at.fabric_index, msg.dst, msg.flow_hash, path) || path.empty()) {
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
  }
  Flow& f = flows_[id];
  f = Flow{};
  const uint64_t bytes = msg.bytes.count();
  f.record = open_message(msg, ideal_ps(path, bytes, msg.sm_issued), &f.qp_seq);
  f.remaining = static_cast<double>(bytes);
  f.in_port = static_cast<uint32_t>(links_[path.back()].to_port);
  // Latency after the fluid transfer: propagation and pipelines, plus the store-and-forward
  // pipeline fill of the first packet beyond the bottleneck hop.
  const uint64_t first = std::min<uint64_t>(bytes, mtu_);
  int64_t lat = 0, ser_sum = 0, ser_max = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    const FabricLink& l = links_[path[i]];
    const bool last = i + 1 == path.size();
    const PacketNodeTraits& t = traits_[l.to];
    lat += l.timing.latency.ps() + (last ? t.sink_latency : t.pipeline).ps();
    const int64_t s = l.rate.transfer_time(Bytes(l.overhead.wire_bytes(first))).ps();
    ser_max = std::max(ser_max, s);
    if (last || !t.cut_through) ser_sum += s;
  }
  f.tail_ps = lat + std::max<int64_t>(0, ser_sum - ser_max);
  const int64_t start = now_ps() + setup_ps(path.front(), msg.sm_issued);
  f.path = std::move(path);
  f.on_sent = std::move(on_sent);
  f.msg = std::move(msg);
  ++undelivered_;
  schedule(start, kStart, id);
}

void FlowFabric::dispatch(uint8_t kind, uint32_t a, uint32_t b) {
  const int64_t now = now_ps();
  switch (kind) {
    case kStart:
      advance(now);
      flows_[a].active = true;
      active_.push_back(a);
      request_update();
      break;
    case kUpdate: {
      if (b != (generation_ & 0xffffff)) return;  // superseded by a later start or finish
      update_pending_at_ = -1;
      advance(now);
      std::vector<uint32_t> done;
      for (size_t i = 0; i < active_.size();) {
        Flow& f = flows_[active_[i]];
        // Finish times are rounded up to whole ps, so a flow due now has at most a rounding
        // residue left.
        if (f.remaining <= 1e-6 * std::max(1.0, static_cast<double>(f.msg.bytes.count()))) {
          done.push_back(active_[i]);
          f.active = false;
          active_[i] = active_.back();
          active_.pop_back();
        } else {
          ++i;
        }
      }
      recompute();
      for (uint32_t id : done)
        finish(id);
      break;
    }
    case kDeliver: {
      Flow& f = flows_[a];
      Message msg = std::move(f.msg);
      const uint32_t record = f.record;
      const uint64_t qp_seq = f.qp_seq;
      const int in_port = static_cast<int>(f.in_port);
      NetworkNode& dst = *nodes_[links_[f.path.back()].to];
      f.path.clear();
      free_flows_.push_back(a);
      --undelivered_;
      complete_message(record, qp_seq, dst, std::move(msg), in_port);
      break;
    }
    default:
      break;
  }
}

void FlowFabric::request_update() {
  const int64_t now = now_ps();
  if (update_pending_at_ == now) return;
  ++generation_;
  update_pending_at_ = now;
  schedule(now, kUpdate, 0, generation_);
}

void FlowFabric::advance(int64_t now) {
  const int64_t dt = now - last_advance_;
  if (dt > 0) {
    for (uint32_t id : active_) {
      Flow& f = flows_[id];
      f.remaining -= f.rate * static_cast<double>(dt);
      if (series_enabled_) {
        for (uint32_t l : f.path) {
          links_[l].stats.busy_series.add(last_advance_, now, f.rate / capacity_[l],
                                          params_.report.bin.ps(), params_.report.max_bins);
        }
      }
    }
  }
  last_advance_ = now;
}

void FlowFabric::recompute() {
  ++rate_recomputations;
  // Progressive filling: the link with the smallest fair share fixes the rate of every flow
  // still unfixed on it; repeat with what is left.
  used_links_.clear();
  for (uint32_t id : active_) {
    flows_[id].rate = -1.0;
    for (uint32_t l : flows_[id].path) {
      if (flows_on_[l].empty()) used_links_.push_back(l);
      flows_on_[l].push_back(id);
    }
  }
  for (uint32_t l : used_links_) {
    cap_left_[l] = capacity_[l];
    unfrozen_on_[l] = static_cast<uint32_t>(flows_on_[l].size());
  }
  size_t unfixed = active_.size();
  while (unfixed > 0) {
    double best = std::numeric_limits<double>::infinity();
    uint32_t bottleneck = UINT32_MAX;
    for (uint32_t l : used_links_) {
      if (unfrozen_on_[l] == 0) continue;
      const double share = std::max(0.0, cap_left_[l]) / unfrozen_on_[l];
      if (share < best) best = share, bottleneck = l;
    }
    if (bottleneck == UINT32_MAX) break;
    for (uint32_t id : flows_on_[bottleneck]) {
      Flow& f = flows_[id];
      if (f.rate >= 0) continue;
      f.rate = best;
      --unfixed;
      for (uint32_t l : f.path) {
        cap_left_[l] -= best;
        --unfrozen_on_[l];
      }
    }
  }
  for (uint32_t l : used_links_)
    flows_on_[l].clear();

  int64_t next = std::numeric_limits<int64_t>::max();
  const int64_t now = now_ps();
  for (uint32_t id : active_) {
    const Flow& f = flows_[id];
    if (f.rate <= 0) continue;
    const auto left = static_cast<int64_t>(std::ceil(std::max(0.0, f.remaining) / f.rate));
    next = std::min(next, now + left);
  }
  if (next != std::numeric_limits<int64_t>::max()) {
    ++generation_;
    update_pending_at_ = next;
    schedule(next, kUpdate, 0, generation_);
  }
}

void FlowFabric::note_flow_on_links(const Flow& f) {
  const uint64_t bytes = f.msg.bytes.count();
  const uint64_t full = bytes / mtu_, rest = bytes % mtu_;
  const uint64_t packets = full + (rest > 0 || bytes == 0 ? 1 : 0);
  for (uint32_t l : f.path) {
    FabricLink& link = links_[l];
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
  note_flow_on_links(f);
  schedule(now_ps() + f.tail_ps, kDeliver, id);
  if (f.on_sent) {
    auto cb = std::move(f.on_sent);
    f.on_sent = nullptr;
    cb();  // may inject more flows (flows_ may grow; `f` is not used after this)
  }
}

std::vector<std::string> FlowFabric::describe_in_flight() const {
  std::vector<std::string> out;
  if (undelivered_ > 0) {
    out.push_back(fmt::format("{} flows still in the network ({} transferring)", undelivered_,
                              active_.size()));
  }
  return out;
}

}  // namespace mlasim
