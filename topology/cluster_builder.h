// The interface every cluster builder implements, and the params the builders share: node
// internals (GPUs, NICs, NVSwitch), link specs per link class, and cable/switch unit prices.
//
// Builders are created from the YAML `type:` of a `cluster:` section through a
// ComponentTable<ClusterBuilder> (see topology/cluster_builders.h). Count-and-cost models
// (Slim Fly, Dragonfly) implement the same interface but build no graph.
//
// Left out: switch pipeline latency and buffers (a switch model concern, not a topology one),
// the per-node storage NIC of DeepSeek's deployment, and PCIe switches as separate vertices
// (their crossing latency is folded into the PCIe link latency).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "sim/params.h"
#include "sim/units.h"
#include "topology/cluster_graph.h"

namespace mlasim {

// One class of link: full duplex, same figures in each direction.
struct LinkSpec {
  Bandwidth bandwidth;
  Time latency;

  template <class V>
  void visit(V& v) {
    v("bandwidth", bandwidth, "B/s", "line rate per direction");
    v("latency", latency, "s", "propagation (wire, SerDes) per direction; no switch pipeline");
  }
  void validate(const ParamCheck& c) const {
    c.require(bandwidth.bytes_per_s() > 0 && std::isfinite(bandwidth.bytes_per_s()), "bandwidth",
              "must be finite and > 0");
  }
};

// Defaults: REFERENCE.md §2 and §4. Latencies are estimates (uncertain): ~5 ns/m in copper and
// fibre plus a little SerDes time. Visited flat: each class is a top-level key of the cluster
// section (`ib: {bandwidth: 400Gb/s, latency: 15ns}`).
struct LinkParams {
  // H800: 400 GB/s bidirectional NVLink, i.e. 200 GB/s per direction into the NVSwitch.
  LinkSpec nvlink{Bandwidth::parse("200GB/s"), Time::ns(25)};
  // PCIe Gen5 x16 raw: 32 GT/s x 16 lanes x 128/130 = 63 GB/s per direction. TLP overhead is
  // left to the link model (it depends on payload size). 100 ns covers one PCIe switch crossing.
  LinkSpec pcie{Bandwidth::parse("63GB/s"), Time::ns(100)};
  // ConnectX-7 NDR 400 Gb/s to its leaf over an in-rack copper cable (about 3 m).
  LinkSpec ib{Bandwidth::parse("400Gb/s"), Time::ns(15)};
  // Switch-to-switch 400 Gb/s over optical cables between racks (about 20 m).
  LinkSpec ib_fabric{Bandwidth::parse("400Gb/s"), Time::ns(100)};

  template <class V>
  void visit(V& v) {
    v.group("nvlink", nvlink, "GPU to its node's NVSwitch");
    v.group("pcie", pcie, "GPU to its NIC (GPUDirect RDMA through one PCIe switch)");
    v.group("ib", ib, "NIC to its leaf switch");
    v.group("ib_fabric", ib_fabric, "switch to switch");
  }
};

// Unit prices for the cost model of Besta & Hoefler (Slim Fly, SC'14): a price per network
// switch and per cable, electric (DAC) inside a rack, optical between racks. Endpoint cables
// (NIC to leaf) count as electric, every switch-to-switch cable as optical. NICs, servers and
// NVLink are not priced. The defaults are assumptions, not quotes: a 64-port 400G switch at
// about $625 per port, a 400G DAC at $600, and a 400G optical link (two transceivers and fibre)
// at $1,900. With them the k = 64 cost per endpoint lands within 2% of ISCA'25 Table 3 for FT2,
// MPFT, FT3, Slim Fly and Dragonfly (tests/topology/builders_test.cpp checks all five).
struct CostParams {
  double switch_usd = 40000;
  double electric_cable_usd = 600;
  double optical_cable_usd = 1900;

  template <class V>
  void visit(V& v) {
    v("switch_usd", switch_usd, "USD", "price of one network switch (NVSwitches excluded)");
    v("electric_cable_usd", electric_cable_usd, "USD", "in-rack cable, NIC to leaf");
    v("optical_cable_usd", optical_cable_usd, "USD", "cable between racks, switch to switch");
  }
  void validate(const ParamCheck& c) const {
    c.require(switch_usd >= 0, "switch_usd", "must be >= 0");
    c.require(electric_cable_usd >= 0, "electric_cable_usd", "must be >= 0");
    c.require(optical_cable_usd >= 0, "optical_cable_usd", "must be >= 0");
  }
};

// What is inside one server. Visited flat into each builder's params (no sub-section).
struct NodeParams {
  int32_t gpus_per_node = 8;
  int32_t nics_per_node = 8;
  bool nvswitch = true;

  template <class V>
  void visit(V& v) {
    v("gpus_per_node", gpus_per_node, "count", "GPUs per server");
    v("nics_per_node", nics_per_node, "count",
      "network NICs per server; GPU i uses NIC i*nics/gpus over PCIe");
    v("nvswitch", nvswitch, "-",
      "GPUs of a server share an NVSwitch crossbar (false: no NVLink, all traffic on the NICs)");
  }
  void validate(const ParamCheck& c) const {
    c.require(gpus_per_node >= 1 && gpus_per_node <= 1024, "gpus_per_node",
              "must be between 1 and 1024");
    c.require(nics_per_node >= 1 && nics_per_node <= gpus_per_node, "nics_per_node",
              "must be between 1 and gpus_per_node");
    c.require(gpus_per_node % nics_per_node == 0, "nics_per_node",
              "must divide gpus_per_node (each NIC serves the same number of GPUs)");
  }
};

// Counts a fabric is priced from; graph builders derive them from the graph (metrics.h),
// count-only models from closed forms.
struct FabricCounts {
  int64_t endpoints = 0;       // NICs on the fabric (a multi-plane NIC counts once)
  int64_t switches = 0;        // network switches
  int64_t links = 0;           // switch-to-switch links (ISCA'25 Table 3's "links")
  int64_t endpoint_links = 0;  // NIC-to-switch links (one per NIC port)
  int64_t diameter_hops = -1;  // switch-to-switch hops between the farthest endpoints; -1 unknown

  int64_t cables() const { return links + endpoint_links; }
};

struct CostBreakdown {
  double switches_usd = 0;
  double electric_cables_usd = 0;
  double optical_cables_usd = 0;
  double total_usd() const { return switches_usd + electric_cables_usd + optical_cables_usd; }
};

inline CostBreakdown price_fabric(const FabricCounts& c, const CostParams& p) {
  return {static_cast<double>(c.switches) * p.switch_usd,
          static_cast<double>(c.endpoint_links) * p.electric_cable_usd,
          static_cast<double>(c.links) * p.optical_cable_usd};
}

// Largest fabric a graph builder makes: four times the largest shipped one (FT3 at k = 64:
// 65,536 GPUs, 5,120 switches, 131,072 switch-to-switch links), which `mlasim topology` builds
// and routes in about ten seconds; time and memory grow faster than the size. The switch radix
// is bounded too, which keeps the builders' closed-form counts far inside 64 bits.
inline constexpr int64_t kMaxClusterGpus = int64_t{1} << 18;
inline constexpr int64_t kMaxClusterSwitches = int64_t{1} << 16;
inline constexpr int64_t kMaxClusterSwitchLinks = int64_t{1} << 20;
inline constexpr int32_t kMaxSwitchRadix = 65536;

// What a graph builder will make, from its params (checked before anything is built).
struct FabricSize {
  int64_t nodes = 0;
  int64_t gpus = 0;
  int64_t switches = 0;  // network switches (NVSwitches excluded)
  int64_t links = 0;     // switch-to-switch links
};

// Fails validation when a fabric exceeds the limits above. `filled`: the node count is what
// the fabric holds (`nodes: 0`), so the error names `k` rather than `nodes`.
inline void check_fabric_size(const ParamCheck& c, const FabricSize& s, bool filled) {
  const std::string_view key = filled ? "k" : "nodes";
  c.require(s.gpus <= kMaxClusterGpus, key,
            fmt::format("{}{} nodes have {} GPUs, more than the {} (2^18) a cluster may have",
                        filled ? "filled (nodes: 0), the fabric's " : "", s.nodes, s.gpus,
                        kMaxClusterGpus));
  c.require(s.switches <= kMaxClusterSwitches, key,
            fmt::format("the fabric has {} network switches, more than the {} (2^16) a cluster "
                        "may have",
                        s.switches, kMaxClusterSwitches));
  c.require(s.links <= kMaxClusterSwitchLinks, key,
            fmt::format("the fabric has {} switch-to-switch links, more than the {} (2^20) a "
                        "cluster may have",
                        s.links, kMaxClusterSwitchLinks));
}

class ClusterBuilder {
 public:
  virtual ~ClusterBuilder() = default;
  // The cluster graph; count-only models throw InputError.
  virtual ClusterGraph build() const = 0;
  // Closed-form counts for models that build no graph; nullopt for graph builders.
  virtual std::optional<FabricCounts> count_model() const { return std::nullopt; }
  // Unit prices for the cost metrics.
  virtual CostParams prices() const { return {}; }
};

}  // namespace mlasim
