// Routing on small fabrics checked by hand: up/down shape with no loops, hop counts, path
// counts against the fat-tree closed forms, ECMP spread and determinism, the adaptive pick,
// the cross-plane rule of the multi-plane fat-tree, and the size of the tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "sim/errors.h"
#include "sim/params.h"
#include "tests/topology/topology_test_util.h"
#include "topology/fat_tree_builders.h"
#include "topology/faults.h"
#include "topology/routing.h"
#include "topology/single_switch.h"

namespace mlasim {
namespace {

using testing_util::is_up_down_route;
using testing_util::shape_of;

ClusterGraph ft2(int k, bool nvswitch = true) {
  Ft2Params p;
  p.k = k;
  p.node.nvswitch = nvswitch;
  return Ft2Builder(p).build();
}

ClusterGraph mpft_k4() {
  MpftParams p;
  p.k = 4;  // 8 planes of 4 leaves (2 NIC ports each) and 2 spines: 8 nodes of 8 GPUs
  return MpftBuilder(p).build();
}

Vertex leaf_of(const ClusterGraph& c, int rank) {
  const Vertex nic = c.nic_of_gpu(rank);
  for (auto [it, end] = boost::out_edges(nic, c.g); it != end; ++it) {
    if (c.g[boost::target(*it, c.g)].kind == VertexKind::Leaf) return boost::target(*it, c.g);
  }
  return ClusterGraph::null_vertex();
}

TEST(Routing, EveryFt2RouteGoesUpThenDownWithoutLoops) {
  for (int k : {4, 8}) {
    const ClusterGraph c = ft2(k, /*nvswitch=*/false);  // all traffic through the fabric
    const RoutingTables r(c);
    const int gpus = static_cast<int>(c.num_gpus());
    for (int a = 0; a < gpus; ++a) {
      for (int b = 0; b < gpus; ++b) {
        if (a == b) continue;
        for (uint64_t flow = 0; flow < 4; ++flow) {
          const auto path = r.route(a, b, flow_hash(a, b, flow));
          ASSERT_TRUE(is_up_down_route(c, path, a, b)) << "k=" << k;
          // Same leaf: GPU NIC leaf NIC GPU. Otherwise leaf, spine, leaf.
          const size_t expected = leaf_of(c, a) == leaf_of(c, b) ? 5 : 7;
          ASSERT_EQ(path.size(), expected) << a << "->" << b;
        }
      }
    }
  }
}

TEST(Routing, IntraNodeTrafficCrossesTheNvSwitchOnly) {
  const ClusterGraph c = ft2(8);
  const RoutingTables r(c);
  const auto path = r.route(0, 7, 0);
  ASSERT_EQ(path.size(), 3u);
  EXPECT_EQ(c.g[path[1]].kind, VertexKind::NvSwitch);
}

TEST(Routing, PathCountsMatchFatTreeClosedForms) {
  const ClusterGraph c2 = ft2(8, /*nvswitch=*/false);  // NICs 0-3 on leaf 0, 4-7 on leaf 1
  const RoutingTables r2(c2);
  EXPECT_EQ(r2.count_paths(0, 31), 4u);  // k/2 spines between two leaves
  EXPECT_EQ(r2.count_paths(0, 4), 4u);
  EXPECT_EQ(r2.count_paths(0, 3), 1u);  // same leaf
  EXPECT_EQ(r2.fabric_stats().min_paths, 4u);
  EXPECT_EQ(r2.fabric_stats().diameter_hops, 2);

  Ft3Params p;
  p.k = 4;
  p.node = {4, 4, true};  // 4 nodes, one per pod; NICs 0-1 and 2-3 on a pod's two leaves
  const ClusterGraph c3 = Ft3Builder(p).build();
  const RoutingTables r3(c3);
  EXPECT_EQ(r3.count_paths(0, 4), 4u);  // other pod: (k/2)^2 via the cores
  EXPECT_EQ(r3.count_paths(0, 2), 1u);  // same node: the NVSwitch
  const auto st = r3.fabric_stats();
  EXPECT_EQ(st.diameter_hops, 4);
  EXPECT_EQ(st.min_paths, 2u);  // two leaves of one pod: k/2 spines
  EXPECT_EQ(st.max_paths, 4u);
  for (int a = 0; a < 16; ++a) {
    for (int b = 0; b < 16; ++b) {
      if (a == b) continue;
      ASSERT_TRUE(is_up_down_route(c3, r3.route(a, b, flow_hash(a, b, 3)), a, b));
    }
  }
}

TEST(Routing, LeafOffersEveryUpPortForARemoteLeaf) {
  const ClusterGraph c = ft2(8);
  const RoutingTables r(c);
  const Vertex leaf = leaf_of(c, 0);
  const auto hops = r.next_hops(leaf, 31);
  ASSERT_EQ(hops.size(), 4u);
  for (Vertex h : hops)
    EXPECT_EQ(c.g[h].kind, VertexKind::Spine);
  const auto down = r.next_hops(leaf, 1);  // GPU 1's NIC sits on this leaf
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0], c.nic_of_gpu(1));
  EXPECT_TRUE(r.next_hops(c.gpus[5], 5).empty());  // arrived
}

TEST(Routing, EcmpSpreadsFlowsEvenlyAcrossSpines) {
  const ClusterGraph c = ft2(8);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const RoutingTables r(c, {RoutingMode::Ecmp, CrossPlaneForwarding::Sender, seed});
    std::map<Vertex, int> per_spine;
    int flows = 0;
    for (int a = 0; a < 32; ++a) {
      for (int b = 0; b < 32; ++b) {
        if (a / 8 == b / 8) continue;  // same node: NVLink; other nodes are on other leaves
        for (uint64_t f = 0; f < 4; ++f) {
          const auto path = r.route(a, b, flow_hash(a, b, f));
          ASSERT_EQ(path.size(), 7u);
          ++per_spine[path[3]];
          ++flows;
        }
      }
    }
    ASSERT_EQ(flows, 3072);
    ASSERT_EQ(per_spine.size(), 4u);
    int lo = flows, hi = 0;
    for (const auto& [spine, n] : per_spine)
      lo = std::min(lo, n), hi = std::max(hi, n);
    // 768 flows per spine if perfectly even; a fair hash keeps each within 3 sigma (+-72).
    EXPECT_LT(static_cast<double>(hi) / lo, 1.2) << "seed " << seed << ": " << hi << "/" << lo;
  }
}

TEST(Routing, EcmpIsDeterministicForASeedAndChangesWithIt) {
  const ClusterGraph c = ft2(8);
  const RoutingTables r1(c, {RoutingMode::Ecmp, CrossPlaneForwarding::Sender, 1});
  const RoutingTables r1_again(c, {RoutingMode::Ecmp, CrossPlaneForwarding::Sender, 1});
  const RoutingTables r2(c, {RoutingMode::Ecmp, CrossPlaneForwarding::Sender, 2});
  const Vertex leaf = leaf_of(c, 0);
  int differ = 0;
  for (uint64_t f = 0; f < 64; ++f) {
    const uint64_t h = flow_hash(0, 31, f);
    EXPECT_EQ(r1.pick_ecmp(leaf, 31, h), r1_again.pick_ecmp(leaf, 31, h));
    differ += r1.pick_ecmp(leaf, 31, h) != r2.pick_ecmp(leaf, 31, h);
  }
  EXPECT_GT(differ, 16);  // a new seed re-deals about 3/4 of the flows
}

TEST(Routing, AdaptivePickTakesTheLeastLoadedUpPort) {
  const ClusterGraph c = ft2(8);
  const RoutingTables r(c, {RoutingMode::Adaptive, CrossPlaneForwarding::Sender, 0});
  const Vertex leaf = leaf_of(c, 0);
  const auto hops = r.next_hops(leaf, 31);
  ASSERT_EQ(hops.size(), 4u);
  const Vertex idle = hops[2];
  auto load = [&](Vertex, Vertex to) { return to == idle ? 0 : 10; };
  for (uint64_t f = 0; f < 16; ++f)
    EXPECT_EQ(r.pick_least_loaded(leaf, 31, f, load), idle);
}

TEST(Routing, MpftCrossPlaneAtSenderUsesOneNvLinkHopOnTheSendingNode) {
  const ClusterGraph c = mpft_k4();
  const RoutingTables r(c);  // cross_plane: sender
  // GPU 0 (node 0, plane 0) to GPU 8*5 + 3 (node 5, plane 3).
  const int src = 0, dst = 5 * 8 + 3;
  for (uint64_t f = 0; f < 8; ++f) {
    const auto path = r.route(src, dst, flow_hash(src, dst, f));
    ASSERT_TRUE(is_up_down_route(c, path, src, dst));
    const auto s = shape_of(c, path);
    EXPECT_EQ(s.nvswitches, 1);
    EXPECT_EQ(s.nvlink_edges, 2);  // GPU -> NVSwitch -> GPU: one NVLink transfer
    EXPECT_EQ(c.g[s.nvswitch_at[0]].node, 0);
    EXPECT_EQ(s.switch_runs, 1);
    for (int plane : s.planes)
      EXPECT_EQ(plane, 3);
    EXPECT_EQ(path[2], c.gpus[3]);  // node 0's plane-3 GPU forwards
  }
  // Same plane: no NVLink at all.
  const auto same = shape_of(c, r.route(0, 5 * 8, 0));
  EXPECT_EQ(same.nvlink_edges, 0);
  // Every cross-node pair: exactly one NVLink transfer if the planes differ, none otherwise.
  for (int a = 0; a < 64; ++a) {
    for (int b = 0; b < 64; ++b) {
      if (a / 8 == b / 8) continue;
      const auto path = r.route(a, b, flow_hash(a, b, 0));
      ASSERT_TRUE(is_up_down_route(c, path, a, b));
      EXPECT_EQ(shape_of(c, path).nvlink_edges, a % 8 == b % 8 ? 0 : 2) << a << "->" << b;
    }
  }
}

TEST(Routing, MpftCrossPlaneAtReceiverForwardsOnTheReceivingNode) {
  const ClusterGraph c = mpft_k4();
  const RoutingTables r(c, {RoutingMode::Ecmp, CrossPlaneForwarding::Receiver, 0});
  const int src = 0, dst = 5 * 8 + 3;
  const auto path = r.route(src, dst, 0);
  ASSERT_TRUE(is_up_down_route(c, path, src, dst));
  const auto s = shape_of(c, path);
  EXPECT_EQ(s.nvswitches, 1);
  EXPECT_EQ(s.nvlink_edges, 2);
  EXPECT_EQ(c.g[s.nvswitch_at[0]].node, 5);
  for (int plane : s.planes)
    EXPECT_EQ(plane, 0);
  // The GPU's own next hop is its NIC, not the NVSwitch.
  const auto first = r.next_hops(c.gpus[src], dst);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(c.g[first[0]].kind, VertexKind::Nic);
}

// Multi-plane NICs (mpft nic_planes, ConnectX-8 style), on 8 nodes of 8 GPUs, 8 planes, k = 4.
ClusterGraph mpft_k4_nic_planes(int32_t nic_planes) {
  MpftParams p;
  p.k = 4;
  p.nic_planes = nic_planes;
  return MpftBuilder(p).build();
}

// The wiring: NIC i has a port on each plane (i mod G) x nic_planes + j (G = planes /
// nic_planes) at 1/nic_planes of the NIC's rate; switch counts are those of single-port NICs
// (leaf ports are split as finely), and the builder's own size() agrees.
TEST(Routing, MultiPlaneNicsHaveOnePortPerPlaneOfTheirGroup) {
  const ClusterGraph one = mpft_k4();
  for (int32_t np : {2, 4, 8}) {
    const ClusterGraph c = mpft_k4_nic_planes(np);
    const int32_t groups = 8 / np;
    EXPECT_EQ(c.nodes, one.nodes);
    MpftParams p;
    p.k = 4;
    p.nic_planes = np;
    const FabricSize size = p.size();
    int64_t switches = 0;
    for (auto [it, end] = boost::vertices(c.g); it != end; ++it)
      switches += is_network_switch(c.g[*it].kind) ? 1 : 0;
    EXPECT_EQ(switches, size.switches) << np;
    int64_t single_switches = 0;
    for (auto [it, end] = boost::vertices(one.g); it != end; ++it)
      single_switches += is_network_switch(one.g[*it].kind) ? 1 : 0;
    EXPECT_EQ(switches, single_switches) << np;
    for (size_t x = 0; x < c.nics.size(); ++x) {
      std::set<int32_t> planes;
      for (auto [it, end] = boost::out_edges(c.nics[x], c.g); it != end; ++it) {
        const VertexProps& leaf = c.g[boost::target(*it, c.g)];
        if (leaf.kind != VertexKind::Leaf) continue;
        planes.insert(leaf.plane);
        EXPECT_DOUBLE_EQ(c.g[*it].bandwidth.bytes_per_s(),
                         LinkParams{}.ib.bandwidth.bytes_per_s() / np);
      }
      std::set<int32_t> want;
      for (int32_t j = 0; j < np; ++j)
        want.insert(static_cast<int32_t>(x % 8) % groups * np + j);
      EXPECT_EQ(planes, want) << "NIC " << x << " nic_planes " << np;
      EXPECT_EQ(c.g[c.nics[x]].plane, -1);  // on several planes
    }
  }
}

// A NIC on every plane reaches every other NIC directly: no NVLink forwarding, and towards
// another node it offers all its planes as next hops (one per flow by ECMP, every one used over
// many flows), so the paths multiply by the planes.
TEST(Routing, NicsOnEveryPlaneOfferEveryPlaneAndNeedNoForwarding) {
  const ClusterGraph c = mpft_k4_nic_planes(8);
  const ClusterGraph single = mpft_k4();
  const RoutingTables r(c), rs(single);
  const int src = 0, dst = 5 * 8 + 3;  // planes 0 and 3 with single-port NICs
  const auto up = r.next_hops(c.nic_of_gpu(src), dst);
  ASSERT_EQ(up.size(), 8u);
  std::set<int32_t> planes_used;
  for (uint64_t f = 0; f < 64; ++f) {
    const auto path = r.route(src, dst, flow_hash(src, dst, f));
    ASSERT_TRUE(is_up_down_route(c, path, src, dst));
    const auto s = shape_of(c, path);
    EXPECT_EQ(s.nvlink_edges, 0);
    EXPECT_EQ(s.switch_runs, 1);
    planes_used.insert(s.planes.front());
  }
  EXPECT_EQ(planes_used.size(), 8u);
  // Within one plane the same up/down paths as a single-port NIC's between two same-plane GPUs.
  EXPECT_EQ(r.count_paths(src, dst), 8 * rs.count_paths(0, 5 * 8));
  for (int a = 0; a < 64; ++a) {
    for (int b = 0; b < 64; ++b) {
      if (a == b) continue;
      const auto path = r.route(a, b, flow_hash(a, b, 1));
      ASSERT_TRUE(is_up_down_route(c, path, a, b)) << a << "->" << b;
      EXPECT_EQ(shape_of(c, path).nvlink_edges, a / 8 == b / 8 ? 2 : 0) << a << "->" << b;
    }
  }
}

// NICs on half the planes each (two groups of four): a NIC reaches the NICs of its own group
// directly and the other group's through the cross-plane rule (NVLink at the sender).
TEST(Routing, MultiPlaneNicGroupsForwardBetweenGroups) {
  const ClusterGraph c = mpft_k4_nic_planes(4);  // NIC i on planes (i mod 2) x 4 .. + 3
  const RoutingTables r(c);
  for (int a = 0; a < 64; ++a) {
    for (int b = 0; b < 64; ++b) {
      if (a / 8 == b / 8) continue;
      const auto path = r.route(a, b, flow_hash(a, b, 0));
      ASSERT_TRUE(is_up_down_route(c, path, a, b)) << a << "->" << b;
      const auto s = shape_of(c, path);
      EXPECT_EQ(s.nvlink_edges, a % 2 == b % 2 ? 0 : 2) << a << "->" << b;
      for (int plane : s.planes)
        EXPECT_EQ(plane / 4, b % 2) << a << "->" << b;  // a plane of the destination's group
    }
  }
  EXPECT_EQ(r.next_hops(c.nic_of_gpu(0), 8 + 2).size(), 4u);
}

// A failed plane takes its switches only: NICs on every plane stay and route over the others,
// still without NVLink forwarding.
TEST(Routing, FailedPlaneLeavesMultiPlaneNicsOnTheOtherPlanes) {
  ClusterGraph c = mpft_k4_nic_planes(8);
  EXPECT_EQ(fail_plane(c, 2), 4 + 2);  // its leaves and spines, no NIC
  const RoutingTables r(c);
  EXPECT_EQ(r.next_hops(c.nic_of_gpu(0), 8).size(), 7u);
  for (int b = 8; b < 64; ++b) {
    const auto path = r.route(0, b, flow_hash(0, b, 3));
    ASSERT_TRUE(is_up_down_route(c, path, 0, b)) << b;
    const auto s = shape_of(c, path);
    EXPECT_EQ(s.nvlink_edges, 0) << b;
    for (int plane : s.planes)
      EXPECT_NE(plane, 2) << b;
  }
}

// Ports of the destination's NIC down on planes 3 and 5 (cross_plane: sender): the other six
// planes still reach that NIC directly, and the sending NIC offers exactly those six as one set
// (with gaps among its ports), so flows spread over them and none goes to another NIC of the
// destination's node to be forwarded over NVLink there.
TEST(Routing, PartialFailureKeepsMultiPlaneTrafficOnTheSurvivingPlanes) {
  ClusterGraph c = mpft_k4_nic_planes(8);
  apply_faults(c, FaultSpec{{}, {}, {}, {"n1_nic0:p3_leaf0", "n1_nic0:p5_leaf0"}});
  const RoutingTables r(c);
  const auto hops = r.next_hops(c.nic_of_gpu(16), 8);
  std::set<int32_t> offered;
  for (const Vertex h : hops)
    offered.insert(c.g[h].plane);
  EXPECT_EQ(hops.size(), 6u);
  EXPECT_EQ(offered, (std::set<int32_t>{0, 1, 2, 4, 6, 7}));
  EXPECT_EQ(r.next_hops(c.nic_of_gpu(16), 8).data(), hops.data());  // made once, kept
  std::set<int32_t> used;
  for (uint64_t f = 0; f < 64; ++f) {
    const auto path = r.route(16, 8, flow_hash(16, 8, f));
    ASSERT_TRUE(is_up_down_route(c, path, 16, 8));
    const auto s = shape_of(c, path);
    EXPECT_EQ(s.nvlink_edges, 0) << f;
    used.insert(s.planes.front());
  }
  EXPECT_EQ(used, offered);
  const ClusterGraph single = mpft_k4();
  EXPECT_EQ(r.count_paths(16, 8), 6 * RoutingTables(single).count_paths(0, 5 * 8));
  // Destinations the failure does not touch keep every plane.
  EXPECT_EQ(r.next_hops(c.nic_of_gpu(16), 9).size(), 8u);
  // Too many ports per NIC are refused.
  MpftParams p;
  p.k = 4;
  p.nic_planes = 32;
  p.planes = 32;
  p.node.nics_per_node = 32;
  p.node.gpus_per_node = 32;
  EXPECT_THROW(p.validate(ParamCheck(nullptr, "cluster")), InputError);
}

TEST(Routing, MrftKeepsCrossRailTrafficInTheFabric) {
  MrftParams p;
  p.k = 8;
  const ClusterGraph c = MrftBuilder(p).build();
  const RoutingTables r(c);
  const auto path = r.route(0, 8 + 1, 0);  // rail 0 of node 0 to rail 1 of node 1
  ASSERT_TRUE(is_up_down_route(c, path, 0, 9));
  const auto s = shape_of(c, path);
  EXPECT_EQ(s.nvlink_edges, 0);
  EXPECT_EQ(s.switches, 3);  // rail-0 leaf, spine, rail-1 leaf
  EXPECT_EQ(r.count_paths(0, 9), 4u);
  EXPECT_EQ(shape_of(c, r.route(0, 8, 0)).switches, 1);  // same rail: one leaf
}

TEST(Routing, SingleSwitchWithoutNvSwitchLoopsIntraNodeTrafficThroughTheSwitch) {
  const ClusterGraph c = SingleSwitchBuilder(SingleSwitchParams{}).build();  // 2 x 2, no NVLink
  const RoutingTables r(c);
  const auto path = r.route(0, 1, 0);
  ASSERT_TRUE(is_up_down_route(c, path, 0, 1));
  EXPECT_EQ(path.size(), 5u);  // GPU NIC switch NIC GPU
  EXPECT_EQ(r.fabric_stats().diameter_hops, 0);
}

// The full MPFT (k = 64, 8 planes, 16,384 GPUs) routes as 8 separate fabrics, 32 up/down paths
// between any two leaves of a plane. (The tables' size, 192 KiB of per-switch entries among the
// rest, is a resource figure: bench prints it as topology_mpft_k64_routing_table_bytes.)
TEST(Routing, FullMpftRoutesEightPlanesOf32PathsEach) {
  const ClusterGraph c = MpftBuilder(MpftParams{}).build();
  const RoutingTables r(c);
  EXPECT_EQ(r.fabric_stats().components, 8);
  EXPECT_EQ(r.fabric_stats().min_paths, 32u);
  EXPECT_EQ(r.fabric_stats().max_paths, 32u);
  EXPECT_TRUE(is_up_down_route(c, r.route(0, 16383, 5), 0, 16383));
}

}  // namespace
}  // namespace mlasim
