// Helpers shared by the topology tests: building from params and checking a route's shape.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "topology/cluster_graph.h"

namespace mlasim::testing_util {

struct RouteShape {
  int switch_runs = 0;  // maximal stretches of network switches (fabric crossings)
  int switches = 0;     // switch vertices visited
  int nvswitches = 0;   // NVSwitch vertices visited
  int nvlink_edges = 0;
  int pcie_edges = 0;
  int ib_edges = 0;
  std::vector<Vertex> nvswitch_at;  // the NVSwitches visited
  std::vector<int> planes;          // plane of each network switch visited
};

inline RouteShape shape_of(const ClusterGraph& c, const std::vector<Vertex>& path) {
  RouteShape s;
  bool in_run = false;
  for (size_t i = 0; i < path.size(); ++i) {
    const VertexProps& p = c.g[path[i]];
    const bool sw = is_network_switch(p.kind);
    if (sw) {
      ++s.switches;
      s.planes.push_back(p.plane);
      if (!in_run) ++s.switch_runs;
    }
    in_run = sw;
    if (p.kind == VertexKind::NvSwitch) ++s.nvswitches, s.nvswitch_at.push_back(path[i]);
    if (i + 1 < path.size()) {
      auto [e, ok] = boost::edge(path[i], path[i + 1], c.g);
      if (!ok) continue;
      switch (c.g[e].kind) {
        case LinkKind::NvLink:
          ++s.nvlink_edges;
          break;
        case LinkKind::Pcie:
          ++s.pcie_edges;
          break;
        case LinkKind::InfiniBand:
          ++s.ib_edges;
          break;
      }
    }
  }
  return s;
}

// A route from GPU src to GPU dst: right ends, every step a live link, no vertex twice, and
// within each fabric crossing the switch tiers strictly rise, then strictly fall.
inline ::testing::AssertionResult is_up_down_route(const ClusterGraph& c,
                                                   const std::vector<Vertex>& path, int src,
                                                   int dst) {
  if (path.empty()) return ::testing::AssertionFailure() << "no route " << src << "->" << dst;
  if (path.front() != c.gpus[src] || path.back() != c.gpus[dst]) {
    return ::testing::AssertionFailure() << "route does not join GPU " << src << " and " << dst;
  }
  std::set<Vertex> seen;
  bool descending = false;
  int prev_tier = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    if (!seen.insert(path[i]).second) {
      return ::testing::AssertionFailure() << "loop at " << c.g[path[i]].name;
    }
    if (i + 1 < path.size() && !boost::edge(path[i], path[i + 1], c.g).second) {
      return ::testing::AssertionFailure()
             << "no link " << c.g[path[i]].name << " - " << c.g[path[i + 1]].name;
    }
    const int tier = switch_tier(c.g[path[i]].kind);
    if (tier == 0) {
      descending = false;
      prev_tier = 0;
      continue;
    }
    if (prev_tier > 0) {
      if (tier == prev_tier) return ::testing::AssertionFailure() << "lateral hop";
      if (tier < prev_tier) descending = true;
      if (tier > prev_tier && descending) {
        return ::testing::AssertionFailure() << "goes up after going down at " << c.g[path[i]].name;
      }
    }
    prev_tier = tier;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mlasim::testing_util
