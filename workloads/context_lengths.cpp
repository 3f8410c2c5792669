// Request context draws (see context_lengths.h).
#include "workloads/context_lengths.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "sim/hash.h"

namespace mlasim {

void ContextDistributionParams::validate(const ParamCheck& c) const {
  c.require(min >= 1, "min", "must be >= 1");
  c.require(min <= kMaxContextTokens, "min", "must be <= 4294967296 (2^32 tokens)");
  c.require(max <= kMaxContextTokens, "max", "must be <= 4294967296 (2^32 tokens)");
  c.require(max == 0 || max >= min, "max", "must be 0 (unbounded) or >= min");
  c.require(type != ContextDistribution::Uniform || max > 0, "max",
            "uniform needs an upper bound (max > 0)");
  c.require(std::isfinite(stddev) && stddev >= 0, "stddev", "must be a finite number >= 0");
  // A setting the chosen type does not read would be silently ignored. (Compared with the
  // defaults, not with what the file names, so that a resolved config, which lists every key,
  // still loads.)
  const ContextDistributionParams defaults;
  c.require(stddev == defaults.stddev || type == ContextDistribution::Normal ||
                type == ContextDistribution::Lognormal,
            "stddev", "is read by the normal and lognormal types only");
  c.require(type != ContextDistribution::Fixed || (min == defaults.min && max == defaults.max),
            "type", "fixed puts every context at context_length: min and max are not read");
  c.require(type != ContextDistribution::Fixed || seed == defaults.seed, "seed",
            "fixed puts every context at context_length and draws nothing: seed is not read");
}

namespace {

// Uniform in (0, 1) from (seed, group, request, which draw).
double unit(uint64_t seed, uint32_t group, uint64_t request, uint64_t k) {
  const uint64_t h = splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ group) ^ request) ^ k);
  return (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;
}

// Standard normal by Box-Muller.
double normal(uint64_t seed, uint32_t group, uint64_t request) {
  const double u1 = unit(seed, group, request, 0), u2 = unit(seed, group, request, 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace

uint64_t draw_context(const ContextDistributionParams& d, uint64_t mean, uint32_t group,
                      uint64_t index) {
  const double lo = static_cast<double>(std::max<uint64_t>(1, d.min));
  const double hi = static_cast<double>(d.max > 0 ? d.max : kMaxContextTokens);
  const double m = static_cast<double>(mean);
  double x = m;
  switch (d.type) {
    case ContextDistribution::Fixed:
      return mean;
    case ContextDistribution::Uniform:
      return d.min + std::min<uint64_t>(d.max - d.min, static_cast<uint64_t>(
                                                           unit(d.seed, group, index, 0) *
                                                           static_cast<double>(d.max - d.min + 1)));
    case ContextDistribution::Normal:
      x = m + d.stddev * normal(d.seed, group, index);
      break;
    case ContextDistribution::Lognormal: {
      // Lognormal with mean m and standard deviation s: sigma^2 = ln(1 + s^2 / m^2),
      // mu = ln m - sigma^2 / 2.
      const double sigma2 = std::log1p(d.stddev * d.stddev / (m * m));
      x = std::exp(std::log(m) - sigma2 / 2 + std::sqrt(sigma2) * normal(d.seed, group, index));
      break;
    }
  }
  return static_cast<uint64_t>(std::clamp(std::round(x), lo, hi));
}

std::vector<uint64_t> request_contexts(const ContextDistributionParams& d, uint64_t mean,
                                       uint32_t group, uint64_t count) {
  std::vector<uint64_t> out(count);
  for (uint64_t r = 0; r < count; ++r)
    out[r] = draw_context(d, mean, group, r);
  return out;
}

std::vector<std::vector<uint64_t>> deal_by_load(const std::vector<uint64_t>& loads,
                                                std::span<const uint64_t> capacities) {
  uint64_t room = 0;
  for (uint64_t c : capacities)
    room += c;
  if (room != loads.size()) {
    throw std::logic_error(
        fmt::format("deal_by_load: {} loads for bins holding {}", loads.size(), room));
  }
  // Largest first; equal loads in their order.
  std::vector<size_t> order(loads.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return loads[a] > loads[b]; });
  std::vector<std::vector<size_t>> dealt(capacities.size());
  // Bins with room, least total first, then the lowest index.
  using Entry = std::pair<uint64_t, size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> open;
  for (size_t b = 0; b < capacities.size(); ++b) {
    if (capacities[b] > 0) open.push({0, b});
    dealt[b].reserve(capacities[b]);
  }
  for (size_t i : order) {
    auto [total, b] = open.top();
    open.pop();
    dealt[b].push_back(i);
    if (dealt[b].size() < capacities[b]) open.push({total + loads[i], b});
  }
  std::vector<std::vector<uint64_t>> bins(capacities.size());
  for (size_t b = 0; b < dealt.size(); ++b) {
    std::sort(dealt[b].begin(), dealt[b].end());
    for (size_t i : dealt[b])
      bins[b].push_back(loads[i]);
  }
  return bins;
}

}  // namespace mlasim
