// Per-request context lengths in decode and chunked prefill: the draws against their
// distributions' moments, the attention ops and KV figures against sums over the requests, a
// fixed distribution against the single-length path, chunked causal attention against the
// unchunked closed form, and the config checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "tests/workloads/tiny_cluster.h"
#include "workloads/context_lengths.h"
#include "workloads/deepseek_inference.h"
#include "workloads/inference_report.h"
#include "workloads/model_config.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

const ClusterShape kCluster{2, 2};

double mean_of(const std::vector<uint64_t>& v) {
  return static_cast<double>(std::accumulate(v.begin(), v.end(), uint64_t{0})) /
         static_cast<double>(v.size());
}

double stddev_of(const std::vector<uint64_t>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (uint64_t x : v)
    s += (static_cast<double>(x) - m) * (static_cast<double>(x) - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

TEST(ContextLengths, UniformMeanAndBounds) {
  ContextDistributionParams d;
  d.type = ContextDistribution::Uniform;
  d.min = 1000;
  d.max = 3000;
  const uint64_t n = 20000;
  const std::vector<uint64_t> c = request_contexts(d, 4096, 0, n);
  EXPECT_EQ(*std::min_element(c.begin(), c.end()), 1000u);  // both ends are reached
  EXPECT_EQ(*std::max_element(c.begin(), c.end()), 3000u);
  // Mean 2000; the sample mean's standard deviation is (max - min + 1) / sqrt(12 n) ~ 4.1.
  EXPECT_NEAR(mean_of(c), 2000.0, 5 * 2001 / std::sqrt(12.0 * n));
  EXPECT_NEAR(stddev_of(c), 2001 / std::sqrt(12.0), 0.02 * 2001 / std::sqrt(12.0));
}

TEST(ContextLengths, NormalAndLognormalMoments) {
  ContextDistributionParams d;
  d.stddev = 1024;
  const uint64_t n = 40000;
  for (ContextDistribution t : {ContextDistribution::Normal, ContextDistribution::Lognormal}) {
    d.type = t;
    const std::vector<uint64_t> c = request_contexts(d, 4096, 3, n);
    // Four standard deviations of the sample mean; the tails clamped at 1 are ~5e-5 of it.
    EXPECT_NEAR(mean_of(c), 4096.0, 4 * 1024 / std::sqrt(static_cast<double>(n))) << enum_name(t);
    EXPECT_NEAR(stddev_of(c), 1024.0, 0.03 * 1024) << enum_name(t);
    EXPECT_GE(*std::min_element(c.begin(), c.end()), 1u);
  }
  // Lognormal is skewed: its median lies below its mean, exp(mu) = m / sqrt(1 + s^2 / m^2).
  d.type = ContextDistribution::Lognormal;
  std::vector<uint64_t> c = request_contexts(d, 4096, 3, n);
  std::nth_element(c.begin(), c.begin() + n / 2, c.end());
  EXPECT_NEAR(static_cast<double>(c[n / 2]), 4096 / std::sqrt(1 + 1.0 / 16), 40);
}

TEST(ContextLengths, ClampAndDeterminism) {
  ContextDistributionParams d;
  d.type = ContextDistribution::Normal;
  d.stddev = 4096;
  d.min = 512;
  d.max = 6000;
  const std::vector<uint64_t> a = request_contexts(d, 4096, 1, 5000);
  EXPECT_EQ(*std::min_element(a.begin(), a.end()), 512u);
  EXPECT_EQ(*std::max_element(a.begin(), a.end()), 6000u);
  EXPECT_EQ(a, request_contexts(d, 4096, 1, 5000));
  // The first draws do not depend on how many are asked for.
  const std::vector<uint64_t> head = request_contexts(d, 4096, 1, 10);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), a.begin()));
  EXPECT_NE(a, request_contexts(d, 4096, 2, 5000)) << "groups draw their own requests";
  d.seed = 2;
  EXPECT_NE(a, request_contexts(d, 4096, 1, 5000));
  d.type = ContextDistribution::Fixed;
  EXPECT_EQ(request_contexts(d, 4096, 1, 7), std::vector<uint64_t>(7, 4096));
}

DeepSeekInferenceParams decode_lite(uint32_t depth) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.requests_per_gpu = 16;
  p.context_length = 1024;
  p.mtp.depth = depth;
  return p;
}

// Sum over a rank's attention ops of what they read from the cache, in tokens.
uint64_t attention_kv_tokens(const RankProgram& prog) {
  uint64_t sum = 0;
  for (const Op& op : prog.ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) sum += a->total_kv_tokens();
  }
  return sum;
}

TEST(ContextLengths, DecodeAttentionSeesEachRequestsContext) {
  for (uint32_t tp : {1u, 2u}) {
    DeepSeekInferenceParams p = decode_lite(1);
    p.attention_tp = tp;
    p.context_distribution.type = ContextDistribution::Lognormal;
    p.context_distribution.stddev = 512;
    const DeepSeekStep step = DeepSeekInference(p).build(kCluster);
    const ModelConfig m = resolve_model(p.model.name);
    uint64_t all = 0, most = 0;
    for (uint32_t r = 0; r < 4; ++r) {
      // The rank's DP group's requests, each attending its cached context + the 1 + D tokens
      // the step computes (D = 1), in each of 2 layers + 1 MTP module.
      const std::vector<uint64_t> ctx =
          request_contexts(p.context_distribution, p.context_length, r / tp, 16 * tp);
      const uint64_t ctx_sum = std::accumulate(ctx.begin(), ctx.end(), uint64_t{0});
      EXPECT_EQ(attention_kv_tokens(step.workload.ranks[r]), 3 * (ctx_sum + 2 * ctx.size()))
          << "rank " << r << " tp " << tp;
      if (r % tp == 0) all += ctx_sum;
      most = std::max(most, ctx_sum);
      for (const Op& op : step.workload.ranks[r].ops) {
        if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
          ASSERT_EQ(a->kv_lens.size(), a->batch);
          EXPECT_EQ(a->kv_len, *std::max_element(a->kv_lens.begin(), a->kv_lens.end()));
          // The absorbed MLA kernel reads 576 latent values per cached token.
          EXPECT_EQ(a->bytes_read(),
                    a->total_kv_tokens() * 576 * 2 + a->batch * a->q_len * a->heads_q * 576 * 2);
        }
      }
    }
    // KV figures: sum of per-request contexts x bytes per token, averaged over the GPUs.
    const InferenceMemory mem = inference_memory(m, p, step);
    const uint64_t groups = 4 / tp;
    EXPECT_EQ(mem.kv_bytes_per_token_per_gpu, 27u * 576 * 2);
    EXPECT_EQ(mem.kv_bytes_per_gpu, all * mem.kv_bytes_per_token_per_gpu / groups);
    EXPECT_EQ(mem.kv_bytes_per_gpu_max, most * mem.kv_bytes_per_token_per_gpu);
    EXPECT_EQ(mem.kv_cached_tokens_per_gpu, all / groups);
    EXPECT_NO_THROW(validate_workload(step.workload));
  }
}

// Every request at the same length through the per-request path gives exactly the figures of
// the single-length path.
TEST(ContextLengths, DegenerateDistributionReproducesFixed) {
  DeepSeekInferenceParams fixed = decode_lite(1);
  DeepSeekInferenceParams same = fixed;
  same.context_distribution.type = ContextDistribution::Uniform;
  same.context_distribution.min = same.context_distribution.max = fixed.context_length;
  const DeepSeekStep a = DeepSeekInference(fixed).build(kCluster);
  const DeepSeekStep b = DeepSeekInference(same).build(kCluster);
  for (uint32_t r = 0; r < 4; ++r) {
    const auto& x = a.workload.ranks[r].ops;
    const auto& y = b.workload.ranks[r].ops;
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(op_flops(x[i].payload), op_flops(y[i].payload)) << x[i].name;
      EXPECT_EQ(op_bytes_read(x[i].payload), op_bytes_read(y[i].payload)) << x[i].name;
    }
  }
  const ModelConfig m = resolve_model(fixed.model.name);
  const InferenceMemory ma = inference_memory(m, fixed, a), mb = inference_memory(m, same, b);
  EXPECT_EQ(ma.kv_bytes_per_gpu, mb.kv_bytes_per_gpu);
  EXPECT_EQ(ma.kv_bytes_per_gpu, uint64_t{16} * 1024 * 27 * 576 * 2);
  // And the single-length path still matches its closed form with no step figures at all.
  EXPECT_EQ(inference_memory(m, fixed, DeepSeekStepInfo{}).kv_bytes_per_gpu, ma.kv_bytes_per_gpu);
  // The MTP module caches one more layer's latent per token.
  EXPECT_EQ(ma.kv_mtp_bytes_per_token, 576u * 2);
  EXPECT_EQ(ma.kv_mtp_bytes_per_gpu, uint64_t{16} * 1024 * 576 * 2);
}

TEST(ContextLengths, SameSeedSameWorkload) {
  DeepSeekInferenceParams p = decode_lite(0);
  p.context_distribution.type = ContextDistribution::Normal;
  p.context_distribution.stddev = 300;
  const std::string a = workload_to_json(DeepSeekInference(p).generate(kCluster)).dump();
  EXPECT_EQ(a, workload_to_json(DeepSeekInference(p).generate(kCluster)).dump());
  p.context_distribution.seed = 9;
  EXPECT_NE(a, workload_to_json(DeepSeekInference(p).generate(kCluster)).dump());
}

DeepSeekInferenceParams prefill_lite(uint64_t chunk) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.phase = InferencePhase::Prefill;
  p.tokens_per_gpu = 2000;  // two prompts of 1000 tokens, one per micro-batch
  p.context_length = 1000;
  p.chunk_size = chunk;
  return p;
}

TEST(ChunkedPrefill, AttentionSumsToTheCausalClosedForm) {
  const Workload whole = DeepSeekInference(prefill_lite(0)).generate(kCluster);
  const Workload chunked = DeepSeekInference(prefill_lite(256)).generate(kCluster);
  EXPECT_NO_THROW(validate_workload(chunked));
  // Per layer and micro-batch: one prompt of 1000 tokens, 16 heads; chunks 256, 256, 256, 232.
  double pairs = 0, whole_pairs = 0;
  uint64_t gate_rows = 0, whole_gate_rows = 0, chunk_ops = 0;
  std::vector<uint64_t> starts;
  for (const Op& op : chunked.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      pairs += a->visible_pairs();
      if (op.name.find("L0.mb0.") != std::string::npos) starts.push_back(a->kv_len - a->q_len);
    }
    if (const auto* g = std::get_if<GemmOp>(&op.payload); g && op.name.ends_with(".gate")) {
      gate_rows += g->m;
    }
    if (op.name.starts_with("c3.")) ++chunk_ops;
  }
  for (const Op& op : whole.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) whole_pairs += a->visible_pairs();
    if (const auto* g = std::get_if<GemmOp>(&op.payload); g && op.name.ends_with(".gate")) {
      whole_gate_rows += g->m;
    }
  }
  EXPECT_EQ(starts, (std::vector<uint64_t>{0, 256, 512, 768}));
  EXPECT_GT(chunk_ops, 0u);
  // 2 layers x 2 micro-batches x one prompt x sum_{i=1}^{1000} i.
  EXPECT_DOUBLE_EQ(pairs, 2.0 * 2 * 1000 * 1001 / 2);
  EXPECT_DOUBLE_EQ(pairs, whole_pairs);
  // Every token passes the MoE once (1 dense + 1 MoE layer: the gate is in the MoE layer).
  EXPECT_EQ(gate_rows, whole_gate_rows);
  EXPECT_EQ(whole_gate_rows, 2000u);
}

TEST(ChunkedPrefill, EveryRankHasRowsInEveryPass) {
  // Chunks of two tokens over attention_tp 2 (the smallest a pass may take): in each pass each
  // rank of the pair holds one token, so no GEMM has zero rows (with one-token chunks, refused
  // now, one rank had none in each pass). A GEMM of no rows would launch no kernel: no weight
  // read, no FLOPs.
  DeepSeekInferenceParams p = prefill_lite(2);
  p.tokens_per_gpu = 8;
  p.context_length = 4;
  p.attention_tp = 2;
  const Workload w = DeepSeekInference(p).generate(kCluster);
  EXPECT_NO_THROW(validate_workload(w));
  uint64_t gemms = 0;
  for (const RankProgram& r : w.ranks) {
    for (const Op& op : r.ops) {
      const auto* g = std::get_if<GemmOp>(&op.payload);
      if (g == nullptr || op.name.find("lm_head") != std::string::npos) continue;
      ++gemms;
      EXPECT_GT(g->m, 0u) << op.name;
      EXPECT_EQ(op_bytes_read(op.payload), (g->m * g->k + g->k * g->n) * dtype_bytes(g->dtype));
    }
  }
  EXPECT_GT(gemms, 0u);
  const OpPayload empty = GemmOp{0, 2048, 2048, DType::BF16};
  EXPECT_EQ(op_bytes_read(empty), 0u);
  EXPECT_EQ(op_flops(empty), 0.0);
}

TEST(ChunkedPrefill, ChunkAtLeastThePromptChangesNothing) {
  const std::string a =
      workload_to_json(DeepSeekInference(prefill_lite(0)).generate(kCluster)).dump();
  EXPECT_EQ(a, workload_to_json(DeepSeekInference(prefill_lite(1000)).generate(kCluster)).dump());
  EXPECT_EQ(a, workload_to_json(DeepSeekInference(prefill_lite(4096)).generate(kCluster)).dump());
}

std::string config_error(const std::string& workload) {
  return test_util::tiny_cluster_config_error(workload);
}

TEST(ContextLengths, BadValuesNameTheKey) {
  const std::string base = "  type: deepseek_inference\n  model: deepseek-v2-lite\n  layers: 1\n";
  std::string e = config_error(base + "  context_distribution: {type: uniform, min: 100}\n");
  EXPECT_NE(e.find("workload.context_distribution.max"), std::string::npos) << e;
  EXPECT_NE(e.find("<t>:"), std::string::npos) << e;
  e = config_error(base + "  context_distribution: {type: gamma}\n");
  EXPECT_NE(e.find("workload.context_distribution.type"), std::string::npos) << e;
  e = config_error(base + "  context_distribution: {type: normal, stddev: -3}\n");
  EXPECT_NE(e.find("workload.context_distribution.stddev"), std::string::npos) << e;
  // Prefill draws prompt lengths from the same keys, and checks them the same way.
  e = config_error(base + "  phase: prefill\n  context_distribution: {type: uniform, min: 9}\n");
  EXPECT_NE(e.find("workload.context_distribution.max"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  EXPECT_EQ(config_error(base + "  phase: prefill\n  context_distribution: {type: normal}\n"),
            "no error");
  e = config_error(base + "  chunk_size: 512\n");
  EXPECT_NE(e.find("workload.chunk_size"), std::string::npos) << e;
  // A pass's tokens split evenly over the TP group (else a pass may send none through the MLP).
  e = config_error(base + "  phase: prefill\n  attention_tp: 2\n  chunk_size: 511\n");
  EXPECT_NE(e.find("workload.chunk_size: must be a multiple of attention_tp (2)"),
            std::string::npos)
      << e;
  EXPECT_EQ(config_error(base + "  phase: prefill\n  attention_tp: 2\n  chunk_size: 512\n"
                                "  context_length: 256\n"),
            "no error");
  // Contexts beyond 2^32 tokens (byte counts would leave 64 bits; min above the unbounded max).
  e = config_error(base + "  context_distribution: {type: normal, min: 5000000000}\n");
  EXPECT_NE(e.find("workload.context_distribution.min"), std::string::npos) << e;
  e = config_error(base + "  context_length: 5000000000\n");
  EXPECT_NE(e.find("workload.context_length"), std::string::npos) << e;
  EXPECT_EQ(config_error(base + "  context_distribution: {type: lognormal, stddev: 512}\n"),
            "no error");
}

// A fixed distribution draws nothing, so a seed given to it would be ignored: refused like its
// min, max and stddev, in decode and in prefill (which draws prompt lengths from the same keys).
// Types that draw take it; the default seed (what a resolved config lists) is no setting.
TEST(ContextLengths, FixedDistributionRefusesASeed) {
  const std::string base = "  type: deepseek_inference\n  model: deepseek-v2-lite\n  layers: 1\n";
  for (const std::string phase : {"", "  phase: prefill\n"}) {
    const std::string e =
        config_error(base + phase + "  context_distribution:\n    type: fixed\n    seed: 7\n");
    EXPECT_NE(e.find("workload.context_distribution.seed: fixed puts every context at "
                     "context_length and draws nothing: seed is not read"),
              std::string::npos)
        << e;
    // The line of the seed itself (the workload's keys start on the scenario's line 12).
    const size_t seed_line = phase.empty() ? 17 : 18;
    EXPECT_NE(e.find("<t>:" + std::to_string(seed_line) + ":"), std::string::npos) << e;
    EXPECT_EQ(config_error(base + phase + "  context_distribution: {type: fixed, seed: 1}\n"),
              "no error");
    EXPECT_EQ(
        config_error(base + phase +
                     "  context_distribution: {type: uniform, min: 1024, max: 4096, seed: 7}\n"),
        "no error");
  }
}

}  // namespace
}  // namespace mlasim
