// The small cluster the workload tests run on: 2 nodes of 2 GPUs on one switch, NVSwitch inside
// each node, roofline GPUs, bandwidth-fidelity HBM, RDMA NICs and an InfiniBand switch.
#pragma once

#include <string>

#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/simulation.h"

namespace mlasim::test_util {

// A scenario with this cluster, the given name and seed, and `workload` (indented YAML lines
// that follow "workload:").
inline std::string tiny_cluster_scenario(const std::string& name, int seed,
                                         const std::string& workload) {
  return "name: " + name + "\nseed: " + std::to_string(seed) + R"(
cluster: {type: single_switch, nodes: 2, gpus_per_node: 2, nvswitch: true}
network: {fidelity: packet}
hardware:
  gpu: {type: roofline}
  memory: {type: hbm_bandwidth, capacity: 80GiB}
  nic: {type: rdma}
  switch: {type: infiniband}
  nvswitch: {type: nvswitch}
workload:
)" + workload;
}

// The one-line config error (exit 2 material, naming the file, line and key) that validating a
// tiny-cluster scenario with `workload` raises, or "no error".
inline std::string tiny_cluster_config_error(const std::string& workload) {
  try {
    validate_scenario(
        load_config_string(tiny_cluster_scenario("t", 1, workload), "<t>", MLASIM_CONFIG_DIR),
        make_builtin_components());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace mlasim::test_util
