// Micro-batch shapes of an inference step (DeepSeekInference): what each micro-batch sends
// through attention and the MLP/MoE, the prefill prompts and their split into forward passes
// (chunked prefill), and the per-request KV lengths of decode with a context-length distribution.
//
// Prefill prompts: each DP group (the attention_tp GPUs of a TP group) has tokens_per_gpu x
// attention_tp prompt tokens, split into the micro-batches' budgets as evenly as whole tokens
// per GPU allow. A micro-batch's prompts are drawn in order from `context_distribution`
// (`fixed`: all context_length) until they fill its budget; the last one that does not fit is
// prefilled in part (what is left: the rest comes in the next step), so a micro-batch's prompts
// sum to its budget exactly; that part completes no prompt in this step. A fresh step
// (carry_over false) takes draw k of the group, counting on across its micro-batches; a steady
// one (PromptStream) gives each micro-batch its own stream and begins with the rest of the
// prompt the previous step cut.
//
// Chunked prefill, Sarathi-style: each micro-batch's prompts, concatenated in order, form a token
// stream cut into windows of chunk_size tokens; forward pass c runs window c of every
// micro-batch. A window may end one prompt and begin the next: each prompt piece in it is one
// attention sequence whose queries are the piece's tokens and whose keys are its prompt's tokens
// up to the piece's end (the earlier pieces through the cache). A stream shorter than the longest
// ends its windows as early as it can with at least one token each.
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/deepseek_inference.h"

namespace mlasim {

struct MicroBatch {
  uint64_t moe_tokens = 0;  // tokens this rank sends through MLP/MoE (its SP share)
  uint64_t attn_batch = 0;  // sequences in the attention kernel (the TP group's)
  uint64_t q_len = 1;       // query tokens per sequence (the longest with q_lens)
  uint64_t kv_len = 1;
  std::vector<uint64_t> kv_lens;  // per sequence when they differ (the longest is kv_len)
  std::vector<uint64_t> q_lens;   // per sequence when they differ (the longest is q_len)
  uint64_t prompts_done = 0;      // prefill: prompts whose last token is in this pass (not cut)
  // Prefill: of those, the first prompt of the stream when an earlier step began it: the steps
  // it began before this one (0: none).
  uint32_t carried_steps = 0;
  uint64_t attn_tokens() const;
  uint64_t kv_tokens() const;
};

// The micro-batches of the main model and of the MTP modules (one token per request), shared by
// every rank (prefill: the first pass, before prompts are drawn).
struct StepMicroBatches {
  std::vector<MicroBatch> main, mtp;
};
StepMicroBatches step_micro_batches(const DeepSeekInferenceParams& p, uint32_t tp, uint32_t n_mb);

// The prompts of one micro-batch's stream, in order. A stream takes prompts in draw order until
// they fill its budget; the last one that does not fit is prefilled in part (cut: the rest of it
// comes in a later step, as chunked prefill carries it over), so its first token is not
// produced in this step.
// With carry_over the stream is a steady one: step kSteadyStep of an endless stream of draws,
// which begins with the rest of the prompt its previous step cut (first_done tokens of it
// prefilled in the first_steps steps before).
struct PromptStream {
  std::vector<uint64_t> lens;  // the tokens of each prompt this step prefills
  bool last_cut = false;       // the last is a part of a longer prompt
  uint64_t first_done = 0;     // tokens of the first prompt prefilled in earlier steps
  uint32_t first_steps = 0;    // the steps before this one in which the first prompt began
};
// Prompt streams of each micro-batch of DP group `group`; budgets[i]: the group's prompt tokens
// in micro-batch i. A fresh step (carry_over false) takes the group's draws in order across its
// micro-batches; a steady one gives micro-batch i of n the draws i, i + n, i + 2n, ...
std::vector<PromptStream> group_prompts(const DeepSeekInferenceParams& p,
                                        const std::vector<uint64_t>& budgets, uint32_t group);

// Window ends of each stream: ends[i][c] closes window c of stream i (windows start where the
// previous ended, the first at 0). chunk 0 or at least the longest stream: one window each. A
// stream shorter than the others ends its last windows early, each `unit` tokens at least (the
// TP group's ranks: with lengths and chunk multiples of it, every window is one too).
std::vector<std::vector<uint64_t>> chunk_ends(const std::vector<uint64_t>& lengths, uint64_t chunk,
                                              uint64_t unit = 1);

// Attention sequences of window [a, b) of a stream of prompts, written into `mb` (attn_batch,
// q_len, kv_len and their per-sequence lists when they differ, prompts_done: those whose last
// token is in the window, the last prompt not counted when `last_cut`; carried_steps). The
// stream's first prompt has `s.first_done` tokens cached from earlier steps, which its pieces'
// keys include.
void window_sequences(const PromptStream& s, uint64_t a, uint64_t b, MicroBatch& mb);

// Prefill forward passes: [pass][micro-batch] shapes, the same for every group unless prompts
// are drawn from a distribution (then per group). MoE tokens per rank are the same everywhere.
struct PrefillPasses {
  std::vector<std::vector<MicroBatch>> shared;
  std::vector<std::vector<std::vector<MicroBatch>>> groups;  // [group][pass][mb]; empty: shared
  const std::vector<MicroBatch>& pass(uint32_t group, size_t c) const {
    return groups.empty() ? shared[c] : groups[group][c];
  }
  size_t count() const { return shared.size(); }
  // The step's prompt figures (DeepSeekStepInfo): its passes; the prompts completed in pass c
  // by group g, summed over micro-batches, [g * count() + c]; and (group, pass, carried_steps)
  // of every micro-batch whose carried prompt completes, flat.
  void describe(uint32_t n_groups, DeepSeekStepInfo& info) const;
  // Tokens group g's carried prompts had prefilled before this step (carry_over), [g]; one
  // entry for every group when the prompts are shared.
  std::vector<uint64_t> carried_tokens;
  uint64_t carried_tokens_of(uint32_t g) const {
    return carried_tokens.empty() ? 0 : carried_tokens[carried_tokens.size() == 1 ? 0 : g];
  }
};
PrefillPasses prefill_passes(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp);

// Decode: each DP group's requests (requests_per_gpu x tp, dealt to the micro-batches in order)
// with their contexts from p.context_distribution; with dp_balance attention, the requests of
// every DP group of an EP group (a serving instance) pooled and dealt again (deal_by_load) to its
// micro-batches, each keeping its count. kv_lens[group][mb][sequence] is the context plus the
// 1 + `depth` tokens the step computes. Tokens cached per group: the sum of its contexts
// (prefill: its prompt tokens, and a steady step's carried prompts' earlier tokens from
// `passes`), summed over groups and the largest.
struct GroupContexts {
  std::vector<std::vector<std::vector<uint64_t>>> kv_lens;
  uint64_t cached_sum = 0, cached_max = 0;
  bool varied = false;  // contexts drawn from a distribution (fixed: ops keep kv_len alone)
  // `mbs` (one per micro-batch) with group `group`'s KV lengths when they vary.
  std::vector<MicroBatch> apply(const std::vector<MicroBatch>& mbs, uint32_t group) const;
};
// `ep`: GPUs per EP group (check_layout's).
GroupContexts group_contexts(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp, uint32_t ep, uint32_t depth,
                             const PrefillPasses* passes = nullptr);

}  // namespace mlasim
