// Decode load balancing (`workload.dp_balance: attention`): the dealing rule against closed-form
// deals and a direct re-implementation of the rule, and the step's attention ops against the
// pooled draws dealt by that reference (same requests, same counts per micro-batch, KV spread
// narrowed), plus the config checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "tests/workloads/tiny_cluster.h"
#include "workloads/context_lengths.h"
#include "workloads/deepseek_inference.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

using Bins = std::vector<std::vector<uint64_t>>;

// The rule written plainly: longest first (equal ones in their order); each to the bin with the
// least total among those with room, the lowest index on a tie (a linear scan, no heap); each
// bin's loads then in their order in `loads`.
Bins reference_deal(const std::vector<uint64_t>& loads, const std::vector<uint64_t>& capacities) {
  std::vector<size_t> order(loads.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return loads[a] > loads[b]; });
  std::vector<std::vector<size_t>> taken(capacities.size());
  std::vector<uint64_t> total(capacities.size(), 0);
  for (size_t i : order) {
    size_t best = capacities.size();
    for (size_t b = 0; b < capacities.size(); ++b) {
      if (taken[b].size() < capacities[b] && (best == capacities.size() || total[b] < total[best]))
        best = b;
    }
    taken[best].push_back(i);
    total[best] += loads[i];
  }
  Bins bins(capacities.size());
  for (size_t b = 0; b < taken.size(); ++b) {
    std::sort(taken[b].begin(), taken[b].end());
    for (size_t i : taken[b])
      bins[b].push_back(loads[i]);
  }
  return bins;
}

TEST(DpBalance, DealsClosedFormCases) {
  // 8 7 6 5 4 3 2 1 into two bins of four: 8 | 7; 6 to the second (13); 5 to the first (13);
  // 4 to the first on the tie (17); 3 and 2 to the second (18, full); 1 to the first (18).
  // Each bin lists its loads in their order in the input.
  EXPECT_EQ(deal_by_load({1, 2, 3, 4, 5, 6, 7, 8}, std::vector<uint64_t>{4, 4}),
            (Bins{{1, 4, 5, 8}, {2, 3, 6, 7}}));
  EXPECT_EQ(deal_by_load({8, 7, 6, 5, 4, 3, 2, 1}, std::vector<uint64_t>{4, 4}),
            (Bins{{8, 5, 4, 1}, {7, 6, 3, 2}}));
  // A full bin takes nothing more even when it is the lightest.
  EXPECT_EQ(deal_by_load({1, 10, 1}, std::vector<uint64_t>{2, 1}), (Bins{{10, 1}, {1}}));
  EXPECT_EQ(deal_by_load({5, 5, 5}, std::vector<uint64_t>{0, 3}), (Bins{{}, {5, 5, 5}}));
  // Loads and room must match (a caller's bug, not bad input).
  EXPECT_THROW(deal_by_load({1, 2}, std::vector<uint64_t>{1}), std::logic_error);
}

TEST(DpBalance, MatchesThePlainRuleOnDrawnLoads) {
  ContextDistributionParams d;
  d.type = ContextDistribution::Lognormal;
  d.stddev = 2048;
  for (uint32_t trial = 0; trial < 20; ++trial) {
    std::vector<uint64_t> caps;
    for (uint32_t b = 0; b < 2 + trial % 7; ++b)
      caps.push_back(1 + (b * 7 + trial) % 5);
    const uint64_t n = std::accumulate(caps.begin(), caps.end(), uint64_t{0});
    const std::vector<uint64_t> loads = request_contexts(d, 4096, trial, n);
    EXPECT_EQ(deal_by_load(loads, caps), reference_deal(loads, caps)) << "trial " << trial;
  }
}

// A rank's attention KV lengths of a layer (by its op names' prefix), per micro-batch, less the
// 1 + D tokens the step computes: its requests' contexts.
Bins rank_contexts(const RankProgram& prog, uint64_t computed, const std::string& layer = "L0.") {
  Bins out;
  for (const Op& op : prog.ops) {
    const auto* a = std::get_if<AttentionOp>(&op.payload);
    if (a == nullptr || !op.name.starts_with(layer)) continue;
    std::vector<uint64_t> ctx;
    for (uint64_t s = 0; s < a->batch; ++s)
      ctx.push_back(a->seq_kv_len(s) - computed);
    out.push_back(std::move(ctx));
  }
  return out;
}

uint64_t sum_of(const Bins& bins) {
  uint64_t s = 0;
  for (const auto& b : bins)
    s += std::accumulate(b.begin(), b.end(), uint64_t{0});
  return s;
}

TEST(DpBalance, StepServesThePooledDrawsDealtByAttention) {
  const ClusterShape cluster{2, 2};
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.requests_per_gpu = 16;
  p.context_length = 1024;
  p.mtp.depth = 1;
  p.context_distribution.type = ContextDistribution::Lognormal;
  p.context_distribution.stddev = 1024;
  DeepSeekInferenceParams balanced = p;
  balanced.dp_balance = DpBalance::Attention;
  const DeepSeekStep as_drawn = DeepSeekInference(p).build(cluster);
  const DeepSeekStep dealt = DeepSeekInference(balanced).build(cluster);

  // The reference: every group's 16 draws (8 per micro-batch) pooled and dealt to the
  // (group, micro-batch) bins.
  std::vector<uint64_t> pool;
  for (uint32_t g = 0; g < 4; ++g) {
    const std::vector<uint64_t> c =
        request_contexts(p.context_distribution, p.context_length, g, 16);
    pool.insert(pool.end(), c.begin(), c.end());
  }
  const Bins expected = reference_deal(pool, std::vector<uint64_t>(8, 8));
  uint64_t most_drawn = 0, least_drawn = UINT64_MAX, most_dealt = 0, least_dealt = UINT64_MAX;
  for (uint32_t r = 0; r < 4; ++r) {
    const Bins got = rank_contexts(dealt.workload.ranks[r], 2);
    ASSERT_EQ(got.size(), 2u) << "rank " << r;
    EXPECT_EQ(got[0], expected[2 * r]) << "rank " << r;
    EXPECT_EQ(got[1], expected[2 * r + 1]) << "rank " << r;
    const uint64_t drawn = sum_of(rank_contexts(as_drawn.workload.ranks[r], 2));
    most_drawn = std::max(most_drawn, drawn);
    least_drawn = std::min(least_drawn, drawn);
    most_dealt = std::max(most_dealt, sum_of(got));
    least_dealt = std::min(least_dealt, sum_of(got));
  }
  // The same requests, so the same total and mean; the fullest GPU holds less.
  EXPECT_EQ(dealt.kv_cached_tokens_sum, as_drawn.kv_cached_tokens_sum);
  EXPECT_EQ(dealt.kv_cached_tokens_sum, std::accumulate(pool.begin(), pool.end(), uint64_t{0}));
  EXPECT_EQ(dealt.kv_cached_tokens_max, most_dealt);
  EXPECT_EQ(as_drawn.kv_cached_tokens_max, most_drawn);
  EXPECT_LT(most_dealt - least_dealt, most_drawn - least_drawn);
  EXPECT_LT(most_dealt, most_drawn);
}

// Micro-batches of 4 and 3 requests per GPU, MTP. A serving instance is the fewest whole EP
// groups and whole TP groups; its DP groups pool their requests. On 4 GPUs: TP 2 in one EP group
// of 4: one pool of both groups; TP 2, EP 2: each group its own pool (it only deals its requests
// between its micro-batches); TP 1, EP 2: two pools of two groups; TP 2, EP 1: a TP group spans
// two EP groups, so each group is its own pool. Every rank of a group, main layers and MTP
// module alike, gets the reference deal.
TEST(DpBalance, InstancesPoolTheirOwnGroups) {
  struct Case {
    uint32_t tp, ep, per_pool;
  };
  for (const Case c : {Case{2, 0, 2}, Case{2, 2, 1}, Case{1, 2, 2}, Case{2, 1, 1}}) {
    DeepSeekInferenceParams p;
    p.model = "deepseek-v2-lite";
    p.layers = 2;
    p.requests_per_gpu = 7;
    p.context_length = 1024;
    p.attention_tp = c.tp;
    p.ep_size = c.ep;
    p.placement.redundant_experts = 0;  // (an EP group of 1 GPU has no room for replicas)
    p.mtp.depth = 1;
    p.context_distribution.type = ContextDistribution::Lognormal;
    p.context_distribution.stddev = 1024;
    p.dp_balance = DpBalance::Attention;
    const DeepSeekStep step = DeepSeekInference(p).build(ClusterShape{2, 2});
    const uint32_t groups = 4 / c.tp;
    std::vector<Bins> expected;  // [group]
    for (uint32_t first = 0; first < groups; first += c.per_pool) {
      std::vector<uint64_t> pool, caps;
      for (uint32_t g = first; g < first + c.per_pool; ++g) {
        const std::vector<uint64_t> ctx =
            request_contexts(p.context_distribution, p.context_length, g, 7 * c.tp);
        pool.insert(pool.end(), ctx.begin(), ctx.end());
        caps.insert(caps.end(), {4 * c.tp, 3 * c.tp});
      }
      const Bins dealt = reference_deal(pool, caps);
      for (size_t b = 0; b < dealt.size(); b += 2)
        expected.push_back({dealt[b], dealt[b + 1]});
    }
    const std::string what = "TP " + std::to_string(c.tp) + ", EP " + std::to_string(c.ep);
    for (uint32_t r = 0; r < 4; ++r) {
      EXPECT_EQ(rank_contexts(step.workload.ranks[r], 2), expected[r / c.tp])
          << "rank " << r << ", " << what;
      EXPECT_EQ(rank_contexts(step.workload.ranks[r], 2, "mtp0."), expected[r / c.tp])
          << "rank " << r << ", " << what << ", MTP module";
    }
    EXPECT_NO_THROW(validate_workload(step.workload)) << what;
  }
}

// With every context at context_length there is nothing to deal: the step is the one without
// the setting, and a warning says the setting is not used.
TEST(DpBalance, FixedContextsWarn) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.requests_per_gpu = 8;
  DeepSeekInferenceParams balanced = p;
  balanced.dp_balance = DpBalance::Attention;
  const ClusterShape cluster{2, 2};
  const DeepSeekStep step = DeepSeekInference(balanced).build(cluster);
  EXPECT_EQ(workload_to_json(DeepSeekInference(p).generate(cluster)).dump(),
            workload_to_json(step.workload).dump());
  const auto warned = [](const DeepSeekStep& s) {
    return std::any_of(s.warnings.begin(), s.warnings.end(), [](const std::string& w) {
      return w.starts_with("workload.dp_balance is not used");
    });
  };
  EXPECT_TRUE(warned(step));
  balanced.context_distribution.type = ContextDistribution::Normal;
  balanced.context_distribution.stddev = 100;
  EXPECT_FALSE(warned(DeepSeekInference(balanced).build(cluster)));
}

std::string config_error(const std::string& workload) {
  return test_util::tiny_cluster_config_error(workload);
}

TEST(DpBalance, ConfigChecks) {
  const std::string base = "  type: deepseek_inference\n  model: deepseek-v2-lite\n  layers: 1\n";
  EXPECT_EQ(config_error(base + "  dp_balance: attention\n"), "no error");
  std::string e = config_error(base + "  dp_balance: tokens\n");
  EXPECT_NE(e.find("workload.dp_balance"), std::string::npos) << e;
  EXPECT_NE(e.find("<t>:"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  e = config_error(base + "  phase: prefill\n  dp_balance: attention\n");
  EXPECT_NE(e.find("workload.dp_balance: applies to the decode phase"), std::string::npos) << e;
  EXPECT_NE(e.find("<t>:"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
}

}  // namespace
}  // namespace mlasim
