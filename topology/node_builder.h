// Node internals shared by every cluster builder: a server's GPUs, its NICs on PCIe and, when
// present, one NVSwitch crossbar that every GPU reaches over NVLink.
//
// The H800's NVSwitch chips are modelled as one crossbar vertex (a GPU's NVLink ports are one
// link of the full per-GPU bandwidth); PCIe switches are folded into the GPU-NIC link.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "topology/cluster_builder.h"
#include "topology/cluster_graph.h"

namespace mlasim {

struct NodeVertices {
  std::vector<Vertex> gpus;
  std::vector<Vertex> nics;
  Vertex nvswitch = ClusterGraph::null_vertex();
};

struct NodeShape {
  int32_t gpus = 8;
  int32_t nics = 8;  // divides gpus: GPU i uses NIC i / (gpus / nics)
  bool nvswitch = true;
};

// Adds server `node`: GPU ranks node*gpus.., NIC indices node*nics.., named n<node>_gpu<i>,
// n<node>_nic<i> and n<node>_nvswitch. `nic_plane(i)` is the plane (or rail) of local NIC i
// (-1 for none); a GPU takes its NIC's plane. `pod` tags every vertex of the node.
NodeVertices add_node(ClusterGraph& cluster, int32_t node, const NodeShape& shape,
                      const LinkSpec& nvlink, const LinkSpec& pcie,
                      const std::function<int32_t(int32_t)>& nic_plane, int32_t pod = -1);

inline EdgeProps link_props(LinkKind kind, const LinkSpec& spec) {
  return EdgeProps{kind, spec.bandwidth, spec.latency};
}

}  // namespace mlasim
