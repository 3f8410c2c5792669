// DeepSeekInference op graphs: every layer present, acyclic dependencies, dispatch/combine
// byte matrices consistent across ranks and with each other, MTP token accounting, grouped GEMM
// rows equal to k routed copies per token, determinism; where a relative model path is taken
// from.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "sim/errors.h"
#include "tests/workloads/deepseek_inference_test_support.h"
#include "workloads/deepseek_inference.h"
#include "workloads/model_config.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

using namespace deepseek_test;

// A relative model path is taken from the folder of the file that names it when the model file
// is there (as trace paths are); otherwise it stays as given, for the working folder and then
// configs/ (teaching/models/...), as does a built-in name or a path from --set.
TEST(ModelRefTest, RelativePathResolvesAgainstTheNamingFileWhereTheModelIs) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_model_ref_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "s.yaml") << "x: 1\n";
  std::ofstream(dir / "m.json") << "{}\n";
  auto parse = [](const std::string& value, const std::string& from) {
    return ParamTraits<ModelRef>::parse(ConfigNode::scalar(value, SourceLoc{from, 3}),
                                        "workload.model")
        .name;
  };
  const std::string scenario = (dir / "sub" / "s.yaml").string();
  EXPECT_EQ(fs::path(parse("../m.json", scenario)), fs::absolute(dir / "sub" / ".." / "m.json"));
  EXPECT_TRUE(fs::path(parse("../m.json", scenario)).is_absolute());
  // Not beside the scenario: left for the working folder and configs/.
  EXPECT_EQ(parse("teaching/models/deepseek-v2-lite-mha.json", scenario),
            "teaching/models/deepseek-v2-lite-mha.json");
  EXPECT_EQ(parse("deepseek-v3", scenario), "deepseek-v3");
  EXPECT_EQ(parse("../m.json", "--set workload.model=../m.json"), "../m.json");
  // A sweep's value: from the sweep file's folder.
  ConfigNode swept = ConfigNode::scalar("m.json", SourceLoc{"--set workload.model=m.json", 0});
  swept.set_paths_from(dir.string());
  EXPECT_EQ(fs::path(ParamTraits<ModelRef>::parse(swept, "workload.model").name),
            fs::absolute(dir / "m.json"));
  // The shipped scenarios' form still finds its model under configs/.
  EXPECT_NO_THROW(resolve_model(parse("teaching/models/deepseek-v2-lite-mha.json", scenario)));
  fs::remove_all(dir);
}

TEST(DeepSeekInference, EveryLayerPresentAndAcyclic) {
  for (bool dual : {false, true}) {
    for (uint32_t depth : {0u, 1u}) {
      const Workload w = DeepSeekInference(lite(dual, depth)).generate(kCluster);
      ASSERT_EQ(w.ranks.size(), 4u);
      EXPECT_NO_THROW(validate_workload(w));
      const int n_mb = dual ? 2 : 1;
      for (const RankProgram& r : w.ranks) {
        for (int mb = 0; mb < n_mb; ++mb) {
          int attention = 0, dispatch = 0, combine = 0, dense = 0;
          for (const Op& op : r.ops) {
            if (op.micro_batch != mb) continue;
            if (std::holds_alternative<AttentionOp>(op.payload)) ++attention;
            if (op.name.ends_with(".dispatch")) ++dispatch;
            if (op.name.ends_with(".combine")) ++combine;
            if (op.name.ends_with(".mlp_gate_up")) ++dense;
          }
          EXPECT_EQ(attention, 4 + static_cast<int>(depth));  // layers + MTP modules
          EXPECT_EQ(dense, 1);                                // first_k_dense_replace = 1
          EXPECT_EQ(dispatch, 3 + static_cast<int>(depth));
          EXPECT_EQ(combine, dispatch);
        }
        for (size_t i = 0; i < r.ops.size(); ++i) {
          for (uint32_t d : r.ops[i].deps)
            EXPECT_LT(d, i);
        }
      }
    }
  }
}

TEST(DeepSeekInference, AllToAllMatricesConsistent) {
  const DeepSeekInferenceParams p = lite(true, 1);
  const Workload w = DeepSeekInference(p).generate(kCluster);
  const ModelConfig model = resolve_model(p.model.name);
  const MoeTrafficConfig traffic = p.moe_traffic.resolved(model.hidden_size);
  const uint64_t db = traffic.dispatch_bytes_per_token.count();
  const uint64_t cb = traffic.combine_bytes_per_token.count();
  const size_t n = w.ranks.size();
  for (const std::string kind : {".dispatch", ".combine"}) {
    std::vector<std::vector<const Op*>> per_rank;
    for (const RankProgram& r : w.ranks)
      per_rank.push_back(ops_named(r, kind));
    for (size_t a = 0; a < n; ++a) {
      ASSERT_EQ(per_rank[a].size(), per_rank[0].size());
      for (size_t i = 0; i < per_rank[a].size(); ++i) {
        const auto& oa = std::get<AllToAllOp>(per_rank[a][i]->payload);
        EXPECT_EQ(oa.tag, std::get<AllToAllOp>(per_rank[0][i]->payload).tag);
        for (size_t b = 0; b < n; ++b) {
          const auto& ob = std::get<AllToAllOp>(per_rank[b][i]->payload);
          EXPECT_EQ(oa.send_bytes(static_cast<int32_t>(b)), ob.recv_bytes(static_cast<int32_t>(a)))
              << per_rank[a][i]->name;
        }
      }
    }
  }
  // Combine returns every dispatched copy: combine recv from b = dispatch send to b, rescaled.
  uint64_t dispatched = 0, combined = 0;
  for (const RankProgram& r : w.ranks) {
    const auto d = ops_named(r, ".dispatch");
    const auto c = ops_named(r, ".combine");
    ASSERT_EQ(d.size(), c.size());
    for (size_t i = 0; i < d.size(); ++i) {
      const auto& od = std::get<AllToAllOp>(d[i]->payload);
      const auto& oc = std::get<AllToAllOp>(c[i]->payload);
      for (int32_t b = 0; b < static_cast<int32_t>(n); ++b) {
        EXPECT_EQ(od.send_bytes(b) * cb, oc.recv_bytes(b) * db);
        dispatched += od.send_bytes(b);
        combined += oc.recv_bytes(b);
      }
    }
  }
  EXPECT_GT(dispatched, 0u);
  // Independently of the matrix: each token the gate scored (its GEMM's M rows) goes to at least
  // one GPU and at most min(k, GPUs) of them, one copy each.
  const uint64_t max_copies = std::min<uint64_t>(model.num_experts_per_tok, n);
  for (const RankProgram& r : w.ranks) {
    for (const Op* d : ops_named(r, ".dispatch")) {
      const std::string gate = d->name.substr(0, d->name.size() - 9) + ".gate";
      const auto g =
          std::find_if(r.ops.begin(), r.ops.end(), [&](const Op& o) { return o.name == gate; });
      ASSERT_NE(g, r.ops.end()) << gate;
      const uint64_t tokens = std::get<GemmOp>(g->payload).m;
      const auto& od = std::get<AllToAllOp>(d->payload);
      uint64_t copies = 0;
      for (int32_t b = 0; b < static_cast<int32_t>(n); ++b)
        copies += od.send_bytes(b) / db;
      EXPECT_GE(copies, tokens) << d->name;
      EXPECT_LE(copies, tokens * max_copies) << d->name;
    }
  }
  EXPECT_EQ(dispatched * cb, combined * db);
}

// Token accounting: the gate sees (1 + D) tokens per request; grouped GEMM rows summed over the
// EP group are k copies of every token; MTP modules route one token per request.
TEST(DeepSeekInference, MtpTokensThroughMoe) {
  const ModelConfig model = resolve_model("deepseek-v2-lite");
  const uint64_t k = model.num_experts_per_tok;
  for (uint32_t depth : {0u, 1u, 2u}) {
    const DeepSeekInferenceParams p = lite(true, depth);
    const DeepSeekStep step = DeepSeekInference(p).build(kCluster);
    EXPECT_EQ(step.tokens_per_step_per_gpu, (1 + depth) * p.requests_per_gpu);
    uint64_t rows_l1 = 0, rows_mtp = 0;
    for (const RankProgram& r : step.workload.ranks) {
      uint64_t gate_tokens = 0;
      for (const Op* op : ops_named(r, ".gate")) {
        if (op->name.starts_with("L1.")) gate_tokens += std::get<GemmOp>(op->payload).m;
      }
      EXPECT_EQ(gate_tokens, (1 + depth) * p.requests_per_gpu);
      for (const Op* op : ops_named(r, ".experts_gate_up")) {
        const uint64_t m = std::get<GroupedGemmOp>(op->payload).total_m();
        if (op->name.starts_with("L1.")) rows_l1 += m;
        if (op->name.starts_with("mtp0.")) rows_mtp += m;
      }
      for (const Op& op : r.ops) {
        if (const auto* a = std::get_if<AttentionOp>(&op.payload); a && op.name[0] == 'L') {
          EXPECT_EQ(a->q_len, 1 + depth);
          EXPECT_EQ(a->kv_len, p.context_length + 1 + depth);  // cached + computed by the step
          EXPECT_EQ(a->kernel, AttentionKernel::MlaDecode);
          EXPECT_EQ(a->head_dim_qk, 576u);
          EXPECT_EQ(a->head_dim_v, 512u);
        }
      }
    }
    const uint64_t ranks = step.workload.ranks.size();
    EXPECT_EQ(rows_l1, ranks * (1 + depth) * p.requests_per_gpu * k);
    EXPECT_EQ(rows_mtp, depth > 0 ? ranks * p.requests_per_gpu * k : 0);
    double closed = 1, a = 1;
    for (uint32_t d = 0; d < depth; ++d)
      closed += (a *= p.mtp.acceptance_rate);
    EXPECT_DOUBLE_EQ(step.mtp_accepted_tokens_per_step, closed);
    EXPECT_GE(step.imbalance.expert_max, 1.0);
    EXPECT_GE(step.imbalance.gpu_max, step.imbalance.gpu_mean);
  }
}

TEST(DeepSeekInference, PrefillAndTensorParallel) {
  DeepSeekInferenceParams p = lite(true, 0);
  p.phase = InferencePhase::Prefill;
  p.tokens_per_gpu = 2048;
  p.attention_tp = 2;
  const Workload w = DeepSeekInference(p).generate(kCluster);
  EXPECT_NO_THROW(validate_workload(w));
  bool saw_prefill = false;
  for (const Op& op : w.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      EXPECT_EQ(a->kernel, AttentionKernel::MlaPrefill);
      EXPECT_EQ(a->heads_q, 8u);  // 16 heads over TP 2
      saw_prefill = true;
    }
  }
  EXPECT_TRUE(saw_prefill);
  EXPECT_FALSE(ops_named(w.ranks[0], ".attn_reduce_scatter").empty());
}

// With attention TP and two micro-batches, the second runs a stage (a stretch between TP
// collectives) behind the first on the compute stream, so that one micro-batch's collective is
// in flight while the other computes: micro-batch 1's input norm (then its all-gather) comes
// right after micro-batch 0's attention block, before its post-attention norm, and micro-batch
// 0's gate (then its dispatch) still before micro-batch 1's attention; in the dense layer
// micro-batch 0's MLP all-gather runs beside micro-batch 1's attention. Without TP each
// micro-batch's stretch in turn, as before.
TEST(DeepSeekInference, TpCollectivesOfOneMicroBatchRunBesideTheOthersCompute) {
  for (uint32_t tp : {1u, 2u}) {
    DeepSeekInferenceParams p = lite(true, 1);
    p.attention_tp = tp;
    const Workload w = DeepSeekInference(p).generate(kCluster);
    EXPECT_NO_THROW(validate_workload(w));
    const RankProgram& r = w.ranks[1];
    // Compute ops run in program order (each follows the one before): their index is the
    // schedule.
    auto at = [&](const std::string& name) {
      for (size_t i = 0; i < r.ops.size(); ++i)
        if (r.ops[i].name == name) return i;
      ADD_FAILURE() << "no op " << name;
      return size_t{0};
    };
    for (const std::string layer : {"L1.", "L3.", "mtp0."}) {
      SCOPED_TRACE(layer + " tp " + std::to_string(tp));
      EXPECT_LT(at(layer + "mb0.gate"), at(layer + "mb1.attention"));
      EXPECT_LT(at(layer + "mb0.attention"), at(layer + "mb1.attn_norm"));
      EXPECT_EQ(at(layer + "mb1.attn_norm") < at(layer + "mb0.residual_mlp_norm"), tp > 1);
      if (tp > 1) {
        const Op& gather = r.ops[at(layer + "mb1.attn_all_gather")];
        EXPECT_EQ(gather.deps,
                  std::vector<uint32_t>{static_cast<uint32_t>(at(layer + "mb1.attn_norm"))});
      }
    }
    EXPECT_EQ(at("L0.mb1.attention") < at("L0.mb0.mlp_gate_up"), tp > 1);
    EXPECT_LT(at("L0.mb0.mlp_gate_up"), at("L0.mb1.mlp_gate_up"));
  }
}

// A trace's metadata gives each phase its own size (requests per GPU in decode, tokens per GPU
// in prefill) and 0 for the other phase's key, which the step never read.
TEST(DeepSeekInference, TraceMetadataHasOnlyThePhasesOwnSize) {
  DeepSeekInferenceParams p = lite(true, 0);
  DeepSeekInference decode(p);
  (void)decode.generate(kCluster);
  nlohmann::ordered_json m = decode.trace_metadata();
  EXPECT_EQ(m.at("requests_per_gpu"), 16);
  EXPECT_EQ(m.at("tokens_per_gpu"), 0);
  p.phase = InferencePhase::Prefill;
  p.requests_per_gpu = DeepSeekInferenceParams{}.requests_per_gpu;
  p.tokens_per_gpu = 2048;
  DeepSeekInference prefill(p);
  (void)prefill.generate(kCluster);
  m = prefill.trace_metadata();
  EXPECT_EQ(m.at("requests_per_gpu"), 0);
  EXPECT_EQ(m.at("tokens_per_gpu"), 2048);
}

// The same params give the same step, every field of every op and the report facts (the
// trace's text, metadata read after generate()); another router seed routes tokens elsewhere.
TEST(DeepSeekInference, Deterministic) {
  auto p = lite(true, 1);
  p.router.skew = 1.0;
  auto trace_of = [](const DeepSeekInferenceParams& params) {
    const DeepSeekInference g(params);
    const Workload w = g.generate(kCluster);
    return workload_to_json(w, g.trace_metadata()).dump();
  };
  const std::string a = trace_of(p);
  EXPECT_EQ(a, trace_of(p));
  EXPECT_NE(a.find("\"metadata\""), std::string::npos);
  p.router.seed += 1;
  EXPECT_NE(a, trace_of(p));
}

TEST(DeepSeekInference, DenseModelHasNoAllToAll) {
  DeepSeekInferenceParams p;
  p.model = "llama-3.1-405b";
  p.layers = 2;
  p.requests_per_gpu = 4;
  const Workload w = DeepSeekInference(p).generate(kCluster);
  EXPECT_NO_THROW(validate_workload(w));
  EXPECT_TRUE(ops_named(w.ranks[0], ".dispatch").empty());
  int attention = 0;
  for (const Op& op : w.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      EXPECT_EQ(a->kernel, AttentionKernel::MhaDecode);
      EXPECT_LT(a->heads_kv, a->heads_q);
      ++attention;
    }
  }
  EXPECT_EQ(attention, 4);  // 2 layers x 2 micro-batches
}

// Every GEMM class takes its type from `dtypes`: the gate, the absorbed MLA GEMMs and the LM
// head too (BF16 by default).
TEST(DeepSeekInference, DtypesReachEveryGemmClass) {
  auto dtype_of = [](const Workload& w, const std::string& suffix) {
    const auto ops = ops_named(w.ranks[0], suffix);
    EXPECT_FALSE(ops.empty()) << suffix;
    std::set<DType> types;
    for (const Op* op : ops) {
      if (const auto* g = std::get_if<GemmOp>(&op->payload)) types.insert(g->dtype);
      if (const auto* g = std::get_if<GroupedGemmOp>(&op->payload)) types.insert(g->dtype);
    }
    EXPECT_EQ(types.size(), 1u) << suffix;
    return types.empty() ? DType::FP64 : *types.begin();
  };
  DeepSeekInferenceParams p = lite(true, 1);
  Workload w = DeepSeekInference(p).generate(kCluster);
  for (const char* name : {".gate", ".w_uk_absorb", ".w_uv_absorb", "lm_head"})
    EXPECT_EQ(dtype_of(w, name), DType::BF16) << name;
  EXPECT_EQ(dtype_of(w, ".q_proj"), DType::FP8);
  p.dtypes.gate = DType::FP8;
  p.dtypes.absorb = DType::FP16;
  p.dtypes.lm_head = DType::FP32;
  w = DeepSeekInference(p).generate(kCluster);
  EXPECT_EQ(dtype_of(w, ".gate"), DType::FP8);
  EXPECT_EQ(dtype_of(w, ".w_uk_absorb"), DType::FP16);
  EXPECT_EQ(dtype_of(w, ".w_uv_absorb"), DType::FP16);
  EXPECT_EQ(dtype_of(w, "lm_head"), DType::FP32);
  EXPECT_TRUE(DeepSeekInference(p).build(kCluster).warnings.empty());
  // Prefill has no absorbed GEMMs: that setting is reported as unused.
  p.phase = InferencePhase::Prefill;
  p.requests_per_gpu = DeepSeekInferenceParams{}.requests_per_gpu;
  p.tokens_per_gpu = 64;
  p.context_length = 32;  // a micro-batch's share: prompts that complete in the step
  p.mtp.depth = 0;
  const auto warnings = DeepSeekInference(p).build(kCluster).warnings;
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].rfind("workload.dtypes.absorb is not used: prefill", 0), 0u) << warnings[0];
}

// Settings the step does not read are listed as warnings (shown as the scenario is built), one per
// key; defaults and settings in use give none.
TEST(DeepSeekInference, UnusedSettingsAreWarnedAbout) {
  EXPECT_TRUE(DeepSeekInference(lite(true, 1)).build(kCluster).warnings.empty());
  DeepSeekInferenceParams dense;
  dense.model = "llama-3.1-405b";
  dense.layers = 2;
  dense.requests_per_gpu = 4;
  EXPECT_TRUE(DeepSeekInference(dense).build(kCluster).warnings.empty());
  dense.router.skew = 1;
  dense.ep_comm.issuer = CommIssuer::Nic;
  dense.mtp.acceptance_rate = 0.5;  // with depth 0
  const std::vector<std::string> w = DeepSeekInference(dense).build(kCluster).warnings;
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "workload.router.skew is not used: llama-3.1-405b has no routed experts");
  EXPECT_EQ(w[1], "workload.ep_comm.issuer is not used: llama-3.1-405b has no routed experts");
  EXPECT_EQ(w[2], "workload.mtp.acceptance_rate is not used: mtp.depth is 0 (no drafted tokens)");
  // DeepSeek-V2-Lite's greedy gate keeps no bias for aux-loss-free balancing to move.
  DeepSeekInferenceParams lite_gamma = lite(true, 0);
  lite_gamma.router.bias_update_speed = 0.01;
  const auto g = DeepSeekInference(lite_gamma).build(kCluster).warnings;
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NE(g[0].find("workload.router.bias_update_speed is not used: deepseek-v2-lite's gate "
                      "(greedy)"),
            std::string::npos)
      << g[0];
  // ... nor for warm-up steps to balance.
  DeepSeekInferenceParams lite_warm = lite(true, 0);
  lite_warm.router_warmup_steps = 5;
  const auto lw = DeepSeekInference(lite_warm).build(kCluster).warnings;
  ASSERT_EQ(lw.size(), 1u);
  EXPECT_EQ(lw[0].rfind("workload.router_warmup_steps is not used: deepseek-v2-lite's gate", 0), 0u)
      << lw[0];
  // DeepSeek-V3's biases move between steps: a speed with no warm-up steps balances nothing.
  DeepSeekInferenceParams v3;
  v3.layers = 4;
  v3.requests_per_gpu = 8;
  v3.router.bias_update_speed = 0.01;
  const auto b = DeepSeekInference(v3).build(kCluster).warnings;
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(b[0].find("set workload.router_warmup_steps"), std::string::npos) << b[0];
  v3.router_warmup_steps = 2;
  EXPECT_TRUE(DeepSeekInference(v3).build(kCluster).warnings.empty());
  // Hosts for a shared expert that runs on every GPU.
  DeepSeekInferenceParams hosts = lite(true, 0);
  hosts.shared_expert.gpus = 2;
  const auto h = DeepSeekInference(hosts).build(kCluster).warnings;
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0],
            "workload.shared_expert.gpus is not used: the shared expert runs on every GPU "
            "(placement: local)");
}

// `attention: mha` replaces MLA; a model without MLA has nothing to replace, so asking for it is
// an input error naming the key rather than a run identical to the model's own attention.
TEST(DeepSeekInference, MhaVariantNeedsAnMlaModel) {
  DeepSeekInferenceParams p;
  p.model = "llama-3.1-405b";
  p.layers = 2;
  p.requests_per_gpu = 4;
  p.attention = AttentionVariant::Mha;
  try {
    (void)DeepSeekInference(p).generate(kCluster);
    ADD_FAILURE() << "attention: mha on a GQA model was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.attention"), std::string::npos) << e.what();
  }
  p.model = "deepseek-v2-lite";  // an MLA model: mha is a real change of the attention ops
  const Workload w = DeepSeekInference(p).generate(kCluster);
  for (const Op& op : w.ranks[0].ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      EXPECT_EQ(a->kernel, AttentionKernel::MhaDecode);
      EXPECT_EQ(a->heads_kv, a->heads_q);
    }
  }
}

}  // namespace
}  // namespace mlasim
