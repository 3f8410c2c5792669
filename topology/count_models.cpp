// Slim Fly and Dragonfly closed forms (see count_models.h).
#include "topology/count_models.h"

#include <fmt/format.h>

#include "sim/errors.h"

namespace mlasim {
namespace {

struct SlimFlyShape {
  int64_t q = 0;
  int64_t network_radix = 0;  // k'
  int64_t p = 0;
};

// k' for a given q, or 0 when q = 2 (mod 4) has no MMS construction.
int64_t mms_radix(int64_t q) {
  switch (q % 4) {
    case 0:
      return 3 * q / 2;
    case 1:
      return (3 * q - 1) / 2;
    case 3:
      return (3 * q + 1) / 2;
    default:
      return 0;
  }
}

SlimFlyShape resolve(const SlimFlyParams& sp) {
  SlimFlyShape s;
  s.q = sp.q;
  if (s.q == 0) {
    for (int64_t q = 3; q <= sp.k; ++q) {
      const int64_t kn = mms_radix(q);
      const int64_t p = sp.p > 0 ? sp.p : (kn + 1) / 2;
      if (kn > 0 && kn + p <= sp.k) s.q = q;
    }
  }
  s.network_radix = mms_radix(s.q);
  s.p = sp.p > 0 ? sp.p : (s.network_radix + 1) / 2;
  return s;
}

struct DragonflyShape {
  int64_t p, a, h, g;
};

DragonflyShape resolve(const DragonflyParams& dp) {
  DragonflyShape s{dp.p > 0 ? dp.p : dp.k / 4, dp.a > 0 ? dp.a : dp.k / 2,
                   dp.h > 0 ? dp.h : dp.k / 4, 0};
  s.g = dp.groups > 0 ? dp.groups : s.a * s.h + 1;
  return s;
}

}  // namespace

void SlimFlyParams::validate(const ParamCheck& c) const {
  c.require(k >= 4, "k", "must be >= 4");
  c.require(q >= 0 && p >= 0, "q", "q and p must be >= 0");
  c.require(q == 0 || mms_radix(q) > 0, "q", "must be 0, 1 or 3 modulo 4 (MMS graphs)");
  const SlimFlyShape s = resolve(*this);
  if (q == 0) {
    c.require(s.q >= 3, "k", "too small for a Slim Fly");
  } else {
    c.require(q >= 3, "q", "must be at least 3 (smaller MMS graphs are not Slim Flies)");
  }
  c.require(s.network_radix + s.p <= k, "q",
            fmt::format("needs {} network + {} endpoint ports, more than k = {}", s.network_radix,
                        s.p, k));
}

void DragonflyParams::validate(const ParamCheck& c) const {
  c.require(k >= 4 && p >= 0 && a >= 0 && h >= 0 && groups >= 0, "k",
            "k must be >= 4 and p, a, h, groups >= 0");
  const DragonflyShape s = resolve(*this);
  c.require(s.p >= 1 && s.a >= 1 && s.h >= 1, "k", "p, a and h must resolve to >= 1");
  c.require(s.p + s.a - 1 + s.h <= k, "a",
            fmt::format("a router needs p + a - 1 + h = {} ports, more than k = {}",
                        s.p + s.a - 1 + s.h, k));
  c.require(s.g >= 2 && s.g <= s.a * s.h + 1, "groups", "must be between 2 and a*h + 1");
  c.require((s.g * s.a * s.h) % 2 == 0, "groups", "g*a*h must be even (global links pair up)");
}

FabricCounts slim_fly_counts(const SlimFlyParams& p) {
  const SlimFlyShape s = resolve(p);
  FabricCounts c;
  c.switches = 2 * s.q * s.q;
  c.endpoints = c.switches * s.p;
  c.links = s.q * s.q * s.network_radix;
  c.endpoint_links = c.endpoints;
  c.diameter_hops = 2;
  return c;
}

FabricCounts dragonfly_counts(const DragonflyParams& p) {
  const DragonflyShape s = resolve(p);
  FabricCounts c;
  c.switches = s.g * s.a;
  c.endpoints = c.switches * s.p;
  c.links = s.g * s.a * (s.a - 1) / 2 + s.g * s.a * s.h / 2;
  c.endpoint_links = c.endpoints;
  c.diameter_hops = 3;
  return c;
}

ClusterGraph SlimFlyModel::build() const {
  throw InputError("slim_fly is a count and cost model: it builds no cluster graph");
}

ClusterGraph DragonflyModel::build() const {
  throw InputError("dragonfly is a count and cost model: it builds no cluster graph");
}

}  // namespace mlasim
