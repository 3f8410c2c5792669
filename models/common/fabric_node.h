// Base of the network models that only ever run on a packet or flow fabric (RDMA NIC,
// InfiniBand switch, NVSwitch): they describe their timing and buffers to the fabric
// (PacketNodeTraits) and never receive whole messages themselves.
#pragma once

#include "models/common/module_env.h"
#include "models/common/network_node.h"

namespace mlasim {

class FabricNode : public NetworkNode {
 public:
  explicit FabricNode(const ModuleEnv& env) : NetworkNode(env.module_name, env.ctx) {}
  // Messages reach these nodes only as packets or flows, handled by the fabric.
  void receive(Message msg, int in_port) override;
  bool supports_messages() const override { return false; }
};

}  // namespace mlasim
