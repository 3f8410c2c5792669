// Registration of the built-in components: the one place a new component is announced.
#include "sim/builtin_components.h"

#include "models/common/forwarding_node.h"
#include "models/gpu/roofline_gpu.h"
#include "models/hbm/fixed_bandwidth_memory.h"
#include "topology/cluster_builders.h"
#include "workloads/pairwise_exchange.h"

namespace mlasim {

std::vector<ComponentInfo> Components::infos() const {
  std::vector<ComponentInfo> out;
  for (auto&& list : {gpu.infos(), memory.infos(), nic.infos(), network_switch.infos(),
                      nvswitch.infos(), cluster.infos(), workload.infos()}) {
    out.insert(out.end(), list.begin(), list.end());
  }
  return out;
}

Components make_builtin_components() {
  Components c;
  c.gpu.add<RooflineGpu, RooflineGpuParams>(
      "roofline", "placeholder GPU: each op takes max(math at peak rate, memory time)");
  c.memory.add<FixedBandwidthMemory, FixedBandwidthMemoryParams>(
      "fixed_bandwidth", "placeholder memory: latency + size / bandwidth, requests in order");
  c.nic.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder NIC: forwards each message after a fixed latency");
  c.network_switch.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder switch: forwards each message after a fixed latency");
  c.nvswitch.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder NVSwitch: forwards each message after a fixed latency");
  register_cluster_builders(c.cluster);
  c.workload.add<PairwiseExchange, PairwiseExchangeParams>(
      "pairwise_exchange", "each GPU runs a GEMM, then swaps a message with a GPU on another node");
  return c;
}

}  // namespace mlasim
