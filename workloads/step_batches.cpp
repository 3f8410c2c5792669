// Step micro-batches (see step_batches.h).
#include "workloads/step_batches.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sim/errors.h"

namespace mlasim {

std::vector<std::vector<MicroBatch>> prefill_chunks(const std::vector<MicroBatch>& mbs,
                                                    uint64_t chunk) {
  uint64_t longest = 0;
  for (const MicroBatch& mb : mbs)
    longest = std::max(longest, mb.q_len);
  if (chunk == 0 || chunk >= longest) return {mbs};
  const uint64_t n = (longest + chunk - 1) / chunk;
  std::vector<std::vector<MicroBatch>> out(n, mbs);
  for (size_t i = 0; i < mbs.size(); ++i) {
    const uint64_t prompt = mbs[i].q_len, share = mbs[i].moe_tokens;
    if (prompt < n) {
      throw InputError(fmt::format(
          "workload.chunk_size: {} splits prompts into {} chunks, but micro-batch {} has "
          "prompts of {} tokens",
          chunk, n, i, prompt));
    }
    uint64_t start = 0;
    for (uint64_t c = 0; c < n; ++c) {
      const uint64_t end = c + 1 == n ? prompt : std::min((c + 1) * chunk, prompt - (n - 1 - c));
      MicroBatch& mb = out[c][i];
      mb.q_len = end - start;
      mb.kv_len = end;
      mb.moe_tokens = share * end / prompt - share * start / prompt;
      start = end;
    }
  }
  return out;
}

GroupContexts group_contexts(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp, uint32_t depth) {
  GroupContexts out;
  out.kv_lens.resize(groups);
  out.varied = p.phase == InferencePhase::Decode &&
               p.context_distribution.type != ContextDistribution::Fixed;
  for (uint32_t g = 0; g < groups; ++g) {
    uint64_t cached = uint64_t{p.tokens_per_gpu} * tp;
    if (p.phase == InferencePhase::Decode) {
      const std::vector<uint64_t> ctx = request_contexts(p.context_distribution, p.context_length,
                                                         g, uint64_t{p.requests_per_gpu} * tp);
      uint64_t next = 0;
      for (const MicroBatch& mb : mbs) {
        std::vector<uint64_t> kv;
        for (uint64_t q = 0; q < mb.attn_batch; ++q)
          kv.push_back(ctx[next++] + depth);
        out.kv_lens[g].push_back(std::move(kv));
      }
      cached = std::accumulate(ctx.begin(), ctx.end(), uint64_t{0});
    }
    out.cached_sum += cached;
    out.cached_max = std::max(out.cached_max, cached);
  }
  return out;
}

std::vector<MicroBatch> GroupContexts::apply(const std::vector<MicroBatch>& mbs,
                                             uint32_t group) const {
  std::vector<MicroBatch> own = mbs;
  if (!varied) return own;
  for (size_t i = 0; i < own.size(); ++i) {
    own[i].kv_lens = kv_lens[group][i];
    own[i].kv_len = *std::max_element(own[i].kv_lens.begin(), own[i].kv_lens.end());
  }
  return own;
}

}  // namespace mlasim
