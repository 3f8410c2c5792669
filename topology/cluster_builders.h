// Registration of every cluster builder under its YAML `type:`: single_switch, ft2, mpft, mrft,
// ft3 (graph builders) and slim_fly, dragonfly (count-and-cost models).
#pragma once

#include "sim/registry.h"
#include "topology/cluster_builder.h"

namespace mlasim {

void register_cluster_builders(ComponentTable<ClusterBuilder>& table);

}  // namespace mlasim
