// Registration of the built-in components: the one place a new component is announced.
#include "sim/builtin_components.h"

#include "models/common/forwarding_node.h"
#include "models/common/net_traffic.h"
#include "models/common/network_params.h"
#include "models/gpu/roofline_gpu.h"
#include "models/gpu/tile_gpu.h"
#include "models/hbm/fixed_bandwidth_memory.h"
#include "models/hbm/hbm_bandwidth_memory.h"
#include "models/hbm/hbm_controller.h"
#include "models/nic/rdma_nic.h"
#include "models/nvlink/nvswitch.h"
#include "models/switch/infiniband_switch.h"
#include "sim/scenario.h"
#include "sim/sweep.h"
#include "topology/cluster_builders.h"
#include "topology/routing.h"
#include "workloads/deepseek_inference.h"
#include "workloads/pairwise_exchange.h"
#include "workloads/trace.h"

namespace mlasim {

std::vector<ComponentInfo> Components::infos() const {
  std::vector<ComponentInfo> out;
  for (auto&& list : {gpu.infos(), memory.infos(), nic.infos(), network_switch.infos(),
                      nvswitch.infos(), cluster.infos(), workload.infos()}) {
    out.insert(out.end(), list.begin(), list.end());
  }
  // The scenario's own top-level keys, and sections that are not components but have params
  // of their own.
  out.push_back({"section", "scenario",
                 "top-level keys of a scenario file: name, description, seed, sim (run control)",
                 describe_params<ScenarioParams>()});
  out.push_back({"section", "network",
                 "the `network:` section: fidelity, virtual lanes, faults, retransmission, reports",
                 describe_params<NetworkParams>()});
  out.push_back({"section", "routing", "the `routing:` section: ECMP or adaptive, cross-plane",
                 describe_params<RoutingParams>()});
  // Not part of a scenario: the keys of a sweep file (`mlasim sweep FILE`).
  out.push_back({"file", "sweep",
                 "the `sweep:` mapping of a sweep file (`mlasim sweep FILE`): base scenario, "
                 "overrides, swept axes, plots",
                 describe_params<SweepParams>()});
  for (auto& info : out) {
    for (auto& p : info.params)
      if (p.default_value.empty()) p.default_value = "(none)";  // empty strings: unset
  }
  return out;
}

Components make_builtin_components() {
  Components c;
  c.gpu.add<RooflineGpu, RooflineGpuParams>(
      "roofline", "placeholder GPU: each op takes max(math at peak rate, memory time)");
  c.gpu.add<TileGpu, TileGpuParams>(
      "tile", "SMs running kernels as waves of tiles: pipelined loads via L2/HBM and math");
  c.memory.add<FixedBandwidthMemory, FixedBandwidthMemoryParams>(
      "fixed_bandwidth", "placeholder memory: latency + size / bandwidth, requests in order");
  c.memory.add<HbmController, HbmParams>(
      "hbm", "cycle-level HBM: banks, command timing, FR-FCFS, refresh, address map");
  c.memory.add<HbmBandwidthMemory, HbmBandwidthParams>(
      "hbm_bandwidth", "HBM as latency + size / (efficiency x peak), calibrated on `hbm`");
  c.nic.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder NIC: forwards each message after a fixed latency");
  c.network_switch.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder switch: forwards each message after a fixed latency");
  c.nvswitch.add<FixedLatencyNode, FixedLatencyParams>(
      "fixed_latency", "placeholder NVSwitch: forwards each message after a fixed latency");
  c.nic.add<RdmaNic, RdmaNicParams>(
      "rdma", "RDMA NIC (ConnectX-7 class): MTU packets, PCIe Gen5 to its GPU, doorbell, QPs");
  c.network_switch.add<InfinibandSwitch, InfinibandSwitchParams>(
      "infiniband", "InfiniBand switch: per-VL input buffers, credits, crossbar, cut-through");
  c.nvswitch.add<NvSwitch, NvSwitchParams>(
      "nvswitch", "NVSwitch: NVLink crossbar, cut-through, credit flow control per port");
  register_cluster_builders(c.cluster);
  c.workload.add<PairwiseExchange, PairwiseExchangeParams>(
      "pairwise_exchange", "each GPU runs a GEMM, then swaps a message with a GPU on another node");
  c.workload.add<NetworkTraffic, NetworkTrafficParams>(
      "network_traffic", "synthetic traffic: p2p, incast, permutation, all_to_all, ring");
  c.workload.add<DeepSeekInference, DeepSeekInferenceParams>(
      "deepseek_inference", "DeepSeek-style inference step: MLA/MHA attention, MoE with EP, MTP");
  c.workload.add<TraceWorkload, TraceWorkloadParams>(
      "trace", "replays per-rank op graphs from a trace file written by `mlasim trace`");
  return c;
}

}  // namespace mlasim
