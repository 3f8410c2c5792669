// Graphviz export of a cluster graph, for small fabrics: planes (MPFT) or rails (MRFT) and pods
// (FT3) become clusters of switches, each server a cluster of its GPUs, NICs and NVSwitch.
// Every vertex carries kind, tier, node, plane and pod attributes and every edge its kind, so
// scripts/plot_topology.py can lay the graph out by itself without Graphviz.
#pragma once

#include <ostream>

#include "topology/cluster_graph.h"

namespace mlasim {

// Largest graph write_dot accepts: beyond it no drawing is readable.
inline constexpr size_t kMaxDotVertices = 5000;

// Throws InputError for graphs over kMaxDotVertices.
void write_dot(const ClusterGraph& cluster, std::ostream& out);

}  // namespace mlasim
