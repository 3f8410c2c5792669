// Micro-batch shapes of an inference step (DeepSeekInference): what each micro-batch sends
// through attention and the MLP/MoE, the split of prefill prompts into chunks (chunked
// prefill), and the per-request KV lengths of decode with a context-length distribution.
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/deepseek_inference.h"

namespace mlasim {

struct MicroBatch {
  uint64_t moe_tokens = 0;  // tokens this rank sends through MLP/MoE (its SP share)
  uint64_t attn_batch = 0;  // sequences in the attention kernel (the TP group's)
  uint64_t q_len = 1;       // query tokens per sequence
  uint64_t kv_len = 1;
  std::vector<uint64_t> kv_lens;  // per sequence when they differ (the longest is kv_len)
  uint64_t attn_tokens() const { return attn_batch * q_len; }
  uint64_t kv_tokens() const { return attn_batch * kv_len; }
};

// Splits prefill micro-batches (prompts of q_len tokens) into chunks of `chunk` tokens: chunk c
// of a prompt holds its tokens [start, end), attends causally to keys [0, end), and carries the
// rank's share of those tokens through the MLP/MoE. A micro-batch whose prompts are a few tokens
// shorter than the longest ends its chunks as early as it can with at least one token each.
// Decode and prompts no longer than a chunk: one pass, the micro-batches unchanged.
std::vector<std::vector<MicroBatch>> prefill_chunks(const std::vector<MicroBatch>& mbs,
                                                    uint64_t chunk);

// Decode: each DP group's requests (requests_per_gpu x tp, dealt to the micro-batches in order)
// with their contexts from p.context_distribution; kv_lens[group][mb][sequence] is the context
// plus the `depth` drafted tokens. Tokens cached per group: the sum of its contexts (prefill:
// its prompt tokens), summed over groups and the largest.
struct GroupContexts {
  std::vector<std::vector<std::vector<uint64_t>>> kv_lens;
  uint64_t cached_sum = 0, cached_max = 0;
  bool varied = false;  // contexts drawn from a distribution (fixed: ops keep kv_len alone)
  // `mbs` (one per micro-batch) with group `group`'s KV lengths when they vary.
  std::vector<MicroBatch> apply(const std::vector<MicroBatch>& mbs, uint32_t group) const;
};
GroupContexts group_contexts(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp, uint32_t depth);

}  // namespace mlasim
