// RdmaNic: what the packet fabric needs to know about a ConnectX-7 class NIC (see rdma_nic.h).
#include "models/nic/rdma_nic.h"

namespace mlasim {

RdmaNic::RdmaNic(const RdmaNicParams& params, const ModuleEnv& env)
    : FabricNode(env), params_(params) {}

PacketNodeTraits RdmaNic::packet_traits() const {
  PacketNodeTraits t;
  t.pipeline = params_.processing_latency;
  t.cut_through = false;
  t.buffer_per_vl = params_.buffer.count();
  t.buffer_key = "hardware.nic.buffer";
  t.message_setup = params_.doorbell_latency;
  t.max_payload = static_cast<uint32_t>(params_.mtu.count());
  t.ib = LinkOverhead{0, static_cast<uint32_t>(params_.ib_header.count()), params_.ib_encoding};
  t.pcie =
      LinkOverhead{static_cast<uint32_t>(params_.pcie_max_payload.count()),
                   static_cast<uint32_t>(params_.pcie_tlp_overhead.count()), params_.pcie_encoding};
  return t;
}

}  // namespace mlasim
