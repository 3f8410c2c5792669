// Step micro-batches (see step_batches.h).
#include "workloads/step_batches.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "sim/errors.h"
#include "workloads/context_lengths.h"
#include "workloads/model_config.h"

namespace mlasim {

uint64_t MicroBatch::attn_tokens() const {
  return q_lens.empty() ? attn_batch * q_len
                        : std::accumulate(q_lens.begin(), q_lens.end(), uint64_t{0});
}

uint64_t MicroBatch::kv_tokens() const {
  return kv_lens.empty() ? attn_batch * kv_len
                         : std::accumulate(kv_lens.begin(), kv_lens.end(), uint64_t{0});
}

StepMicroBatches step_micro_batches(const DeepSeekInferenceParams& p, uint32_t tp, uint32_t n_mb) {
  const bool decode = p.phase == InferencePhase::Decode;
  const uint32_t depth = decode ? p.mtp.depth : 0;
  const uint64_t total = decode ? p.requests_per_gpu : p.tokens_per_gpu;
  if (total < n_mb) {
    throw InputError(
        fmt::format("workload.{}: {} per GPU cannot fill two micro-batches "
                    "(dual_micro_batch: true needs at least 2)",
                    decode ? "requests_per_gpu" : "tokens_per_gpu", total));
  }
  StepMicroBatches out;
  out.main.resize(n_mb);
  out.mtp.resize(n_mb);
  for (uint32_t i = 0; i < n_mb; ++i) {
    const uint64_t share = total / n_mb + (i < total % n_mb ? 1 : 0);
    MicroBatch& mb = out.main[i];
    if (decode) {
      mb.q_len = 1 + depth;
      mb.attn_batch = share * tp;
      mb.kv_len = p.context_length + 1 + depth;  // cached + computed now
      mb.moe_tokens = share * (1 + depth);
      MicroBatch& m = out.mtp[i];
      m.moe_tokens = share;
      m.attn_batch = share * tp;
      m.kv_len = p.context_length + 1 + depth;
    } else {
      if (p.context_distribution.type == ContextDistribution::Fixed && !p.carry_over &&
          p.context_length > share * tp) {
        throw InputError(fmt::format(
            "workload.context_length: prompts of {} tokens do not fit micro-batch {}'s {} tokens "
            "(tokens_per_gpu x attention_tp{}), so it would complete no prompt; raise "
            "tokens_per_gpu to at least {}{}",
            p.context_length, i, share * tp,
            n_mb > 1 ? fmt::format(", split over {} micro-batches", n_mb) : "",
            n_mb * ((p.context_length + tp - 1) / tp),
            n_mb > 1 && total * tp >= p.context_length ? " or set dual_micro_batch: false" : ""));
      }
      mb.q_len = std::min<uint64_t>(p.context_length, share * tp);
      mb.attn_batch = (share * tp + mb.q_len - 1) / mb.q_len;
      mb.kv_len = mb.q_len;
      mb.moe_tokens = share;
    }
  }
  return out;
}

std::vector<PromptStream> group_prompts(const DeepSeekInferenceParams& p,
                                        const std::vector<uint64_t>& budgets, uint32_t group) {
  std::vector<PromptStream> out;
  if (p.carry_over) {
    const uint64_t n = budgets.size();
    for (uint64_t i = 0; i < n; ++i) {
      auto draw = [&](uint64_t k) {
        return draw_context(p.context_distribution, p.context_length, group, k * n + i);
      };
      // Step s of the stream prefills its tokens [s x budget, (s + 1) x budget).
      const uint64_t budget = budgets[i], from = kSteadyStep * budget, to = from + budget;
      uint64_t k = 0, start = 0, len = draw(0);
      if (p.context_distribution.type == ContextDistribution::Fixed) {  // (no walk needed)
        k = from / len;
        start = k * len;
      }
      while (start + len <= from) {
        start += len;
        len = draw(++k);
      }
      PromptStream s;
      s.first_done = from - start;
      s.first_steps = static_cast<uint32_t>(kSteadyStep - start / budget);
      if (s.first_done == 0) s.first_steps = 0;
      for (uint64_t at = from; at < to;) {
        const uint64_t piece = std::min(to, start + len) - at;
        s.lens.push_back(piece);
        s.last_cut = start + len > to;
        at += piece;
        start += len;
        if (at < to) len = draw(++k);
      }
      out.push_back(std::move(s));
    }
    return out;
  }
  uint64_t k = 0;  // the group's draws count on across its micro-batches
  for (uint64_t budget : budgets) {
    PromptStream s;
    for (uint64_t left = budget; left > 0;) {
      const uint64_t drawn = draw_context(p.context_distribution, p.context_length, group, k++);
      const uint64_t len = std::min(left, drawn);
      s.lens.push_back(len);
      s.last_cut = len < drawn;
      left -= len;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::vector<uint64_t>> chunk_ends(const std::vector<uint64_t>& lengths, uint64_t chunk,
                                              uint64_t unit) {
  const uint64_t longest = *std::max_element(lengths.begin(), lengths.end());
  std::vector<std::vector<uint64_t>> out;
  if (chunk == 0 || chunk >= longest) {
    for (uint64_t len : lengths)
      out.push_back({len});
    return out;
  }
  const uint64_t n = (longest + chunk - 1) / chunk;
  // Each pass repeats every layer in the step's op graph (see the layer check in
  // deepseek_inference.cpp); refused here before any per-pass table is built.
  if (n > static_cast<uint64_t>(kMaxModelLayers)) {
    throw InputError(fmt::format(
        "workload.chunk_size: {} cuts the longest micro-batch's {} prompt tokens into {} passes, "
        "more than {} (each pass repeats the model's layers); take a larger chunk_size",
        chunk, longest, n, kMaxModelLayers));
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    const uint64_t len = lengths[i];
    if (len < n * unit) {
      throw InputError(fmt::format(
          "workload.chunk_size: {} cuts the longest micro-batch's {} prompt tokens into {} "
          "passes, but micro-batch {} has only {} tokens{}",
          chunk, longest, n, i, len,
          unit > 1 ? fmt::format(" ({} per pass at least: one per TP rank)", unit) : ""));
    }
    std::vector<uint64_t> ends;
    for (uint64_t c = 0; c < n; ++c)
      ends.push_back(c + 1 == n ? len : std::min((c + 1) * chunk, len - (n - 1 - c) * unit));
    out.push_back(std::move(ends));
  }
  return out;
}

void window_sequences(const PromptStream& s, uint64_t a, uint64_t b, MicroBatch& mb) {
  const std::vector<uint64_t>& prompts = s.lens;
  std::vector<uint64_t> q, kv;
  mb.prompts_done = 0;
  mb.carried_steps = 0;
  uint64_t start = 0;  // the prompt's first token in the stream
  for (size_t i = 0; i < prompts.size(); ++i) {
    const uint64_t len = prompts[i];
    const uint64_t from = std::max(a, start), to = std::min(b, start + len);
    if (from < to) {
      q.push_back(to - from);
      // Its keys: the prompt up to the piece's end (the first one's cached part included).
      kv.push_back(to - start + (i == 0 ? s.first_done : 0));
      if (start + len <= b && !(s.last_cut && i + 1 == prompts.size())) {
        ++mb.prompts_done;
        if (i == 0) mb.carried_steps = s.first_steps;
      }
    }
    start += len;
    if (start >= b) break;
  }
  mb.attn_batch = q.size();
  mb.q_len = *std::max_element(q.begin(), q.end());
  mb.kv_len = *std::max_element(kv.begin(), kv.end());
  auto differ = [](const std::vector<uint64_t>& v) {
    return std::adjacent_find(v.begin(), v.end(), std::not_equal_to<>()) != v.end();
  };
  mb.q_lens = differ(q) ? std::move(q) : std::vector<uint64_t>{};
  mb.kv_lens = differ(kv) ? std::move(kv) : std::vector<uint64_t>{};
}

PrefillPasses prefill_passes(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp) {
  PrefillPasses out;
  std::vector<uint64_t> budgets;
  for (const MicroBatch& mb : mbs)
    budgets.push_back(mb.moe_tokens * tp);
  const std::vector<std::vector<uint64_t>> ends = chunk_ends(budgets, p.chunk_size, tp);
  const size_t n = ends[0].size();
  auto build = [&](uint32_t g) {
    const std::vector<PromptStream> prompts = group_prompts(p, budgets, g);
    uint64_t carried = 0;
    for (const PromptStream& s : prompts)
      carried += s.first_done;
    out.carried_tokens.push_back(carried);
    std::vector<std::vector<MicroBatch>> passes(n, mbs);
    for (size_t i = 0; i < mbs.size(); ++i) {
      uint64_t a = 0;
      for (size_t c = 0; c < n; ++c) {
        const uint64_t b = ends[i][c];
        MicroBatch& mb = passes[c][i];
        // The rank's SP share of window [a, b) of a stream of share x tp tokens.
        mb.moe_tokens = b / tp - a / tp;
        window_sequences(prompts[i], a, b, mb);
        a = b;
      }
    }
    return passes;
  };
  out.shared = build(0);
  if (p.context_distribution.type != ContextDistribution::Fixed) {
    out.carried_tokens.clear();
    out.groups.reserve(groups);
    for (uint32_t g = 0; g < groups; ++g)
      out.groups.push_back(build(g));
  }
  return out;
}

void PrefillPasses::describe(uint32_t n_groups, DeepSeekStepInfo& info) const {
  info.prefill_passes = static_cast<uint32_t>(count());
  info.prompts_done.assign(size_t{n_groups} * count(), 0);
  info.carried_prompts.clear();
  for (uint32_t g = 0; g < n_groups; ++g) {
    for (size_t c = 0; c < count(); ++c) {
      for (const MicroBatch& mb : pass(g, c)) {
        info.prompts_done[g * count() + c] += static_cast<uint32_t>(mb.prompts_done);
        if (mb.carried_steps > 0) {
          info.carried_prompts.insert(info.carried_prompts.end(),
                                      {g, static_cast<uint32_t>(c), mb.carried_steps});
        }
      }
    }
  }
}

GroupContexts group_contexts(const DeepSeekInferenceParams& p, const std::vector<MicroBatch>& mbs,
                             uint32_t groups, uint32_t tp, uint32_t ep, uint32_t depth,
                             const PrefillPasses* passes) {
  GroupContexts out;
  out.kv_lens.resize(groups);
  const bool decode = p.phase == InferencePhase::Decode;
  out.varied = decode && p.context_distribution.type != ContextDistribution::Fixed;
  // Decode: every group's contexts, [group][micro-batch][request].
  std::vector<std::vector<std::vector<uint64_t>>> ctx(decode ? groups : 0);
  for (uint32_t g = 0; g < ctx.size(); ++g) {
    const std::vector<uint64_t> drawn = request_contexts(p.context_distribution, p.context_length,
                                                         g, uint64_t{p.requests_per_gpu} * tp);
    auto next = drawn.begin();
    for (const MicroBatch& mb : mbs) {
      ctx[g].emplace_back(next, next + static_cast<std::ptrdiff_t>(mb.attn_batch));
      next += static_cast<std::ptrdiff_t>(mb.attn_batch);
    }
  }
  if (out.varied && p.dp_balance == DpBalance::Attention) {
    // Each serving instance (an EP group; with TP groups that straddle EP groups, the fewest
    // whole ones of both) pools its groups' requests and deals them again to its (group,
    // micro-batch) bins, with the sizes they had.
    const auto per_pool = static_cast<uint32_t>(std::lcm(ep, tp) / tp);
    if (per_pool == 0 || groups % per_pool != 0) {  // (check_layout makes both divide the GPUs)
      throw std::logic_error(
          fmt::format("group_contexts: {} DP groups in pools of {}", groups, per_pool));
    }
    for (uint32_t first = 0; first < groups; first += per_pool) {
      std::vector<uint64_t> pool, sizes;
      for (uint32_t g = first; g < first + per_pool; ++g) {
        for (const auto& mb : ctx[g]) {
          pool.insert(pool.end(), mb.begin(), mb.end());
          sizes.push_back(mb.size());
        }
      }
      std::vector<std::vector<uint64_t>> bins = deal_by_load(pool, sizes);
      for (size_t b = 0; b < bins.size(); ++b)
        ctx[first + b / mbs.size()][b % mbs.size()] = std::move(bins[b]);
    }
  }
  for (uint32_t g = 0; g < groups; ++g) {
    uint64_t cached = uint64_t{p.tokens_per_gpu} * tp;
    if (decode) {
      cached = 0;
      for (const std::vector<uint64_t>& mb : ctx[g]) {
        std::vector<uint64_t> kv;
        for (uint64_t c : mb) {
          kv.push_back(c + 1 + depth);
          cached += c;
        }
        out.kv_lens[g].push_back(std::move(kv));
      }
    } else if (passes != nullptr) {
      cached += passes->carried_tokens_of(g);  // the earlier tokens of the prompts carried on
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
