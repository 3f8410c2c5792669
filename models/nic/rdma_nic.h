// RDMA NIC (`nic: {type: rdma}`), ConnectX-7 class: the GPU's gateway to the InfiniBand
// fabric. A message posted to it (GPUDirect RDMA write) waits the doorbell latency (MMIO
// doorbell, WQE fetch), then moves as MTU packets: read from GPU memory over PCIe Gen5 (TLP
// headers per max-payload chunk), processed store-and-forward, and sent with IB headers (LRH,
// BTH, ICRC, VCRC) at line rate. Incoming packets are written to the GPU over PCIe the same
// way. A queue pair is (source GPU, destination GPU, tag, virtual lane), the unit ECMP keeps on
// one path (Message::flow_hash): its messages leave one after another in post order (the fabric's
// send queues, Fabric::claim_send), while the packets of different queue pairs are interleaved
// round-robin. Messages between two GPUs complete in post order (network.in_order, as CX-7
// delivers each queue pair).
// Optional per-packet spraying over equal paths is `network.spray`; a NIC with ports on several
// planes (ConnectX-8; `mpft` `nic_planes`) sprays a message over them.
//
// Defaults: REFERENCE §4 (400 Gb/s NDR, PCIe Gen5 x16, MTU 4096). Latencies and buffer sizes
// are estimates (uncertain): NVIDIA publishes no per-stage figures.
// Reliability under faults (packets lost on a failed link) is the RC transport's: the sender
// resends after a timeout, go-back-N or selective (network.retransmit, run by the packet
// fabric; see packet_fabric.h).
// Line coding is a share of each link's configured rate (ib_encoding, pcie_encoding), 1 by
// default since the presets give data rates.
// Left out: ACK packets on the wire, the RETH/immediate headers of first/last packets, WQE
// caching limits.
#pragma once

#include "models/common/fabric_node.h"
#include "sim/params.h"

namespace mlasim {

struct RdmaNicParams {
  Bytes mtu = Bytes::parse("4096B");
  Bytes ib_header = Bytes::parse("26B");
  Bytes pcie_max_payload = Bytes::parse("256B");
  Bytes pcie_tlp_overhead = Bytes::parse("24B");
  double ib_encoding = 1.0;
  double pcie_encoding = 1.0;
  Time doorbell_latency = Time::ns(500);
  Time processing_latency = Time::ns(100);
  Bytes buffer = Bytes::parse("128KiB");

  template <class V>
  void visit(V& v) {
    v("mtu", mtu, "B", "largest packet payload (IB MTU 256..4096)");
    v("ib_header", ib_header, "B",
      "IB bytes per packet besides payload: LRH 8 + BTH 12 + ICRC 4 + VCRC 2");
    v("pcie_max_payload", pcie_max_payload, "B", "PCIe max payload size (one TLP header each)");
    v("pcie_tlp_overhead", pcie_tlp_overhead, "B",
      "PCIe bytes per TLP besides payload: header, sequence number, LCRC, framing");
    v("ib_encoding", ib_encoding, "fraction",
      "share of the IB links' configured rate left for wire bytes after line coding and FEC (1: "
      "the rate is already the data rate, as NDR's 400 Gb/s is; 64b/66b would be 0.9697)");
    v("pcie_encoding", pcie_encoding, "fraction",
      "share of the PCIe link's configured rate left after line coding (1: the rate is already "
      "after it, as 63 GB/s for Gen5 x16 is; 64 GB/s raw would take 128b/130b, 0.9846)");
    v("doorbell_latency", doorbell_latency, "s",
      "from posting a message to its first byte moving: doorbell write, WQE fetch (uncertain)");
    v("processing_latency", processing_latency, "s",
      "per packet, from its tail arriving to its forwarding (uncertain)");
    v("buffer", buffer, "B", "receive buffer per port and virtual lane (uncertain)");
  }
  void validate(const ParamCheck& c) const {
    c.require(mtu.count() >= 256 && mtu.count() <= 4096, "mtu", "must be 256..4096 B (IB)");
    c.require(pcie_max_payload.count() >= 128, "pcie_max_payload", "must be >= 128 B");
    c.require(ib_encoding > 0.0 && ib_encoding <= 1.0, "ib_encoding", "must be in (0, 1]");
    c.require(pcie_encoding > 0.0 && pcie_encoding <= 1.0, "pcie_encoding", "must be in (0, 1]");
    require_credit_buffer(c, buffer);
  }
};

class RdmaNic : public FabricNode {
 public:
  RdmaNic(const RdmaNicParams& params, const ModuleEnv& env);
  PacketNodeTraits packet_traits() const override;

 private:
  RdmaNicParams params_;
};

}  // namespace mlasim
