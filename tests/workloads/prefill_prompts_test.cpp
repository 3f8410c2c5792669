// Prefill prompts of their own lengths (`context_distribution` in the prefill phase): attention
// pairs against the causal closed form sum_p p (p + 1) / 2 of the drawn prompts, unchunked and in
// Sarathi-style chunk windows; MoE tokens (gate rows, routed copies) against the sum of the
// prompts x top-k; a fixed distribution against today's single-length closed form and the
// degenerate distribution; seeded determinism; per-sequence query lengths in AttentionOp and
// their validation; the window and chunk helpers on hand-worked cases; a steady step (carry-over)
// against the test's own walk of each micro-batch's stream.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "sim/errors.h"
#include "sim/params.h"
#include "workloads/context_lengths.h"
#include "workloads/deepseek_inference.h"
#include "workloads/model_config.h"
#include "workloads/step_batches.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

const ClusterShape kCluster{2, 2};

DeepSeekInferenceParams prefill(uint32_t tp, uint64_t chunk) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 2;  // one dense layer, one MoE layer
  p.phase = InferencePhase::Prefill;
  p.tokens_per_gpu = 3000;  // 1,500 per micro-batch and GPU
  p.context_length = 400;
  p.context_distribution.type = ContextDistribution::Lognormal;
  p.context_distribution.stddev = 300;
  p.context_distribution.min = 16;
  p.attention_tp = tp;
  p.chunk_size = chunk;
  p.carry_over = false;  // a fresh step: the group's draws in order (carry-over: its own tests)
  return p;
}

// The test's own packing: the group's draws in order fill each micro-batch's budget, the last
// prompt of each cut to what is left.
std::vector<uint64_t> packed_prompts(const DeepSeekInferenceParams& p, uint32_t group,
                                     uint64_t budget, int micro_batches) {
  const std::vector<uint64_t> draws =
      request_contexts(p.context_distribution, p.context_length, group, 10000);
  std::vector<uint64_t> out;
  size_t k = 0;
  for (int i = 0; i < micro_batches; ++i) {
    for (uint64_t left = budget; left > 0;) {
      const uint64_t len = std::min(left, draws[k++]);
      out.push_back(len);
      left -= len;
    }
  }
  return out;
}

// Of those prompts, the ones drawn whole: the last of a micro-batch's stream, cut to what is left
// of its budget, completes in a later step.
uint64_t whole_prompts(const DeepSeekInferenceParams& p, uint32_t group, uint64_t budget,
                       int micro_batches) {
  const std::vector<uint64_t> draws =
      request_contexts(p.context_distribution, p.context_length, group, 10000);
  uint64_t whole = 0;
  size_t k = 0;
  for (int i = 0; i < micro_batches; ++i) {
    for (uint64_t left = budget; left > 0; ++k) {
      whole += draws[k] <= left ? 1 : 0;
      left -= std::min(left, draws[k]);
    }
  }
  return whole;
}

double causal_pairs(const std::vector<uint64_t>& prompts) {
  double sum = 0;
  for (uint64_t x : prompts)
    sum += static_cast<double>(x) * static_cast<double>(x + 1) / 2;
  return sum;
}

struct AttentionTotals {
  double pairs = 0;
  uint64_t q_tokens = 0, ops = 0;
  bool varied = false;  // some op carries q_lens
};
AttentionTotals attention_totals(const RankProgram& prog) {
  AttentionTotals t;
  for (const Op& op : prog.ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op.payload)) {
      t.pairs += a->visible_pairs();
      t.q_tokens += a->total_q_tokens();
      t.varied = t.varied || !a->q_lens.empty();
      ++t.ops;
    }
  }
  return t;
}

TEST(PrefillPrompts, AttentionPairsMatchTheCausalClosedForm) {
  for (uint32_t tp : {1u, 2u}) {
    for (uint64_t chunk : {uint64_t{0}, uint64_t{256}}) {
      const DeepSeekInferenceParams p = prefill(tp, chunk);
      const DeepSeekStep step = DeepSeekInference(p).build(kCluster);
      EXPECT_NO_THROW(validate_workload(step.workload));
      double all_pairs = 0;
      for (uint32_t r = 0; r < 4; ++r) {
        const std::vector<uint64_t> prompts = packed_prompts(p, r / tp, 1500 * tp, 2);
        ASSERT_EQ(std::accumulate(prompts.begin(), prompts.end(), uint64_t{0}), 3000u * tp);
        const AttentionTotals t = attention_totals(step.workload.ranks[r]);
        // Two layers, each attending every prompt of the rank's DP group once.
        EXPECT_DOUBLE_EQ(t.pairs, 2 * causal_pairs(prompts)) << "rank " << r << " chunk " << chunk;
        EXPECT_EQ(t.q_tokens, 2u * 3000 * tp);
        EXPECT_TRUE(t.varied);
        all_pairs += t.pairs;
      }
      EXPECT_GT(all_pairs, 0);
      if (chunk > 0) {
        EXPECT_EQ(step.prefill_passes, (1500 * tp + chunk - 1) / chunk);
      }
      // Every prompt drawn whole completes in exactly one pass; a cut one in none.
      const uint32_t groups = 4 / tp;
      for (uint32_t g = 0; g < groups; ++g) {
        uint64_t done = 0;
        for (uint32_t c = 0; c < step.prefill_passes; ++c)
          done += step.prompts_done[g * step.prefill_passes + c];
        const uint64_t whole = whole_prompts(p, g, 1500 * tp, 2);
        EXPECT_EQ(done, whole);
        // Each pass's LM head takes the group's completed prompts, shared over its ranks (the
        // fewest per rank that hold them all, both micro-batches' together), then all-gathered:
        // every rank's vocabulary shard sees them all.
        for (uint32_t c = 0; c < step.prefill_passes; ++c) {
          const uint64_t n = step.prompts_done[g * step.prefill_passes + c];
          const std::string head = chunk > 0 ? fmt::format("c{}.lm_head", c) : "lm_head";
          for (uint32_t r = g * tp; r < (g + 1) * tp; ++r) {
            uint64_t rows = 0;
            for (const Op& op : step.workload.ranks[r].ops) {
              if (const auto* gm = std::get_if<GemmOp>(&op.payload); gm && op.name == head)
                rows += gm->m;
            }
            EXPECT_EQ(rows, (n + tp - 1) / tp * tp) << "group " << g << " pass " << c;
          }
        }
        EXPECT_LT(whole, packed_prompts(p, g, 1500 * tp, 2).size());  // some are cut
      }
    }
  }
}

// Prompts differ between DP groups, so their attention does, but every token goes through the
// MoE once: the gate sees tokens_per_gpu rows per GPU and the routed experts k copies of each.
TEST(PrefillPrompts, TokensThroughTheMoeAreThePromptSumTimesTopK) {
  const uint64_t k = resolve_model("deepseek-v2-lite").num_experts_per_tok;
  for (uint64_t chunk : {uint64_t{0}, uint64_t{256}}) {
    const DeepSeekStep step = DeepSeekInference(prefill(1, chunk)).build(kCluster);
    uint64_t copies = 0, prompt_tokens = 0;
    for (uint32_t r = 0; r < 4; ++r) {
      const std::vector<uint64_t> prompts = packed_prompts(prefill(1, chunk), r, 1500, 2);
      prompt_tokens += std::accumulate(prompts.begin(), prompts.end(), uint64_t{0});
      uint64_t gate_rows = 0;
      for (const Op& op : step.workload.ranks[r].ops) {
        if (const auto* g = std::get_if<GemmOp>(&op.payload); g && op.name.ends_with(".gate"))
          gate_rows += g->m;
        if (const auto* e = std::get_if<GroupedGemmOp>(&op.payload);
            e && op.name.ends_with(".experts_gate_up")) {
          copies += e->total_m();
        }
      }
      EXPECT_EQ(gate_rows, 3000u);
    }
    EXPECT_EQ(prompt_tokens, 4u * 3000);
    EXPECT_EQ(copies, prompt_tokens * k);
    EXPECT_EQ(step.tokens_per_step_per_gpu, 3000u);
  }
  // The attention of two groups differs (their own draws).
  const DeepSeekStep step = DeepSeekInference(prefill(1, 0)).build(kCluster);
  EXPECT_NE(attention_totals(step.workload.ranks[0]).pairs,
            attention_totals(step.workload.ranks[1]).pairs);
}

// `fixed` keeps the single-length shapes: prompts of context_length, no per-sequence lists, and
// the same graph as a distribution that can only draw context_length.
TEST(PrefillPrompts, FixedPromptsKeepTheSingleLengthStep) {
  for (uint64_t chunk : {uint64_t{0}, uint64_t{300}}) {
    DeepSeekInferenceParams fixed = prefill(1, chunk);
    fixed.context_distribution = ContextDistributionParams{};
    fixed.tokens_per_gpu = 2400;  // three prompts of 400 per micro-batch
    DeepSeekInferenceParams same = fixed;
    same.context_distribution.type = ContextDistribution::Uniform;
    same.context_distribution.min = same.context_distribution.max = 400;
    const Workload a = DeepSeekInference(fixed).generate(kCluster);
    EXPECT_EQ(workload_to_json(a).dump(),
              workload_to_json(DeepSeekInference(same).generate(kCluster)).dump());
    if (chunk > 0) continue;
    for (const Op& op : a.ranks[0].ops) {
      if (const auto* att = std::get_if<AttentionOp>(&op.payload)) {
        EXPECT_EQ(att->batch, 3u);
        EXPECT_EQ(att->q_len, 400u);
        EXPECT_EQ(att->kv_len, 400u);
        EXPECT_TRUE(att->q_lens.empty() && att->kv_lens.empty());
        EXPECT_DOUBLE_EQ(att->visible_pairs(), 3.0 * 400 * 401 / 2);
      }
    }
  }
}

// A steady step (carry_over), by the test's own walk: micro-batch i of n takes the group's draws
// i, i + n, ...; step 16 prefills tokens [16 b, 17 b) of that stream. Its first prompt has d
// tokens cached from earlier steps, so its piece of q tokens attends q d + q (q + 1) / 2 pairs;
// when it completes here it is carried, begun 16 - floor(start / b) steps before.
struct SteadyStream {
  std::vector<uint64_t> pieces;
  uint64_t first_done = 0, carried_steps = 0, whole = 0;  // whole: prompts completed
};
SteadyStream steady_stream(const DeepSeekInferenceParams& p, uint32_t group, uint64_t budget,
                           uint32_t i, uint32_t n) {
  const std::vector<uint64_t> draws =
      request_contexts(p.context_distribution, p.context_length, group, 20000);
  uint64_t start = 0, k = i;
  while (start + draws[k] <= 16 * budget) {
    start += draws[k];
    k += n;
  }
  SteadyStream s;
  s.first_done = 16 * budget - start;
  for (uint64_t at = 16 * budget; at < 17 * budget; k += n) {
    const uint64_t end = start + draws[k];
    s.pieces.push_back(std::min(end, 17 * budget) - at);
    if (end <= 17 * budget) {
      ++s.whole;
      if (start < 16 * budget) s.carried_steps = 16 - start / budget;
    }
    at += s.pieces.back();
    start = end;
  }
  return s;
}

// The cache holds each group's 1,500 x 2 tokens and its carried prompts' earlier ones; the
// carried prompt completes in the window that holds its piece's last token (windows of 256,
// the last one to 1,500).
TEST(PrefillPrompts, ASteadyStepBeginsWithTheRestOfTheCutPrompt) {
  for (uint64_t chunk : {uint64_t{0}, uint64_t{256}}) {
    DeepSeekInferenceParams p = prefill(1, chunk);
    p.carry_over = true;
    const DeepSeekStep step = DeepSeekInference(p).build(kCluster);
    EXPECT_NO_THROW(validate_workload(step.workload));
    std::vector<std::vector<uint32_t>> carried;  // (group, pass, steps)
    uint64_t cached = 0;
    for (uint32_t g = 0; g < 4; ++g) {
      double pairs = 0;
      uint64_t whole = 0;
      for (uint32_t i = 0; i < 2; ++i) {
        const SteadyStream s = steady_stream(p, g, 1500, i, 2);
        ASSERT_EQ(std::accumulate(s.pieces.begin(), s.pieces.end(), uint64_t{0}), 1500u);
        const double d = static_cast<double>(s.first_done), q = static_cast<double>(s.pieces[0]);
        pairs += q * d + causal_pairs(s.pieces);
        whole += s.whole;
        cached += 1500 + s.first_done;
        if (s.carried_steps > 0) {
          const uint64_t pass = chunk == 0 ? 0 : std::min<uint64_t>(5, (s.pieces[0] - 1) / chunk);
          carried.push_back(
              {g, static_cast<uint32_t>(pass), static_cast<uint32_t>(s.carried_steps)});
        }
      }
      EXPECT_DOUBLE_EQ(attention_totals(step.workload.ranks[g]).pairs, 2 * pairs)
          << "group " << g << " chunk " << chunk;
      uint64_t done = 0;
      for (uint32_t c = 0; c < step.prefill_passes; ++c)
        done += step.prompts_done[g * step.prefill_passes + c];
      EXPECT_EQ(done, whole) << "group " << g;
    }
    EXPECT_EQ(step.kv_cached_tokens_sum, cached);
    // The step's record of them: (group, pass, steps), one per carried prompt that completes.
    std::vector<std::vector<uint32_t>> got;
    for (size_t j = 0; j + 2 < step.carried_prompts.size(); j += 3) {
      got.push_back(
          {step.carried_prompts[j], step.carried_prompts[j + 1], step.carried_prompts[j + 2]});
    }
    std::sort(carried.begin(), carried.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, carried) << "chunk " << chunk;
    EXPECT_GT(carried.size(), 4u) << "most streams begin inside a prompt";
  }
}

// Decode has no prompts to carry: a carry_over other than the default is refused, as
// tokens_per_gpu is.
TEST(PrefillPrompts, CarryOverIsAPrefillSetting) {
  DeepSeekInferenceParams p;
  p.carry_over = false;
  try {
    p.validate(ParamCheck(nullptr, "workload"));
    ADD_FAILURE() << "carry_over accepted in decode";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("carry_over"), std::string::npos) << e.what();
  }
  p.phase = InferencePhase::Prefill;
  EXPECT_NO_THROW(p.validate(ParamCheck(nullptr, "workload")));
}

TEST(PrefillPrompts, SameSeedSameStep) {
  DeepSeekInferenceParams p = prefill(1, 256);
  const std::string a = workload_to_json(DeepSeekInference(p).generate(kCluster)).dump();
  EXPECT_EQ(a, workload_to_json(DeepSeekInference(p).generate(kCluster)).dump());
  p.context_distribution.seed = 7;
  EXPECT_NE(a, workload_to_json(DeepSeekInference(p).generate(kCluster)).dump());
}

// Prompts {5, 7, 3}: window [4, 10) holds prompt 0's last token (start 4 of 5 keys) and prompt
// 1's first 5 tokens; only prompt 0 ends in it.
TEST(PrefillPrompts, WindowSequencesAndChunkEnds) {
  MicroBatch mb;
  window_sequences(PromptStream{{5, 7, 3}}, 4, 10, mb);
  EXPECT_EQ(mb.attn_batch, 2u);
  EXPECT_EQ(mb.q_lens, (std::vector<uint64_t>{1, 5}));
  EXPECT_TRUE(mb.kv_lens.empty());  // both sequences have 5 keys
  EXPECT_EQ(mb.kv_len, 5u);
  EXPECT_EQ(mb.prompts_done, 1u);
  EXPECT_EQ(mb.attn_tokens(), 6u);
  window_sequences(PromptStream{{5, 7, 3}}, 0, 15,
                   mb);  // the whole stream: every prompt from its start
  EXPECT_EQ(mb.q_lens, (std::vector<uint64_t>{5, 7, 3}));
  EXPECT_EQ(mb.kv_lens, mb.q_lens);
  EXPECT_EQ(mb.prompts_done, 3u);
  window_sequences(PromptStream{{5, 7, 3}, true}, 0, 15,
                   mb);  // the last one cut: it completes later
  EXPECT_EQ(mb.q_lens, (std::vector<uint64_t>{5, 7, 3}));
  EXPECT_EQ(mb.prompts_done, 2u);
  // Streams of 15 and 14 tokens in windows of 4: the shorter one ends its windows early.
  EXPECT_EQ(chunk_ends({15, 14}, 4),
            (std::vector<std::vector<uint64_t>>{{4, 8, 12, 15}, {4, 8, 12, 14}}));
  EXPECT_EQ(chunk_ends({15, 13}, 4),
            (std::vector<std::vector<uint64_t>>{{4, 8, 12, 15}, {4, 8, 12, 13}}));
  EXPECT_EQ(chunk_ends({15, 10}, 4),
            (std::vector<std::vector<uint64_t>>{{4, 8, 12, 15}, {4, 8, 9, 10}}));
  EXPECT_EQ(chunk_ends({15, 10}, 0), (std::vector<std::vector<uint64_t>>{{15}, {10}}));
  // With a TP group of 2 (streams and chunk multiples of 2), every window stays one: the
  // shorter stream's early ends leave 2 tokens per window, not 1 (a rank would have none).
  EXPECT_EQ(chunk_ends({16, 10}, 4, 2),
            (std::vector<std::vector<uint64_t>>{{4, 8, 12, 16}, {4, 6, 8, 10}}));
  EXPECT_THROW(chunk_ends({16, 6}, 4, 2), InputError);  // 4 windows of 2 need 8 tokens
  try {
    chunk_ends({100, 3}, 10);
    ADD_FAILURE() << "a stream shorter than the pass count";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.chunk_size"), std::string::npos) << e.what();
  }
}

// Query lengths per sequence: sequence i with q_i queries ending at key kv_i sees
// q_i (kv_i - q_i) + q_i (q_i + 1) / 2 keys; Q and O bytes follow the query tokens.
TEST(PrefillPrompts, AttentionOpSumsEachSequencesQueries) {
  AttentionOp a;
  a.kernel = AttentionKernel::MlaPrefill;
  a.batch = 2;
  a.q_len = 10;
  a.kv_len = 12;
  a.q_lens = {3, 10};
  a.kv_lens = {12, 10};
  a.heads_q = a.heads_kv = 4;
  a.head_dim_qk = 192;
  a.head_dim_v = 128;
  EXPECT_DOUBLE_EQ(a.visible_pairs(), 3.0 * 9 + 6 + 55);
  EXPECT_EQ(a.total_q_tokens(), 13u);
  EXPECT_EQ(a.bytes_written(), 13u * 4 * 128 * 2);
  EXPECT_EQ(a.bytes_read(), 22u * 4 * (192 + 128) * 2 + 13u * 4 * 192 * 2);
  Workload w;
  w.ranks.resize(1);
  w.ranks[0].ops.push_back(Op{"att", a, {}, 0, 0});
  EXPECT_NO_THROW(validate_workload(w));
  auto error = [&](const AttentionOp& bad) {
    w.ranks[0].ops[0].payload = bad;
    try {
      validate_workload(w);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  AttentionOp more = a;
  more.q_lens = {11, 10};  // 11 queries, 12 keys: fine as lengths go, but longer than q_len
  EXPECT_NE(error(more).find("q_lens"), std::string::npos);
  AttentionOp past = a;
  past.kv_lens = {12, 9};
  past.q_lens = {3, 10};  // sequence 1: 10 queries over 9 keys
  past.kv_len = 12;
  EXPECT_NE(error(past).find("sequence 1 has 10 queries but 9 keys"), std::string::npos)
      << error(past);
  AttentionOp few = a;
  few.q_lens = {10};
  EXPECT_NE(error(few).find("q_lens needs one length >= 1 per sequence (2)"), std::string::npos)
      << error(few);
}

}  // namespace
}  // namespace mlasim
