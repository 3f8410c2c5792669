// InfiniBand switch (`switch: {type: infiniband}`), Quantum-2 (QM9700) class: input-buffered
// ports with a buffer per virtual lane whose room is advertised upstream as credits (64 B
// units), a crossbar whose outputs arbitrate round-robin (or first-come first-served) among
// the inputs holding packets for them, and cut-through forwarding after a fixed pipeline
// latency (header parse, table lookup, arbitration). Routes come from the topology's tables:
// static ECMP by flow hash, or adaptive (`routing.mode: adaptive`: per packet, the output
// with the least backlog among the equal-cost choices).
//
// Buffers: each input's credit window per VL (at most 128 KiB in IB), and the switch's shared
// packet memory. A packet that must wait for its output moves from its input buffer into the
// shared memory when there is room (its credits go back upstream then); an output may hold at
// most shared_alpha x the memory still free (dynamic threshold), so one congested output cannot
// take it all. Only when the shared memory (or an output's share) is full does a waiting packet
// keep its input credits, and back-pressure reach upstream.
// Defaults are estimates (uncertain): REFERENCE §4 quotes 300-400 ns port to port; buffer
// sizes are not published (Quantum-2 shares tens of MB across 64 ports).
// Left out: how the shared memory is carved per VL and priority, VL arbitration tables
// (high/low priority), multicast,
// congestion control marking (FECN/BECN), and iSLIP's one-grant-per-input constraint (outputs
// arbitrate independently; inputs are virtual output queues).
#pragma once

#include "models/common/fabric_node.h"
#include "sim/params.h"

namespace mlasim {

struct InfinibandSwitchParams {
  Time pipeline_latency = Time::ns(300);
  Bytes buffer = Bytes::parse("128KiB");
  Bytes shared_buffer_per_port = Bytes::parse("512KiB");
  double shared_alpha = 1.0;
  Arbitration arbitration = Arbitration::RoundRobin;

  template <class V>
  void visit(V& v) {
    v("pipeline_latency", pipeline_latency, "s",
      "head of a packet in to head out on an idle output (port-to-port, uncertain)");
    v("buffer", buffer, "B",
      "input buffer per port and virtual lane, advertised as credits (IB allows at most "
      "128 KiB: 2,048 credits of 64 B)");
    v("shared_buffer_per_port", shared_buffer_per_port, "B",
      "shared packet memory per port of the switch's radix (the cluster's k, cabled or not; "
      "64 ports x 512 KiB = 32 MiB, 'tens of MB' for Quantum-2; uncertain), at most 1 GiB; 0: "
      "input buffers only");
    v("shared_alpha", shared_alpha, "ratio",
      "dynamic threshold, in (0, 64]: an output may hold at most shared_alpha x the shared "
      "memory free");
    v("arbitration", arbitration, "-", "output arbitration among inputs: round_robin or fcfs");
  }
  void validate(const ParamCheck& c) const {
    require_credit_buffer(c, buffer);
    c.require(shared_alpha > 0 && shared_alpha <= 64, "shared_alpha", "must be in (0, 64]");
    // Switches share well under 1 MiB per port; the fabric holds at most 1 TiB per switch.
    c.require(shared_buffer_per_port.count() <= (uint64_t{1} << 30), "shared_buffer_per_port",
              "must be at most 1 GiB (a Quantum-2 class switch shares about 0.5 MiB per port)");
  }
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
