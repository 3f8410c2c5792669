// register_cluster_builders (see cluster_builders.h).
#include "topology/cluster_builders.h"

#include "topology/count_models.h"
#include "topology/fat_tree_builders.h"
#include "topology/single_switch.h"

namespace mlasim {

void register_cluster_builders(ComponentTable<ClusterBuilder>& table) {
  table.add<SingleSwitchBuilder, SingleSwitchParams>(
      "single_switch", "nodes x GPUs, one NIC per GPU, all NICs on one switch");
  table.add<Ft2Builder, Ft2Params>("ft2", "two-tier fat-tree: leaves and spines, k^2/2 endpoints");
  table.add<MpftBuilder, MpftParams>(
      "mpft", "multi-plane two-tier fat-tree: NIC i of every node on plane i, one FT2 per plane");
  table.add<MrftBuilder, MrftParams>(
      "mrft", "multi-rail two-tier fat-tree: one fabric, NIC i of every node on a rail-i leaf");
  table.add<Ft3Builder, Ft3Params>("ft3", "three-tier k-ary fat-tree: k pods, k^3/4 endpoints");
  table.add<SlimFlyModel, SlimFlyParams>("slim_fly",
                                         "Slim Fly (MMS graph): counts and cost only, no graph");
  table.add<DragonflyModel, DragonflyParams>("dragonfly",
                                             "Dragonfly: counts and cost only, no graph");
}

}  // namespace mlasim
