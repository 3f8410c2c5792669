// Topology metrics (see metrics.h).
#include "topology/metrics.h"

#include <fmt/format.h>
#include <boost/graph/push_relabel_max_flow.hpp>

#include <chrono>
#include <cmath>

#include "sim/units.h"

namespace mlasim {
namespace {

using FlowTraits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
using FlowGraph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS, boost::no_property,
    boost::property<
        boost::edge_capacity_t, int64_t,
        boost::property<boost::edge_residual_capacity_t, int64_t,
                        boost::property<boost::edge_reverse_t, FlowTraits::edge_descriptor>>>>;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Arc a->b with capacity `cap` and its zero-capacity reverse, as push_relabel_max_flow wants
// (it tells forward from reverse arcs by capacity). A full-duplex link is two such arcs.
void add_arc(FlowGraph& f, size_t a, size_t b, int64_t cap) {
  auto capacity = boost::get(boost::edge_capacity, f);
  auto rev = boost::get(boost::edge_reverse, f);
  auto e1 = boost::add_edge(a, b, f).first;
  auto e2 = boost::add_edge(b, a, f).first;
  capacity[e1] = cap;
  capacity[e2] = 0;
  rev[e1] = e2;
  rev[e2] = e1;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? fmt::format("-{}", out) : out;
}

std::string dollars(double v) {
  if (v >= 1e6) {
    const auto cents = std::llround(v / 1e4);  // hundredths of a million
    return fmt::format("${}.{:02d}M", with_commas(cents / 100), cents % 100);
  }
  return fmt::format("${}", with_commas(std::llround(v)));
}

}  // namespace

GraphCounts count_graph(const ClusterGraph& cluster) {
  const auto& g = cluster.g;
  GraphCounts c;
  c.gpus = static_cast<int64_t>(cluster.gpus.size());
  c.nodes = cluster.nodes;
  for (auto [it, end] = boost::vertices(g); it != end; ++it) {
    if (g[*it].failed) continue;
    switch (g[*it].kind) {
      case VertexKind::Leaf:
        ++c.leaf_switches;
        break;
      case VertexKind::Spine:
        ++c.spine_switches;
        break;
      case VertexKind::Core:
        ++c.core_switches;
        break;
      default:
        break;
    }
  }
  c.fabric.switches = c.leaf_switches + c.spine_switches + c.core_switches;
  std::vector<bool> attached(boost::num_vertices(g), false);  // NICs with a fabric port
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    const Vertex sa = boost::source(*it, g), sb = boost::target(*it, g);
    const VertexKind a = g[sa].kind, b = g[sb].kind;
    if (is_network_switch(a) && is_network_switch(b)) {
      ++c.fabric.links;
    } else if (is_network_switch(a) || is_network_switch(b)) {
      ++c.fabric.endpoint_links;
      if (!attached[is_network_switch(a) ? sb : sa]) {
        attached[is_network_switch(a) ? sb : sa] = true;
        ++c.fabric.endpoints;
      }
    } else if (g[*it].kind == LinkKind::NvLink) {
      ++c.nvlink_links;
    } else if (g[*it].kind == LinkKind::Pcie) {
      ++c.pcie_links;
    }
  }
  return c;
}

std::optional<double> bisection_bandwidth(const ClusterGraph& cluster) {
  const auto& g = cluster.g;
  if (cluster.nodes < 2) return std::nullopt;
  const size_t n = boost::num_vertices(g);
  const size_t source = n, sink = n + 1;
  FlowGraph f(n + 2);
  std::vector<int64_t> incident(n, 0);
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    const auto rate = std::llround(g[*it].bandwidth.bytes_per_s());
    const size_t a = boost::source(*it, g), b = boost::target(*it, g);
    add_arc(f, a, b, rate);
    add_arc(f, b, a, rate);
    incident[a] += rate;
    incident[b] += rate;
  }
  const int32_t half = cluster.nodes / 2;
  for (Vertex v : cluster.gpus) {
    if (v == ClusterGraph::null_vertex() || incident[v] == 0) continue;
    // A GPU can inject no more than its links carry, so this stands in for infinity.
    if (g[v].node < half) {
      add_arc(f, source, v, incident[v]);
    } else if (g[v].node < 2 * half) {
      add_arc(f, v, sink, incident[v]);
    }
  }
  return static_cast<double>(boost::push_relabel_max_flow(f, source, sink));
}

Reachability check_reachability(const RoutingTables& routes, int64_t max_pairs) {
  const auto gpus = static_cast<int64_t>(routes.num_gpus());
  Reachability r;
  if (gpus < 2) return r;
  std::vector<int32_t> sources;
  if (gpus * (gpus - 1) <= max_pairs) {
    for (int32_t a = 0; a < gpus; ++a)
      sources.push_back(a);
  } else {
    // Evenly spread, with the offset inside each stride varying so that every GPU slot of a
    // node (every plane of an MPFT) is among the sources.
    const int64_t count = std::max<int64_t>(1, max_pairs / (gpus - 1));
    const int64_t stride = std::max<int64_t>(1, gpus / count);
    for (int64_t i = 0; i < count; ++i) {
      sources.push_back(static_cast<int32_t>((i * stride + i % stride) % gpus));
    }
    r.sampled = true;
  }
  std::vector<Vertex> gpu_vertex(gpus);
  for (int32_t b = 0; b < gpus; ++b)
    gpu_vertex[b] = routes.gpu_vertex(b);
  for (int32_t a : sources) {
    for (int32_t b = 0; b < gpus; ++b) {
      if (a == b) continue;
      ++r.pairs_checked;
      Vertex v = gpu_vertex[a];
      const uint64_t h = flow_hash(a, b, 0);
      int steps = 0;
      while (v != gpu_vertex[b] && v != ClusterGraph::null_vertex() && steps++ < 64) {
        v = routes.pick_ecmp(v, b, h);
      }
      if (v != gpu_vertex[b]) ++r.unreachable;
    }
  }
  return r;
}

std::optional<double> TopologyMetrics::cost_per_endpoint_usd() const {
  const int64_t endpoints = counts.fabric.endpoints;
  if (endpoints <= 0) return std::nullopt;
  return cost.total_usd() / static_cast<double>(endpoints);
}

TopologyMetrics measure_topology(const ClusterGraph& cluster, const CostParams& prices,
                                 const MetricsOptions& options) {
  TopologyMetrics m;
  m.topology = cluster.topology;
  m.planes = cluster.planes;
  m.counts = count_graph(cluster);
  m.cost = price_fabric(m.counts.fabric, prices);
  auto t0 = std::chrono::steady_clock::now();
  RoutingTables routes(cluster, options.routing);
  m.routing_wall_s = seconds_since(t0);
  m.routes = routes.fabric_stats();
  m.counts.fabric.diameter_hops = m.routes->diameter_hops;
  m.routing_table_bytes = routes.table_bytes();
  m.reachability = check_reachability(routes, options.max_pairs);
  if (options.bisection) {
    t0 = std::chrono::steady_clock::now();
    m.bisection_bytes_per_s = bisection_bandwidth(cluster);
    m.bisection_wall_s = seconds_since(t0);
  }
  return m;
}

TopologyMetrics measure_count_model(const std::string& type, const FabricCounts& counts,
                                    const CostParams& prices) {
  TopologyMetrics m;
  m.topology = type;
  m.has_graph = false;
  m.counts.fabric = counts;
  m.cost = price_fabric(counts, prices);
  return m;
}

nlohmann::ordered_json TopologyMetrics::to_json() const {
  using nlohmann::ordered_json;
  auto opt = [](const auto& o) { return o ? ordered_json(*o) : ordered_json(nullptr); };
  const FabricCounts& f = counts.fabric;
  ordered_json j;
  j["topology"] = topology;
  j["graph_built"] = has_graph;
  j["gpus"] = has_graph ? ordered_json(counts.gpus) : ordered_json(nullptr);
  j["nodes"] = has_graph ? ordered_json(counts.nodes) : ordered_json(nullptr);
  j["planes"] = planes;
  j["endpoints"] = f.endpoints;
  j["switches"] = f.switches;
  if (has_graph) {
    j["leaf_switches"] = counts.leaf_switches;
    j["spine_switches"] = counts.spine_switches;
    j["core_switches"] = counts.core_switches;
  }
  j["links"] = f.links;
  j["endpoint_links"] = f.endpoint_links;
  j["cables"] = f.cables();
  j["cables_electric"] = f.endpoint_links;
  j["cables_optical"] = f.links;
  if (has_graph) {
    j["nvlink_links"] = counts.nvlink_links;
    j["pcie_links"] = counts.pcie_links;
  }
  j["cost_usd"] = cost.total_usd();
  j["cost_switches_usd"] = cost.switches_usd;
  j["cost_cables_usd"] = cost.electric_cables_usd + cost.optical_cables_usd;
  j["cost_per_endpoint_usd"] = opt(cost_per_endpoint_usd());
  j["diameter_hops"] = f.diameter_hops >= 0 ? ordered_json(f.diameter_hops) : ordered_json(nullptr);
  const bool has_pairs = routes && routes->switch_pairs > routes->unreachable_switch_pairs;
  j["path_diversity_min"] = has_pairs ? ordered_json(routes->min_paths) : ordered_json(nullptr);
  j["path_diversity_max"] = has_pairs ? ordered_json(routes->max_paths) : ordered_json(nullptr);
  j["path_diversity_mean"] = has_pairs ? ordered_json(routes->mean_paths) : ordered_json(nullptr);
  j["bisection_bandwidth_bytes_per_s"] = opt(bisection_bytes_per_s);
  j["gpu_pairs_checked"] =
      reachability ? ordered_json(reachability->pairs_checked) : ordered_json(nullptr);
  j["unreachable_gpu_pairs"] =
      reachability ? ordered_json(reachability->unreachable) : ordered_json(nullptr);
  j["reachability_sampled"] =
      reachability ? ordered_json(reachability->sampled) : ordered_json(nullptr);
  j["unreachable_leaf_pairs"] =
      routes ? ordered_json(routes->unreachable_switch_pairs) : ordered_json(nullptr);
  j["routing_table_bytes"] = opt(routing_table_bytes);
  j["routing_wall_s"] = has_graph ? ordered_json(routing_wall_s) : ordered_json(nullptr);
  j["bisection_wall_s"] =
      bisection_bytes_per_s ? ordered_json(bisection_wall_s) : ordered_json(nullptr);
  return j;
}

std::string format_metrics_table(const nlohmann::ordered_json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  auto i64 = [&](const char* k) { return j[k].get<int64_t>(); };
  auto num = [&](const char* k) { return with_commas(i64(k)); };
  std::string topo = j["topology"].get<std::string>();
  if (has("planes") && i64("planes") > 1) topo += fmt::format(" ({} planes)", i64("planes"));
  if (!j["graph_built"].get<bool>()) topo += " (count and cost model)";
  rows.emplace_back("topology", topo);
  if (has("gpus")) rows.emplace_back("GPUs / nodes", num("gpus") + " / " + num("nodes"));
  rows.emplace_back("endpoints", num("endpoints"));
  std::string sw = num("switches");
  if (has("leaf_switches")) {
    sw += fmt::format(" ({} leaf, {} spine", num("leaf_switches"), num("spine_switches"));
    sw += i64("core_switches") > 0 ? fmt::format(", {} core)", num("core_switches")) : ")";
  }
  rows.emplace_back("switches", sw);
  rows.emplace_back("links (switch-switch)", num("links"));
  rows.emplace_back("cables", fmt::format("{} ({} electric, {} optical)", num("cables"),
                                          num("cables_electric"), num("cables_optical")));
  if (has("nvlink_links")) {
    rows.emplace_back("node links",
                      fmt::format("{} NVLink, {} PCIe", num("nvlink_links"), num("pcie_links")));
  }
  // The cluster as built, over the endpoints still working.
  rows.emplace_back("cost", fmt::format("{} ({})", dollars(j["cost_usd"].get<double>()),
                                        has("cost_per_endpoint_usd")
                                            ? dollars(j["cost_per_endpoint_usd"].get<double>()) +
                                                  " per working endpoint"
                                            : std::string("no endpoint works")));
  const bool cut = has("unreachable_leaf_pairs") && i64("unreachable_leaf_pairs") > 0;
  if (has("diameter_hops")) {
    rows.emplace_back("diameter", num("diameter_hops") + " switch-to-switch hops" +
                                      (cut ? " (between the leaves still connected)" : ""));
  } else if (cut) {
    rows.emplace_back("diameter", "none: no two leaves of a plane are connected");
  }
  if (has("path_diversity_min")) {
    rows.emplace_back("path diversity",
                      fmt::format("{} to {} up/down routes between leaves (mean {:.1f})",
                                  num("path_diversity_min"), num("path_diversity_max"),
                                  j["path_diversity_mean"].get<double>()));
  }
  auto rate = [&](const char* k) {
    return Bandwidth::bytes_per_s(j[k].get<double>()).str() + " per direction";
  };
  if (has("bisection_bandwidth_bytes_per_s")) {
    rows.emplace_back("bisection bandwidth", rate("bisection_bandwidth_bytes_per_s"));
  }
  if (has("bisection_bandwidth_healthy_bytes_per_s")) {
    rows.emplace_back("  healthy", rate("bisection_bandwidth_healthy_bytes_per_s"));
    rows.emplace_back("  lost", fmt::format("{} ({:.2f}%)", rate("bisection_lost_bytes_per_s"),
                                            100 * j["bisection_lost_fraction"].get<double>()));
  }
  if (has("gpu_pairs_checked")) {
    rows.emplace_back(
        "unreachable GPU pairs",
        fmt::format("{} of {}{}", num("unreachable_gpu_pairs"), num("gpu_pairs_checked"),
                    j["reachability_sampled"].get<bool>() ? " (sampled sources)" : ""));
  }
  if (has("unreachable_leaf_pairs"))
    rows.emplace_back("unreachable leaf pairs", num("unreachable_leaf_pairs"));
  if (has("routing_table_bytes")) {
    rows.emplace_back("routing tables", Bytes(j["routing_table_bytes"].get<uint64_t>()).str());
  }
  if (j.contains("faults") && !j["faults"].empty()) {
    std::string list;
    for (const auto& f : j["faults"])
      list += (list.empty() ? "" : "; ") + f.get<std::string>();
    rows.emplace_back("faults", list);
  }
  size_t width = 0;
  for (const auto& [k, v] : rows)
    width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : rows)
    out += fmt::format("{:<{}}  {}\n", k, width, v);
  return out;
}

}  // namespace mlasim
