// MoE router: load statistics against binomial and Zipf expectations; the aux-loss-free bias
// update; traffic matrices against counts from the assignments; determinism; gate-weight
// normalisation. Selection against the reference gate: router_gate_test.cpp; expert placement:
// expert_placement_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "sim/config.h"
#include "sim/errors.h"
#include "tests/workloads/router_test_support.h"
#include "workloads/expert_placement.h"
#include "workloads/model_config.h"
#include "workloads/moe_router.h"

namespace mlasim {
namespace {

using namespace router_test;

TEST(Router, ConfigDefaultsAreDeepSeekV3AndReadFromYaml) {
  const RouterConfig d = read_params<RouterConfig>(nullptr, "workload.router");
  EXPECT_EQ(d.n_routed_experts, 256u);
  EXPECT_EQ(d.num_experts_per_tok, 8u);
  EXPECT_EQ(d.n_group, 8u);
  EXPECT_EQ(d.topk_group, 4u);
  EXPECT_EQ(d.scoring, RouterScoring::Sigmoid);
  EXPECT_EQ(d.topk_method, TopkMethod::NoauxTc);
  EXPECT_DOUBLE_EQ(d.routed_scaling_factor, 2.5);
  EXPECT_EQ(d.max_nodes_per_token, 0u);  // V3 trained with M = 4; its inference gate has none
  EXPECT_DOUBLE_EQ(d.bias_update_speed, 0.001);

  const ConfigNode root = load_config_string(
      "router: {max_nodes_per_token: 2, bias_update_speed: 0.01, skew: 1.2, seed: 9}\n", "test",
      ".");
  const RouterConfig c = read_params<RouterConfig>(root.find("router"), "workload.router");
  EXPECT_EQ(c.max_nodes_per_token, 2u);
  EXPECT_DOUBLE_EQ(c.bias_update_speed, 0.01);
  EXPECT_DOUBLE_EQ(c.skew, 1.2);
  EXPECT_EQ(c.seed, 9u);

  const ConfigNode bad = load_config_string("router: {skew: 21}\n", "test", ".");
  EXPECT_THROW(read_params<RouterConfig>(bad.find("router"), "workload.router"), ConfigError);
  const ConfigNode typo = load_config_string("router: {seeds: 2}\n", "test", ".");
  EXPECT_THROW(read_params<RouterConfig>(typo.find("router"), "workload.router"), ConfigError);
}

// The gate's shape is the model's: none of its fields is a router key, and giving one is an error
// that names the key and points to the model file (the values used come from config.json).
TEST(Router, ModelFieldsAreNotRouterKeys) {
  for (std::string_view key : RouterConfig::kModelFields) {
    const ConfigNode root =
        load_config_string(fmt::format("router:\n  {}: 1\n", key), "test.yaml", ".");
    try {
      (void)read_params<RouterConfig>(root.find("router"), "workload.router");
      ADD_FAILURE() << key << " was accepted";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(fmt::format("workload.router.{}", key)), std::string::npos) << msg;
      EXPECT_NE(msg.find("test.yaml:2"), std::string::npos) << msg;
      EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  for (const ParamInfo& info : describe_params<RouterConfig>()) {
    for (std::string_view key : RouterConfig::kModelFields)
      EXPECT_NE(info.key, key);
  }
}

TEST(Router, ConfigFromShippedModels) {
  const RouterConfig v3 = router_config_for(resolve_model("deepseek-v3"));
  EXPECT_EQ(v3.topk_method, TopkMethod::NoauxTc);
  EXPECT_TRUE(v3.norm_topk_prob);
  const RouterConfig v2 = router_config_for(resolve_model("deepseek-v2"));
  EXPECT_EQ(v2.n_routed_experts, 160u);
  EXPECT_EQ(v2.topk_group, 3u);
  EXPECT_EQ(v2.scoring, RouterScoring::Softmax);
  EXPECT_EQ(v2.topk_method, TopkMethod::GroupLimitedGreedy);
  EXPECT_FALSE(v2.norm_topk_prob);
  EXPECT_DOUBLE_EQ(v2.routed_scaling_factor, 16.0);
  const RouterConfig lite = router_config_for(resolve_model("deepseek-v2-lite"));
  EXPECT_EQ(lite.n_routed_experts, 64u);
  EXPECT_EQ(lite.topk_method, TopkMethod::Greedy);
  EXPECT_THROW(router_config_for(resolve_model("qwen2.5-72b")), InputError);
}

// Skew 0: every expert is chosen by a token with probability k/n (symmetry), tokens are
// independent, so each expert's load is Binomial(T, k/n). Over n experts the max stays below
// mean + 4.5 sd except with probability < n * P(Z > 4.5) ~ 1e-3.
TEST(Router, UniformAffinitiesGiveBinomiallyBalancedLoads) {
  RouterConfig cfg;  // V3: groups, M = 4
  const ExpertPlacement pl = ExpertPlacement::build(256, 64, 8, 0, ReplicaPolicy::LeastLoaded);
  MoeRouter router(cfg, {pl}, 4, v3_traffic());
  const std::vector<uint32_t> tokens(64, 512);
  const double T = 64 * 512, p = 8.0 / 256;
  const double mu = T * p, sd = std::sqrt(T * p * (1 - p));
  // GPU load: X = chosen experts among the 4 on a GPU, X <= 4 so Var X <= 4 E[X].
  const double gpu_mu = 4 * mu, gpu_sd = std::sqrt(T * 4 * 4 * p);
  for (const LayerRouting& r : router.route_step(tokens)) {
    const auto [lo, hi] = std::minmax_element(r.expert_load.begin(), r.expert_load.end());
    EXPECT_LE(*hi, mu + 4.5 * sd) << "layer " << r.layer;
    EXPECT_GE(*lo, mu - 4.5 * sd) << "layer " << r.layer;
    EXPECT_LE(r.expert_imbalance(), 1 + 4.5 * sd / mu);
    EXPECT_LE(r.gpu_imbalance(), 1 + 4.5 * gpu_sd / gpu_mu);
    EXPECT_EQ(std::accumulate(r.expert_load.begin(), r.expert_load.end(), uint64_t{0}),
              uint64_t(T) * 8);
  }
}

// With k = 1 and no groups, the chosen expert is the argmax of o_e + Gumbel, which picks the
// expert of popularity rank r with probability r^-s / H(n, s) exactly.
TEST(Router, SkewMakesTopOneChoiceZipfDistributed) {
  for (RouterScoring scoring : {RouterScoring::Sigmoid, RouterScoring::Softmax}) {
    RouterConfig cfg;
    cfg.n_routed_experts = 64;
    cfg.num_experts_per_tok = 1;
    cfg.n_group = 1;
    cfg.topk_group = 1;
    cfg.topk_method = TopkMethod::Greedy;
    cfg.scoring = scoring;
    cfg.max_nodes_per_token = 0;
    cfg.skew = 1.0;
    MoeRouter router(cfg, {ExpertPlacement::build(64, 8, 8, 0, ReplicaPolicy::LeastLoaded)}, 1,
                     v3_traffic());
    const std::vector<uint32_t> tokens(8, 10000);
    const LayerRouting r = router.route_step(tokens)[0];
    double h = 0;
    for (int i = 1; i <= 64; ++i)
      h += 1.0 / i;
    const auto rank = router.popularity_rank(0);
    for (uint32_t e = 0; e < 64; ++e) {
      const double p = 1.0 / rank[e] / h;
      const double mu = 80000 * p, sd = std::sqrt(80000 * p * (1 - p));
      EXPECT_NEAR(r.expert_load[e], mu, 4.5 * sd) << "rank " << rank[e];
    }
  }
}

// Aux-loss-free balancing against a Zipf(1) skew. gamma = 0.005 (DeepSeek: 0.001) converges in
// about 100 steps instead of 500, which keeps the test short; the rule is the same.
TEST(Router, BiasUpdateReducesImbalanceOverSteps) {
  RouterConfig cfg;
  cfg.skew = 1.0;
  cfg.bias_update_speed = 0.005;
  const ExpertPlacement pl = ExpertPlacement::build(256, 32, 8, 0, ReplicaPolicy::LeastLoaded);
  MoeRouter router(cfg, {pl}, 1, v3_traffic());
  RouterConfig frozen_cfg = cfg;
  frozen_cfg.bias_update_speed = 0;
  MoeRouter frozen(frozen_cfg, {pl}, 1, v3_traffic());
  const std::vector<uint32_t> tokens(32, 64);
  constexpr int kSteps = 150, kWindow = 15;
  std::vector<double> imbalance, gpu_imbalance, frozen_imbalance;
  for (int s = 0; s < kSteps; ++s) {
    const LayerRouting r = router.route_step(tokens)[0];
    imbalance.push_back(r.expert_imbalance());
    gpu_imbalance.push_back(r.gpu_imbalance());
    if (s % 30 == 0) frozen_imbalance.push_back(frozen.route_step(tokens)[0].expert_imbalance());
  }
  auto window_mean = [&](const std::vector<double>& v, int w) {
    return std::accumulate(v.begin() + w * kWindow, v.begin() + (w + 1) * kWindow, 0.0) / kWindow;
  };
  EXPECT_GT(imbalance[0], 4.0);  // the hottest expert is far above the mean
  const int windows = kSteps / kWindow;
  for (int w = 1; w < windows; ++w) {
    // Monotone-ish: each window no worse than the previous one, up to noise.
    EXPECT_LT(window_mean(imbalance, w), window_mean(imbalance, w - 1) * 1.05 + 0.05) << w;
  }
  EXPECT_LT(window_mean(imbalance, windows - 1), 0.25 * imbalance[0]);
  EXPECT_LT(window_mean(gpu_imbalance, windows - 1), 0.5 * gpu_imbalance[0]);
  // Converged: near the binomial spread of a balanced router (mean load 64 tokens, 5 sd), the
  // bias oscillating by gamma around its fixed point adding a little.
  const double mu = 2048 * 8 / 256.0;
  EXPECT_LT(window_mean(imbalance, windows - 1), 1 + 5 * std::sqrt(mu) / mu);
  // Without the update nothing improves.
  for (double f : frozen_imbalance)
    EXPECT_GT(f, 0.8 * imbalance[0]);
  // The hottest expert is pushed down, the coldest up.
  const auto rank = router.popularity_rank(0);
  const auto hottest = std::find(rank.begin(), rank.end(), 1u) - rank.begin();
  const auto coldest = std::find(rank.begin(), rank.end(), 256u) - rank.begin();
  EXPECT_LT(router.bias(0)[hottest], -0.1f);
  EXPECT_GT(router.bias(0)[coldest], 0.0f);
}

// Dispatch sends one copy per distinct destination GPU of a token (DeepEP normal kernels);
// combine returns each copy, so its matrix is the transpose with the combine payload.
TEST(Router, DispatchAndCombineBytesMatchAssignments) {
  RouterConfig cfg;
  cfg.skew = 0.7;
  const ExpertPlacement pl = ExpertPlacement::build(256, 16, 8, 16, ReplicaPolicy::RoundRobin);
  const MoeTrafficConfig traffic = v3_traffic();
  EXPECT_EQ(traffic.dispatch_bytes_per_token.count(), 7168u + 56 * 4);  // FP8 + 1x128 scales
  EXPECT_EQ(traffic.combine_bytes_per_token.count(), 2u * 7168);        // BF16
  MoeRouter router(cfg, {pl}, 1, traffic);
  std::vector<uint32_t> tokens(16);
  for (uint32_t g = 0; g < 16; ++g)
    tokens[g] = 20 + 7 * g;  // uneven sources
  const LayerRouting r = router.route_step(tokens, true)[0];
  const uint64_t disp = traffic.dispatch_bytes_per_token.count();
  const uint64_t comb = traffic.combine_bytes_per_token.count();

  std::vector<uint64_t> row_want(16, 0);
  uint64_t copies_want = 0;
  for (uint32_t src = 0; src < 16; ++src) {
    for (uint64_t t = r.token_begin[src]; t < r.token_begin[src + 1]; ++t) {
      const std::set<uint32_t> gpus(r.expert_gpus.begin() + t * 8,
                                    r.expert_gpus.begin() + t * 8 + 8);
      row_want[src] += gpus.size() * disp;
      copies_want += gpus.size();
    }
  }
  const std::vector<uint64_t> d = r.dispatch_bytes();
  const std::vector<uint64_t> c = r.combine_bytes();
  const uint64_t d_total = std::accumulate(d.begin(), d.end(), uint64_t{0});
  const uint64_t c_total = std::accumulate(c.begin(), c.end(), uint64_t{0});
  EXPECT_EQ(d_total, copies_want * disp);
  EXPECT_EQ(r.total_copies(), copies_want);
  EXPECT_EQ(r.total_gpus_reached, copies_want);
  EXPECT_EQ(c_total * disp, d_total * comb);
  for (uint32_t s = 0; s < 16; ++s) {
    EXPECT_EQ(std::accumulate(d.begin() + s * 16, d.begin() + (s + 1) * 16, uint64_t{0}),
              row_want[s]);
    for (uint32_t t = 0; t < 16; ++t)
      EXPECT_EQ(c[t * 16 + s] * disp, d[s * 16 + t] * comb);
  }
  // Fewer copies than experts: some tokens have several experts on one GPU.
  EXPECT_LT(copies_want, r.num_tokens * 8);
  EXPECT_EQ(std::accumulate(r.gpu_load.begin(), r.gpu_load.end(), uint64_t{0}), r.num_tokens * 8);

  // Per-expert copies (DeepEP low-latency): exactly k copies per token.
  MoeTrafficConfig per_expert = traffic;
  per_expert.copies = DispatchCopies::PerExpert;
  MoeRouter router2(cfg, {pl}, 1, per_expert);
  const LayerRouting r2 = router2.route_step(tokens)[0];
  EXPECT_EQ(r2.total_copies(), r2.num_tokens * 8);
}

// DeepEP forwarding: a token crosses the network once per other node its experts are on, to
// the GPU there with its source's local index; counted from the assignments independently.
TEST(Router, RelayCopiesCountEachTokenOncePerOtherNode) {
  RouterConfig cfg;
  cfg.skew = 0.7;
  const uint32_t gpus = 16, gpn = 4;
  const ExpertPlacement pl = ExpertPlacement::build(256, gpus, gpn, 16, ReplicaPolicy::RoundRobin);
  MoeRouter router(cfg, {pl}, 1, v3_traffic());
  std::vector<uint32_t> tokens(gpus);
  for (uint32_t g = 0; g < gpus; ++g)
    tokens[g] = 30 + 5 * g;
  EXPECT_TRUE(router.route_layer(0, tokens).relay_copies.empty());  // counted only on request
  router.set_count_relays(true);
  const LayerRouting r = router.route_layer(0, tokens, true);
  std::vector<uint32_t> want(size_t{gpus} * gpus, 0);
  uint64_t crossings = 0;
  for (uint32_t src = 0; src < gpus; ++src) {
    for (uint64_t t = r.token_begin[src]; t < r.token_begin[src + 1]; ++t) {
      std::set<uint32_t> nodes;
      for (uint32_t j = 0; j < 8; ++j)
        nodes.insert(r.expert_gpus[t * 8 + j] / gpn);
      nodes.erase(src / gpn);
      for (uint32_t node : nodes)
        ++want[size_t{src} * gpus + node * gpn + src % gpn];
      crossings += nodes.size();
    }
  }
  EXPECT_EQ(r.relay_copies, want);
  // Fewer network copies than per-GPU copies to other nodes: tokens with several GPUs on one
  // node cross once.
  uint64_t remote_copies = 0;
  for (uint32_t src = 0; src < gpus; ++src) {
    for (uint32_t dst = 0; dst < gpus; ++dst)
      remote_copies += dst / gpn != src / gpn ? r.copies[size_t{src} * gpus + dst] : 0;
  }
  EXPECT_GT(crossings, 0u);
  EXPECT_LT(crossings, remote_copies);
}

TEST(Router, SameSeedSameRoutingOtherSeedDifferent) {
  RouterConfig cfg;
  cfg.skew = 0.5;
  const std::vector<uint32_t> tokens(144, 16);
  auto run = [&](uint64_t seed) {
    RouterConfig c = cfg;
    c.seed = seed;
    MoeRouter router(c, {ep144()}, 2, v3_traffic());
    router.route_step(tokens);
    return router.route_step(tokens, true);
  };
  const auto a = run(7), b = run(7), other = run(8);
  for (size_t l = 0; l < a.size(); ++l) {
    EXPECT_EQ(a[l].experts, b[l].experts);
    EXPECT_EQ(a[l].expert_gpus, b[l].expert_gpus);
    EXPECT_EQ(a[l].weights, b[l].weights);
    EXPECT_EQ(a[l].copies, b[l].copies);
    size_t differ = 0;
    for (uint64_t t = 0; t < a[l].num_tokens; ++t) {
      differ += !std::equal(a[l].experts.begin() + t * 8, a[l].experts.begin() + t * 8 + 8,
                            other[l].experts.begin() + t * 8);
    }
    EXPECT_GT(differ, a[l].num_tokens * 9 / 10);
  }
  // Layers and steps draw different affinities too.
  EXPECT_NE(a[0].experts, a[1].experts);

  // Routing layers on several threads changes nothing, biases included.
  auto run_threads = [&](uint32_t threads) {
    RouterConfig c = cfg;
    c.threads = threads;
    c.bias_update_speed = 0.01;
    MoeRouter router(c, {ep144()}, 5, v3_traffic());
    for (int s = 0; s < 3; ++s)
      router.route_step(tokens);
    return std::make_pair(router.route_step(tokens, true),
                          std::vector<float>(router.bias(4).begin(), router.bias(4).end()));
  };
  const auto [one, one_bias] = run_threads(1);
  const auto [three, three_bias] = run_threads(3);
  EXPECT_EQ(one_bias, three_bias);
  for (size_t l = 0; l < one.size(); ++l) {
    EXPECT_EQ(one[l].experts, three[l].experts);
    EXPECT_EQ(one[l].copies, three[l].copies);
  }
}

// A step with each layer's own token counts routes every layer as route_layer would with the
// same biases, on any number of threads, and then updates the biases and the step.
TEST(Router, StepWithPerLayerTokensMatchesLayerByLayerRouting) {
  RouterConfig cfg;
  cfg.skew = 0.5;
  cfg.bias_update_speed = 0.01;
  std::vector<std::vector<uint32_t>> tokens(3);
  for (uint32_t l = 0; l < 3; ++l) {
    for (uint32_t g = 0; g < 144; ++g)
      tokens[l].push_back((g * 7 + l * 5) % 23);
  }
  const std::vector<std::span<const uint32_t>> per_layer(tokens.begin(), tokens.end());
  for (const uint32_t threads : {1U, 2U, 3U}) {
    RouterConfig c = cfg;
    c.threads = threads;
    MoeRouter stepped(c, {ep144()}, 3, v3_traffic());
    MoeRouter by_layer(c, {ep144()}, 3, v3_traffic());
    for (int s = 0; s < 2; ++s) {
      const auto got = stepped.route_step_layers(per_layer, true);
      ASSERT_EQ(got.size(), 3u);
      for (uint32_t l = 0; l < 3; ++l) {
        const LayerRouting want = by_layer.route_layer(l, tokens[l], true);
        EXPECT_EQ(got[l].num_tokens, want.num_tokens);
        EXPECT_EQ(got[l].experts, want.experts);
        EXPECT_EQ(got[l].copies, want.copies);
        by_layer.update_bias(l, want.expert_load);
      }
      by_layer.next_step();
      EXPECT_EQ(stepped.step(), by_layer.step());
    }
    for (uint32_t l = 0; l < 3; ++l) {
      EXPECT_TRUE(std::ranges::equal(stepped.bias(l), by_layer.bias(l)));
    }
  }
  MoeRouter r(cfg, {ep144()}, 3, v3_traffic());
  EXPECT_THROW(r.route_step_layers(std::span(per_layer).first(2)), InputError);
}

TEST(Router, GateWeightsFollowDeepSeekNormalisation) {
  RouterConfig cfg;  // V3: normalised over the chosen k, times 2.5
  cfg.skew = 1.0;
  MoeRouter v3(cfg, {ep144()}, 1, v3_traffic());
  warm_up(v3, 8, 5);
  const std::vector<uint32_t> tokens(144, 8);
  const LayerRouting r = v3.route_layer(0, tokens, true);
  for (uint64_t t = 0; t < r.num_tokens; ++t) {
    double sum = 0;
    for (uint32_t j = 0; j < 8; ++j) {
      EXPECT_GT(r.weights[t * 8 + j], 0.0f);
      sum += r.weights[t * 8 + j];
    }
    ASSERT_NEAR(sum, 2.5, 1e-5);
  }
  // Weights come from the unbiased scores: ratios of weights equal ratios of affinities.
  const std::vector<float> a = v3.affinities(0, 0, 0);
  const float w0 = r.weights[0], w1 = r.weights[1];
  EXPECT_NEAR(w0 / w1, a[r.experts[0]] / a[r.experts[1]], 1e-5);

  // V2: no normalisation, softmax scores times 16.
  MoeRouter v2(v2_config(), {ExpertPlacement::build(160, 32, 8, 0, ReplicaPolicy::LeastLoaded)}, 1,
               MoeTrafficConfig{}.resolved(5120));
  const std::vector<uint32_t> t2(32, 4);
  const LayerRouting r2 = v2.route_layer(0, t2, true);
  const std::vector<float> a2 = v2.affinities(0, 0, 1);
  for (uint32_t j = 0; j < 6; ++j) {
    EXPECT_NEAR(r2.weights[6 + j], 16.0f * a2[r2.experts[6 + j]], 1e-5);
  }
}

TEST(Router, ReplicaPoliciesSplitLoadEvenly) {
  for (ReplicaPolicy policy : {ReplicaPolicy::LeastLoaded, ReplicaPolicy::RoundRobin}) {
    RouterConfig cfg;
    cfg.max_nodes_per_token = 0;  // every replica eligible for every token
    cfg.skew = 1.0;
    const ExpertPlacement pl = ExpertPlacement::build(256, 144, 8, 32, policy);
    MoeRouter router(cfg, {pl}, 1, v3_traffic());
    const LayerRouting r = router.route_step(std::vector<uint32_t>(144, 32))[0];
    for (uint32_t e = 0; e < 256; ++e) {
      const auto reps = pl.replicas(e);
      if (reps.size() < 2) continue;
      EXPECT_LE(std::abs(int(r.slot_load[reps[0]]) - int(r.slot_load[reps[1]])), 1) << e;
      EXPECT_EQ(r.slot_load[reps[0]] + r.slot_load[reps[1]], r.expert_load[e]);
    }
  }
}

TEST(Router, NodeLimitThatCannotHoldKExpertsAddsNodes) {
  // 16 experts in 8 groups of 2 on 2 nodes (one expert per GPU: groups 0-3 on node 0, 4-7 on
  // node 1); the top-4 groups hold exactly k = 8 experts, all of which are chosen. With M = 1
  // a token whose 4 groups lie on one node stays there; any other needs the second node, which
  // is admitted and counted: the overflows are exactly the tokens whose experts span 2 nodes.
  RouterConfig cfg;
  cfg.n_routed_experts = 16;
  cfg.num_experts_per_tok = 8;
  cfg.n_group = 8;
  cfg.topk_group = 4;
  cfg.max_nodes_per_token = 1;
  const ExpertPlacement pl = ExpertPlacement::build(16, 16, 8, 0, ReplicaPolicy::LeastLoaded);
  ASSERT_EQ(pl.num_nodes(), 2u);
  MoeRouter router(cfg, {pl}, 1, v3_traffic());
  const LayerRouting r = router.route_step(std::vector<uint32_t>(16, 32), true)[0];
  ASSERT_EQ(r.num_tokens, 16u * 32);
  uint64_t spanning = 0;
  for (uint64_t t = 0; t < r.num_tokens; ++t) {
    const std::set<uint32_t> e(r.experts.begin() + t * 8, r.experts.begin() + t * 8 + 8);
    EXPECT_EQ(e.size(), 8u);
    std::set<uint32_t> groups, nodes;
    for (uint32_t expert : e) {
      groups.insert(expert / 2);
      nodes.insert(on_node(pl, expert, 0) ? 0u : 1u);
    }
    EXPECT_EQ(groups.size(), 4u) << "token " << t << ": not 4 whole groups";
    spanning += nodes.size() == 2 ? 1 : 0;
  }
  EXPECT_GT(r.node_limit_overflows, 0u);
  EXPECT_EQ(r.node_limit_overflows, spanning);
  EXPECT_EQ(r.total_nodes_reached, r.num_tokens + spanning);
}

TEST(Router, RejectsInconsistentSetups) {
  RouterConfig cfg;
  const std::vector<uint32_t> wrong(10, 1);
  MoeRouter router(cfg, {ep144()}, 1, v3_traffic());
  EXPECT_THROW(router.route_layer(0, wrong), InputError);
  EXPECT_THROW(MoeRouter(cfg, {ExpertPlacement::build(160, 32, 8, 0, ReplicaPolicy::LeastLoaded)},
                         1, v3_traffic()),
               InputError);
  EXPECT_THROW(MoeRouter(cfg, {ep144()}, 1, MoeTrafficConfig{}), InputError);
  RouterConfig bad = cfg;
  bad.num_experts_per_tok = 0;
  EXPECT_THROW(MoeRouter(bad, {ep144()}, 1, v3_traffic()), ConfigError);
}

}  // namespace
}  // namespace mlasim
