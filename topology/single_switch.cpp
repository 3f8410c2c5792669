// SingleSwitchBuilder (see single_switch.h).
#include "topology/single_switch.h"

#include "topology/node_builder.h"

namespace mlasim {

ClusterGraph SingleSwitchBuilder::build() const {
  ClusterGraph c;
  c.topology = "single_switch";
  c.switch_ports = p_.k;
  c.nodes = p_.nodes;
  c.gpus_per_node = p_.gpus_per_node;
  c.nics_per_node = p_.gpus_per_node;
  const Vertex sw = c.add_vertex({VertexKind::Leaf, -1, -1, 0, -1, "switch0"});
  const NodeShape shape{p_.gpus_per_node, p_.gpus_per_node, p_.nvswitch};
  for (int32_t n = 0; n < p_.nodes; ++n) {
    NodeVertices node =
        add_node(c, n, shape, p_.links.nvlink, p_.links.pcie, [](int32_t) { return -1; });
    for (Vertex nic : node.nics)
      c.add_link(nic, sw, link_props(LinkKind::InfiniBand, p_.links.ib));
  }
  return c;
}

}  // namespace mlasim
