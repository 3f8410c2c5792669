// Interface of workload generators (YAML kind `workload`): from the cluster's shape they build
// every rank's op graph.
#pragma once

#include <string>

#include "workloads/op_graph.h"

namespace mlasim {

struct ClusterShape {
  int nodes = 0;
  int gpus_per_node = 0;
  int ranks() const { return nodes * gpus_per_node; }
};

class WorkloadGenerator {
 public:
  virtual ~WorkloadGenerator() = default;
  virtual Workload generate(const ClusterShape& cluster) const = 0;
};

}  // namespace mlasim
