// The cluster as a graph (Boost.Graph): vertices are hardware nodes (GPU, NVSwitch, NIC and
// network switches by tier), edges are full-duplex links with the same bandwidth and latency in
// each direction. Builders in topology/ produce it from config; sim/elaborate turns each vertex
// into a SystemC module and each edge into a pair of link ports. No hardware models here.
//
// Conventions every builder keeps (routing relies on them): no parallel edges, so a neighbour
// vertex names its link; network switches only link to switches one tier up or down (NICs sit
// below tier 1); a NIC has at most one switch uplink; a failed vertex stays in the graph (so
// descriptors stay valid) with `failed` set and no edges.
#pragma once

#include <boost/graph/adjacency_list.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"
#include "sim/units.h"

namespace mlasim {

enum class VertexKind : uint8_t { Gpu, NvSwitch, Nic, Leaf, Spine, Core };
enum class LinkKind : uint8_t { NvLink, Pcie, InfiniBand };

template <>
struct EnumNames<VertexKind> {
  static constexpr std::array<std::pair<VertexKind, std::string_view>, 6> values{
      {{VertexKind::Gpu, "gpu"},
       {VertexKind::NvSwitch, "nvswitch"},
       {VertexKind::Nic, "nic"},
       {VertexKind::Leaf, "leaf"},
       {VertexKind::Spine, "spine"},
       {VertexKind::Core, "core"}}};
};

template <>
struct EnumNames<LinkKind> {
  static constexpr std::array<std::pair<LinkKind, std::string_view>, 3> values{
      {{LinkKind::NvLink, "nvlink"}, {LinkKind::Pcie, "pcie"}, {LinkKind::InfiniBand, "ib"}}};
};

inline bool is_network_switch(VertexKind k) {
  return k == VertexKind::Leaf || k == VertexKind::Spine || k == VertexKind::Core;
}

// Tier in the switched fabric: 0 for node-internal vertices, 1 leaf, 2 spine, 3 core.
inline int switch_tier(VertexKind k) {
  switch (k) {
    case VertexKind::Leaf:
      return 1;
    case VertexKind::Spine:
      return 2;
    case VertexKind::Core:
      return 3;
    default:
      return 0;
  }
}

struct VertexProps {
  VertexKind kind = VertexKind::Gpu;
  int32_t node = -1;    // server index for GPU/NIC/NVSwitch, -1 for network switches
  int32_t plane = -1;   // network plane (MPFT) or rail; -1 where it does not apply
  int32_t index = 0;    // position among vertices of the same kind (GPU rank for GPUs)
  int32_t pod = -1;     // pod / group for multi-tier fabrics, -1 where it does not apply
  std::string name;     // unique, usable as a SystemC module name
  bool failed = false;  // removed by a fault (topology/faults.h): no edges left
};

struct EdgeProps {
  LinkKind kind = LinkKind::InfiniBand;
  Bandwidth bandwidth;  // per direction
  Time latency;         // propagation, per direction
};

using ClusterGraphBase =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexProps, EdgeProps>;
using Vertex = boost::graph_traits<ClusterGraphBase>::vertex_descriptor;
using Edge = boost::graph_traits<ClusterGraphBase>::edge_descriptor;

// The graph plus the lookups everyone needs.
struct ClusterGraph {
  ClusterGraphBase g;
  std::vector<Vertex> gpus;  // gpus[rank] = vertex of that GPU
  std::vector<Vertex> nics;  // nics[index] = vertex of that NIC (node-major: node * per node + i)
  int32_t nodes = 0;
  int32_t gpus_per_node = 0;
  int32_t nics_per_node = 0;
  int32_t planes = 1;  // disjoint network planes (MPFT); rails of MRFT share one fabric
  // Ports of each network switch (its radix k), cabled or not; 0 where the builder has none
  // (its cabled ports then count).
  int32_t switch_ports = 0;
  std::string topology;  // builder type that produced it, e.g. "single_switch"

  static Vertex null_vertex() { return boost::graph_traits<ClusterGraphBase>::null_vertex(); }

  Vertex add_vertex(VertexProps p) {
    Vertex v = boost::add_vertex(std::move(p), g);
    auto index = static_cast<size_t>(g[v].index);
    if (g[v].kind == VertexKind::Gpu) {
      if (gpus.size() <= index) gpus.resize(index + 1, null_vertex());
      gpus[index] = v;
    } else if (g[v].kind == VertexKind::Nic) {
      if (nics.size() <= index) nics.resize(index + 1, null_vertex());
      nics[index] = v;
    }
    return v;
  }
  Edge add_link(Vertex a, Vertex b, EdgeProps p) { return boost::add_edge(a, b, p, g).first; }
  size_t num_gpus() const { return gpus.size(); }
  size_t num_vertices() const { return boost::num_vertices(g); }

  // The NIC a GPU reaches over PCIe, or null_vertex() (none, or its link failed).
  Vertex nic_of_gpu(size_t rank) const {
    for (auto [it, end] = boost::out_edges(gpus.at(rank), g); it != end; ++it) {
      Vertex n = boost::target(*it, g);
      if (g[n].kind == VertexKind::Nic) return n;
    }
    return null_vertex();
  }

  // Vertex by name, or null_vertex(). Linear: for command-line lookups, not hot paths.
  Vertex find(std::string_view name) const {
    for (auto [it, end] = boost::vertices(g); it != end; ++it) {
      if (g[*it].name == name) return *it;
    }
    return null_vertex();
  }
};

}  // namespace mlasim
