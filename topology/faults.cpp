// Fault injection on the cluster graph (see faults.h).
#include "topology/faults.h"

#include <fmt/format.h>

#include "sim/errors.h"

namespace mlasim {
namespace {

Vertex find_or_throw(const ClusterGraph& cluster, const std::string& name, const char* what) {
  const Vertex v = cluster.find(name);
  if (v == ClusterGraph::null_vertex()) {
    throw InputError(fmt::format("{} '{}' is not in the {} cluster", what, name, cluster.topology));
  }
  return v;
}

}  // namespace

void fail_vertex(ClusterGraph& cluster, Vertex v) {
  boost::clear_vertex(v, cluster.g);
  cluster.g[v].failed = true;
}

bool fail_link(ClusterGraph& cluster, Vertex a, Vertex b) {
  if (!boost::edge(a, b, cluster.g).second) return false;
  boost::remove_edge(a, b, cluster.g);
  return true;
}

int64_t fail_plane(ClusterGraph& cluster, int32_t plane) {
  int64_t count = 0;
  for (auto [it, end] = boost::vertices(cluster.g); it != end; ++it) {
    const VertexProps& p = cluster.g[*it];
    if (p.plane == plane && (is_network_switch(p.kind) || p.kind == VertexKind::Nic)) {
      fail_vertex(cluster, *it);
      ++count;
    }
  }
  return count;
}

std::string already_failed(const ClusterGraph& healthy, const ClusterGraph& cluster,
                           const FaultSpec& faults) {
  for (int32_t plane : faults.planes) {
    bool any = false, all_failed = true;
    for (auto [it, end] = boost::vertices(cluster.g); it != end; ++it) {
      const VertexProps& p = cluster.g[*it];
      if (p.plane == plane && (is_network_switch(p.kind) || p.kind == VertexKind::Nic)) {
        any = true;
        all_failed = all_failed && p.failed;
      }
    }
    if (any && all_failed) return fmt::format("plane {}", plane);
  }
  for (const auto& [names, what] :
       {std::pair{&faults.switches, "switch"}, std::pair{&faults.nics, "NIC"}}) {
    for (const std::string& name : *names) {
      const Vertex v = cluster.find(name);
      if (v != ClusterGraph::null_vertex() && cluster.g[v].failed)
        return fmt::format("{} {}", what, name);
    }
  }
  for (const std::string& spec : faults.links) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos) continue;
    const Vertex a = cluster.find(spec.substr(0, colon)), b = cluster.find(spec.substr(colon + 1));
    if (a == ClusterGraph::null_vertex() || b == ClusterGraph::null_vertex()) continue;
    // (Vertex numbers are the same in both graphs: faults remove edges only.)
    if (boost::edge(a, b, healthy.g).second && !boost::edge(a, b, cluster.g).second)
      return "link " + spec;
  }
  return "";
}

std::vector<std::string> apply_faults(ClusterGraph& cluster, const FaultSpec& faults,
                                      bool down_before) {
  std::vector<std::string> applied;
  for (int32_t plane : faults.planes) {
    // Vertices off every plane (GPUs, NVSwitches) carry -1: it must not name them.
    if (plane < 0) throw InputError(fmt::format("plane {}: planes are numbered from 0", plane));
    const int64_t n = fail_plane(cluster, plane);
    if (n == 0) {
      throw InputError(fmt::format("no switch or NIC is on plane {} of the {} cluster", plane,
                                   cluster.topology));
    }
    applied.push_back(fmt::format("plane {} ({} switches and NICs)", plane, n));
  }
  for (const std::string& name : faults.switches) {
    const Vertex v = find_or_throw(cluster, name, "switch");
    const VertexKind k = cluster.g[v].kind;
    if (!is_network_switch(k) && k != VertexKind::NvSwitch) {
      throw InputError(fmt::format("'{}' is a {}, not a switch", name, enum_name(k)));
    }
    fail_vertex(cluster, v);
    applied.push_back("switch " + name);
  }
  for (const std::string& name : faults.nics) {
    const Vertex v = find_or_throw(cluster, name, "NIC");
    if (cluster.g[v].kind != VertexKind::Nic) {
      throw InputError(fmt::format("'{}' is a {}, not a NIC", name, enum_name(cluster.g[v].kind)));
    }
    fail_vertex(cluster, v);
    applied.push_back("NIC " + name);
  }
  for (const std::string& spec : faults.links) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos) {
      throw InputError(fmt::format("link '{}' must be written A:B (two vertex names)", spec));
    }
    const Vertex a = find_or_throw(cluster, spec.substr(0, colon), "vertex");
    const Vertex b = find_or_throw(cluster, spec.substr(colon + 1), "vertex");
    if (!fail_link(cluster, a, b) && !down_before) {
      throw InputError(fmt::format("there is no link between '{}' and '{}'", spec.substr(0, colon),
                                   spec.substr(colon + 1)));
    }
    applied.push_back("link " + spec);
  }
  return applied;
}

}  // namespace mlasim
