// make_fabric: the network engine for a scenario's fidelity (see make_fabric.h).
#include "models/common/make_fabric.h"

#include <fmt/format.h>

#include "models/common/flow_fabric.h"
#include "models/common/packet_fabric.h"
#include "sim/errors.h"

namespace mlasim {

std::unique_ptr<Fabric> make_fabric(const NetworkParams& p,
                                    const std::vector<std::unique_ptr<NetworkNode>>& nodes,
                                    SimContext& ctx) {
  std::string placeholder;
  for (const auto& n : nodes) {
    if (n && !n->supports_fabric()) {
      placeholder = n->name();
      break;
    }
  }
  NetworkFidelity f = p.fidelity;
  if (f == NetworkFidelity::Auto) {
    f = placeholder.empty() ? NetworkFidelity::Packet : NetworkFidelity::Message;
  }
  if (f == NetworkFidelity::Message) {
    // Whole messages hop through the nodes themselves: every node must take them.
    for (const auto& n : nodes) {
      if (n && !n->supports_messages()) {
        throw InputError(fmt::format(
            "network.fidelity: {} runs whole messages through placeholder (fixed_latency) "
            "models{}, but {} is a packet-level model; use network.fidelity: packet or flow "
            "with packet-capable models (nic: rdma, switch: infiniband, nvswitch: nvswitch), or "
            "give it type: fixed_latency",
            enum_name(p.fidelity),
            placeholder.empty() ? "" : fmt::format(" (as {} is)", placeholder), n->name()));
      }
    }
    return nullptr;
  }
  if (!placeholder.empty()) {
    throw InputError(fmt::format(
        "network.fidelity: {} needs packet-capable NIC and switch models, but {} is a "
        "placeholder (fixed_latency); use nic: {{type: rdma}}, switch: {{type: infiniband}}, "
        "nvswitch: {{type: nvswitch}}",
        enum_name(f), placeholder));
  }
  if (f == NetworkFidelity::Flow) return std::make_unique<FlowFabric>("network", ctx, p);
  return std::make_unique<PacketFabric>("network", ctx, p);
}

}  // namespace mlasim
