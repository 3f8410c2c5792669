// Fabric: shared event engine, link registry, message records and delivery (see fabric.h).
#include "models/common/fabric.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <time.h>

#include "sim/errors.h"

namespace mlasim {

void TimeSeries::add_slow(int64_t t0, int64_t t1, double per_ps, int64_t initial_width,
                          int32_t max_bins) {
  if (t1 <= t0) return;
  store_current();
  if (width_ == 0) width_ = std::max<int64_t>(1, initial_width);
  bool merged = false;
  if (t1 - 1 >= width_ * static_cast<int64_t>(max_bins)) {  // (t1 - 1) / width_ >= max_bins
    while ((t1 - 1) / width_ >= max_bins) {
      std::vector<double> halved((bins_.size() + 1) / 2, 0.0);
      for (size_t i = 0; i < bins_.size(); ++i)
        halved[i / 2] += bins_[i];
      bins_ = std::move(halved);
      width_ *= 2;
    }
    merged = true;
  }
  size_t first;
  int64_t edge;  // first * width_
  if (!merged && t0 >= cur_lo_ && t0 < cur_hi_) {
    first = cur_;  // it starts in the current bin: no division
    edge = cur_lo_;
  } else {
    first = static_cast<size_t>(t0 / width_);
    edge = static_cast<int64_t>(first) * width_;
  }
  const auto last = static_cast<size_t>((t1 - 1) / width_);
  if (bins_.size() <= last) bins_.resize(last + 1, 0.0);
  for (size_t i = first; i <= last; ++i, edge += width_) {
    const int64_t lo = std::max<int64_t>(t0, edge);
    const int64_t hi = std::min<int64_t>(t1, edge + width_);
    bins_[i] += static_cast<double>(hi - lo) * per_ps;
  }
  // The next interval most likely falls in the bin this one ended in.
  cur_ = last;
  cur_lo_ = static_cast<int64_t>(last) * width_;
  cur_hi_ = cur_lo_ + width_;
  cur_sum_ = bins_[cur_];
  prev_lo_ = last > 0 ? cur_lo_ - width_ : cur_lo_;
  prev_sum_ = last > 0 ? bins_[cur_ - 1] : 0.0;
}

void TimeSeries::add_back(int64_t t0, int64_t t1, double per_ps) {
  // The bins add_slow would touch, with the same additions, but bins cur_ - 1 and cur_ stay in
  // their sums (no store and reload) and nothing grows.
  auto i = static_cast<size_t>(t0 / width_);
  int64_t edge = static_cast<int64_t>(i) * width_;
  for (; i + 1 < cur_; ++i, edge += width_)
    bins_[i] += static_cast<double>(edge + width_ - std::max<int64_t>(t0, edge)) * per_ps;
  const double before = static_cast<double>(cur_lo_ - std::max<int64_t>(t0, cur_lo_ - width_));
  if (prev_lo_ < cur_lo_) {
    prev_sum_ += before * per_ps;
  } else {
    bins_[cur_ - 1] += before * per_ps;
  }
  cur_sum_ += static_cast<double>(t1 - cur_lo_) * per_ps;
}

std::vector<double> TimeSeries::coarsened(int64_t width) const {
  store_current();
  if (width_ == 0 || width <= width_) return bins_;
  const int64_t factor = width / width_;
  std::vector<double> out((bins_.size() + factor - 1) / factor, 0.0);
  for (size_t i = 0; i < bins_.size(); ++i)
    out[i / factor] += bins_[i];
  return out;
}

Fabric::Fabric(const sc_core::sc_module_name& name, SimContext& ctx, const NetworkParams& params)
    : sc_core::sc_module(name), ctx_(ctx), params_(params), log_(params.report.max_message_rows) {
  SC_HAS_PROCESS(Fabric);
  SC_METHOD(fire);
  sensitive << wake_;
  dont_initialize();
}

Fabric::~Fabric() = default;

void Fabric::add_link(NetworkNode& from, int port) {
  auto enrol = [this](NetworkNode& n) {
    if (n.fabric_index != UINT32_MAX) return;
    n.fabric_index = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(&n);
    out_links_.emplace_back();
  };
  NetworkNode& to = *from.peer(port);
  enrol(from);
  enrol(to);
  FabricLink l;
  l.from = from.fabric_index;
  l.to = to.fabric_index;
  l.from_port = port;
  l.to_port = from.peer_port(port);
  l.timing = from.link(port);
  l.name = fmt::format("{}->{}", from.basename(), to.basename());
  l.rate = l.timing.bandwidth;
  const auto id = static_cast<uint32_t>(links_.size());
  links_.push_back(std::move(l));
  auto& outs = out_links_[from.fabric_index];
  if (outs.size() <= static_cast<size_t>(port)) outs.resize(port + 1, UINT32_MAX);
  outs[port] = id;

  LinkStats& s = links_.back().stats;
  StatGroup& g = from.stats().child("to_" + from.peer_name(port));
  g.counter("bytes", &s.bytes, "B", "payload bytes sent on this link direction");
  g.counter("wire_bytes", &s.wire_bytes, "B", "bytes on the wire, headers included");
  g.counter("packets", &s.packets, "count",
            "packets sent (at flow level: the packets its flows stand for)");
  g.counter("busy_time", &s.busy_ps, "ps", "time the link direction spent serialising");
  g.counter("credit_stall_time", &s.stall_ps, "ps",
            "time data was ready and the wire free but the receiver had no credits");
  g.counter("peak_queue", &s.peak_queue_bytes, "B",
            "peak buffer reservation at the receiving end (credits in use)");
  g.value("queue_byte_time", &s.queue_byte_ps, "B*ps",
          "integral of the receiving buffer's occupancy over time");
  g.value("shared_memory_byte_time", &s.shared_byte_ps, "B*ps",
          "integral over time of this link's packets held in the receiving switch's shared memory");
  const double bw = links_.back().rate.bytes_per_s();
  g.formula(
      "bandwidth", [bw] { return bw; }, "B/s", "line rate of this link direction");
}

void Fabric::finalize() {
  traits_.clear();
  rank_of_.clear();
  for (NetworkNode* n : nodes_) {
    traits_.push_back(n->packet_traits());
    rank_of_.push_back(n->endpoint_rank());
  }
  // Packets are cut once, at their source, so one size serves every link: the NICs' MTU, which
  // NVLink carries too (a header per NVLink payload unit keeps its wire time right). Only a
  // fabric without NICs takes the NVSwitch's transfer unit.
  uint32_t nic_mtu = 0, other_mtu = 0;
  for (const auto& t : traits_) {
    if (t.max_payload == 0) continue;
    uint32_t& m = t.ib ? nic_mtu : other_mtu;
    m = m == 0 ? t.max_payload : std::min(m, t.max_payload);
  }
  packets_from_nics_ = nic_mtu > 0;
  mtu_ = nic_mtu > 0 ? nic_mtu : other_mtu > 0 ? other_mtu : 4096;
  // A packet keeps the header its NIC gave it all the way, and every InfiniBand link has the
  // same line coding: a link between two switches, whose ends add nothing, takes both from the
  // fabric's NICs (the first that declares them; every NIC of a run shares one preset).
  std::optional<LinkOverhead> fabric_ib;
  for (const auto& t : traits_) {
    if (t.ib) {
      fabric_ib = t.ib;
      break;
    }
  }
  for (FabricLink& l : links_) {
    const PacketNodeTraits& a = traits_[l.from];
    const PacketNodeTraits& b = traits_[l.to];
    const std::string& k = l.timing.kind;
    auto pick = [](const std::optional<LinkOverhead>& x, const std::optional<LinkOverhead>& y) {
      return x ? *x : (y ? *y : LinkOverhead{});
    };
    if (k == "ib") l.overhead = pick(a.ib, b.ib ? b.ib : fabric_ib);
    if (k == "pcie") l.overhead = pick(a.pcie, b.pcie);
    if (k == "nvlink") l.overhead = pick(a.nvlink, b.nvlink);
    l.rate = Bandwidth::bytes_per_s(l.timing.bandwidth.bytes_per_s() * l.overhead.encoding);
  }
  link_ptr_.clear();
  for (FabricLink& l : links_)
    link_ptr_.push_back(&l);
  series_enabled_ = static_cast<int64_t>(links_.size()) <= params_.report.timeseries_max_links;
  per_packet_routing_ = per_packet_routing_ || params_.spray;
  std::map<std::pair<uint32_t, std::string_view>, double> out_sum, in_sum;
  for (const FabricLink& l : links_) {
    out_sum[{l.from, l.timing.tier}] += l.payload_bytes_per_s(mtu_);
    in_sum[{l.to, l.timing.tier}] += l.payload_bytes_per_s(mtu_);
  }
  parallel_rate_.clear();
  for (const FabricLink& l : links_) {
    parallel_rate_.push_back(
        std::min(out_sum[{l.from, l.timing.tier}], in_sum[{l.to, l.timing.tier}]));
  }
}

void Fabric::add_fault(FaultAction) {
  throw InputError(fmt::format(
      "network.faults.events: faults at a simulated time need network.fidelity packet (this "
      "run is {})",
      fidelity_name()));
}

double Fabric::port_load(const NetworkNode&, int, int32_t) const {
  return 0.0;
}

uint64_t Fabric::bytes_sent_by(uint32_t node) const {
  uint64_t total = 0;
  if (node >= out_links_.size()) return 0;
  for (uint32_t l : out_links_[node]) {
    if (l != UINT32_MAX) total += links_[l].stats.bytes;
  }
  return total;
}

void Fabric::arm() {
  const auto now = static_cast<int64_t>(sc_core::sc_time_stamp().value());
  const int64_t t = queue_.top().t();
  armed_for_ = t;
  // sc_event keeps the earlier of two pending notifications, so re-arming is always safe.
  if (t <= now) {
    wake_.notify(sc_core::SC_ZERO_TIME);
  } else {
    wake_.notify(sc_core::sc_time(static_cast<double>(t - now), sc_core::SC_PS));
  }
}

double Fabric::process_cpu_s() {
  timespec cpu{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  return static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) * 1e-9;
}

void Fabric::fire() {
  const int64_t now = static_cast<int64_t>(sc_core::sc_time_stamp().value());
  ++activations;
  if (cpu_first_ < 0) cpu_first_ = cpu_last_ = process_cpu_s();
  armed_for_ = -1;
  in_fire_ = true;
  ctx_.guard([this, now] { run_events(now); });
  in_fire_ = false;
  // Reading the process CPU clock is a system call: only when the network falls idle (the last
  // activation of a run does) and every kCpuSampleEvery activations.
  if (queue_.empty() || activations % kCpuSampleEvery == 0) cpu_last_ = process_cpu_s();
  if (!queue_.empty()) arm();
}

bool Fabric::path_links(uint32_t node, int32_t dst, uint64_t hash,
                        std::vector<uint32_t>& out) const {
  out.clear();
  // A GPU that no link reaches (its NIC and NVLink lost to faults before the run) has no fabric
  // node: nothing leaves it.
  if (node >= nodes_.size()) return false;
  uint32_t at = node;
  for (int step = 0; step < 64; ++step) {
    if (rank_of_[at] == dst) return true;
    const int port = nodes_[at]->route_port(dst, hash);
    if (port < 0 || static_cast<size_t>(port) >= out_links_[at].size()) return false;
    const uint32_t l = out_links_[at][port];
    if (l == UINT32_MAX) return false;
    out.push_back(l);
    at = links_[l].to;
  }
  return false;
}

int64_t Fabric::setup_ps(const std::vector<uint32_t>& path, bool sm_issued) const {
  if (path.empty()) return 0;
  const int64_t issue = sm_issued ? traits_[links_[path.front()].from].message_setup.ps() : 0;
  // Only a NIC (a node that is no GPU) has a setup of its own; the receiving one takes none.
  for (const uint32_t l : path) {
    const uint32_t to = links_[l].to;
    if (rank_of_[to] < 0 && traits_[to].message_setup.ps() > 0)
      return issue + traits_[to].message_setup.ps();
  }
  return issue;
}

Fabric::PathTiming Fabric::path_timing(const uint32_t* path, size_t hops, bool parallel) const {
  PathTiming t;
  for (size_t i = 0; i < hops; ++i) {
    const FabricLink& l = links_[path[i]];
    const PacketNodeTraits& n = traits_[l.to];
    t.lat_ps += l.timing.latency.ps() + (i + 1 == hops ? n.sink_latency : n.pipeline).ps();
    t.bottleneck =
        std::min(t.bottleneck, parallel ? parallel_rate_[path[i]] : l.payload_bytes_per_s(mtu_));
  }
  return t;
}

void Fabric::beyond_time_range(uint64_t bytes, const PathTiming& timing) {
  throw SimulationError(fmt::format(
      "a message of {} B over a path whose narrowest link carries {:g} B/s of payload would take "
      "{:.3g} s, more than the {:.3g} s (about 27 days) one simulated duration may span",
      bytes, timing.bottleneck, static_cast<double>(bytes) / timing.bottleneck,
      static_cast<double>(kMaxDurationPs) * 1e-12));
}

int64_t Fabric::ideal_ps(const std::vector<uint32_t>& path, uint64_t bytes, bool sm_issued) const {
  if (path.empty()) return 0;
  return ideal_ps(setup_ps(path, sm_issued),
                  path_timing(path.data(), path.size(), per_packet_routing_), bytes);
}

uint32_t Fabric::open_message(const Message& msg, int64_t ideal, uint64_t* qp_seq) {
  const uint32_t slot = log_.open(msg, now_ps(), ideal);
  ++messages_injected;
  bytes_injected += msg.bytes.count();
  *qp_seq = queue_pair(msg.src, msg.dst).posted++;
  return slot;
}

Fabric::SendKey Fabric::send_key(const Message& msg) const {
  const auto vl = static_cast<uint64_t>(msg.vl % params_.vls);
  return {static_cast<uint64_t>(static_cast<uint32_t>(msg.src + 1)) << 36 |
              static_cast<uint64_t>(static_cast<uint32_t>(msg.dst + 1)) << 4 | vl,
          msg.tag};
}

bool Fabric::claim_send(const Message& msg, uint32_t id) {
  QueuePair& qp = queue_pair(msg.src, msg.dst);
  const auto vl = static_cast<uint8_t>(msg.vl % params_.vls);
  if (qp.holders == 0) {  // the common case: nothing of the pair being sent, no map
    qp.holders = 1;
    qp.in_map = false;
    qp.solo_vl = vl;
    qp.solo_tag = msg.tag;
    return true;
  }
  if (!qp.in_map) {  // a second queue of the pair, or one waiting: the one sending moves over
    Message solo;
    solo.src = msg.src;
    solo.dst = msg.dst;
    solo.vl = qp.solo_vl;
    solo.tag = qp.solo_tag;
    send_queues_.try_emplace(send_key(solo));
    qp.in_map = true;
  }
  auto [it, fresh] = send_queues_.try_emplace(send_key(msg));
  if (fresh) {
    ++qp.holders;
    return true;
  }
  it->second.ids.push_back(id);
  ++send_waiting_count_;
  return false;
}

uint32_t Fabric::release_send(const Message& msg) {
  QueuePair& qp = queue_pair(msg.src, msg.dst);
  if (!qp.in_map) {
    qp.holders = 0;
    return kNoneWaiting;
  }
  const auto it = send_queues_.find(send_key(msg));
  if (it == send_queues_.end()) return kNoneWaiting;  // (not claimed)
  Waiting& w = it->second;
  if (w.head == w.ids.size()) {
    send_queues_.erase(it);
    if (--qp.holders == 0) qp.in_map = false;
    return kNoneWaiting;
  }
  const uint32_t next = w.ids[w.head++];
  --send_waiting_count_;
  return next;
}

uint32_t Fabric::next_send(const Message& msg) const {
  const auto i = static_cast<size_t>(msg.src + 1), j = static_cast<size_t>(msg.dst + 1);
  if (i >= qps_.size() || j >= qps_[i].size() || !qps_[i][j].in_map) return kNoneWaiting;
  const auto it = send_queues_.find(send_key(msg));
  if (it == send_queues_.end() || it->second.head == it->second.ids.size()) return kNoneWaiting;
  return it->second.ids[it->second.head];
}

std::string Fabric::describe_send_queues() const {
  if (send_waiting_count_ == 0) return {};
  return fmt::format("{} messages wait behind an earlier one of their queue pair",
                     send_waiting_count_);
}

Fabric::QueuePair& Fabric::queue_pair(int32_t src, int32_t dst) {
  if (src < -1 || dst < -1) {
    throw SimulationError(fmt::format("message from GPU {} to GPU {}: not a GPU rank", src, dst));
  }
  const auto i = static_cast<size_t>(src + 1), j = static_cast<size_t>(dst + 1);
  if (qps_.size() <= i) qps_.resize(i + 1);
  std::vector<QueuePair>& row = qps_[i];
  if (row.size() <= j) row.resize(j + 1);
  return row[j];
}

std::string Fabric::failed_messages_cause() const {
  auto count = [](uint64_t n, const char* what) {
    return fmt::format("{} message{} {}", n, n == 1 ? "" : "s", what);
  };
  const uint64_t retries = messages_failed - messages_unreachable;
  std::string why;
  if (retries > 0) why = count(retries, "failed after network.retransmit.max_retries resends");
  if (messages_unreachable > 0) {
    why += (why.empty() ? "" : " and ") +
           count(messages_unreachable, "failed with no route left (destination unreachable)");
  }
  return why;
}

void Fabric::complete_message(uint32_t log_slot, uint64_t qp_seq, NetworkNode& at, Message&& msg,
                              int in_port) {
  last_outcome_ps = now_ps();
  const int32_t src = msg.src, dst = msg.dst;
  QueuePair& qp = queue_pair(src, dst);
  if (params_.in_order && qp_seq != qp.completed) {
    if (!qp.held) qp.held = std::make_unique<std::unordered_map<uint64_t, HeldDelivery>>();
    qp.held->emplace(qp_seq, HeldDelivery{log_slot, &at, std::move(msg), in_port});
    return;
  }
  ++qp.completed;
  deliver_now(log_slot, at, std::move(msg), in_port);
  while (true) {
    // Delivering may open messages and grow the rows: look the pair up again.
    QueuePair& q = queue_pair(src, dst);
    if (!q.held) break;
    auto it = q.held->find(q.completed);
    if (it == q.held->end()) break;
    HeldDelivery h = std::move(it->second);
    q.held->erase(it);
    if (q.held->empty()) q.held.reset();
    ++q.completed;
    deliver_now(h.log_slot, *h.at, std::move(h.msg), h.in_port);
  }
}

void Fabric::deliver_now(uint32_t log_slot, NetworkNode& at, Message&& msg, int in_port) {
  log_.close(log_slot, now_ps());
  ++messages_delivered;
  bytes_delivered += msg.bytes.count();
  final_bytes_delivered += msg.bytes_for_dst();
  at.receive(std::move(msg), in_port);
}

std::vector<std::string> Fabric::unmet_faults() const {
  std::vector<std::string> out;
  const int64_t last = log_.last_delivered_ps();
  for (const FaultRecord& r : fault_log_) {
    if (r.before_run || r.at_ps <= last) continue;
    out.push_back(fmt::format(
        "network.faults.events: '{}' at {} came after the network's last delivery at {}: no "
        "traffic met it",
        r.what, Time::ps(r.at_ps).str(), Time::ps(std::max<int64_t>(last, 0)).str()));
  }
  return out;
}

}  // namespace mlasim
