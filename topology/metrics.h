// Figures of merit of a cluster topology: counts (endpoints, switches, switch-to-switch links,
// cables by class), cost from unit prices, diameter and path diversity of the routes,
// bisection bandwidth, and reachability of GPU pairs (after faults).
//
// Bisection bandwidth here is the maximum flow, per direction, from the GPUs of the first half
// of the nodes (by index) to those of the second half, with every link at its line rate and
// NVLink/PCIe included (so a failed plane's share can detour through other planes). Builders
// number nodes so that this cut is the worst balanced one for a fat-tree; for other fabrics it
// is one balanced cut, not the minimum over all of them. Reachability walks the ECMP route of
// every ordered GPU pair, or of a fixed sample of sources when there are too many pairs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "topology/cluster_builder.h"
#include "topology/cluster_graph.h"
#include "topology/routing.h"

namespace mlasim {

// Counts read off the graph (failed vertices and their links excluded).
struct GraphCounts {
  FabricCounts fabric;  // diameter_hops left at -1: routing knows it
  int64_t gpus = 0;
  int64_t nodes = 0;
  int64_t leaf_switches = 0;
  int64_t spine_switches = 0;
  int64_t core_switches = 0;
  int64_t nvlink_links = 0;
  int64_t pcie_links = 0;
};
GraphCounts count_graph(const ClusterGraph& cluster);

// Max-flow bisection as described above, in bytes/s per direction; nullopt for < 2 nodes.
std::optional<double> bisection_bandwidth(const ClusterGraph& cluster);

struct Reachability {
  int64_t pairs_checked = 0;
  int64_t unreachable = 0;
  bool sampled = false;  // true when only a sample of sources was walked
};
// Walks ordered GPU pairs; all of them when there are at most `max_pairs`, else every
// destination from an evenly spread sample of about max_pairs / gpus sources.
Reachability check_reachability(const RoutingTables& routes, int64_t max_pairs);

struct MetricsOptions {
  RoutingParams routing;
  bool bisection = true;
  int64_t max_pairs = int64_t{1} << 22;
};

struct TopologyMetrics {
  std::string topology;
  bool has_graph = true;
  int64_t planes = 1;
  GraphCounts counts;
  CostBreakdown cost;
  std::optional<FabricRouteStats> routes;
  std::optional<double> bisection_bytes_per_s;
  std::optional<Reachability> reachability;
  std::optional<size_t> routing_table_bytes;
  double routing_wall_s = 0;  // wall-clock seconds building the routing tables
  double bisection_wall_s = 0;

  // The cost of the cluster as built over the endpoints still working; none without any.
  std::optional<double> cost_per_endpoint_usd() const;
  // Flat snake_case keys with units in their names; absent figures are null.
  nlohmann::ordered_json to_json() const;
};

// Everything above for a built graph (routes are built here with options.routing).
TopologyMetrics measure_topology(const ClusterGraph& cluster, const CostParams& prices,
                                 const MetricsOptions& options);
// Counts and cost for a count-only model (Slim Fly, Dragonfly).
TopologyMetrics measure_count_model(const std::string& type, const FabricCounts& counts,
                                    const CostParams& prices);

// The metrics as a two-column text table (label, value with units).
std::string format_metrics_table(const nlohmann::ordered_json& metrics);

}  // namespace mlasim
