// add_node (see node_builder.h).
#include "topology/node_builder.h"

#include <fmt/format.h>

namespace mlasim {

NodeVertices add_node(ClusterGraph& cluster, int32_t node, const NodeShape& shape,
                      const LinkSpec& nvlink, const LinkSpec& pcie,
                      const std::function<int32_t(int32_t)>& nic_plane, int32_t pod) {
  NodeVertices out;
  if (shape.nvswitch) {
    out.nvswitch = cluster.add_vertex(
        {VertexKind::NvSwitch, node, -1, node, pod, fmt::format("n{}_nvswitch", node)});
  }
  for (int32_t i = 0; i < shape.nics; ++i) {
    out.nics.push_back(
        cluster.add_vertex({VertexKind::Nic, node, nic_plane(i), node * shape.nics + i, pod,
                            fmt::format("n{}_nic{}", node, i)}));
  }
  const int32_t gpus_per_nic = shape.gpus / shape.nics;
  for (int32_t i = 0; i < shape.gpus; ++i) {
    const int32_t local_nic = i / gpus_per_nic;
    const Vertex gpu =
        cluster.add_vertex({VertexKind::Gpu, node, nic_plane(local_nic), node * shape.gpus + i, pod,
                            fmt::format("n{}_gpu{}", node, i)});
    out.gpus.push_back(gpu);
    cluster.add_link(gpu, out.nics[local_nic], link_props(LinkKind::Pcie, pcie));
    if (shape.nvswitch) cluster.add_link(gpu, out.nvswitch, link_props(LinkKind::NvLink, nvlink));
  }
  return out;
}

}  // namespace mlasim
