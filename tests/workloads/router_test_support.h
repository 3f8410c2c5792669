// Shared by the router tests: DeepSeek-V2/V3 router setups and a reference gate written
// independently of the router (whole-array sorts, no early exits).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <span>
#include <vector>

#include "sim/config.h"
#include "sim/errors.h"
#include "workloads/expert_placement.h"
#include "workloads/model_config.h"
#include "workloads/moe_router.h"

namespace mlasim::router_test {

inline MoeTrafficConfig v3_traffic() {
  return MoeTrafficConfig{}.resolved(7168);
}

inline RouterConfig v2_config() {
  RouterConfig c;
  c.n_routed_experts = 160;
  c.num_experts_per_tok = 6;
  c.n_group = 8;
  c.topk_group = 3;
  c.scoring = RouterScoring::Softmax;
  c.topk_method = TopkMethod::GroupLimitedGreedy;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 16.0;
  c.max_nodes_per_token = 3;
  return c;
}

// DeepSeek-V3 decode at the Day-6 shape: EP144 on 18 nodes, 32 redundant experts.
inline ExpertPlacement ep144() {
  return ExpertPlacement::build(256, 144, 8, 32, ReplicaPolicy::LeastLoaded);
}

inline bool on_node(const ExpertPlacement& pl, uint32_t expert, uint32_t node) {
  for (uint32_t slot : pl.replicas(expert)) {
    if (pl.node_of_gpu(pl.slot_gpu(slot)) == node) return true;
  }
  return false;
}

// DeepSeek's gate written independently of the router: whole-array sorts, no early exits.
// Returns the chosen experts, ascending; `nodes_out`, when given, receives the M nodes allowed.
inline std::vector<uint32_t> reference_gate(const RouterConfig& cfg, const ExpertPlacement& pl,
                                            const std::vector<float>& score,
                                            std::span<const float> bias,
                                            std::vector<uint32_t>* nodes_out = nullptr) {
  const uint32_t n = cfg.n_routed_experts, k = cfg.num_experts_per_tok;
  const bool biased = cfg.topk_method == TopkMethod::NoauxTc;
  std::vector<float> sel(n);
  for (uint32_t e = 0; e < n; ++e)
    sel[e] = score[e] + (biased ? bias[e] : 0.0f);
  auto top_sum = [&](std::vector<float> v, uint32_t count) {
    std::sort(v.rbegin(), v.rend());
    float sum = 0;
    for (uint32_t j = 0; j < std::min<size_t>(count, v.size()); ++j)
      sum += v[j];
    return sum;
  };
  auto best_ids = [](const std::vector<float>& value, uint32_t count) {
    std::vector<uint32_t> ids(value.size());
    std::iota(ids.begin(), ids.end(), 0U);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](uint32_t a, uint32_t b) { return value[a] > value[b]; });
    ids.resize(count);
    return ids;
  };
  std::vector<bool> allowed(n, true);
  if (cfg.topk_method != TopkMethod::Greedy && cfg.n_group > 1) {
    const uint32_t gs = n / cfg.n_group;
    std::vector<float> gscore(cfg.n_group);
    for (uint32_t g = 0; g < cfg.n_group; ++g) {
      std::vector<float> v(sel.begin() + g * gs, sel.begin() + (g + 1) * gs);
      gscore[g] = top_sum(v, biased ? 2 : 1);
    }
    std::vector<bool> keep(cfg.n_group, false);
    for (uint32_t g : best_ids(gscore, cfg.topk_group))
      keep[g] = true;
    for (uint32_t e = 0; e < n; ++e)
      allowed[e] = keep[e / gs];
  }
  const uint32_t m = cfg.max_nodes_per_token;
  if (m > 0 && m < pl.num_nodes()) {
    std::vector<float> nscore(pl.num_nodes());
    for (uint32_t node = 0; node < pl.num_nodes(); ++node) {
      std::vector<float> v;
      for (uint32_t e = 0; e < n; ++e) {
        if (allowed[e] && on_node(pl, e, node)) v.push_back(sel[e]);
      }
      nscore[node] = top_sum(v, (k + m - 1) / m);
    }
    std::vector<bool> allowed_node(n, false);
    if (nodes_out) *nodes_out = best_ids(nscore, m);
    for (uint32_t node : best_ids(nscore, m)) {
      for (uint32_t e = 0; e < n; ++e)
        allowed_node[e] = allowed_node[e] || on_node(pl, e, node);
    }
    for (uint32_t e = 0; e < n; ++e)
      allowed[e] = allowed[e] && allowed_node[e];
  }
  std::vector<float> masked(n);
  for (uint32_t e = 0; e < n; ++e)
    masked[e] = allowed[e] ? sel[e] : -1e30f;
  std::vector<uint32_t> out = best_ids(masked, k);
  std::sort(out.begin(), out.end());
  return out;
}

// Routes `steps` steps with skew so the biases move away from zero.
inline void warm_up(MoeRouter& router, uint32_t tokens, int steps) {
  const std::vector<uint32_t> t(router.placement(0).num_gpus(), tokens);
  for (int s = 0; s < steps; ++s)
    router.route_step(t);
}

inline void expect_matches_reference(MoeRouter& router, uint32_t tokens_per_gpu, uint32_t checked) {
  const RouterConfig& cfg = router.config();
  const ExpertPlacement& pl = router.placement(0);
  const std::vector<uint32_t> t(pl.num_gpus(), tokens_per_gpu);
  const LayerRouting r = router.route_layer(0, t, true);
  ASSERT_EQ(r.node_limit_overflows, 0u);
  const uint32_t k = cfg.num_experts_per_tok;
  uint32_t done = 0;
  for (uint32_t src = 0; src < pl.num_gpus() && done < checked; ++src) {
    for (uint32_t i = 0; i < tokens_per_gpu && done < checked; ++i, ++done) {
      const uint64_t tok = r.token_begin[src] + i;
      std::vector<uint32_t> got(r.experts.begin() + tok * k, r.experts.begin() + (tok + 1) * k);
      std::sort(got.begin(), got.end());
      const auto want = reference_gate(cfg, pl, router.affinities(0, src, i), router.bias(0));
      ASSERT_EQ(got, want) << "token " << i << " of GPU " << src;
    }
  }
}

}  // namespace mlasim::router_test
