// Context lengths of the requests of a decode step (`workload.context_distribution`): every
// request gets its own KV length, drawn from a distribution around `workload.context_length`.
// Prefill draws each prompt's length from the same distribution (workloads/step_batches.h).
//
// Draws are a counter-based hash of (seed, DP group, request index), so they do not depend on
// the order in which they are asked for, and the same seed gives the same contexts on every run.
// Normal and lognormal draws keep `context_length` as their mean and `stddev` as their spread
// before the clamp to [min, max] (clamping moves the mean when it cuts a tail); uniform draws
// ignore `context_length` and take integers in [min, max].
//
// Left out: correlations between requests, and contexts that change from step to step.
//
// `workload.dp_balance: attention` (decode) pools the draws of every DP group of a serving
// instance (EP group) and deals them again (deal_by_load), as DeepSeek's decode load balancer
// evens KV cache use and core attention over GPUs while giving each the same number of
// requests. It is an ideal one: it re-deals the whole standing batch knowing every context,
// where a real balancer places requests as they arrive and does not move running ones.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"

namespace mlasim {

enum class ContextDistribution : uint8_t { Fixed, Uniform, Normal, Lognormal };
template <>
struct EnumNames<ContextDistribution> {
  static constexpr std::array<std::pair<ContextDistribution, std::string_view>, 4> values{
      {{ContextDistribution::Fixed, "fixed"},
       {ContextDistribution::Uniform, "uniform"},
       {ContextDistribution::Normal, "normal"},
       {ContextDistribution::Lognormal, "lognormal"}}};
};

// Longest context any request may have, tokens: keeps byte counts (tokens x bytes per token x
// requests) far inside 64 bits.
inline constexpr uint64_t kMaxContextTokens = uint64_t{1} << 32;

struct ContextDistributionParams {
  ContextDistribution type = ContextDistribution::Fixed;
  uint64_t min = 1;
  uint64_t max = 0;
  double stddev = 0;
  uint64_t seed = 1;
  template <class V>
  void visit(V& v) {
    v("type", type, "-",
      "fixed: every request (prefill: prompt) at context_length; uniform: integers in [min, "
      "max]; normal, lognormal: mean context_length, spread stddev, clamped to [min, max]");
    v("min", min, "count", "shortest context, tokens (uniform: lower bound); 1 to 2^32");
    v("max", max, "count",
      "longest context, tokens (uniform: upper bound), at most 2^32; 0: unbounded (2^32)");
    v("stddev", stddev, "count", "normal, lognormal: standard deviation of the context, tokens");
    v("seed", seed, "-", "uniform, normal, lognormal: seed of the draws (fixed draws nothing)");
  }
  void validate(const ParamCheck& c) const;
};

// Draw `index` of DP group `group`.
uint64_t draw_context(const ContextDistributionParams& d, uint64_t mean, uint32_t group,
                      uint64_t index);
// Contexts of requests [0, count) of DP group `group`.
std::vector<uint64_t> request_contexts(const ContextDistributionParams& d, uint64_t mean,
                                       uint32_t group, uint64_t count);

// Deals `loads` into bins holding capacities[b] each (the capacities sum to the number of
// loads): largest first, each to the bin with the least total so far among those with room, the
// lowest-numbered on a tie (greedy longest-first with a count per bin). Returns each bin's loads
// in their order in `loads`.
std::vector<std::vector<uint64_t>> deal_by_load(const std::vector<uint64_t>& loads,
                                                std::span<const uint64_t> capacities);

}  // namespace mlasim
