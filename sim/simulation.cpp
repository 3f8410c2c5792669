// Elaboration and run loop (see simulation.h).
#include "sim/simulation.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <iterator>
#include <limits>

#include "models/common/event_probe.h"
#include "models/common/make_fabric.h"
#include "models/common/network_report.h"
#include "models/common/packet_fabric.h"
#include "sim/action_queue.h"
#include "sim/errors.h"
#include "sim/progress.h"
#include "sim/results.h"
#include "sim/scenario_model.h"
#include "sim/timeline.h"
#include "sim/watchdog.h"
#include "topology/faults.h"
#include "topology/metrics.h"
#include "topology/routing.h"

namespace mlasim {

namespace {

// The GPU end of its NVLink and PCIe links.
PacketNodeTraits gpu_port_traits(const GpuPortParams& p) {
  PacketNodeTraits t;
  t.pipeline = p.forward_latency;
  t.cut_through = false;
  t.buffer_per_vl = p.buffer.count();
  t.buffer_key = "network.gpu_port.buffer";
  t.message_setup = p.issue_latency;
  return t;
}

}  // namespace

struct Simulation::Impl {
  ClusterGraph cluster;
  Workload workload;  // until the GPUs take their programs
  std::vector<std::unique_ptr<MemoryModel>> memories;
  std::vector<std::unique_ptr<NetworkNode>> nodes;  // by vertex
  std::vector<GpuBase*> gpus;                       // by rank
  std::unique_ptr<RoutingTables> routing;
  std::vector<std::vector<std::pair<Vertex, int>>> ports;  // [vertex] -> (neighbour, port)
  // Network (packet or flow level); null with placeholder (message-level) links.
  std::unique_ptr<Fabric> fabric;
  CostBreakdown network_cost;
  std::unique_ptr<TimedEventProbe> probe;
  std::unique_ptr<WorkloadGenerator> generator;
  WorkloadReport workload_report;              // filled when the run has finished
  std::vector<std::string> faults_before_run;  // network.faults.{planes,switches,nics,links}
  uint64_t probe_events = 0;
  double probe_events_per_s = 0;
  // Port of vertex v towards neighbour u (ports[v] is sorted by neighbour), or -1.
  int port_to(Vertex v, Vertex u) const {
    const auto& p = ports[v];
    auto it = std::lower_bound(p.begin(), p.end(), std::make_pair(u, -1));
    return it != p.end() && it->first == u ? it->second : -1;
  }
  Time end_time() const {
    Time end;
    for (const GpuBase* g : gpus)
      end = std::max(end, g->finish_time());
    return end;
  }
};

Simulation::Simulation(const ConfigNode& root, const Components& comps, LogLevel log_level)
    : impl_(std::make_unique<Impl>()) {
  // Starved sc_start() calls are how the run loop notices the end; they are not news.
  sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_,
                                          sc_core::SC_DO_NOTHING);
  ScenarioModel m = read_scenario(root, comps);
  params_ = m.params;
  resolved_ = m.resolved;
  ctx_.seed = params_.seed;
  ctx_.log.set_level(log_level);
  Impl& s = *impl_;
  s.cluster = std::move(m.cluster);
  s.network_cost = m.network_cost;
  const RoutingParams routing_params = m.routing;
  const NetworkParams network_params = m.network;
  s.workload = std::move(m.workload);
  s.generator = std::move(m.generator);
  const ClusterGraph& c = s.cluster;
  const ConfigNode* hw = root.find("hardware");
  auto section = [&](const char* key) { return hw ? hw->find(key) : nullptr; };

  const size_t nv = boost::num_vertices(c.g);
  s.nodes.resize(nv);
  s.gpus.resize(c.num_gpus());
  for (Vertex v = 0; v < nv; ++v) {
    const VertexProps& p = c.g[v];
    if (p.kind == VertexKind::Gpu) {
      const std::string mem_name = p.name + "_memory";
      sc_core::sc_module_name scope(mem_name.c_str());
      ModuleEnv menv{scope, ctx_, p.index, nullptr};
      s.memories.push_back(comps.memory.create(section("memory"), "hardware.memory", menv).product);
    }
    sc_core::sc_module_name scope(p.name.c_str());
    ModuleEnv env{scope, ctx_, p.index, nullptr};
    switch (p.kind) {
      case VertexKind::Gpu: {
        env.memory = s.memories.back().get();
        auto gpu = comps.gpu.create(section("gpu"), "hardware.gpu", env).product;
        s.gpus[p.index] = gpu.get();
        s.nodes[v] = std::move(gpu);
        break;
      }
      case VertexKind::Nic:
        s.nodes[v] = comps.nic.create(section("nic"), "hardware.nic", env).product;
        break;
      case VertexKind::NvSwitch:
        s.nodes[v] = comps.nvswitch.create(section("nvswitch"), "hardware.nvswitch", env).product;
        break;
      case VertexKind::Leaf:
      case VertexKind::Spine:
      case VertexKind::Core:
        s.nodes[v] = comps.network_switch.create(section("switch"), "hardware.switch", env).product;
        break;
    }
    ctx_.stats.attach(&s.nodes[v]->stats());
  }

  // Network fidelity: a packet or flow fabric when every NIC/switch model supports one.
  with_key_locations(root, [&] { s.fabric = make_fabric(network_params, s.nodes, ctx_); });
  s.faults_before_run = network_params.faults.before_run_lines();
  if (s.fabric) {
    s.fabric->set_gpus_per_node(s.cluster.gpus_per_node);
    s.fabric->set_switch_ports(s.cluster.switch_ports);
    for (const std::string& what : s.faults_before_run)
      s.fabric->add_fault_before_run(what);
  }
  if (network_params.probe_events > 0) {
    s.probe = std::make_unique<TimedEventProbe>("systemc_event_probe");
    s.probe_events = network_params.probe_events;
  }
  for (Vertex v = 0; v < nv; ++v) {
    if (s.fabric) s.nodes[v]->attach_fabric(s.fabric.get());
    if (c.g[v].kind == VertexKind::Gpu) {
      s.nodes[v]->set_endpoint(c.g[v].index, gpu_port_traits(network_params.gpu_port));
    }
  }

  // Links: one output port per edge end, then connect the two ends.
  s.ports.resize(nv);
  for (auto e : boost::make_iterator_range(boost::edges(c.g))) {
    const Vertex a = boost::source(e, c.g), b = boost::target(e, c.g);
    const EdgeProps& ep = c.g[e];
    LinkTiming spec{ep.bandwidth, ep.latency, std::string(enum_name(ep.kind)), "", -1};
    // A plane holds its InfiniBand links; PCIe and NVLink (a GPU takes its NIC's plane) none.
    if (ep.kind == LinkKind::InfiniBand)
      spec.plane = c.g[a].plane >= 0 ? c.g[a].plane : c.g[b].plane;
    LinkTiming back = spec;
    spec.tier = fmt::format("{}->{}", enum_name(c.g[a].kind), enum_name(c.g[b].kind));
    back.tier = fmt::format("{}->{}", enum_name(c.g[b].kind), enum_name(c.g[a].kind));
    const int pa = s.nodes[a]->add_port(spec, c.g[b].name);
    const int pb = s.nodes[b]->add_port(back, c.g[a].name);
    s.nodes[a]->connect(pa, s.nodes[b].get(), pb);
    s.nodes[b]->connect(pb, s.nodes[a].get(), pa);
    s.ports[a].emplace_back(b, pa);
    s.ports[b].emplace_back(a, pb);
  }

  for (auto& p : s.ports)
    std::sort(p.begin(), p.end());
  if (s.fabric) with_key_locations(root, [&] { s.fabric->finalize(); });
  std::vector<std::string> warnings = scenario_warnings(
      m, c, s.workload, s.fabric ? s.fabric->fidelity_name() : "message",
      s.fabric && s.fabric->packets_from_nics() ? std::optional(s.fabric->mtu()) : std::nullopt);
  if (s.generator) std::ranges::copy(s.generator->setting_warnings(), std::back_inserter(warnings));
  for (const std::string& w : warnings)
    ctx_.log.warn("{}", w);
  s.routing = std::make_unique<RoutingTables>(c, routing_params);
  // Adaptive routing decides per packet (packet fabric) or per flow as it starts (flow fabric).
  const bool adaptive = routing_params.mode == RoutingMode::Adaptive && s.fabric != nullptr;
  if (s.fabric) s.fabric->set_adaptive_routing(adaptive);
  for (Vertex v = 0; v < nv; ++v) {
    Impl* impl = impl_.get();
    s.nodes[v]->set_router(
        [impl, v, adaptive](const NetworkNode& at, int32_t dst, uint64_t hash) -> int {
          if (dst < 0 || static_cast<size_t>(dst) >= impl->gpus.size()) return -1;
          Vertex next;
          if (adaptive) {
            next = impl->routing->pick_least_loaded(v, dst, hash, [&](Vertex, Vertex hop) {
              return impl->fabric->port_load(at, impl->port_to(v, hop), dst);
            });
          } else {
            next = impl->routing->pick_ecmp(v, dst, hash);
          }
          if (next == ClusterGraph::null_vertex()) return -1;
          return impl->port_to(v, next);
        });
  }

  if (s.fabric) {
    std::vector<Vertex> vertex_of(s.fabric->num_nodes(), ClusterGraph::null_vertex());
    for (Vertex v = 0; v < nv; ++v) {
      const uint32_t i = s.nodes[v]->fabric_index;
      if (i < vertex_of.size()) vertex_of[i] = v;
    }
    Impl* impl = impl_.get();
    s.fabric->set_single_hop_test(
        [impl, vertex_of = std::move(vertex_of)](uint32_t node, int32_t dst) {
          if (node >= vertex_of.size() || vertex_of[node] == ClusterGraph::null_vertex())
            return false;
          if (dst < 0 || static_cast<size_t>(dst) >= impl->gpus.size()) return false;
          return impl->routing->next_hops(vertex_of[node], dst).size() == 1;
        });
  }
  if (!network_params.faults.events.empty())
    with_key_locations(root, [&] { schedule_faults(network_params, routing_params); });

  // The GPUs own the op graphs from here on (one copy: at 2,048 GPUs they take gigabytes).
  for (size_t r = 0; r < s.gpus.size(); ++r)
    s.gpus[r]->load_program(std::move(s.workload.ranks[r]));
  s.workload = Workload{};
}

void Simulation::schedule_faults(const NetworkParams& network, const RoutingParams& routing) {
  Impl& s = *impl_;
  const auto& events = network.faults.events;
  if (!s.fabric) {
    throw InputError(
        "network.faults.events: faults at a simulated time need network.fidelity packet");
  }
  const ClusterGraph& c = s.cluster;
  for (const FaultEventParams& e : events) {
    Fabric::FaultAction a;
    a.at_ps = e.at.ps();
    a.bandwidth_factor = e.bandwidth_factor;
    auto both_ways = [&](Vertex v, Vertex u) {
      const int pv = s.port_to(v, u), pu = s.port_to(u, v);
      if (pv >= 0) a.links.push_back(s.fabric->link_of(s.nodes[v]->fabric_index, pv));
      if (pu >= 0) a.links.push_back(s.fabric->link_of(s.nodes[u]->fabric_index, pu));
    };
    auto whole = [&](Vertex v) {
      a.nodes.push_back(s.nodes[v]->fabric_index);
      for (const auto& [u, port] : s.ports[v])
        both_ways(v, u);
    };
    if (!e.link.empty()) {
      const size_t colon = e.link.find(':');
      both_ways(c.find(e.link.substr(0, colon)), c.find(e.link.substr(colon + 1)));
      a.what = e.degrades()
                   ? fmt::format("link {} at {:.3g} of its rate", e.link, e.bandwidth_factor)
                   : fmt::format("link {} down", e.link);
    } else if (!e.switch_name.empty()) {
      whole(c.find(e.switch_name));
      a.what = fmt::format("switch {} down", e.switch_name);
    } else if (!e.nic.empty()) {
      whole(c.find(e.nic));
      a.what = fmt::format("NIC {} down", e.nic);
    } else {
      for (Vertex v = 0; v < boost::num_vertices(c.g); ++v) {
        const VertexProps& p = c.g[v];
        if (p.plane == e.plane && (is_network_switch(p.kind) || p.kind == VertexKind::Nic) &&
            !p.failed) {
          whole(v);
        }
      }
      a.what = fmt::format("plane {} down", e.plane);
    }
    s.fabric->add_fault(std::move(a));
  }
  // Routes without every failure detected by now (a fault counts detection_delay after it).
  Impl* impl = impl_.get();
  s.fabric->set_reroute_hook(
      [impl, routing, events, delay = network.faults.detection_delay](size_t) {
        ClusterGraph g = impl->cluster;
        const Time now = sim_now();
        for (const FaultEventParams& e : events) {
          if (!e.degrades() && e.at + delay <= now) apply_faults(g, fault_spec(e), true);
        }
        impl->routing = std::make_unique<RoutingTables>(g, routing);
      });
}

Simulation::~Simulation() = default;

size_t Simulation::num_gpus() const {
  return impl_->gpus.size();
}

void Simulation::run(const RunControl& control) {
  // A model that finds the run cannot go on (no route to a destination) throws
  // SimulationError from inside the kernel; the diagnosis is added to its message.
  const auto t0 = std::chrono::steady_clock::now();
  Time covered;
  try {
    covered = run_slices(control);
  } catch (const SimulationError& e) {
    wall_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    throw SimulationError(fmt::format("{} at {}{}", e.what(), sim_now().str(), diagnose_stall()));
  }
  const bool all_done = std::all_of(impl_->gpus.begin(), impl_->gpus.end(),
                                    [](const GpuBase* g) { return g->finished(); });
  if (all_done) {
    if (impl_->probe) impl_->probe_events_per_s = impl_->probe->measure(impl_->probe_events);
    impl_->workload_report = impl_->generator->report(workload_run());
    for (const std::string& w : impl_->workload_report.warnings)
      ctx_.log.warn("{}", w);
    if (const Fabric* f = impl_->fabric.get()) {
      for (const std::string& w : f->unmet_faults())
        ctx_.log.warn("{}", w);
    }
    return;
  }
  size_t unfinished = 0;
  for (const GpuBase* g : impl_->gpus) {
    for (size_t i = 0; i < g->program().ops.size(); ++i)
      unfinished += g->op_done(i) ? 0 : 1;
  }
  // With faults at a simulated time, their events keep the run going after the last thing
  // that moved: the diagnosis is at the last op done or message delivered (or given up), and a
  // run left with nothing but faults and no compute did not stop for the time limit.
  const Fabric* fabric = impl_->fabric.get();
  const bool faults_alone = fabric != nullptr && fabric->only_faults_pending() &&
                            std::none_of(impl_->gpus.begin(), impl_->gpus.end(),
                                         [](const GpuBase* g) { return g->computing(); });
  Time at = sim_now();
  if (fabric != nullptr && fabric->has_timed_faults()) {
    at = Time::ps(std::max<int64_t>(fabric->last_outcome_ps, 0));
    for (const GpuBase* g : impl_->gpus)
      at = std::max(at, g->finish_time());
  }
  if (covered >= params_.sim.max_time && !faults_alone) {
    throw SimulationError(
        fmt::format("simulated-time limit sim.max_time = {} reached with {} ops unfinished (raise "
                    "sim.max_time if the run is merely long):{}",
                    params_.sim.max_time.str(), unfinished, diagnose_stall()));
  }
  // Messages the network gave up on are the cause, not a deadlock of the op graphs: the first
  // line says so.
  if (fabric != nullptr && fabric->messages_failed > 0) {
    throw SimulationError(
        fmt::format("{} after a fault; at {} nothing is left to happen but {} ops unfinished:{}",
                    fabric->failed_messages_cause(), at.str(), unfinished, diagnose_stall()));
  }
  throw SimulationError(fmt::format(
      "no progress possible at {}: nothing left to happen but {} ops unfinished (deadlock):{}",
      at.str(), unfinished, diagnose_stall()));
}

Time Simulation::run_slices(const RunControl& control) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  for (GpuBase* g : impl_->gpus)
    g->start();
  // Run in slices so the progress bar and the time limit get a look-in; slices adapt so that
  // each takes a fraction of the progress interval in wall time.
  const Time limit = params_.sim.max_time;
  int64_t slice_ps = 1'000'000;  // 1 us
  auto last_print = t0;
  bool printed = false;
  start_kernel(ctx_, sc_core::SC_ZERO_TIME, sc_core::SC_RUN_TO_TIME);
  // `covered`: simulated time up to which everything has run. When the next event lies beyond
  // a slice, SystemC stops at the last event, so sim_now() alone would lag behind.
  Time covered = sim_now();
  while (sc_core::sc_pending_activity() && covered < limit) {
    const auto s0 = Clock::now();
    const Time target = covered + Time::ps(std::min<int64_t>(slice_ps, (limit - covered).ps()));
    start_kernel(ctx_,
                 sc_core::sc_time(static_cast<double>((target - sim_now()).ps()), sc_core::SC_PS),
                 sc_core::SC_EXIT_ON_STARVATION);
    covered = target;
    const double slice_wall = std::chrono::duration<double>(Clock::now() - s0).count();
    if (slice_wall < 0.02 && slice_ps < (int64_t{1} << 50)) slice_ps *= 2;
    if (slice_wall > 0.2 && slice_ps > 1000) slice_ps /= 2;
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    if (control.progress && elapsed > 2.0 &&
        std::chrono::duration<double>(now - last_print).count() >=
            params_.sim.progress_interval_s) {
      last_print = now;
      printed = true;
      ProgressFigures f{.simulated = sim_now(), .wall_s = elapsed};
      for (const GpuBase* g : impl_->gpus) {
        f.ops_done += g->ops_completed();
        f.ops_total += g->program().ops.size();
      }
      fmt::print(stderr, "\r{}", format_progress(f));
    }
  }
  if (printed) fmt::print(stderr, "\n");
  wall_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  return covered;
}

std::string Simulation::diagnose_stall() const {
  // Which ops wait on what: the GPUs' own account, made precise from the op graphs where they
  // can be (named dependencies, the peer's matching send), a wait-for cycle if there is one,
  // then the network's (packets in flight, links out of credits).
  // The op graphs, as the GPUs hold them.
  Workload workload;
  for (const GpuBase* g : impl_->gpus) {
    const auto r = static_cast<size_t>(g->rank());
    if (workload.ranks.size() <= r) workload.ranks.resize(r + 1);
    workload.ranks[r] = g->program();
  }
  const size_t ranks = workload.ranks.size();
  std::vector<std::vector<bool>> done(ranks), started(ranks);
  std::vector<std::vector<int64_t>> ahead(ranks);
  for (const GpuBase* g : impl_->gpus) {
    const size_t n = g->program().ops.size();
    auto& d = done[g->rank()];
    d.resize(n);
    started[g->rank()].resize(n);
    ahead[g->rank()].assign(n, -1);
    for (size_t i = 0; i < n; ++i) {
      d[i] = g->op_done(i);
      started[g->rank()][i] = g->op_started(i);
      if (auto a = g->stream_ahead(static_cast<uint32_t>(i))) ahead[g->rank()][i] = *a;
    }
  }
  const StallAnalysis analysis(workload, done, started, ahead);
  std::vector<std::string> lines;
  if (auto cycle = analysis.find_cycle(); !cycle.empty()) {
    lines.push_back(analysis.cycle_line(cycle));
  }
  constexpr size_t kMaxOpLines = 12;
  size_t op_lines = 0, more = 0;
  for (const GpuBase* g : impl_->gpus) {
    const std::vector<std::string> own = g->describe_pending();  // one per unfinished op
    size_t k = 0;
    for (uint32_t i = 0; i < done[g->rank()].size(); ++i) {
      if (done[g->rank()][i]) continue;
      const std::string& gpu_line = k < own.size() ? own[k] : std::string();
      ++k;
      if (op_lines == kMaxOpLines) {
        ++more;
        continue;
      }
      ++op_lines;
      const OpRef ref{g->rank(), i};
      if (auto what = analysis.waits_for(ref)) {
        lines.push_back(
            fmt::format("{} on {} waits for {}", analysis.label(ref), g->name(), *what));
      } else {
        lines.push_back(fmt::format("rank {} {}", g->rank(), gpu_line));
      }
    }
  }
  if (more > 0) lines.push_back(fmt::format("... and {} more unfinished ops", more));
  if (impl_->fabric) {
    for (auto& l : impl_->fabric->describe_in_flight())
      lines.push_back("network: " + l);
  }
  std::string out;
  for (const auto& l : lines)
    out += "\n  " + l;
  return out;
}

nlohmann::ordered_json Simulation::summary() const {
  const auto& gpus = impl_->gpus;
  nlohmann::ordered_json j;
  j["scenario"] = params_.name;
  j["seed"] = params_.seed;
  Time end;
  uint64_t busy_min = std::numeric_limits<uint64_t>::max(), busy_max = 0, busy_sum = 0;
  uint64_t net_bytes = 0, recv_bytes = 0;
  for (const GpuBase* g : gpus) {
    end = std::max(end, g->finish_time());
    busy_min = std::min(busy_min, g->busy_ps());
    busy_max = std::max(busy_max, g->busy_ps());
    busy_sum += g->busy_ps();
    recv_bytes += g->bytes_received();
  }
  for (const auto& n : impl_->nodes) {
    if (n) net_bytes += n->bytes_sent();
  }
  const double n = gpus.empty() ? 1.0 : static_cast<double>(gpus.size());
  j["sim_time_us"] = end.to_us();
  j["sim_events"] = ctx_.events;
  j["sim_wall_s"] = wall_s_;
  j["sim_events_per_wall_s"] = wall_s_ > 0 ? static_cast<double>(ctx_.events) / wall_s_ : 0.0;
  j["gpu_count"] = gpus.size();
  j["node_count"] = impl_->cluster.nodes;
  j["gpu_busy_min_us"] = gpus.empty() ? 0.0 : static_cast<double>(busy_min) * 1e-6;
  j["gpu_busy_mean_us"] = static_cast<double>(busy_sum) * 1e-6 / n;
  j["gpu_busy_max_us"] = static_cast<double>(busy_max) * 1e-6;
  j["gpu_busy_mean_fraction"] =
      end.ps() > 0 ? static_cast<double>(busy_sum) / n / static_cast<double>(end.ps()) : 0.0;
  j["received_message_bytes"] = recv_bytes;
  j["link_bytes"] = net_bytes;
  // HBM traffic per GPU, from the memory models' byte counters.
  double hbm_read = 0, hbm_written = 0;
  for (const auto& mem : impl_->memories) {
    hbm_read += mem->stats().lookup("bytes_read");
    hbm_written += mem->stats().lookup("bytes_written");
  }
  if (!impl_->memories.empty() && std::isfinite(hbm_read) && std::isfinite(hbm_written)) {
    const auto mems = static_cast<double>(impl_->memories.size());
    j["hbm_read_mean_bytes"] = hbm_read / mems;
    j["hbm_written_mean_bytes"] = hbm_written / mems;
  }
  // Network price (switches and cables; GPUs, NICs and NVSwitches left out), for trade-offs.
  j["network_cost_usd"] = impl_->network_cost.total_usd();
  j["network_cost_per_gpu_usd"] = impl_->network_cost.total_usd() / n;
  // Per-GPU figures are listed here for small clusters; stats.json always has all of them.
  if (gpus.size() <= 64) {
    for (const GpuBase* g : gpus) {
      j[fmt::format("gpu{}_busy_us", g->rank())] = static_cast<double>(g->busy_ps()) * 1e-6;
    }
  }
  if (impl_->fabric) {
    add_network_summary(*impl_->fabric, end, j);
    j["packet_hops_per_wall_s"] =
        wall_s_ > 0 ? static_cast<double>(impl_->fabric->packet_hops) / wall_s_ : 0.0;
  } else {
    j["network_fidelity"] = "message";
    // No fabric to log them: the count at least (timed faults need one, so these are all).
    if (!impl_->faults_before_run.empty()) {
      j["fault_count"] = impl_->faults_before_run.size();
      j["fault_before_run_count"] = impl_->faults_before_run.size();
    }
  }
  if (impl_->probe) {
    j["systemc_timed_events_per_wall_s"] = impl_->probe_events_per_s;
    j["systemc_timed_events_per_cpu_s"] = impl_->probe->per_cpu_s();
  }
  for (const auto& [k, v] : impl_->workload_report.summary.items())
    j[k] = v;
  return j;
}

Fabric* Simulation::fabric() const {
  return impl_->fabric.get();
}

void Simulation::write_extra_results(const std::filesystem::path& dir) const {
  if (impl_->fabric) write_network_results(*impl_->fabric, impl_->end_time(), dir);
  for (const auto& [name, content] : impl_->workload_report.files)
    write_file_atomic(dir / name, content);
}

WorkloadRun Simulation::workload_run() const {
  const Impl& s = *impl_;
  WorkloadRun run;
  run.cluster = ClusterShape{s.cluster.nodes, s.cluster.gpus_per_node};
  for (const GpuBase* g : s.gpus) {
    run.finish.push_back(g->finish_time());
    run.busy_ps.push_back(g->busy_ps());
  }
  run.memory_capacity = s.memories.empty() ? Bytes(0) : s.memories.front()->capacity();
  const std::vector<GpuBase*>* gpus = &s.gpus;
  run.spans = [gpus](int rank) {
    std::vector<OpSpan> out;
    const GpuBase& g = *(*gpus)[static_cast<size_t>(rank)];
    for (const TimelineEvent& e : g.timeline())
      out.push_back(OpSpan{&g.program().ops[e.op].name, e.thread == 0, e.start, e.end});
    return out;
  };
  return run;
}

nlohmann::ordered_json Simulation::timeline() const {
  return chrome_timeline(impl_->gpus, impl_->fabric.get());
}

std::string Simulation::timeline_text() const {
  return chrome_timeline_text(impl_->gpus, impl_->fabric.get());
}

void Simulation::write_timeline(const std::function<void(std::string_view)>& put) const {
  write_chrome_timeline(impl_->gpus, impl_->fabric.get(), put);
}

}  // namespace mlasim
