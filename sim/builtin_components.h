// Every component kind with its registry table, and the function that registers the built-in
// components. Hardware modules are constructed as Impl(const Params&, const ModuleEnv&);
// cluster builders and workload generators as Impl(const Params&).
#pragma once

#include <vector>

#include "models/common/memory_model.h"
#include "models/common/module_env.h"
#include "models/common/network_node.h"
#include "models/gpu/gpu_base.h"
#include "sim/registry.h"
#include "topology/cluster_builder.h"
#include "workloads/workload_generator.h"

namespace mlasim {

struct Components {
  ComponentTable<GpuBase, const ModuleEnv&> gpu{"gpu"};
  ComponentTable<MemoryModel, const ModuleEnv&> memory{"memory"};
  ComponentTable<NetworkNode, const ModuleEnv&> nic{"nic"};
  ComponentTable<NetworkNode, const ModuleEnv&> network_switch{"switch"};
  ComponentTable<NetworkNode, const ModuleEnv&> nvswitch{"nvswitch"};
  ComponentTable<ClusterBuilder> cluster{"cluster"};
  ComponentTable<WorkloadGenerator> workload{"workload"};

  // All registered components, kind by kind, for `mlasim list`.
  std::vector<ComponentInfo> infos() const;
};

Components make_builtin_components();

}  // namespace mlasim
