// write_dot (see dot_export.h).
#include "topology/dot_export.h"

#include <fmt/format.h>

#include <map>
#include <vector>

#include "sim/errors.h"
#include "sim/params.h"

namespace mlasim {
namespace {

const char* fill_of(VertexKind k) {
  switch (k) {
    case VertexKind::Gpu:
      return "#8fd18f";
    case VertexKind::NvSwitch:
      return "#f2c14e";
    case VertexKind::Nic:
      return "#9ecae1";
    case VertexKind::Leaf:
      return "#c6dbef";
    case VertexKind::Spine:
      return "#6baed6";
    default:
      return "#3182bd";
  }
}

const char* color_of(LinkKind k) {
  switch (k) {
    case LinkKind::NvLink:
      return "#2ca02c";
    case LinkKind::Pcie:
      return "#ff7f0e";
    default:
      return "#1f77b4";
  }
}

std::string vertex_line(const VertexProps& p) {
  return fmt::format(
      "    \"{}\" [kind={}, tier={}, node={}, plane={}, pod={}, failed={}, shape={}, "
      "fillcolor=\"{}\"{}];\n",
      p.name, enum_name(p.kind), switch_tier(p.kind), p.node, p.plane, p.pod, p.failed ? 1 : 0,
      p.kind == VertexKind::Gpu ? "box" : "ellipse", fill_of(p.kind),
      p.failed ? ", style=\"filled,dashed\", color=gray" : "");
}

}  // namespace

void write_dot(const ClusterGraph& cluster, std::ostream& out) {
  const auto& g = cluster.g;
  const size_t n = boost::num_vertices(g);
  if (n > kMaxDotVertices) {
    throw InputError(fmt::format(
        "--dot is for small fabrics: this one has {} vertices (at most {})", n, kMaxDotVertices));
  }
  // Cluster label -> vertices; switches by plane, else by pod; node vertices by server.
  std::map<std::pair<int, int>, std::vector<Vertex>> groups;  // (kind of group, id)
  std::vector<Vertex> loose;
  for (Vertex v = 0; v < n; ++v) {
    const VertexProps& p = g[v];
    if (is_network_switch(p.kind)) {
      if (p.plane >= 0) {
        groups[{0, p.plane}].push_back(v);
      } else if (p.pod >= 0) {
        groups[{1, p.pod}].push_back(v);
      } else {
        loose.push_back(v);
      }
    } else if (p.node >= 0) {
      groups[{2, p.node}].push_back(v);
    } else {
      loose.push_back(v);
    }
  }
  out << fmt::format("// mlasim cluster graph: {}, {} vertices, {} links\n", cluster.topology, n,
                     boost::num_edges(g));
  out << "graph cluster {\n"
         "  graph [rankdir=BT, ranksep=1.2, nodesep=0.15, fontsize=10];\n"
         "  node [style=filled, fontsize=8, height=0.3];\n";
  const char* group_name[] = {"plane", "pod", "node"};
  for (const auto& [key, members] : groups) {
    const std::string kind =
        key.first == 0 && cluster.topology == "mrft" ? "rail" : group_name[key.first];
    out << fmt::format("  subgraph cluster_{}{} {{\n    label=\"{} {}\";\n", kind, key.second, kind,
                       key.second);
    for (Vertex v : members)
      out << vertex_line(g[v]);
    out << "  }\n";
  }
  for (Vertex v : loose)
    out << vertex_line(g[v]).substr(2);
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    out << fmt::format("  \"{}\" -- \"{}\" [kind={}, color=\"{}\"];\n",
                       g[boost::source(*it, g)].name, g[boost::target(*it, g)].name,
                       enum_name(g[*it].kind), color_of(g[*it].kind));
  }
  out << "}\n";
}

}  // namespace mlasim
