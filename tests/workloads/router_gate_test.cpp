// MoE router selection: every token gets k distinct experts in at most topk_group groups and M
// nodes, and the chosen experts equal a sort-based reference gate's (V3 with and without the node
// limit, repeated node sets, V2 softmax).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <span>
#include <vector>

#include "tests/workloads/router_test_support.h"
#include "workloads/expert_placement.h"
#include "workloads/model_config.h"
#include "workloads/moe_router.h"

namespace mlasim {
namespace {

using namespace router_test;

TEST(Router, TokensGetKDistinctExpertsInAllowedGroupsAndNodes) {
  RouterConfig cfg;
  cfg.skew = 1.0;
  cfg.bias_update_speed = 0.005;
  cfg.max_nodes_per_token = 4;
  MoeRouter router(cfg, {ep144()}, 2, v3_traffic());
  warm_up(router, 32, 5);  // non-zero biases
  const std::vector<uint32_t> tokens(144, 64);
  const std::vector<LayerRouting> step = router.route_step(tokens, true);
  for (const LayerRouting& r : step) {
    const ExpertPlacement& pl = router.placement(r.layer);
    EXPECT_EQ(r.node_limit_overflows, 0u);
    for (uint64_t t = 0; t < r.num_tokens; ++t) {
      std::set<uint32_t> experts, groups, nodes;
      for (uint32_t j = 0; j < 8; ++j) {
        const uint32_t e = r.experts[t * 8 + j];
        const uint32_t gpu = r.expert_gpus[t * 8 + j];
        experts.insert(e);
        groups.insert(e / 32);
        nodes.insert(pl.node_of_gpu(gpu));
        const auto reps = pl.replicas(e);
        EXPECT_TRUE(std::any_of(reps.begin(), reps.end(),
                                [&](uint32_t s) { return pl.slot_gpu(s) == gpu; }));
      }
      ASSERT_EQ(experts.size(), 8u);
      ASSERT_LE(groups.size(), 4u);
      ASSERT_LE(nodes.size(), 4u);
    }
  }
}

TEST(Router, V3SelectionMatchesReferenceGate) {
  RouterConfig cfg;
  cfg.skew = 1.0;
  cfg.bias_update_speed = 0.01;
  MoeRouter router(cfg, {ep144()}, 1, v3_traffic());
  warm_up(router, 32, 10);
  ASSERT_LT(*std::min_element(router.bias(0).begin(), router.bias(0).end()), -0.05f);
  expect_matches_reference(router, 16, 2304);
}

// Replicas that repeat whole nodes: 256 experts on 12 nodes of 64 slots, every node's set held by
// three nodes, so node scores tie in threes and the M = 4 best nodes split over two sets. Ties go
// to the lower node (the reference's stable sort), and every replica used sits on one of them.
TEST(Router, RepeatedNodeSetsMatchReferenceGateAndItsNodes) {
  RouterConfig cfg;
  cfg.skew = 0.8;
  cfg.bias_update_speed = 0.01;
  cfg.max_nodes_per_token = 4;
  // Experts 0-255 on GPUs 0-31 (nodes 0-3), 8 each, and twice again on GPUs 32-63 and 64-95.
  std::vector<uint32_t> slot_expert, slot_gpu;
  for (uint32_t s = 0; s < 768; ++s) {
    slot_expert.push_back(s % 256);
    slot_gpu.push_back(s / 8);
  }
  const ExpertPlacement pl =
      ExpertPlacement::from_slots(256, slot_expert, slot_gpu, 96, 8, ReplicaPolicy::LeastLoaded);
  ASSERT_EQ(pl.num_nodes(), 12u);
  for (uint32_t node = 0; node < 4; ++node) {
    ASSERT_TRUE(std::ranges::equal(pl.experts_on_node(node), pl.experts_on_node(node + 4)));
    ASSERT_TRUE(std::ranges::equal(pl.experts_on_node(node), pl.experts_on_node(node + 8)));
  }
  MoeRouter router(cfg, {pl}, 1, v3_traffic());
  warm_up(router, 16, 5);
  expect_matches_reference(router, 8, 768);

  const std::vector<uint32_t> t(pl.num_gpus(), 4);
  const LayerRouting r = router.route_layer(0, t, true);
  const uint32_t k = cfg.num_experts_per_tok;
  for (uint32_t src = 0; src < pl.num_gpus(); ++src) {
    for (uint32_t i = 0; i < 4; ++i) {
      std::vector<uint32_t> nodes;
      reference_gate(cfg, pl, router.affinities(0, src, i), router.bias(0), &nodes);
      ASSERT_EQ(nodes.size(), 4u);
      const uint64_t tok = r.token_begin[src] + i;
      for (uint32_t j = 0; j < k; ++j) {
        const uint32_t node = pl.node_of_gpu(r.expert_gpus[tok * k + j]);
        ASSERT_NE(std::find(nodes.begin(), nodes.end(), node), nodes.end())
            << "token " << i << " of GPU " << src << " uses node " << node;
      }
    }
  }
}

TEST(Router, V3WithoutNodeLimitMatchesReferenceGate) {
  RouterConfig cfg;
  cfg.max_nodes_per_token = 0;
  cfg.skew = 0.5;
  MoeRouter router(cfg, {ep144()}, 1, v3_traffic());
  warm_up(router, 32, 3);
  expect_matches_reference(router, 8, 1152);
}

TEST(Router, V2SoftmaxSelectionMatchesReferenceGate) {
  const RouterConfig cfg = v2_config();
  MoeRouter router(cfg, {ExpertPlacement::build(160, 32, 8, 0, ReplicaPolicy::LeastLoaded)}, 1,
                   MoeTrafficConfig{}.resolved(5120));
  expect_matches_reference(router, 64, 2048);
  // Scores are a softmax over all experts.
  const std::vector<float> a = router.affinities(0, 3, 5);
  EXPECT_NEAR(std::accumulate(a.begin(), a.end(), 0.0), 1.0, 1e-5);
}

// The step's imbalance figures from hand-made loads: max/mean per routing, then means and
// maxima over the routings, and per layer the mean over that layer's routings.
TEST(Router, ImbalanceSummaryAveragesPerLayerAndOverall) {
  auto routing = [](uint32_t layer, std::vector<uint32_t> experts, std::vector<uint32_t> gpus,
                    uint64_t overflows) {
    LayerRouting r;
    r.layer = layer;
    r.expert_load = std::move(experts);
    r.gpu_load = std::move(gpus);
    r.node_limit_overflows = overflows;
    return r;
  };
  // Expert max/mean: 3/2 = 1.5, 4/1 = 4 (sum 4 over 4), 1; GPU: 2/1.5 = 4/3, 1, 1.
  const LayerRouting a = routing(0, {3, 1, 2, 2}, {2, 1}, 1);
  const LayerRouting b = routing(1, {4, 0, 0, 0}, {5, 5}, 0);
  const LayerRouting c = routing(1, {2, 2, 2, 2}, {0, 0}, 2);
  const std::vector<const LayerRouting*> all{&a, &b, &c};
  const RoutingImbalance im = summarize_imbalance(all, {7, 62});
  EXPECT_DOUBLE_EQ(im.expert_mean, (1.5 + 4 + 1) / 3);
  EXPECT_DOUBLE_EQ(im.expert_max, 4);
  EXPECT_DOUBLE_EQ(im.gpu_mean, (4.0 / 3 + 1 + 1) / 3);
  EXPECT_DOUBLE_EQ(im.gpu_max, 4.0 / 3);
  EXPECT_EQ(im.node_limit_overflows, 3u);
  EXPECT_EQ(im.routed_layers, 3u);
  EXPECT_EQ(im.layers, (std::vector<uint32_t>{7, 62}));
  ASSERT_EQ(im.layer_expert.size(), 2u);
  EXPECT_DOUBLE_EQ(im.layer_expert[0], 1.5);
  EXPECT_DOUBLE_EQ(im.layer_expert[1], 2.5);
  EXPECT_DOUBLE_EQ(im.layer_gpu[0], 4.0 / 3);
  EXPECT_DOUBLE_EQ(im.layer_gpu[1], 1.0);
  // Every routing's loads, in order, under its layer's number.
  EXPECT_EQ(im.experts, 4u);
  EXPECT_EQ(im.gpus, 2u);
  EXPECT_EQ(im.load_layers, (std::vector<uint32_t>{7, 62, 62}));
  EXPECT_EQ(im.expert_loads, (std::vector<uint32_t>{3, 1, 2, 2, 4, 0, 0, 0, 2, 2, 2, 2}));
  EXPECT_EQ(im.gpu_loads, (std::vector<uint32_t>{2, 1, 5, 5, 0, 0}));
  const LayerRouting odd = routing(1, {1, 1}, {1, 1}, 0);
  const std::vector<const LayerRouting*> mixed{&a, &odd};
  EXPECT_THROW(summarize_imbalance(mixed, {7, 62}), std::logic_error);
  // No routings (a model without routed layers): every figure stays 1.
  const RoutingImbalance none = summarize_imbalance({}, {});
  EXPECT_EQ(none.expert_max, 1);
  EXPECT_EQ(none.routed_layers, 0u);
}

}  // namespace
}  // namespace mlasim
