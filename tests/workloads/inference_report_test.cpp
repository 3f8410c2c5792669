// The inference run report: memory figures against published parameter counts and the KV-cache
// closed forms, the step breakdown against hand-built op spans, MTP accounting against
// 1 + sum a^i, the `attention: mha` and tensor-parallel dense variants, and a small two-node run
// whose step time lies between the critical path and the serial sum of its ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "sim/builtin_components.h"
#include "sim/commands.h"
#include "sim/simulation.h"
#include "workloads/deepseek_inference.h"
#include "workloads/inference_report.h"
#include "workloads/model_config.h"

namespace mlasim {
namespace {

// A finished step of the 2 x 2 test cluster as the report reads it: every GPU done at
// `finish_ps`, with no op spans, on GPUs of 80 GB.
WorkloadRun run_on_2x2(int64_t finish_ps) {
  WorkloadRun run;
  run.cluster = ClusterShape{2, 2};
  run.finish.assign(4, Time::ps(finish_ps));
  run.busy_ps.assign(4, 1);
  run.memory_capacity = Bytes(80'000'000'000);
  run.spans = [](int) { return std::vector<OpSpan>{}; };
  return run;
}

// A 2-layer DeepSeek-V2-Lite decode: `requests` per GPU at `context`, MTP `depth`.
DeepSeekInferenceParams lite_decode(uint32_t requests, uint64_t context, uint32_t depth) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.requests_per_gpu = requests;
  p.context_length = context;
  p.mtp.depth = depth;
  return p;
}

DeepSeekInferenceParams v3() {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v3";
  p.requests_per_gpu = 128;
  p.context_length = 4096;
  return p;
}

TEST(InferenceReport, KvCacheBytesPerTokenClosedForms) {
  const ModelConfig ds = resolve_model("deepseek-v3");
  DeepSeekStepInfo step;
  // MLA: 61 layers x (d_c 512 + d_r 64) x 2 B.
  DeepSeekInferenceParams p = v3();
  InferenceMemory m = inference_memory(ds, p, step);
  EXPECT_EQ(m.kv_bytes_per_token, 61u * (512 + 64) * 2);
  EXPECT_EQ(m.kv_bytes_per_token, 70272u);
  EXPECT_EQ(m.kv_bytes_per_gpu, uint64_t{128} * 4096 * 70272);
  // An FP8 cache halves it, plus a 4 B scale per 128 elements of each row: latent 4, rope 1.
  p.dtypes.kv_cache = DType::FP8;
  EXPECT_EQ(inference_memory(ds, p, step).kv_bytes_per_token, 61u * (512 + 4 * 4 + 64 + 4));
  EXPECT_EQ(inference_memory(ds, p, step).kv_bytes_per_token, 36356u);
  // MHA of the same head dims: K 128 + 64, V 128 for each of 128 heads.
  p = v3();
  p.attention = AttentionVariant::Mha;
  m = inference_memory(ds, p, step);
  EXPECT_EQ(m.kv_bytes_per_token, 61u * 128 * (192 + 128) * 2);
  // GQA: 2 x n_kv x d_h x bytes per layer; TP8 leaves one KV head per GPU.
  const ModelConfig llama = resolve_model("llama-3.1-405b");
  DeepSeekInferenceParams lp;
  lp.model = "llama-3.1-405b";
  lp.requests_per_gpu = 16;
  lp.attention_tp = 8;
  m = inference_memory(llama, lp, step);
  EXPECT_EQ(m.kv_bytes_per_token, 126u * 2 * 8 * 128 * 2);
  EXPECT_EQ(m.kv_bytes_per_token_per_gpu, m.kv_bytes_per_token / 8);
  // The TP group's 8 x 16 sequences, one KV head each per GPU.
  EXPECT_EQ(m.kv_bytes_per_gpu,
            uint64_t{16} * 8 * lp.context_length * m.kv_bytes_per_token_per_gpu);
}

// With every expert on one GPU, no TP and BF16 weights, the weights are the model's parameter
// count x 2 B: DeepSeek-V3 has 671 B parameters besides its MTP module, Llama 3.1 405B 405.8 B.
TEST(InferenceReport, WeightsMatchPublishedParameterCounts) {
  const ModelConfig ds = resolve_model("deepseek-v3");
  DeepSeekInferenceParams p = v3();
  p.dtypes.gemm = DType::BF16;
  DeepSeekStepInfo step;
  step.max_slots_per_gpu = 256;
  const double ds_params =
      static_cast<double>(inference_memory(ds, p, step).weight_bytes_per_gpu) / 2;
  EXPECT_NEAR(ds_params / 671e9, 1.0, 0.01) << ds_params;
  // FP8 expert parallel: one more expert slot per GPU adds one expert (3 x 7168 x 2048 B) in
  // each of the 58 MoE layers.
  p.dtypes.gemm = DType::FP8;
  step.max_slots_per_gpu = 1;
  const uint64_t one = inference_memory(ds, p, step).weight_bytes_per_gpu;
  step.max_slots_per_gpu = 2;
  const uint64_t two = inference_memory(ds, p, step).weight_bytes_per_gpu;
  EXPECT_EQ(two - one, uint64_t{58} * 3 * 7168 * 2048);
  // The gate and the LM head in their own dtypes: FP8 takes a byte off each of their weights
  // (256 x 7168 per MoE layer; the LM head's 129,280 x 7168).
  p.dtypes.gate = DType::FP8;
  EXPECT_EQ(two - inference_memory(ds, p, step).weight_bytes_per_gpu, uint64_t{58} * 256 * 7168);
  p.dtypes.gate = DType::BF16;
  p.dtypes.lm_head = DType::FP8;
  EXPECT_EQ(two - inference_memory(ds, p, step).weight_bytes_per_gpu, uint64_t{129280} * 7168);
  p.dtypes.lm_head = DType::BF16;
  // Decode's absorbed MLA reads W_UK and W_UV (kv_b_proj, 512 x 128 heads x (128 + 128)) in the
  // absorb dtype: BF16 holds them in a byte more each than FP8, in each of the 61 layers and
  // the MTP module's.
  p.phase = InferencePhase::Decode;
  p.mtp.depth = 1;
  p.dtypes.absorb = DType::BF16;
  const uint64_t bf16 = inference_memory(ds, p, step).weight_bytes_per_gpu;
  p.dtypes.absorb = DType::FP8;
  EXPECT_EQ(bf16 - inference_memory(ds, p, step).weight_bytes_per_gpu,
            uint64_t{62} * 512 * 128 * (128 + 128));

  const ModelConfig llama = resolve_model("llama-3.1-405b");
  DeepSeekInferenceParams lp;
  lp.model = "llama-3.1-405b";
  lp.dtypes.gemm = DType::BF16;
  const double l_params =
      static_cast<double>(inference_memory(llama, lp, DeepSeekStepInfo{}).weight_bytes_per_gpu) / 2;
  EXPECT_NEAR(l_params / 405.8e9, 1.0, 0.01) << l_params;
  // TP8 shards every weight, the embedding table included (by vocabulary, as the LM head; it
  // was once whole on every GPU: 4.2 GB more each). 128,256 rows divide by 8 exactly.
  const uint64_t whole = inference_memory(llama, lp, DeepSeekStepInfo{}).weight_bytes_per_gpu;
  lp.attention_tp = 8;
  const uint64_t shard = inference_memory(llama, lp, DeepSeekStepInfo{}).weight_bytes_per_gpu;
  EXPECT_NEAR(static_cast<double>(shard) * 8 / static_cast<double>(whole), 1.0, 1e-6);
}

TEST(InferenceReport, OpPlaceFromNames) {
  EXPECT_EQ(op_place("L3.mb1.attention", 61).layer, 3);
  EXPECT_EQ(op_place("L3.mb1.attention", 61).part, OpPart::Attention);
  EXPECT_EQ(op_place("L10.mb0.combine", 61).part, OpPart::Combine);
  EXPECT_EQ(op_place("mtp0.mb0.dispatch", 61).layer, 61);
  EXPECT_EQ(op_place("mtp0.mb0.dispatch", 61).part, OpPart::Dispatch);
  EXPECT_EQ(op_place("L0.mb0.mlp_down", 61).part, OpPart::Experts);
  EXPECT_EQ(op_place("L5.mb0.gate", 61).part, OpPart::Gate);
  EXPECT_EQ(op_place("L5.mb0.residual", 61).part, OpPart::Other);
  EXPECT_EQ(op_place("L5.mb0.attn_all_gather", 61).part, OpPart::TpComm);
  EXPECT_EQ(op_place("lm_head_all_gather", 61).part, OpPart::TpComm);
  EXPECT_EQ(op_place("mtp.lm_head1_all_gather", 61).part, OpPart::TpComm);
  // The vocabulary-sharded embedding's reduce-scatter (of a chunk too): TP comm, in no layer.
  for (const char* name : {"mb0.embedding_reduce_scatter", "c2.mb1.embedding_reduce_scatter"}) {
    EXPECT_EQ(op_place(name, 61).part, OpPart::TpComm) << name;
    EXPECT_LT(op_place(name, 61).layer, 0) << name;
  }
  EXPECT_EQ(op_place("c2.lm_head_all_gather", 61).layer, -1);
  EXPECT_EQ(op_place("lm_head", 61).layer, -1);
  EXPECT_EQ(op_place("mtp.lm_head", 61).layer, -1);
  EXPECT_EQ(op_place("mb0.embedding", 61).part, OpPart::Other);
  // Numbers beyond the model's layers name none (they would land on an MTP module's row), and
  // numbers too long for 64 bits are beyond every layer (they wrapped round to a small one).
  EXPECT_EQ(op_place("L61.mb0.attention", 61).layer, -1);
  EXPECT_EQ(op_place("L60.mb0.attention", 61).layer, 60);
  EXPECT_EQ(op_place("L99999999999.mb0.attention", 61).layer, -1);
  EXPECT_EQ(op_place("L18446744073709551677.mb0.attention", 61).layer, -1);  // 2^64 + 61
  EXPECT_EQ(op_place("L000000000000000000003.mb0.attention", 61).layer, 3);  // zeros lead
  // (A pass number, however large, does not change the layer.)
  EXPECT_EQ(op_place("c18446744073709551617.L3.mb0.attention", 61).layer, 3);
}

// Hand-built spans (ns): compute attention [0,10) and experts [30,40) of layer 0, attention
// [50,60) of layer 1; dispatch of layer 0 in flight [10,30), combine of layer 0 [35,55) and a
// dispatch of layer 1 [45,70); step ends at 80.
TEST(InferenceReport, BreakdownFromSpans) {
  std::vector<std::string> names{"L0.mb0.attention", "L0.mb0.experts_gate_up", "L1.mb0.attention",
                                 "L0.mb0.dispatch",  "L0.mb0.combine",         "L1.mb0.dispatch",
                                 "lm_head"};
  auto ns = [](int64_t v) { return Time::ps(v * 1000); };
  std::vector<OpSpan> spans{{&names[0], true, ns(0), ns(10)},   {&names[1], true, ns(30), ns(40)},
                            {&names[2], true, ns(50), ns(60)},  {&names[3], false, ns(10), ns(30)},
                            {&names[4], false, ns(35), ns(55)}, {&names[5], false, ns(45), ns(70)},
                            {&names[6], true, ns(72), ns(75)}};
  const StepBreakdown b = step_breakdown(spans, 61, ns(80));
  EXPECT_EQ(b.total.attention, 20'000);
  EXPECT_EQ(b.total.experts, 10'000);
  EXPECT_EQ(b.total.dispatch, 45'000);
  EXPECT_EQ(b.total.combine, 20'000);
  EXPECT_EQ(b.total.other_compute, 3'000);
  // Exposed: [10,30) dispatch L0; [40,50) combine L0 (started first); [60,70) dispatch L1.
  EXPECT_EQ(b.total.exposed_comm, 40'000);
  EXPECT_EQ(b.layers.at(0).exposed_comm, 30'000);
  EXPECT_EQ(b.layers.at(1).exposed_comm, 10'000);
  EXPECT_EQ(b.layers.at(0).dispatch, 20'000);
  EXPECT_EQ(b.layers.at(1).dispatch, 25'000);
  // Other: the LM head and the idle [70,72) and [75,80).
  EXPECT_EQ(b.other_ps(), 3'000 + 2'000 + 5'000);
}

// Attention TP's collectives (ns): layer 0's all-gather [10,14) between its attention [0,10) and
// experts [14,20), then the LM head's all-gather [20,25), in no layer, before the head [25,30).
// Each layer's exposed communication stays within the communication it lists; the LM head's
// counts in the totals only.
TEST(InferenceReport, TpCollectivesAreCountedByLayerAndTheLmHeadsInTheTotal) {
  std::vector<std::string> names{"L0.mb0.attention", "L0.mb0.attn_all_gather",
                                 "L0.mb0.experts_gate_up", "lm_head_all_gather", "lm_head"};
  auto ns = [](int64_t v) { return Time::ps(v * 1000); };
  std::vector<OpSpan> spans{{&names[0], true, ns(0), ns(10)},
                            {&names[1], false, ns(10), ns(14)},
                            {&names[2], true, ns(14), ns(20)},
                            {&names[3], false, ns(20), ns(25)},
                            {&names[4], true, ns(25), ns(30)}};
  const StepBreakdown b = step_breakdown(spans, 61, ns(30));
  EXPECT_EQ(b.total.tp_comm, 9'000);
  EXPECT_EQ(b.layers.at(0).tp_comm, 4'000);
  EXPECT_EQ(b.total.exposed_comm, 9'000);
  EXPECT_EQ(b.layers.at(0).exposed_comm, 4'000);
  EXPECT_EQ(b.layers.size(), 1u);
  EXPECT_EQ(b.other_ps(), 5'000);  // the LM head
}

// Expected accepted tokens per decode step with D drafted tokens each accepted with probability
// a (given the previous one was): 1 + a + a^2 + ... + a^D; TPOT is the step time over it.
TEST(InferenceReport, MtpAccountingClosedForm) {
  for (uint32_t depth : {0u, 1u, 2u, 3u}) {
    for (double a : {0.0, 0.85, 1.0}) {
      DeepSeekInferenceParams p;
      p.model = "deepseek-v2-lite";
      p.layers = 2;
      p.requests_per_gpu = 4;
      p.context_length = 64;
      p.mtp.depth = depth;
      p.mtp.acceptance_rate = a;
      DeepSeekInference gen(p);
      gen.generate(ClusterShape{2, 2});
      double expected = 1;
      for (uint32_t i = 1; i <= depth; ++i)
        expected += std::pow(a, i);
      const DeepSeekStep step = gen.build(ClusterShape{2, 2});
      EXPECT_NEAR(step.mtp_accepted_tokens_per_step, expected, 1e-12);
      WorkloadRun run;
      run.cluster = ClusterShape{2, 2};
      run.finish = {Time::ps(2'000'000'000), Time::ps(1'000'000'000), Time::ps(1'000'000'000),
                    Time::ps(1'000'000'000)};  // 2 ms and 1 ms
      run.busy_ps = {1, 1, 1, 1};
      run.spans = [](int) { return std::vector<OpSpan>{}; };
      const WorkloadReport r = gen.report(run);
      EXPECT_NEAR(r.summary["step_time_ms"].get<double>(), 2.0, 1e-12);
      EXPECT_NEAR(r.summary["tpot_ms"].get<double>(), 2.0 / expected, 1e-12);
      EXPECT_NEAR(r.summary["output_tokens_per_s_per_gpu"].get<double>(), 4 * expected / 2e-3,
                  1e-6);
      EXPECT_NEAR(r.summary["output_tokens_per_s_per_node"].get<double>(), 2 * 4 * expected / 2e-3,
                  1e-6);
    }
  }
}

// A 2-layer V2-Lite prefill of 512 tokens per GPU in prompts of 256.
DeepSeekInferenceParams lite_prefill() {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.phase = InferencePhase::Prefill;
  p.tokens_per_gpu = 512;
  p.context_length = 256;
  return p;
}

// That prefill with `edit` on 2 x 2 GPUs, reported as if it took 4 ms.
WorkloadReport prefill_report(const std::function<void(DeepSeekInferenceParams&)>& edit) {
  DeepSeekInferenceParams p = lite_prefill();
  edit(p);
  DeepSeekInference gen(p);
  gen.generate(ClusterShape{2, 2});
  return gen.report(run_on_2x2(4'000'000'000));
}

TEST(InferenceReport, PrefillReportsTtftAndInputThroughput) {
  const WorkloadReport r = prefill_report([](DeepSeekInferenceParams&) {});
  EXPECT_NEAR(r.summary["ttft_ms"].get<double>(), 4.0, 1e-12);
  EXPECT_NEAR(r.summary["input_tokens_per_s_per_node"].get<double>(), 2 * 512 / 4e-3, 1e-6);
  EXPECT_FALSE(r.summary.contains("tpot_ms"));
  // Capacity: (HBM - weights - activations) / bytes per token.
  const uint64_t left = 80'000'000'000 - r.summary["weight_bytes_per_gpu"].get<uint64_t>() -
                        r.summary["activation_bytes_per_gpu"].get<uint64_t>();
  EXPECT_EQ(r.summary["kv_cache_capacity_tokens_per_gpu"].get<uint64_t>(),
            left / r.summary["kv_cache_bytes_per_token"].get<uint64_t>());
}

// Drawn prompts longer than every micro-batch's share, in a fresh step (no carry-over): each is
// prefilled in part and none completes, so the step has no TTFT (not the step's time), says so,
// and counts 0 prompts.
TEST(InferenceReport, PrefillWithNoCompletedPromptHasNoTtft) {
  const WorkloadReport r = prefill_report([](DeepSeekInferenceParams& p) {
    p.carry_over = false;
    p.context_length = 2500;
    p.context_distribution.type = ContextDistribution::Uniform;
    p.context_distribution.min = 2000;
    p.context_distribution.max = 3000;
  });
  EXPECT_FALSE(r.summary.contains("ttft_ms"));
  EXPECT_FALSE(r.summary.contains("ttft_mean_ms"));
  EXPECT_EQ(r.summary["prompt_count"].get<uint64_t>(), 0u);
  EXPECT_EQ(r.summary["prefill_pass_count"].get<uint64_t>(), 1u);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.back().find("no prompt completes"), std::string::npos) << r.warnings.back();
  EXPECT_NEAR(r.summary["input_tokens_per_s_per_node"].get<double>(), 2 * 512 / 4e-3, 1e-6);
}

// A steady prefill step (carry_over): a prompt an earlier step began gets its first token when
// its pass's LM head ends plus those steps, each as long as this one (4 ms); the others when
// the LM head ends. Prompts of 100 to 700 tokens against 256 per micro-batch and GPU: most
// streams begin inside a prompt an earlier step began.
TEST(InferenceReport, CarriedPromptsCountTheStepsTheyBeganIn) {
  DeepSeekInferenceParams p = lite_prefill();
  p.context_length = 400;
  p.context_distribution.type = ContextDistribution::Uniform;
  p.context_distribution.min = 100;
  p.context_distribution.max = 700;
  const DeepSeekStep step = DeepSeekInference(p).build(ClusterShape{2, 2});
  ASSERT_EQ(step.prefill_passes, 1u);
  ASSERT_FALSE(step.carried_prompts.empty());
  // The LM head of group (rank) g ends at 3 + 0.25 g ms; the step at 4 ms.
  const std::string head = "lm_head";
  WorkloadRun run = run_on_2x2(4'000'000'000);
  run.spans = [&head](int r) {
    return std::vector<OpSpan>{{&head, true, Time::us(1000), Time::us(3000 + 250 * r)}};
  };
  std::vector<double> expected;  // ms
  std::vector<uint64_t> fresh(step.prompts_done.begin(), step.prompts_done.end());
  for (size_t i = 0; i < step.carried_prompts.size(); i += 3) {
    const uint32_t g = step.carried_prompts[i];
    expected.push_back(3 + 0.25 * g + 4.0 * step.carried_prompts[i + 2]);
    --fresh[g];
  }
  for (uint32_t g = 0; g < 4; ++g)
    expected.insert(expected.end(), fresh[g], 3 + 0.25 * g);
  std::sort(expected.begin(), expected.end());
  DeepSeekInference gen(p);
  gen.generate(ClusterShape{2, 2});
  const WorkloadReport r = gen.report(run);
  const double n = static_cast<double>(expected.size());
  EXPECT_NEAR(r.summary["ttft_mean_ms"].get<double>(),
              std::accumulate(expected.begin(), expected.end(), 0.0) / n, 1e-9);
  EXPECT_NEAR(r.summary["ttft_p50_ms"].get<double>(),
              expected[static_cast<size_t>(std::ceil(0.5 * n)) - 1], 1e-9);
  EXPECT_NEAR(r.summary["ttft_p99_ms"].get<double>(),
              expected[static_cast<size_t>(std::ceil(0.99 * n)) - 1], 1e-9);
  EXPECT_GT(r.summary["ttft_p99_ms"].get<double>(), 4.0) << "a carried prompt waits over a step";
  EXPECT_NEAR(r.summary["ttft_ms"].get<double>(), 4.0, 1e-12);
}

// The largest activation footprint of a 2-layer V2-Lite decode of 16 requests per GPU is its LM
// head, one GEMM over every micro-batch's tokens (m = 16, k = 2048, n = 102,400 in BF16): held
// once, whether the step runs as one micro-batch or two.
TEST(InferenceReport, LmHeadActivationsAreHeldOncePerStep) {
  for (const bool dual : {false, true}) {
    DeepSeekInferenceParams p = lite_decode(16, 1024, 0);
    p.dual_micro_batch = dual;
    DeepSeekInference gen(p);
    gen.generate(ClusterShape{2, 2});
    const WorkloadReport r = gen.report(run_on_2x2(1'000'000'000));
    EXPECT_EQ(r.summary["activation_bytes_per_gpu"].get<uint64_t>(), 16u * (2048 + 102400) * 2)
        << "dual micro-batch " << dual;
  }
}

// A cached token of a decode with MTP also takes the MTP modules' cache (one layer's worth per
// depth): the capacity divides by both.
TEST(InferenceReport, KvCapacityCountsTheMtpModulesCache) {
  DeepSeekInferenceParams p = lite_decode(4, 256, 2);
  p.mtp.acceptance_rate = 0.8;
  DeepSeekInference gen(p);
  gen.generate(ClusterShape{2, 2});
  const auto s = gen.report(run_on_2x2(1'000'000'000)).summary;
  // V2-Lite's latent: (512 + 64) x 2 B per layer, over the model's 27 layers (the cache a
  // served token takes, whatever number of layers the step simulates); depth 2: two layers'
  // worth for MTP.
  const uint64_t per_layer = 576 * 2;
  ASSERT_EQ(s["kv_cache_bytes_per_token"].get<uint64_t>(), 27 * per_layer);
  ASSERT_EQ(s["kv_cache_mtp_bytes_per_token"].get<uint64_t>(), 2 * per_layer);
  const uint64_t left = 80'000'000'000 - s["weight_bytes_per_gpu"].get<uint64_t>() -
                        s["activation_bytes_per_gpu"].get<uint64_t>();
  EXPECT_EQ(s["kv_cache_capacity_tokens_per_gpu"].get<uint64_t>(), left / (29 * per_layer));
}

// What the fullest GPU holds (weights + activations + KV cache, MTP modules' included) against
// its HBM: the excess is reported and warned about, 0 and silence when it fits.
TEST(InferenceReport, HbmOvercommitIsTheExcessOverCapacity) {
  DeepSeekInference gen(lite_decode(8, 1024, 1));
  gen.generate(ClusterShape{2, 2});
  WorkloadRun run = run_on_2x2(1'000'000'000);
  const WorkloadReport fits = gen.report(run);
  EXPECT_EQ(fits.summary["hbm_overcommit_bytes_per_gpu"].get<uint64_t>(), 0u);
  EXPECT_TRUE(fits.warnings.empty());
  const uint64_t need = fits.summary["weight_bytes_per_gpu"].get<uint64_t>() +
                        fits.summary["activation_bytes_per_gpu"].get<uint64_t>() +
                        fits.summary["kv_cache_bytes_per_gpu"].get<uint64_t>() +
                        fits.summary["kv_cache_mtp_bytes_per_gpu"].get<uint64_t>();
  run.memory_capacity = Bytes(need - 12345);
  const WorkloadReport over = gen.report(run);
  EXPECT_EQ(over.summary["hbm_overcommit_bytes_per_gpu"].get<uint64_t>(), 12345u);
  ASSERT_EQ(over.warnings.size(), 1u);
  EXPECT_NE(over.warnings[0].find("does not fit"), std::string::npos);
  run.memory_capacity = Bytes(need);  // exactly full still fits
  EXPECT_EQ(gen.report(run).summary["hbm_overcommit_bytes_per_gpu"].get<uint64_t>(), 0u);
}

// With contexts drawn per request, the fullest GPU caches more than the mean: its MTP cache
// too, kv_cached_max_tokens_per_gpu x the MTP modules' bytes per token (one layer's each).
TEST(InferenceReport, HbmOvercommitTakesTheFullestGpusMtpCache) {
  DeepSeekInferenceParams p = lite_decode(8, 1024, 1);
  p.context_distribution.type = ContextDistribution::Uniform;
  p.context_distribution.min = 16;
  p.context_distribution.max = 4000;
  DeepSeekInference gen(p);
  gen.generate(ClusterShape{2, 2});
  WorkloadRun run = run_on_2x2(1'000'000'000);
  const auto s = gen.report(run).summary;
  const uint64_t max_tokens = s["kv_cached_max_tokens_per_gpu"].get<uint64_t>();
  ASSERT_GT(max_tokens, s["kv_cached_tokens_per_gpu"].get<uint64_t>());
  const uint64_t per_layer = 576 * 2;  // V2-Lite's latent, BF16
  const uint64_t need = s["weight_bytes_per_gpu"].get<uint64_t>() +
                        s["activation_bytes_per_gpu"].get<uint64_t>() +
                        s["kv_cache_max_bytes_per_gpu"].get<uint64_t>() + max_tokens * per_layer;
  run.memory_capacity = Bytes(need - 777);
  EXPECT_EQ(gen.report(run).summary["hbm_overcommit_bytes_per_gpu"].get<uint64_t>(), 777u);
}

TEST(InferenceReport, MhaVariantCachesEveryHead) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;
  p.requests_per_gpu = 4;
  p.context_length = 128;
  p.attention = AttentionVariant::Mha;
  const ModelConfig m = resolve_model(p.model.name);
  const Workload w = DeepSeekInference(p).generate(ClusterShape{2, 2});
  int attention = 0;
  for (const Op& op : w.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      ++attention;
      EXPECT_EQ(a->kernel, AttentionKernel::MhaDecode);
      EXPECT_EQ(a->heads_kv, m.num_attention_heads);
      EXPECT_EQ(a->head_dim_qk, m.qk_nope_head_dim + m.qk_rope_head_dim);
      EXPECT_EQ(a->head_dim_v, m.v_head_dim);
    }
    EXPECT_EQ(op.name.find("w_uk_absorb"), std::string::npos);
  }
  EXPECT_EQ(attention, 2 * 2);  // 2 layers x 2 micro-batches
}

// A dense GQA model with attention_tp 8: every GEMM holds 1/8 of the weights, and the MLP is
// wrapped in an all-gather / reduce-scatter over the 8 GPUs.
TEST(InferenceReport, DenseTensorParallelShardsEveryGemm) {
  DeepSeekInferenceParams p;
  p.model = "llama-3.1-405b";
  p.layers = 2;
  p.requests_per_gpu = 4;
  p.context_length = 256;
  p.attention_tp = 8;
  p.dual_micro_batch = false;
  const ModelConfig m = resolve_model(p.model.name);
  const Workload w = DeepSeekInference(p).generate(ClusterShape{1, 8});
  ASSERT_NO_THROW(validate_workload(w));
  uint64_t weight_params = 0;
  int rings = 0;
  for (const Op& op : w.ranks[3].ops) {
    if (const auto* g = std::get_if<GemmOp>(&op.payload)) {
      weight_params += g->k * g->n;
      if (op.name.find("L") == 0) {
        EXPECT_EQ(g->m, 4u * 8) << op.name;  // the group's tokens
      }
    }
    if (const auto* r = std::get_if<RingCollectiveOp>(&op.payload)) {
      ++rings;
      EXPECT_EQ(r->size, 8);
      EXPECT_EQ(r->start, 0);
    }
    EXPECT_FALSE(std::holds_alternative<AllToAllOp>(op.payload));
  }
  const uint64_t h = m.hidden_size, hd = 128;
  const uint64_t per_layer =
      h * 128 * hd + h * 8 * hd * 2 + 128 * hd * h + 3 * h * m.intermediate_size;
  EXPECT_EQ(weight_params, 2 * per_layer / 8 + m.vocab_size / 8 * h);
  // AG/RS around attention and MLP per layer, AG before the head, and the RS that leaves each
  // rank its tokens' rows of the vocabulary-sharded embedding.
  EXPECT_EQ(rings, 2 * 4 + 1 + 1);
  const auto rs = std::find_if(w.ranks[3].ops.begin(), w.ranks[3].ops.end(), [](const Op& op) {
    return op.name == "mb0.embedding_reduce_scatter";
  });
  ASSERT_NE(rs, w.ranks[3].ops.end());
  const auto& ring = std::get<RingCollectiveOp>(rs->payload);
  EXPECT_EQ(ring.collective, RingCollective::ReduceScatter);
  EXPECT_EQ(ring.bytes.count(), 4u * 8 * h * 2);  // the group's 32 tokens, BF16 rows
}

// An FP8 GEMM reads FP8 operands and writes its result in BF16 (as the grouped GEMM and the
// tile GPU's kernels do): q_proj of a 16-token micro-batch, 16 x 3072 from 16 x 2048.
TEST(InferenceReport, Fp8GemmWritesBf16) {
  const GemmOp g{16, 3072, 2048, DType::FP8};
  EXPECT_EQ(g.bytes_read(), (16u * 2048 + 2048u * 3072) * 1);
  EXPECT_EQ(g.bytes_written(), 16u * 3072 * 2);
  EXPECT_EQ(op_activation_bytes(g), 16u * 2048 * 1 + 16u * 3072 * 2);
  const GemmOp b{16, 3072, 2048, DType::BF16};
  EXPECT_EQ(b.bytes_written(), 16u * 3072 * 2);
  EXPECT_EQ(op_activation_bytes(b), 16u * (2048 + 3072) * 2);
}

}  // namespace
}  // namespace mlasim
