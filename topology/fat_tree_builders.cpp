// The fat-tree builders (see fat_tree_builders.h).
#include "topology/fat_tree_builders.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "topology/node_builder.h"

namespace mlasim {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// validate() has bounded the fabric to kMaxClusterGpus GPUs, so the count fits 32 bits.
int32_t nodes_or_max(int32_t nodes, int64_t max_nodes) {
  return nodes > 0 ? nodes : static_cast<int32_t>(max_nodes);
}

NodeShape shape_of(const NodeParams& n) {
  return {n.gpus_per_node, n.nics_per_node, n.nvswitch};
}

ClusterGraph empty_cluster(const char* topology, int32_t nodes, const NodeParams& n, int32_t planes,
                           int32_t k) {
  ClusterGraph c;
  c.topology = topology;
  c.switch_ports = k;
  c.nodes = nodes;
  c.gpus_per_node = n.gpus_per_node;
  c.nics_per_node = n.nics_per_node;
  c.planes = planes;
  return c;
}

std::vector<Vertex> add_switches(ClusterGraph& c, VertexKind kind, int32_t count, int32_t plane,
                                 int32_t pod, int32_t first_index, const std::string& prefix) {
  std::vector<Vertex> out;
  out.reserve(count);
  const char* what = kind == VertexKind::Leaf    ? "leaf"
                     : kind == VertexKind::Spine ? "spine"
                                                 : "core";
  for (int32_t i = 0; i < count; ++i) {
    out.push_back(c.add_vertex({VertexKind(kind), -1, plane, first_index + i, pod,
                                fmt::format("{}{}{}", prefix, what, i)}));
  }
  return out;
}

void connect_all(ClusterGraph& c, const std::vector<Vertex>& lower,
                 const std::vector<Vertex>& upper, const LinkSpec& spec) {
  for (Vertex a : lower) {
    for (Vertex b : upper)
      c.add_link(a, b, link_props(LinkKind::InfiniBand, spec));
  }
}

// Spines of a two-tier fabric (or plane, or rail group) with `leaves` leaves: a single leaf
// switches everything itself, so spines there would carry nothing and only add cost.
int32_t spines_for(int64_t leaves, int32_t up_ports) {
  return leaves > 1 ? up_ports : 0;
}

}  // namespace

LeafPorts split_leaf_ports(int32_t k, double oversubscription) {
  if (!(oversubscription > 0)) return {0, k};  // rejected by validate()
  const auto down =
      static_cast<int32_t>(std::lround(k * oversubscription / (oversubscription + 1)));
  return {down, k - down};
}

void FatTreeCommon::validate_common(const ParamCheck& c) const {
  c.require(k >= 2 && k % 2 == 0 && k <= kMaxSwitchRadix, "k",
            fmt::format("must be an even number between 2 and {}", kMaxSwitchRadix));
  c.require(nodes >= 0, "nodes", "must be >= 0");
  node.validate(c);
}

void Ft2Params::validate_two_tier(const ParamCheck& c, int64_t max) const {
  validate_common(c);
  c.require(oversubscription > 0, "oversubscription", "must be > 0");
  const LeafPorts ports = split_leaf_ports(k, oversubscription);
  c.require(ports.down >= 1 && ports.up >= 1, "oversubscription",
            fmt::format("leaves a k={} switch without down or up ports", k));
  c.require(max >= 1, "k", "the fabric cannot hold one node");
  c.require(nodes <= max, "nodes",
            fmt::format("at most {} nodes fit this fabric (k={}, {} NICs per node)", max, k,
                        node.nics_per_node));
}

void Ft2Params::validate(const ParamCheck& c) const {
  validate_two_tier(c, max_nodes());
  check_fabric_size(c, size(), nodes == 0);
}

// Each spine has k ports, so at most k leaves of `down` NICs each.
int64_t Ft2Params::max_nodes() const {
  if (node.nics_per_node < 1) return 0;  // validate() reports it
  return int64_t{k} * split_leaf_ports(k, oversubscription).down / node.nics_per_node;
}

// The counts build() makes (the same formulas).
FabricSize Ft2Params::size() const {
  FabricSize s;
  s.nodes = nodes > 0 ? nodes : max_nodes();
  s.gpus = s.nodes * node.gpus_per_node;
  const LeafPorts ports = split_leaf_ports(k, oversubscription);
  const int64_t leaves = ceil_div(s.nodes * node.nics_per_node, ports.down);
  const int64_t spines = spines_for(leaves, ports.up);
  s.switches = leaves + spines;
  s.links = leaves * spines;
  return s;
}

void MpftParams::validate(const ParamCheck& c) const {
  c.require(nic_planes >= 1 && planes % nic_planes == 0, "nic_planes",
            "must be >= 1 and divide planes");
  const int32_t groups = nic_planes >= 1 && planes % nic_planes == 0 ? planes / nic_planes : 1;
  c.require(planes >= 1 && node.nics_per_node % groups == 0, "planes",
            nic_planes > 1 ? "divided by nic_planes must divide nics_per_node"
                           : "must be >= 1 and divide nics_per_node");
  validate_two_tier(c, max_nodes());
  check_fabric_size(c, size(), nodes == 0);
  // A leaf port splits into at most 16 (a NIC port per plane group member), and the NIC ports
  // are as bounded as the switch-to-switch links.
  c.require(nic_planes <= 16, "nic_planes", "must be at most 16 (ports per NIC)");
  const int64_t nic_ports = size().nodes * node.nics_per_node * std::max(nic_planes, 1);
  c.require(nic_ports <= kMaxClusterSwitchLinks, "nic_planes",
            fmt::format("{} NIC ports (nodes x nics_per_node x nic_planes), more than the {} "
                        "(2^20) a cluster may have",
                        nic_ports, kMaxClusterSwitchLinks));
}

int64_t MpftParams::max_nodes() const {
  if (planes < 1 || node.nics_per_node < planes / std::max(nic_planes, 1)) return 0;
  // A multi-plane NIC's ports are 1/nic_planes of a leaf port each: nics_per_node x nic_planes /
  // planes of them per node and plane, as many leaf ports as nics_per_node / planes.
  return int64_t{k} * split_leaf_ports(k, oversubscription).down * planes / node.nics_per_node;
}

FabricSize MpftParams::size() const {
  FabricSize s;
  s.nodes = nodes > 0 ? nodes : max_nodes();
  s.gpus = s.nodes * node.gpus_per_node;
  const LeafPorts ports = split_leaf_ports(k, oversubscription);
  const int64_t leaves = ceil_div(s.nodes * node.nics_per_node, int64_t{ports.down} * planes);
  const int64_t spines = spines_for(leaves, ports.up);
  s.switches = planes * (leaves + spines);
  s.links = planes * leaves * spines;
  return s;
}

void MrftParams::validate(const ParamCheck& c) const {
  c.require(node.nics_per_node <= k, "nics_per_node", "more rails than a spine has ports");
  validate_two_tier(c, max_nodes());
  check_fabric_size(c, size(), nodes == 0);
}

// A rail gets k / rails leaves (spines have k ports); each node has one NIC per rail.
int64_t MrftParams::max_nodes() const {
  if (node.nics_per_node < 1) return 0;
  return int64_t{k / node.nics_per_node} * split_leaf_ports(k, oversubscription).down;
}

FabricSize MrftParams::size() const {
  FabricSize s;
  s.nodes = nodes > 0 ? nodes : max_nodes();
  s.gpus = s.nodes * node.gpus_per_node;
  const LeafPorts ports = split_leaf_ports(k, oversubscription);
  const int64_t leaves = node.nics_per_node * ceil_div(s.nodes, ports.down);
  const int64_t spines = spines_for(leaves, ports.up);
  s.switches = leaves + spines;
  s.links = leaves * spines;
  return s;
}

void Ft3Params::validate(const ParamCheck& c) const {
  validate_common(c);
  c.require(max_nodes() >= 1, "k", "the fabric cannot hold one node");
  c.require(nodes <= max_nodes(), "nodes",
            fmt::format("at most {} nodes fit this fabric (k={})", max_nodes(), k));
  check_fabric_size(c, size(), nodes == 0);
}

int64_t Ft3Params::max_nodes() const {
  if (node.nics_per_node < 1) return 0;
  const int64_t half = k / 2;
  return k * half * half / node.nics_per_node;
}

// What carries traffic, as in the two-tier fabrics: the leaves the NICs need, k/2 spines per pod
// once there are two leaves, and the (k/2)^2 cores once there are two pods.
Ft3Params::Shape Ft3Params::shape(int64_t node_count) const {
  Shape s;
  const int64_t half = k / 2;
  s.leaves = ceil_div(node_count * node.nics_per_node, half);
  s.pods = ceil_div(s.leaves, half);
  s.spines_per_pod = s.leaves > 1 ? half : 0;
  s.cores = s.pods > 1 ? half * half : 0;
  return s;
}

FabricSize Ft3Params::size() const {
  FabricSize s;
  s.nodes = nodes > 0 ? nodes : max_nodes();
  s.gpus = s.nodes * node.gpus_per_node;
  const Shape f = shape(s.nodes);
  const int64_t half = k / 2;
  s.switches = f.leaves + f.pods * f.spines_per_pod + f.cores;
  s.links = f.leaves * f.spines_per_pod + (f.cores > 0 ? f.pods * half * half : 0);
  return s;
}

ClusterGraph Ft2Builder::build() const {
  const int32_t nodes = nodes_or_max(p_.nodes, p_.max_nodes());
  const LeafPorts ports = split_leaf_ports(p_.k, p_.oversubscription);
  ClusterGraph c = empty_cluster("ft2", nodes, p_.node, 1, p_.k);
  const auto leaves =
      static_cast<int32_t>(ceil_div(int64_t{nodes} * p_.node.nics_per_node, ports.down));
  auto leaf = add_switches(c, VertexKind::Leaf, leaves, -1, -1, 0, "");
  auto spine = add_switches(c, VertexKind::Spine, spines_for(leaves, ports.up), -1, -1, 0, "");
  connect_all(c, leaf, spine, p_.links.ib_fabric);
  for (int32_t n = 0; n < nodes; ++n) {
    NodeVertices nv = add_node(c, n, shape_of(p_.node), p_.links.nvlink, p_.links.pcie,
                               [](int32_t) { return -1; });
    for (int32_t i = 0; i < p_.node.nics_per_node; ++i) {
      const int64_t nic = int64_t{n} * p_.node.nics_per_node + i;
      c.add_link(nv.nics[i], leaf[nic / ports.down], link_props(LinkKind::InfiniBand, p_.links.ib));
    }
  }
  return c;
}

ClusterGraph MpftBuilder::build() const {
  const int32_t nodes = nodes_or_max(p_.nodes, p_.max_nodes());
  const LeafPorts ports = split_leaf_ports(p_.k, p_.oversubscription);
  const int32_t np = p_.nic_planes;
  const int32_t groups = p_.planes / np;                    // NIC i is in plane group i mod groups
  const int32_t per_node = p_.node.nics_per_node / groups;  // NIC ports of a node on one plane
  // A leaf's down ports, split np ways for multi-plane NICs' ports of 1/np the rate.
  const int64_t leaf_down = int64_t{ports.down} * np;
  const auto leaves = static_cast<int32_t>(ceil_div(int64_t{nodes} * per_node, leaf_down));
  ClusterGraph c = empty_cluster("mpft", nodes, p_.node, p_.planes, p_.k);
  std::vector<std::vector<Vertex>> leaf(p_.planes);
  for (int32_t p = 0; p < p_.planes; ++p) {
    const std::string prefix = fmt::format("p{}_", p);
    leaf[p] = add_switches(c, VertexKind::Leaf, leaves, p, -1, p * leaves, prefix);
    const int32_t spines = spines_for(leaves, ports.up);
    auto spine = add_switches(c, VertexKind::Spine, spines, p, -1, p * spines, prefix);
    connect_all(c, leaf[p], spine, p_.links.ib_fabric);
  }
  const int32_t planes = p_.planes;
  LinkSpec port = p_.links.ib;
  port.bandwidth = Bandwidth::bytes_per_s(port.bandwidth.bytes_per_s() / np);
  for (int32_t n = 0; n < nodes; ++n) {
    NodeVertices nv =
        add_node(c, n, shape_of(p_.node), p_.links.nvlink, p_.links.pcie,
                 [planes, np](int32_t i) { return np > 1 ? -1 : i % planes; });  // -1: several
    for (int32_t i = 0; i < p_.node.nics_per_node; ++i) {
      const int64_t slot = int64_t{n} * per_node + i / groups;  // position within each plane
      for (int32_t j = 0; j < np; ++j) {
        const int32_t plane = (i % groups) * np + j;
        c.add_link(nv.nics[i], leaf[plane][slot / leaf_down],
                   link_props(LinkKind::InfiniBand, port));
      }
    }
  }
  return c;
}

ClusterGraph MrftBuilder::build() const {
  const int32_t nodes = nodes_or_max(p_.nodes, p_.max_nodes());
  const LeafPorts ports = split_leaf_ports(p_.k, p_.oversubscription);
  const int32_t rails = p_.node.nics_per_node;
  const auto leaves_per_rail = static_cast<int32_t>(ceil_div(nodes, ports.down));
  ClusterGraph c = empty_cluster("mrft", nodes, p_.node, 1, p_.k);
  std::vector<std::vector<Vertex>> leaf(rails);
  std::vector<Vertex> all_leaves;
  for (int32_t r = 0; r < rails; ++r) {
    leaf[r] = add_switches(c, VertexKind::Leaf, leaves_per_rail, r, -1, r * leaves_per_rail,
                           fmt::format("r{}_", r));
    all_leaves.insert(all_leaves.end(), leaf[r].begin(), leaf[r].end());
  }
  auto spine =
      add_switches(c, VertexKind::Spine,
                   spines_for(static_cast<int64_t>(all_leaves.size()), ports.up), -1, -1, 0, "");
  connect_all(c, all_leaves, spine, p_.links.ib_fabric);
  for (int32_t n = 0; n < nodes; ++n) {
    NodeVertices nv = add_node(c, n, shape_of(p_.node), p_.links.nvlink, p_.links.pcie,
                               [](int32_t i) { return i; });
    for (int32_t r = 0; r < rails; ++r) {
      c.add_link(nv.nics[r], leaf[r][n / ports.down],
                 link_props(LinkKind::InfiniBand, p_.links.ib));
    }
  }
  return c;
}

ClusterGraph Ft3Builder::build() const {
  const int32_t nodes = nodes_or_max(p_.nodes, p_.max_nodes());
  const int32_t half = p_.k / 2;
  const Ft3Params::Shape f = p_.shape(nodes);
  const auto pods = static_cast<int32_t>(f.pods);
  ClusterGraph c = empty_cluster("ft3", nodes, p_.node, 1, p_.k);
  auto core = add_switches(c, VertexKind::Core, static_cast<int32_t>(f.cores), -1, -1, 0, "");
  std::vector<Vertex> leaf;  // all leaves, pod-major
  for (int32_t pod = 0; pod < pods; ++pod) {
    const std::string prefix = fmt::format("pod{}_", pod);
    const auto leaves =
        static_cast<int32_t>(std::min<int64_t>(half, f.leaves - int64_t{pod} * half));
    auto pod_leaf = add_switches(c, VertexKind::Leaf, leaves, -1, pod, pod * half, prefix);
    auto pod_spine = add_switches(c, VertexKind::Spine, static_cast<int32_t>(f.spines_per_pod), -1,
                                  pod, pod * half, prefix);
    connect_all(c, pod_leaf, pod_spine, p_.links.ib_fabric);
    // Spine a of every pod reaches core switches a*half .. a*half + half - 1.
    for (int32_t a = 0; a < static_cast<int32_t>(f.spines_per_pod) && !core.empty(); ++a) {
      for (int32_t m = 0; m < half; ++m) {
        c.add_link(pod_spine[a], core[a * half + m],
                   link_props(LinkKind::InfiniBand, p_.links.ib_fabric));
      }
    }
    leaf.insert(leaf.end(), pod_leaf.begin(), pod_leaf.end());
  }
  const int32_t nics_per_node = p_.node.nics_per_node;
  for (int32_t n = 0; n < nodes; ++n) {
    const int32_t pod = static_cast<int32_t>(int64_t{n} * nics_per_node / half / half);
    NodeVertices nv = add_node(
        c, n, shape_of(p_.node), p_.links.nvlink, p_.links.pcie, [](int32_t) { return -1; }, pod);
    for (int32_t i = 0; i < nics_per_node; ++i) {
      const int64_t nic = int64_t{n} * nics_per_node + i;
      c.add_link(nv.nics[i], leaf[nic / half], link_props(LinkKind::InfiniBand, p_.links.ib));
    }
  }
  return c;
}

}  // namespace mlasim
