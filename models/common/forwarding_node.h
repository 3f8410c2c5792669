// Placeholder NIC and switch (`type: fixed_latency`): forwards every message after a fixed
// processing latency to the port its routing function names. No buffers, credits, packets or
// arbitration; the RDMA NIC and InfiniBand switch models replace it through the registry.
#pragma once

#include "models/common/module_env.h"
#include "models/common/network_node.h"
#include "sim/params.h"

namespace mlasim {

struct FixedLatencyParams {
  Time latency = Time::ns(300);
  template <class V>
  void visit(V& v) {
    v("latency", latency, "s", "processing latency from arrival of a message to its forwarding");
  }
};

class FixedLatencyNode : public NetworkNode {
 public:
  FixedLatencyNode(const FixedLatencyParams& params, const ModuleEnv& env);
  void receive(Message msg, int in_port) override;
  bool supports_fabric() const override { return false; }

 private:
  FixedLatencyParams params_;
  uint64_t forwarded_ = 0;
};

}  // namespace mlasim
