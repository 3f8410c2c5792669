// Faults and metrics on small fabrics, against hand-computed figures: reachability and path
// counts after a failed spine, leaf, link, NIC or plane; max-flow bisection of healthy,
// oversubscribed and faulted fabrics; reachability sampling; the metrics JSON.
#include <gtest/gtest.h>

#include <algorithm>

#include "sim/errors.h"
#include "tests/topology/topology_test_util.h"
#include "topology/count_models.h"
#include "topology/fat_tree_builders.h"
#include "topology/faults.h"
#include "topology/metrics.h"
#include "topology/routing.h"
#include "topology/single_switch.h"

namespace mlasim {
namespace {

using testing_util::is_up_down_route;
using testing_util::shape_of;

constexpr double kNic = 50e9;  // 400 Gb/s in bytes/s

ClusterGraph ft2_k8() {
  Ft2Params p;
  p.k = 8;  // 4 nodes x 8 GPUs; node n's NICs on leaves 2n and 2n+1; 4 spines
  return Ft2Builder(p).build();
}

ClusterGraph mpft_k4() {
  MpftParams p;
  p.k = 4;  // 8 nodes x 8 GPUs, 8 planes of 4 leaves and 2 spines
  return MpftBuilder(p).build();
}

int64_t unreachable_pairs(const ClusterGraph& c, RoutingParams rp = {}) {
  const RoutingTables r(c, rp);
  const Reachability reach = check_reachability(r, int64_t{1} << 30);
  EXPECT_FALSE(reach.sampled);
  return reach.unreachable;
}

TEST(Faults, FailedSpineLeavesAllPairsReachableWithFewerPaths) {
  ClusterGraph c = ft2_k8();
  const RoutingTables healthy(c);
  EXPECT_EQ(healthy.count_paths(0, 31), 4u);
  const Vertex spine0 = c.find("spine0");
  fail_vertex(c, spine0);
  const RoutingTables r(c);
  EXPECT_EQ(unreachable_pairs(c), 0);
  EXPECT_EQ(r.count_paths(0, 31), 3u);
  EXPECT_EQ(r.fabric_stats().min_paths, 3u);
  EXPECT_EQ(r.fabric_stats().max_paths, 3u);
  for (int b = 8; b < 32; ++b) {
    for (uint64_t f = 0; f < 8; ++f) {
      const auto path = r.route(0, b, flow_hash(0, b, f));
      ASSERT_TRUE(is_up_down_route(c, path, 0, b));
      EXPECT_EQ(std::count(path.begin(), path.end(), spine0), 0);
    }
  }
  // Side A (nodes 0-1) has 4 leaves with 3 live uplinks of 50 GB/s left: 600 GB/s.
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(c), 4 * 3 * kNic);
}

TEST(Faults, FailedLinkIsAvoidedAndCostsOnlyItsLeafAPath) {
  ClusterGraph c = ft2_k8();
  ASSERT_TRUE(fail_link(c, c.find("leaf0"), c.find("spine0")));
  const RoutingTables r(c);
  EXPECT_EQ(unreachable_pairs(c), 0);
  EXPECT_EQ(r.count_paths(0, 31), 3u);  // from leaf 0
  EXPECT_EQ(r.count_paths(31, 0), 3u);  // to leaf 0
  EXPECT_EQ(r.count_paths(8, 31), 4u);  // leaf 2 to leaf 7 untouched
  EXPECT_EQ(r.fabric_stats().min_paths, 3u);
  EXPECT_EQ(r.fabric_stats().max_paths, 4u);
  EXPECT_FALSE(fail_link(c, c.find("leaf0"), c.find("spine0")));
}

TEST(Faults, FailedNicIsBypassedOverNvLinkAtBothEnds) {
  ClusterGraph c = ft2_k8();
  fail_vertex(c, c.find("n0_nic0"));
  const RoutingTables r(c);
  EXPECT_EQ(unreachable_pairs(c), 0);
  const auto out = r.route(0, 31, 0);  // sender forwards to a GPU with a live NIC
  ASSERT_TRUE(is_up_down_route(c, out, 0, 31));
  EXPECT_EQ(shape_of(c, out).nvswitches, 1);
  EXPECT_EQ(c.g[out[1]].kind, VertexKind::NvSwitch);
  const auto in = r.route(31, 0, 0);  // receiver's node forwards the last hop over NVLink
  ASSERT_TRUE(is_up_down_route(c, in, 31, 0));
  EXPECT_EQ(c.g[in[in.size() - 2]].kind, VertexKind::NvSwitch);
}

TEST(Faults, FailedNvSwitchSendsIntraNodeTrafficThroughTheFabric) {
  ClusterGraph c = ft2_k8();
  fail_vertex(c, c.find("n0_nvswitch"));
  const RoutingTables r(c);
  EXPECT_EQ(unreachable_pairs(c), 0);
  const auto path = r.route(0, 1, 0);  // GPU NIC leaf NIC GPU
  ASSERT_TRUE(is_up_down_route(c, path, 0, 1));
  EXPECT_EQ(path.size(), 5u);
  EXPECT_EQ(shape_of(c, r.route(0, 5, 0)).switches, 3);  // NICs 0 and 5 on leaves 0 and 1
}

TEST(Faults, FailedLeafKeepsItsGpusReachableThroughNodeMates) {
  ClusterGraph c = ft2_k8();
  fail_vertex(c, c.find("leaf0"));  // NICs 0-3 of node 0 lose the fabric
  EXPECT_EQ(unreachable_pairs(c), 0);
  EXPECT_EQ(count_graph(c).fabric.endpoints, 28);
  EXPECT_EQ(count_graph(c).fabric.switches, 11);
}

TEST(Faults, FailedPlaneLeavesCrossPlaneTrafficRoutableThroughForwarding) {
  for (auto policy : {CrossPlaneForwarding::Sender, CrossPlaneForwarding::Receiver}) {
    ClusterGraph c = mpft_k4();
    EXPECT_EQ(fail_plane(c, 3), 4 + 2 + 8);  // leaves, spines, NICs of plane 3
    const RoutingParams rp{RoutingMode::Ecmp, policy, 0};
    EXPECT_EQ(unreachable_pairs(c, rp), 0);
    const RoutingTables r(c, rp);
    // Plane 0 GPU to a plane-3 GPU: through plane 0, forwarded on the receiving node.
    const int dst = 5 * 8 + 3;
    const auto path = r.route(0, dst, 0);
    ASSERT_TRUE(is_up_down_route(c, path, 0, dst));
    const auto s = shape_of(c, path);
    EXPECT_EQ(s.nvswitches, 1);
    EXPECT_EQ(c.g[s.nvswitch_at[0]].node, 5);
    for (int plane : s.planes)
      EXPECT_EQ(plane, 0);
    // Plane 3 to plane 3: NVLink on both nodes.
    const auto both = r.route(3, dst, 0);
    ASSERT_TRUE(is_up_down_route(c, both, 3, dst));
    EXPECT_EQ(shape_of(c, both).nvswitches, 2);
  }
  // Bisection: 4 nodes x 8 NICs on side A; one plane in eight gone.
  ClusterGraph c = mpft_k4();
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(c), 32 * kNic);
  fail_plane(c, 3);
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(c), 28 * kNic);
}

TEST(Faults, FailedSingleSwitchCutsExactlyTheCrossNodePairs) {
  SingleSwitchParams p;
  p.nvswitch = true;  // 2 nodes x 2 GPUs
  ClusterGraph c = SingleSwitchBuilder(p).build();
  EXPECT_EQ(unreachable_pairs(c), 0);
  fail_vertex(c, c.find("switch0"));
  EXPECT_EQ(unreachable_pairs(c), 8);  // 4 GPUs x 2 on the other node
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(c), 0.0);
}

TEST(Faults, BadFaultSpecsAreInputErrors) {
  ClusterGraph c = mpft_k4();
  EXPECT_THROW(apply_faults(c, FaultSpec{{9}, {}, {}, {}}), InputError);
  EXPECT_THROW(apply_faults(c, FaultSpec{{}, {"no_such_switch"}, {}, {}}), InputError);
  EXPECT_THROW(apply_faults(c, FaultSpec{{}, {"n0_gpu0"}, {}, {}}), InputError);
  EXPECT_THROW(apply_faults(c, FaultSpec{{}, {}, {"p0_leaf0"}, {}}), InputError);
  EXPECT_THROW(apply_faults(c, FaultSpec{{}, {}, {}, {"p0_leaf0-p0_spine0"}}), InputError);
  EXPECT_THROW(apply_faults(c, FaultSpec{{}, {}, {}, {"p0_leaf0:p1_spine0"}}), InputError);
  ClusterGraph f = ft2_k8();
  EXPECT_THROW(apply_faults(f, FaultSpec{{0}, {}, {}, {}}), InputError);  // FT2 has no planes
  const auto applied =
      apply_faults(c, FaultSpec{{}, {"p0_spine1"}, {"n2_nic5"}, {"p1_leaf0:p1_spine0"}});
  EXPECT_EQ(applied.size(), 3u);
}

TEST(Metrics, BisectionMatchesHandCounts) {
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(ft2_k8()), 16 * kNic);  // 2 nodes x 8 NICs
  Ft2Params over;
  over.k = 8;
  over.oversubscription = 3;  // leaves: 6 NICs, 2 uplinks; 6 nodes, side A on leaves 0-3
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(Ft2Builder(over).build()), 4 * 2 * kNic);
  Ft3Params p3;
  p3.k = 4;
  p3.node = {4, 4, true};  // 4 nodes, 2 per side, full bisection through the cores
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(Ft3Builder(p3).build()), 8 * kNic);
  EXPECT_DOUBLE_EQ(*bisection_bandwidth(MpftBuilder(MpftParams{}).build()), 8192 * kNic);
  SingleSwitchParams one_node;
  one_node.nodes = 1;
  EXPECT_FALSE(bisection_bandwidth(SingleSwitchBuilder(one_node).build()));
}

TEST(Metrics, ReachabilitySamplesEveryGpuSlotWhenPairsAreMany) {
  const ClusterGraph c = mpft_k4();
  const RoutingTables r(c);
  const Reachability all = check_reachability(r, int64_t{1} << 20);
  EXPECT_FALSE(all.sampled);
  EXPECT_EQ(all.pairs_checked, 64 * 63);
  const Reachability some = check_reachability(r, 16 * 63);
  EXPECT_TRUE(some.sampled);
  EXPECT_EQ(some.pairs_checked, 16 * 63);
  EXPECT_EQ(some.unreachable, 0);
}

TEST(Metrics, JsonCarriesTheRequiredKeys) {
  const ClusterGraph c = ft2_k8();
  const TopologyMetrics m = measure_topology(c, CostParams{}, MetricsOptions{});
  const auto j = m.to_json();
  EXPECT_EQ(j["endpoints"], 32);
  EXPECT_EQ(j["switches"], 12);
  EXPECT_EQ(j["links"], 32);
  EXPECT_EQ(j["cables"], 64);
  EXPECT_EQ(j["diameter_hops"], 2);
  EXPECT_EQ(j["path_diversity_min"], 4);
  EXPECT_DOUBLE_EQ(j["cost_usd"].get<double>(), 12 * 40000.0 + 32 * 600.0 + 32 * 1900.0);
  EXPECT_DOUBLE_EQ(j["cost_per_endpoint_usd"].get<double>(), j["cost_usd"].get<double>() / 32);
  EXPECT_DOUBLE_EQ(j["bisection_bandwidth_bytes_per_s"].get<double>(), 16 * kNic);
  EXPECT_EQ(j["unreachable_gpu_pairs"], 0);
  const auto sf =
      measure_count_model("slim_fly", slim_fly_counts(SlimFlyParams{}), CostParams{}).to_json();
  EXPECT_EQ(sf["endpoints"], 32928);
  EXPECT_TRUE(sf["bisection_bandwidth_bytes_per_s"].is_null());
  EXPECT_EQ(sf["diameter_hops"], 2);
}

}  // namespace
}  // namespace mlasim
