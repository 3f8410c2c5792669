// InfiniBand switch (`switch: {type: infiniband}`), Quantum-2 (QM9700) class: input-buffered
// ports with a buffer per virtual lane whose room is advertised upstream as credits (64 B
// units), a crossbar whose outputs arbitrate round-robin (or first-come first-served) among
// the inputs holding packets for them, and cut-through forwarding after a fixed pipeline
// latency (header parse, table lookup, arbitration). Routes come from the topology's tables:
// static ECMP by flow hash, or adaptive (`routing.mode: adaptive`: per packet, the output
// with the least backlog among the equal-cost choices).
//
// Defaults are estimates (uncertain): REFERENCE §4 quotes 300-400 ns port to port; buffer
// sizes per port and VL are not published (Quantum-2 shares tens of MB across 64 ports).
// Left out: shared-buffer carving, VL arbitration tables (high/low priority), multicast,
// congestion control marking (FECN/BECN), and iSLIP's one-grant-per-input constraint (outputs
// arbitrate independently; inputs are virtual output queues).
#pragma once

#include "models/common/fabric_node.h"
#include "sim/params.h"

namespace mlasim {

struct InfinibandSwitchParams {
  Time pipeline_latency = Time::ns(300);
  Bytes buffer = Bytes::parse("128KiB");
  Arbitration arbitration = Arbitration::RoundRobin;

  template <class V>
  void visit(V& v) {
    v("pipeline_latency", pipeline_latency, "s",
      "head of a packet in to head out on an idle output (port-to-port, uncertain)");
    v("buffer", buffer, "B", "input buffer per port and virtual lane (uncertain)");
    v("arbitration", arbitration, "-", "output arbitration among inputs: round_robin or fcfs");
  }
  void validate(const ParamCheck& c) const { require_credit_buffer(c, buffer); }
};

class InfinibandSwitch : public FabricNode {
 public:
  InfinibandSwitch(const InfinibandSwitchParams& params, const ModuleEnv& env)
      : FabricNode(env), params_(params) {}
  PacketNodeTraits packet_traits() const override;

 private:
  InfinibandSwitchParams params_;
};

}  // namespace mlasim
