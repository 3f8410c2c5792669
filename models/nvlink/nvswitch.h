// NVSwitch (`nvswitch: {type: nvswitch}`): the crossbar joining the GPUs of a node over NVLink.
// Each GPU has one link to it of the GPU's whole NVLink bandwidth per direction (the
// topology's `nvlink` link); the switch forwards cut-through after a pipeline latency, with
// credit-based flow control per port like the IB switch. It carries intra-node traffic and the
// cross-plane forwarding of multi-plane networks (GPU -> NVSwitch -> GPU -> NIC).
//
// NVLink moves data in packets of at most 256 B payload with a header each; to keep events few,
// the fabric moves larger packets and charges a header per 256 B, which gives the same wire
// time: the NICs' MTU packets in a cluster with NICs (a packet is cut once, at its source, for
// its whole route), `transfer_unit` bytes in a node without them. Figures are estimates
// (uncertain): NVIDIA publishes neither the NVSwitch hop latency nor its buffers. Left out: NVLink
// SHARP (in-switch reductions), multicast, per-link (18 x NVLink) striping.
#pragma once

#include "models/common/fabric_node.h"
#include "sim/params.h"

namespace mlasim {

struct NvSwitchParams {
  Time pipeline_latency = Time::ns(150);
  Bytes buffer = Bytes::parse("128KiB");
  Bytes transfer_unit = Bytes::parse("4096B");
  Bytes packet_payload = Bytes::parse("256B");
  Bytes packet_header = Bytes::parse("16B");
  double encoding = 1.0;
  Arbitration arbitration = Arbitration::RoundRobin;

  template <class V>
  void visit(V& v) {
    v("pipeline_latency", pipeline_latency, "s", "head in to head out on an idle port (uncertain)");
    v("buffer", buffer, "B", "input buffer per port and virtual lane (uncertain)");
    v("transfer_unit", transfer_unit, "B",
      "bytes moved as one simulated packet over NVLink in a cluster without NICs (with NICs: "
      "their MTU); headers still counted per packet_payload");
    v("packet_payload", packet_payload, "B", "NVLink packet payload carrying one header");
    v("packet_header", packet_header, "B", "NVLink header and CRC bytes per packet (uncertain)");
    v("encoding", encoding, "fraction",
      "share of the NVLink rate left for wire bytes after line coding (1: the configured rate "
      "is the data rate)");
    v("arbitration", arbitration, "-", "output arbitration among inputs: round_robin or fcfs");
  }
  void validate(const ParamCheck& c) const {
    require_credit_buffer(c, buffer);
    c.require(transfer_unit.count() >= 64, "transfer_unit", "must be >= 64 B");
    c.require(packet_payload.count() >= 16, "packet_payload", "must be >= 16 B");
    c.require(encoding > 0.0 && encoding <= 1.0, "encoding", "must be in (0, 1]");
  }
};

class NvSwitch : public FabricNode {
 public:
  NvSwitch(const NvSwitchParams& params, const ModuleEnv& env) : FabricNode(env), params_(params) {}
  PacketNodeTraits packet_traits() const override;

 private:
  NvSwitchParams params_;
};

}  // namespace mlasim
