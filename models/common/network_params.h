// Params of the `network:` scenario section (fidelity, virtual lanes, GPU ports, faults,
// reports) and the facts each packet-capable node tells the fabric about itself
// (PacketNodeTraits). Hardware figures of NICs and switches live in their own params structs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"
#include "sim/units.h"

namespace mlasim {

// message: placeholder links move whole messages (fixed_latency nodes); packet: MTU packets
// with credits; flow: max-min fair fluid flows over the same routes; auto: packet when every
// NIC/switch model supports it, else message.
enum class NetworkFidelity : uint8_t { Auto, Message, Packet, Flow };
enum class Arbitration : uint8_t { RoundRobin, Fcfs };

template <>
struct EnumNames<NetworkFidelity> {
  static constexpr std::array<std::pair<NetworkFidelity, std::string_view>, 4> values{
      {{NetworkFidelity::Auto, "auto"},
       {NetworkFidelity::Message, "message"},
       {NetworkFidelity::Packet, "packet"},
       {NetworkFidelity::Flow, "flow"}}};
};

template <>
struct EnumNames<Arbitration> {
  static constexpr std::array<std::pair<Arbitration, std::string_view>, 2> values{
      {{Arbitration::RoundRobin, "round_robin"}, {Arbitration::Fcfs, "fcfs"}}};
};

// Bytes a protocol adds on a link: `header` per `segment` bytes of payload (PCIe: one TLP
// header per max-payload chunk), or per packet when segment is 0 (IB: LRH/BTH/CRCs per MTU
// packet). `encoding`: fraction of the line rate left for bytes after line coding.
struct LinkOverhead {
  uint32_t segment = 0;
  uint32_t header = 0;
  double encoding = 1.0;
  uint64_t wire_bytes(uint64_t payload) const {
    if (segment == 0) return payload + header;
    const uint64_t chunks = payload == 0 ? 1 : (payload + segment - 1) / segment;
    return payload + chunks * header;
  }
};

// What a node tells the packet fabric: how long a packet takes from arrival to its routing
// decision, whether it may leave before its tail has arrived, the input buffer it advertises
// as credits, and the setup latency of a message whose first NIC it is (a NIC's doorbell).
struct PacketNodeTraits {
  Time pipeline;                        // arrival (head or tail) to forwarding decision
  Time sink_latency;                    // tail arrival to delivery, for packets addressed here
  bool cut_through = false;             // forward from the head (true) or the tail (false)
  uint64_t buffer_per_vl = 256 * 1024;  // input buffer per port and virtual lane, bytes
  std::string_view buffer_key;          // the config key that sets it (for messages)
  // Shared buffer per port (0: none): a packet that has to wait for its output moves into the
  // node's shared pool (ports x this) when there is room for it, handing its input credits
  // back; an output's share is capped by a dynamic threshold, shared_alpha x the pool free.
  uint64_t shared_per_port = 0;
  std::string_view shared_key;  // the config key that sets it (for messages)
  double shared_alpha = 1.0;
  Time message_setup;        // NIC: doorbell of a message whose first NIC it is; GPU: SM issue
  uint32_t max_payload = 0;  // largest packet payload this node carries (0: any)
  Arbitration arbitration = Arbitration::RoundRobin;
  // Protocol overheads this node defines for links of a kind (NIC: IB and PCIe). IB links
  // between two switches take the NICs' (the header rides on the packet; one line coding).
  std::optional<LinkOverhead> ib, pcie, nvlink;
};

// A per-virtual-lane receive buffer advertised as 64 B credits: at least one credit, and at most
// just under 128 GiB (credit counts are signed 32-bit).
inline void require_credit_buffer(const ParamCheck& c, const Bytes& buffer) {
  c.require(buffer.count() >= 64, "buffer", "must be >= 64 B (one credit)");
  c.require(buffer.count() < (uint64_t{1} << 37), "buffer", "must be < 128 GiB");
}

// GPU side of the GPU's links (its NVLink and PCIe ports) in packet mode.
struct GpuPortParams {
  Bytes buffer = Bytes::parse("256KiB");
  Time forward_latency = Time::ns(300);
  Time issue_latency = Time::ns(0);
  template <class V>
  void visit(V& v) {
    v("buffer", buffer, "B",
      "receive buffer of a GPU port per virtual lane (credits it advertises; GPU memory sinks "
      "packets at line rate, so it matters only for forwarded traffic)");
    v("forward_latency", forward_latency, "s",
      "tail arrival to forwarding of a packet for another GPU (cross-plane forwarding by SMs, "
      "packet by packet; forwarding to a NIC at the sender pays that NIC's doorbell once per "
      "message, at the message's start; uncertain)");
    v("issue_latency", issue_latency, "s",
      "extra time before an SM-issued message's first byte moves (added to the setup of the "
      "first NIC on its path, its doorbell)");
  }
  void validate(const ParamCheck& c) const { require_credit_buffer(c, buffer); }
};

// A fault at a simulated time: one of link, switch, nic or plane; a link either goes down
// (bandwidth_factor 0) or keeps running at a fraction of its rate.
struct FaultEventParams {
  Time at;
  std::string link;
  std::string switch_name;
  std::string nic;
  int32_t plane = -1;
  double bandwidth_factor = 0.0;
  template <class V>
  void visit(V& v) {
    v.required("at", at, "s", "simulated time of the fault");
    v("link", link, "-", "the cable 'A:B' between two named vertices (both directions)");
    v("switch", switch_name, "-", "a network switch or NVSwitch by name: all its links go down");
    v("nic", nic, "-", "a NIC by name: its PCIe and network links go down");
    v("plane", plane, "-", "a plane (rail): every switch and NIC on it goes down (-1: none)");
    v("bandwidth_factor", bandwidth_factor, "fraction",
      "link only: 0 takes it down; a value in (0, 1) keeps it up at that fraction of its "
      "nominal rate (a later one on the same link replaces it)");
  }
  void validate(const ParamCheck& c) const {
    const int named = static_cast<int>(!link.empty()) + static_cast<int>(!switch_name.empty()) +
                      static_cast<int>(!nic.empty()) + static_cast<int>(plane >= 0);
    c.require(named == 1, "link", "give exactly one of link, switch, nic or plane");
    c.require(at.ps() >= 0, "at", "must be >= 0");
    c.require(bandwidth_factor >= 0.0 && bandwidth_factor < 1.0, "bandwidth_factor",
              "must be in [0, 1)");
    c.require(bandwidth_factor == 0.0 || !link.empty(), "bandwidth_factor",
              "only a link can be degraded");
  }
  bool degrades() const { return bandwidth_factor > 0.0; }
};

struct NetworkFaultParams {
  std::vector<std::string> links;  // "A:B"
  std::vector<std::string> switches;
  std::vector<std::string> nics;
  std::vector<int32_t> planes;
  std::vector<FaultEventParams> events;
  Time detection_delay = Time::us(10);
  template <class V>
  void visit(V& v) {
    v("links", links, "-", "links failed before the run, each 'A:B' with two vertex names");
    v("switches", switches, "-",
      "switches (network switches or NVSwitches) failed before the run, by name");
    v("nics", nics, "-", "NICs failed before the run, by name");
    v("planes", planes, "-", "planes failed before the run (every switch and NIC on them)");
    v.list("events", events,
           "faults at a simulated time (packet fidelity): packets on a dead link are lost and "
           "retransmitted; routes are rebuilt after detection_delay");
    v("detection_delay", detection_delay, "s",
      "from a fault to the network using routes rebuilt without the failed parts (subnet "
      "manager sweep or self-healing switch firmware; uncertain)");
  }
  // Faults applied to the graph before the run.
  bool empty() const { return links.empty() && switches.empty() && nics.empty() && planes.empty(); }
  // One line per part failed before the run, worded as the timed faults are ("link A:B down").
  std::vector<std::string> before_run_lines() const {
    std::vector<std::string> out;
    for (int32_t plane : planes)
      out.push_back("plane " + std::to_string(plane) + " down");
    for (const std::string& name : switches)
      out.push_back("switch " + name + " down");
    for (const std::string& name : nics)
      out.push_back("NIC " + name + " down");
    for (const std::string& link : links)
      out.push_back("link " + link + " down");
    return out;
  }
};

// End-to-end reliability of the RDMA transport (RC) when packets are lost: the requester's
// timer, then go-back-N (resend from the first lost packet on) or selective repeat (only the
// lost ones).
enum class RetransmitMode : uint8_t { GoBackN, SelectiveRepeat };

template <>
struct EnumNames<RetransmitMode> {
  static constexpr std::array<std::pair<RetransmitMode, std::string_view>, 2> values{
      {{RetransmitMode::GoBackN, "go_back_n"}, {RetransmitMode::SelectiveRepeat, "selective"}}};
};

struct RetransmitParams {
  Time timeout = Time::ns(32768);
  RetransmitMode mode = RetransmitMode::GoBackN;
  int32_t max_retries = 7;
  bool nak = true;
  template <class V>
  void visit(V& v) {
    v("timeout", timeout, "s",
      "from a packet's loss to its resend (IB local ACK timeout 4.096 us x 2^n; this is n = 3; "
      "NCCL's default is far longer)");
    v("nak", nak, "-",
      "the receiver answers a gap in a message's packets with a NAK, and the sender resends one "
      "path latency later instead of at the timeout (IB RC NAK-sequence error); only where a "
      "message's packets keep to one path (no spray, no per-packet adaptive routing)");
    v("mode", mode, "-",
      "go_back_n (resend everything from the first lost packet, as ConnectX RC does) or "
      "selective (only the lost packets)");
    v("max_retries", max_retries, "count",
      "resends of one message's lost packets, at a timeout or a NAK; it fails at the timeout or "
      "NAK after the last (IB retry_cnt, at most 7); a failed message stops the run with exit 3");
  }
  void validate(const ParamCheck& c) const {
    c.require(timeout.ps() > 0, "timeout", "must be > 0");
    c.require(max_retries >= 0 && max_retries <= 7, "max_retries",
              "must be in [0, 7] (the 3-bit IB retry count)");
  }
};

struct NetworkReportParams {
  Time bin = Time::us(1);
  int32_t max_bins = 128;
  int32_t timeseries_max_links = 20000;
  int32_t hotspots = 10;
  uint64_t max_message_rows = 1'000'000;
  template <class V>
  void visit(V& v) {
    v("bin", bin, "s",
      "initial width of the time-series bins (doubles whenever a series would need more than "
      "max_bins)");
    v("max_bins", max_bins, "count", "most bins per link time series");
    v("timeseries_max_links", timeseries_max_links, "count",
      "time series are kept only when the network has at most this many link directions");
    v("hotspots", hotspots, "count", "links listed as hot spots (most credit-stall time)");
    v("max_message_rows", max_message_rows, "count",
      "messages kept in full, the first injected: the rows of messages.csv (every message "
      "counts in the FCT figures)");
  }
  void validate(const ParamCheck& c) const {
    c.require(bin.ps() > 0, "bin", "must be > 0");
    c.require(max_bins >= 2, "max_bins", "must be >= 2");
    c.require(timeseries_max_links >= 0, "timeseries_max_links", "must be >= 0");
    c.require(hotspots >= 0, "hotspots", "must be >= 0");
  }
};

// Flow fidelity's approximation. Exact max-min recomputes the rates at every flow start and
// end; with a quantum Q > 0 and more than `exact_below` flows transferring, rates are
// recomputed at most once per Q: a flow that starts sooner waits for the next recomputation
// (less than Q; at once if no other flow uses its links), and a flow that ends sooner is
// complete at its exact time but keeps its share of its links until then.
struct FlowParams {
  Time rate_update = Time::us(10);
  uint32_t exact_below = 256;
  template <class V>
  void visit(V& v) {
    v("rate_update", rate_update, "s",
      "flow fidelity: recompute max-min rates at most once per this quantum, batching the flow "
      "starts and ends in between (a start waits less than one quantum, an ended flow holds "
      "its share until the next recomputation); 0: exact, at every start and end");
    v("exact_below", exact_below, "count",
      "flow fidelity: with at most this many flows transferring, recompute at every start and "
      "end regardless of rate_update (small runs stay exact at little cost)");
  }
  void validate(const ParamCheck& c) const {
    c.require(rate_update.ps() >= 0, "rate_update", "must be >= 0");
  }
};

// Timed notifications the event-rate probe may run: 50 times the benchmark's 2 million, a few
// seconds at SystemC's rate of tens of millions per second.
inline constexpr uint64_t kMaxProbeEvents = 100'000'000;

struct NetworkParams {
  NetworkFidelity fidelity = NetworkFidelity::Auto;
  int32_t vls = 1;
  bool spray = false;
  bool in_order = true;
  GpuPortParams gpu_port;
  NetworkFaultParams faults;
  RetransmitParams retransmit;
  NetworkReportParams report;
  FlowParams flow;
  uint64_t probe_events = 0;

  template <class V>
  void visit(V& v) {
    v("fidelity", fidelity, "-",
      "message (placeholder whole-message links), packet (MTU packets, credits), flow (max-min "
      "fair fluid flows) or auto (packet unless a placeholder NIC/switch is used)");
    v("vls", vls, "count", "data virtual lanes (IB VL0-14); a message uses VL (its vl mod vls)");
    v("spray", spray, "-",
      "choose among equal-cost next hops per packet rather than per flow (ConnectX-8 style "
      "spraying, over planes too with mpft nic_planes; needs the receiver to reorder)");
    v("in_order", in_order, "-",
      "complete the messages between two GPUs (src, dst) in the order they were posted, as "
      "ConnectX-7 does per queue pair (here all queue pairs of the two GPUs together)");
    v.group("gpu_port", gpu_port, "GPU end of NVLink and PCIe links in packet mode");
    v.group("faults", faults,
            "links, switches, NICs or planes failed before the run or at a simulated time");
    v.group("retransmit", retransmit, "NIC retransmission of packets lost to faults");
    v.group("report", report, "congestion and traffic reports");
    v.group("flow", flow, "flow fidelity (network.fidelity: flow): rate recomputation");
    v("probe_events", probe_events, "count",
      "benchmarks: after the run, time this many raw SystemC timed notifications and report "
      "the rate (0: off; at most 10^8, a few seconds)");
  }
  void validate(const ParamCheck& c) const {
    c.require(vls >= 1 && vls <= 15, "vls", "must be between 1 and 15");
    c.require(probe_events <= kMaxProbeEvents, "probe_events",
              fmt::format("must be at most {} (10^8)", kMaxProbeEvents));
  }
};

}  // namespace mlasim
