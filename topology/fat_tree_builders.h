// Fat-tree cluster builders (ISCA'25 "Insights into DeepSeek-V3" §5.1 and Table 3):
//   ft2   two-tier fat-tree: leaves with `down` NIC ports and `up` uplinks, one link from every
//         leaf to every spine. k = 64: 2,048 endpoints, 64 leaves + 32 spines, 2,048 links.
//   mpft  multi-plane FT2: NIC i of every node sits on plane i mod `planes`, each plane its own
//         FT2 with no link between planes (cross-plane traffic is forwarded inside a node).
//         With `nic_planes` > 1 a NIC has a port on that many planes (ConnectX-8), splitting its
//         bandwidth over them; a NIC on every plane needs no forwarding, and `network.spray`
//         then spreads a message's packets over the planes.
//   mrft  multi-rail FT2: one fabric; NIC i of every node on a leaf of rail i, all leaves on
//         all spines.
//   ft3   three-tier k-ary fat-tree (Al-Fares et al.): k pods of k/2 leaves and k/2 spines
//         (aggregation), (k/2)^2 core switches. k = 64: 65,536 endpoints, 5,120 switches.
//
// `oversubscription` (two-tier builders) splits a leaf's k ports into down:up ~ ratio:1.
// `nodes: 0` fills the fabric. Left out: FT3 oversubscription, partial spines, and cable
// lengths beyond the electric/optical classes used for cost.
#pragma once

#include <cstdint>

#include "sim/params.h"
#include "topology/cluster_builder.h"

namespace mlasim {

// Down and up ports of a leaf for a given oversubscription (down/up), e.g. k=64, 1.0 -> 32/32.
struct LeafPorts {
  int32_t down = 0;
  int32_t up = 0;
};
LeafPorts split_leaf_ports(int32_t k, double oversubscription);

// Fields every fat-tree builder shares; visited flat.
struct FatTreeCommon {
  int32_t k = 64;
  int32_t nodes = 0;
  NodeParams node;
  LinkParams links;
  CostParams cost;

  template <class V>
  void visit_common(V& v) {
    v("k", k, "ports",
      "switch radix (ports per network switch; at most 65536, and the fabric at most 2^18 GPUs, "
      "2^16 switches and 2^20 switch-to-switch links)");
    v("nodes", nodes, "count", "servers; 0 = as many as the fabric holds");
    node.visit(v);
    v.group("nvlink", links.nvlink, "GPU to its node's NVSwitch");
    v.group("pcie", links.pcie, "GPU to its NIC (GPUDirect RDMA through one PCIe switch)");
    v.group("ib", links.ib, "NIC to its leaf switch");
    v.group("ib_fabric", links.ib_fabric, "switch to switch");
    v.group("cost", cost, "unit prices for the cost metrics");
  }
  void validate_common(const ParamCheck& c) const;
};

struct Ft2Params : FatTreeCommon {
  double oversubscription = 1.0;
  template <class V>
  void visit(V& v) {
    visit_common(v);
    v("oversubscription", oversubscription, "ratio",
      "leaf down:up port ratio (1 = full bisection)");
  }
  void validate(const ParamCheck& c) const;
  int64_t max_nodes() const;
  FabricSize size() const;

 protected:
  // Ports, and `nodes` against the capacity the concrete fabric computes.
  void validate_two_tier(const ParamCheck& c, int64_t max_nodes) const;
};

struct MpftParams : Ft2Params {
  int32_t planes = 8;
  int32_t nic_planes = 1;
  template <class V>
  void visit(V& v) {
    Ft2Params::visit(v);
    v("planes", planes, "count",
      "independent FT2 planes; NIC i of each node is on plane i mod planes");
    v("nic_planes", nic_planes, "count",
      "planes each NIC has a port on (ConnectX-8 style multi-plane NIC; divides planes): NIC i "
      "takes planes (i mod G) x nic_planes .. + nic_planes - 1, G = planes / nic_planes, each "
      "port at ib bandwidth / nic_planes on a leaf port split as finely (so switch counts stay "
      "those of nic_planes 1); 1: one port, on plane i mod planes; at most 16");
  }
  void validate(const ParamCheck& c) const;
  int64_t max_nodes() const;
  FabricSize size() const;
};

struct MrftParams : Ft2Params {
  void validate(const ParamCheck& c) const;
  int64_t max_nodes() const;
  FabricSize size() const;
};

struct Ft3Params : FatTreeCommon {
  template <class V>
  void visit(V& v) {
    visit_common(v);
  }
  void validate(const ParamCheck& c) const;
  int64_t max_nodes() const;
  FabricSize size() const;
  // What a fabric for `node_count` nodes builds: the leaves their NICs need (k/2 NICs each),
  // pods of up to k/2 leaves, k/2 spines per pod once there are two leaves, (k/2)^2 cores once
  // there are two pods. Parts that would carry nothing are left out, as in the two-tier fabrics.
  struct Shape {
    int64_t leaves = 0, pods = 0, spines_per_pod = 0, cores = 0;
  };
  Shape shape(int64_t node_count) const;
};

class Ft2Builder : public ClusterBuilder {
 public:
  explicit Ft2Builder(const Ft2Params& p) : p_(p) {}
  ClusterGraph build() const override;
  CostParams prices() const override { return p_.cost; }

 private:
  Ft2Params p_;
};

class MpftBuilder : public ClusterBuilder {
 public:
  explicit MpftBuilder(const MpftParams& p) : p_(p) {}
  ClusterGraph build() const override;
  CostParams prices() const override { return p_.cost; }

 private:
  MpftParams p_;
};

class MrftBuilder : public ClusterBuilder {
 public:
  explicit MrftBuilder(const MrftParams& p) : p_(p) {}
  ClusterGraph build() const override;
  CostParams prices() const override { return p_.cost; }

 private:
  MrftParams p_;
};

class Ft3Builder : public ClusterBuilder {
 public:
  explicit Ft3Builder(const Ft3Params& p) : p_(p) {}
  ClusterGraph build() const override;
  CostParams prices() const override { return p_.cost; }

 private:
  Ft3Params p_;
};

}  // namespace mlasim
