// The smallest cluster (`type: single_switch`): nodes x GPUs, each GPU with its own NIC on
// PCIe, every NIC on one network switch (a tier-1 "leaf"). Intra-node traffic also crosses the
// switch unless `nvswitch: true` adds an NVSwitch per node. For the walking skeleton, tests and
// teaching. Leaves out everything a multi-switch fabric adds (see fat_tree_builders.h).
#pragma once

#include <cstdint>

#include "sim/params.h"
#include "topology/cluster_builder.h"

namespace mlasim {

struct SingleSwitchParams {
  int32_t nodes = 2;
  int32_t gpus_per_node = 2;
  bool nvswitch = false;
  int32_t k = 0;
  LinkParams links;
  CostParams cost;

  template <class V>
  void visit(V& v) {
    v("nodes", nodes, "count", "servers (at most 2^18 GPUs in all)");
    v("gpus_per_node", gpus_per_node, "count", "GPUs per server, each with its own NIC");
    v("nvswitch", nvswitch, "-", "connect the GPUs of a server through an NVSwitch");
    v("k", k, "ports", "switch radix; 0 = unlimited, else nodes x GPUs must fit");
    v.group("nvlink", links.nvlink, "GPU to its node's NVSwitch");
    v.group("pcie", links.pcie, "GPU to its NIC (GPUDirect RDMA through one PCIe switch)");
    v.group("ib", links.ib, "NIC to the switch");
    v.group("cost", cost, "unit prices for the cost metrics");
  }
  void validate(const ParamCheck& c) const {
    c.require(nodes >= 1, "nodes", "must be >= 1");
    c.require(gpus_per_node >= 1 && gpus_per_node <= 1024, "gpus_per_node",
              "must be between 1 and 1024");
    check_fabric_size(c, {nodes, int64_t{nodes} * gpus_per_node, 1, 0}, false);
    c.require(k >= 0, "k", "must be >= 0");
    c.require(k == 0 || int64_t{nodes} * gpus_per_node <= k, "k",
              "the switch has fewer ports than nodes x gpus_per_node NICs");
  }
};

class SingleSwitchBuilder : public ClusterBuilder {
 public:
  explicit SingleSwitchBuilder(const SingleSwitchParams& p) : p_(p) {}
  ClusterGraph build() const override;
  CostParams prices() const override { return p_.cost; }

 private:
  SingleSwitchParams p_;
};

}  // namespace mlasim
