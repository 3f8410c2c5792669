// Slim Fly and Dragonfly as count-and-cost models only: closed-form numbers of endpoints,
// switches, links and the diameter, priced like the graph-built fabrics. They build no graph,
// so routing, faults and bisection do not apply to them.
//
// Slim Fly (Besta & Hoefler, SC'14), MMS graphs: q = 4w + d with d in {-1, 0, 1}; 2q^2
// switches of network radix k' = (3q - d)/2 and p = ceil(k'/2) endpoints each; q^2 k' links;
// diameter 2. `q: 0` picks the largest q with k' + p <= k. The prime-power condition on q is
// not enforced: ISCA'25 Table 3 uses q = 28 for k = 64 (32,928 endpoints, 1,568 switches).
//
// Dragonfly (Kim et al., ISCA'08): groups of a routers, p endpoints and h global links per
// router, all-to-all inside a group, every global port used: g*a switches, g*a*p endpoints,
// g*a*(a-1)/2 + g*a*h/2 links; diameter 3 (local, global, local). Defaults for radix k:
// p = h = k/4, a = k/2, g = a*h + 1. ISCA'25 Table 3 uses g = 511 (configs/clusters).
#pragma once

#include <cstdint>
#include <optional>

#include "sim/params.h"
#include "topology/cluster_builder.h"

namespace mlasim {

struct SlimFlyParams {
  int32_t k = 64;
  int32_t q = 0;
  int32_t p = 0;
  CostParams cost;

  template <class V>
  void visit(V& v) {
    v("k", k, "ports", "switch radix");
    v("q", q, "count",
      "MMS parameter (2q^2 switches), 0, 1 or 3 modulo 4, at least 3; 0 = the largest that fits "
      "k, as ISCA'25 Table 3 counts it (q = 28 at k = 64, which is no prime power: counts and "
      "cost only, no MMS graph exists for it)");
    v("p", p, "count", "endpoints per switch; 0 = ceil(k'/2)");
    v.group("cost", cost, "unit prices for the cost metrics");
  }
  void validate(const ParamCheck& c) const;
};

struct DragonflyParams {
  int32_t k = 64;
  int32_t p = 0;
  int32_t a = 0;
  int32_t h = 0;
  int32_t groups = 0;
  CostParams cost;

  template <class V>
  void visit(V& v) {
    v("k", k, "ports", "switch radix");
    v("p", p, "count", "endpoints per router; 0 = k/4");
    v("a", a, "count", "routers per group; 0 = k/2");
    v("h", h, "count", "global links per router; 0 = k/4");
    v("groups", groups, "count", "number of groups; 0 = a*h + 1 (the largest)");
    v.group("cost", cost, "unit prices for the cost metrics");
  }
  void validate(const ParamCheck& c) const;
};

// Closed forms, with the zero ("auto") parameters resolved.
FabricCounts slim_fly_counts(const SlimFlyParams& p);
FabricCounts dragonfly_counts(const DragonflyParams& p);

class SlimFlyModel : public ClusterBuilder {
 public:
  explicit SlimFlyModel(const SlimFlyParams& p) : p_(p) {}
  ClusterGraph build() const override;
  std::optional<FabricCounts> count_model() const override { return slim_fly_counts(p_); }
  CostParams prices() const override { return p_.cost; }

 private:
  SlimFlyParams p_;
};

class DragonflyModel : public ClusterBuilder {
 public:
  explicit DragonflyModel(const DragonflyParams& p) : p_(p) {}
  ClusterGraph build() const override;
  std::optional<FabricCounts> count_model() const override { return dragonfly_counts(p_); }
  CostParams prices() const override { return p_.cost; }

 private:
  DragonflyParams p_;
};

}  // namespace mlasim
