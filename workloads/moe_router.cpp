// Synthetic MoE routing (see moe_router.h for the model).
//
// Speed matters: a DeepSeek-V3 decode step routes about a million token-layers, each scoring 256
// experts. The logit o_e + G with G = -ln E, E ~ Exp(1), is never formed: sigmoid(x - c) equals
// w/(w + E) and exp(x) equals w/E with w = exp(o_e - c), so each expert costs one logarithm,
// written in branch-free arithmetic that the compiler vectorises. The uniforms come three
// 21-bit fields per 64-bit hash. Selection then touches only the few best experts per group and
// node, using scores already known to be in a token's top k to skip the rest cheaply.
#include "workloads/moe_router.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "sim/errors.h"
#include "sim/hash.h"
#include "workloads/expert_selector.h"
#include "workloads/model_config.h"

namespace mlasim {

namespace {

constexpr uint32_t kUniformBits = 21;
constexpr uint32_t kMaxK = 64;
// Popularity weights are kept above this so scores never become denormal (slow) or zero.
constexpr double kMinWeight = 1e-30;

inline uint64_t hash_combine(uint64_t key, uint64_t value) {
  return mix64(key ^ mix64(value + kGoldenGamma));
}

// -ln(u) for u in (0, 1), relative error below 2e-7. u = 2^k m with m in [sqrt(1/2), sqrt(2))
// by integer arithmetic on the bits (as musl's logf), then ln m = 2 atanh((m - 1) / (m + 1)) by
// its series; no branches or selects, so loops over it vectorise.
inline float neg_log(float u) {
  const uint32_t ix = std::bit_cast<uint32_t>(u) - 0x3f3504f3U;
  const int32_t k = static_cast<int32_t>(ix) >> 23;
  const float m = std::bit_cast<float>((ix & 0x007fffffU) + 0x3f3504f3U);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float z = s * s;
  const float series =
      s * (2.0f + z * (2.0f / 3 + z * (2.0f / 5 + z * (2.0f / 7 + z * (2.0f / 9)))));
  return -(series + static_cast<float>(k) * 0.693147181f);
}

}  // namespace

void RouterConfig::validate(const ParamCheck& c) const {
  c.require(n_routed_experts >= 1 && n_routed_experts <= 65535, "n_routed_experts",
            "must be in [1, 65535]");
  c.require(num_experts_per_tok >= 1 && num_experts_per_tok <= std::min(n_routed_experts, kMaxK),
            "num_experts_per_tok", fmt::format("must be in [1, min(n_routed_experts, {})]", kMaxK));
  c.require(n_group >= 1 && n_routed_experts % n_group == 0, "n_group",
            "must be >= 1 and divide n_routed_experts");
  c.require(topk_group >= 1 && topk_group <= n_group, "topk_group", "must be in [1, n_group]");
  if (topk_method != TopkMethod::Greedy && n_group > 0 && n_routed_experts % n_group == 0) {
    c.require(uint64_t{topk_group} * (n_routed_experts / n_group) >= num_experts_per_tok,
              "topk_group", "the allowed groups must hold at least num_experts_per_tok experts");
  }
  c.require(routed_scaling_factor > 0, "routed_scaling_factor", "must be > 0");
  // A token's k experts reach at most k nodes: a limit above kMaxK limits nothing (and sized
  // the selector's per-token tables: 4e9 exhausted memory).
  c.require(max_nodes_per_token <= kMaxK, "max_nodes_per_token",
            fmt::format("must be at most {} (a token's k <= {} experts reach at most k nodes; "
                        "0: unlimited)",
                        kMaxK, kMaxK));
  // A step of 1 already spans the whole range of the (sigmoid or softmax) scores it shifts.
  c.require(bias_update_speed >= 0 && bias_update_speed <= 1, "bias_update_speed",
            "must be in [0, 1]");
  c.require(skew >= 0 && skew <= 20, "skew", "must be in [0, 20]");
}

RouterConfig router_config_for(const ModelConfig& model, RouterConfig base) {
  if (!model.is_moe()) {
    throw InputError(fmt::format("model '{}' has no routed experts", model.name));
  }
  base.n_routed_experts = static_cast<uint32_t>(model.n_routed_experts);
  base.num_experts_per_tok = static_cast<uint32_t>(model.num_experts_per_tok);
  base.n_group = static_cast<uint32_t>(std::max<int64_t>(model.n_group, 1));
  base.topk_group = static_cast<uint32_t>(std::max<int64_t>(model.topk_group, 1));
  base.routed_scaling_factor = model.routed_scaling_factor;
  if (model.scoring_func == "sigmoid") {
    base.scoring = RouterScoring::Sigmoid;
  } else if (model.scoring_func == "softmax" || model.scoring_func.empty()) {
    base.scoring = RouterScoring::Softmax;
  } else {
    throw InputError(
        fmt::format("model '{}': unknown scoring_func '{}'", model.name, model.scoring_func));
  }
  if (model.topk_method == "noaux_tc") {
    base.topk_method = TopkMethod::NoauxTc;
  } else if (model.topk_method == "group_limited_greedy") {
    base.topk_method = TopkMethod::GroupLimitedGreedy;
  } else if (model.topk_method == "greedy" || model.topk_method.empty()) {
    base.topk_method = TopkMethod::Greedy;
  } else {
    throw InputError(
        fmt::format("model '{}': unknown topk_method '{}'", model.name, model.topk_method));
  }
  base.norm_topk_prob = base.topk_method == TopkMethod::NoauxTc;
  base.validate(ParamCheck(nullptr, fmt::format("model '{}'", model.name)));
  return base;
}

MoeTrafficConfig MoeTrafficConfig::resolved(uint64_t hidden_size) const {
  MoeTrafficConfig t = *this;
  if (t.dispatch_bytes_per_token.count() == 0) {
    t.dispatch_bytes_per_token = Bytes(hidden_size + 4 * ((hidden_size + 127) / 128));
  }
  if (t.combine_bytes_per_token.count() == 0) t.combine_bytes_per_token = Bytes(2 * hidden_size);
  return t;
}

double max_over_mean(std::span<const uint32_t> values) {
  if (values.empty()) return 1.0;
  uint64_t sum = 0;
  uint32_t max = 0;
  for (uint32_t v : values) {
    sum += v;
    max = std::max(max, v);
  }
  if (sum == 0) return 1.0;
  return static_cast<double>(max) * static_cast<double>(values.size()) / static_cast<double>(sum);
}

RoutingImbalance summarize_imbalance(std::span<const LayerRouting* const> routings,
                                     std::vector<uint32_t> layer_numbers) {
  RoutingImbalance im;
  if (routings.empty()) return im;
  const size_t n = layer_numbers.size();
  im.expert_mean = im.gpu_mean = 0;
  im.expert_max = im.gpu_max = 0;
  im.layers = std::move(layer_numbers);
  im.layer_expert.assign(n, 0.0);
  im.layer_gpu.assign(n, 0.0);
  std::vector<uint32_t> count(n, 0);
  for (const LayerRouting* r : routings) {
    const double e = r->expert_imbalance(), g = r->gpu_imbalance();
    im.expert_mean += e;
    im.gpu_mean += g;
    im.expert_max = std::max(im.expert_max, e);
    im.gpu_max = std::max(im.gpu_max, g);
    im.node_limit_overflows += r->node_limit_overflows;
    ++im.routed_layers;
    if (r->layer >= n) throw std::logic_error("summarize_imbalance: a layer without a number");
    im.layer_expert[r->layer] += e;
    im.layer_gpu[r->layer] += g;
    ++count[r->layer];
    if (im.load_layers.empty()) {
      im.experts = static_cast<uint32_t>(r->expert_load.size());
      im.gpus = static_cast<uint32_t>(r->gpu_load.size());
    } else if (r->expert_load.size() != im.experts || r->gpu_load.size() != im.gpus) {
      throw std::logic_error("summarize_imbalance: routings of different shapes");
    }
    im.load_layers.push_back(im.layers[r->layer]);
    im.expert_loads.insert(im.expert_loads.end(), r->expert_load.begin(), r->expert_load.end());
    im.gpu_loads.insert(im.gpu_loads.end(), r->gpu_load.begin(), r->gpu_load.end());
  }
  im.expert_mean /= im.routed_layers;
  im.gpu_mean /= im.routed_layers;
  for (size_t l = 0; l < n; ++l) {
    im.layer_expert[l] /= std::max(count[l], 1U);
    im.layer_gpu[l] /= std::max(count[l], 1U);
  }
  return im;
}

std::vector<uint64_t> LayerRouting::dispatch_bytes() const {
  std::vector<uint64_t> out(copies.size());
  for (size_t i = 0; i < copies.size(); ++i)
    out[i] = copies[i] * dispatch_bytes_per_copy;
  return out;
}

std::vector<uint64_t> LayerRouting::combine_bytes() const {
  std::vector<uint64_t> out(copies.size());
  for (uint32_t s = 0; s < num_gpus; ++s) {
    for (uint32_t d = 0; d < num_gpus; ++d) {
      out[size_t{d} * num_gpus + s] = copies[size_t{s} * num_gpus + d] * combine_bytes_per_copy;
    }
  }
  return out;
}

uint64_t LayerRouting::total_copies() const {
  return std::accumulate(copies.begin(), copies.end(), uint64_t{0});
}

double LayerRouting::expert_imbalance() const {
  return max_over_mean(expert_load);
}
double LayerRouting::gpu_imbalance() const {
  return max_over_mean(gpu_load);
}

MoeRouter::MoeRouter(const RouterConfig& config, std::vector<ExpertPlacement> placements,
                     uint32_t num_layers, const MoeTrafficConfig& traffic)
    : config_(config), placements_(std::move(placements)), traffic_(traffic) {
  config_.validate(ParamCheck(nullptr, "router"));
  if (num_layers == 0) throw InputError("router: needs at least one layer");
  check_placements(placements_, num_layers);
  if (traffic_.dispatch_bytes_per_token.count() == 0 ||
      traffic_.combine_bytes_per_token.count() == 0) {
    throw InputError("router: traffic payload sizes must be resolved (non-zero)");
  }

  const uint32_t n = config_.n_routed_experts;
  const uint32_t padded = (n + 2) / 3 * 3;
  double mean_weight = 0;
  for (uint32_t r = 1; r <= n; ++r)
    mean_weight += std::pow(double(r), -config_.skew);
  mean_weight /= n;
  const double shift = config_.scoring == RouterScoring::Sigmoid
                           ? std::log(double(n) / config_.num_experts_per_tok)
                           : 0.0;
  layers_.resize(num_layers);
  for (uint32_t l = 0; l < num_layers; ++l) {
    LayerState& ls = layers_[l];
    // Fisher-Yates on a counter-based stream: rank_e = position of e in the permutation + 1.
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0U);
    const uint64_t key = hash_combine(hash_combine(config_.seed, 0x706f70756c6172ULL), l);
    for (uint32_t i = n; i > 1; --i) {
      const uint64_t j = mix64(key + i * kGoldenGamma) % i;
      std::swap(order[i - 1], order[j]);
    }
    ls.rank.resize(n);
    for (uint32_t pos = 0; pos < n; ++pos)
      ls.rank[order[pos]] = pos + 1;
    ls.weight.assign(padded, 0.0f);
    for (uint32_t e = 0; e < n; ++e) {
      const double offset =
          -config_.skew * std::log(double(ls.rank[e])) - std::log(mean_weight) - shift;
      ls.weight[e] = static_cast<float>(std::max(std::exp(offset), kMinWeight));
    }
    ls.bias.assign(padded, 0.0f);
  }
}

void MoeRouter::check_placements(const std::vector<ExpertPlacement>& placements,
                                 uint32_t num_layers) const {
  if (placements.size() != 1 && placements.size() != num_layers) {
    throw InputError(fmt::format("router: {} placements for {} layers (give 1 or one per layer)",
                                 placements.size(), num_layers));
  }
  for (const ExpertPlacement& p : placements) {
    if (p.num_experts() != config_.n_routed_experts) {
      throw InputError(fmt::format("router: placement has {} experts, router {}", p.num_experts(),
                                   config_.n_routed_experts));
    }
    if (p.num_gpus() != placements.front().num_gpus()) {
      throw InputError(fmt::format("router: placements for EP groups of {} and {} GPUs",
                                   placements.front().num_gpus(), p.num_gpus()));
    }
  }
}

void MoeRouter::set_placements(std::vector<ExpertPlacement> placements) {
  check_placements(placements, num_layers());
  placements_ = std::move(placements);
}

uint64_t MoeRouter::token_key(uint32_t layer, uint32_t src_gpu, uint32_t token) const {
  const uint64_t step_key = hash_combine(hash_combine(config_.seed, 0x726f757465ULL), step_);
  return hash_combine(hash_combine(hash_combine(step_key, layer), src_gpu), token);
}

void MoeRouter::score_token(const LayerState& ls, uint64_t key, int32_t* bits, float* score) const {
  const uint32_t n = config_.n_routed_experts;
  const uint32_t padded = (n + 2) / 3 * 3;
  const float* weight = ls.weight.data();
  // 21-bit fields j, three per hash, become uniforms (2j + 1) / 2^22 (exact in a float, never 0
  // or 1) inside the vectorised loops below.
  for (uint32_t e = 0; e < padded; e += 3) {
    const uint64_t h = mix64(key + (e + 1) * kGoldenGamma);
    constexpr uint64_t kMask = (uint64_t{1} << kUniformBits) - 1;
    bits[e] = static_cast<int32_t>(h & kMask);
    bits[e + 1] = static_cast<int32_t>((h >> kUniformBits) & kMask);
    bits[e + 2] = static_cast<int32_t>((h >> (2 * kUniformBits)) & kMask);
  }
  auto uniform = [](int32_t b) {
    return static_cast<float>(b) * (1.0f / (1U << kUniformBits)) + (0.5f / (1U << kUniformBits));
  };
  if (config_.scoring == RouterScoring::Sigmoid) {
    for (uint32_t e = 0; e < n; ++e) {
      score[e] = weight[e] / (weight[e] + neg_log(uniform(bits[e])));
    }
  } else {
    for (uint32_t e = 0; e < n; ++e)
      score[e] = weight[e] / neg_log(uniform(bits[e]));
    float sum = 0;
    for (uint32_t e = 0; e < n; ++e)
      sum += score[e];
    const float inv = 1.0f / sum;
    for (uint32_t e = 0; e < n; ++e)
      score[e] *= inv;
  }
}

std::vector<float> MoeRouter::affinities(uint32_t layer, uint32_t src_gpu, uint32_t token) const {
  const uint32_t padded = (config_.n_routed_experts + 2) / 3 * 3;
  std::vector<int32_t> bits(padded);
  std::vector<float> score(padded);
  score_token(layers_.at(layer), token_key(layer, src_gpu, token), bits.data(), score.data());
  score.resize(config_.n_routed_experts);
  return score;
}

LayerRouting MoeRouter::route_layer(uint32_t layer, std::span<const uint32_t> tokens_per_gpu,
                                    bool keep_assignments) const {
  if (layer >= layers_.size()) throw InputError(fmt::format("router: no layer {}", layer));
  const ExpertPlacement& pl = placement(layer);
  const uint32_t num_gpus = pl.num_gpus();
  if (tokens_per_gpu.size() != num_gpus) {
    throw InputError(fmt::format("router: {} token counts for an EP group of {} GPUs",
                                 tokens_per_gpu.size(), num_gpus));
  }
  const RouterConfig& cfg = config_;
  const uint32_t n = cfg.n_routed_experts;
  const uint32_t padded = (n + 2) / 3 * 3;
  const uint32_t k = cfg.num_experts_per_tok;
  const bool biased = cfg.topk_method == TopkMethod::NoauxTc;
  const bool per_gpu_copies = traffic_.copies == DispatchCopies::PerGpu;
  const bool least_loaded = pl.replica_policy() == ReplicaPolicy::LeastLoaded;
  const LayerState& ls = layers_[layer];
  const float* bias = ls.bias.data();

  LayerRouting r;
  r.layer = layer;
  r.num_gpus = num_gpus;
  r.num_experts = n;
  r.k = k;
  r.dispatch_bytes_per_copy = traffic_.dispatch_bytes_per_token.count();
  r.combine_bytes_per_copy = traffic_.combine_bytes_per_token.count();
  r.expert_load.assign(n, 0);
  r.slot_load.assign(pl.num_slots(), 0);
  r.gpu_load.assign(num_gpus, 0);
  r.copies.assign(size_t{num_gpus} * num_gpus, 0);
  const uint32_t gpn = pl.gpus_per_node();
  const bool relays = count_relays_ && pl.num_nodes() > 1 && num_gpus % gpn == 0;
  if (relays) r.relay_copies.assign(size_t{num_gpus} * num_gpus, 0);
  r.token_begin.assign(num_gpus + 1, 0);
  for (uint32_t g = 0; g < num_gpus; ++g)
    r.token_begin[g + 1] = r.token_begin[g] + tokens_per_gpu[g];
  r.num_tokens = r.token_begin[num_gpus];
  if (keep_assignments) {
    r.experts.resize(r.num_tokens * k);
    r.expert_gpus.resize(r.num_tokens * k);
    r.weights.resize(r.num_tokens * k);
  }

  std::vector<int32_t> bits_buf(padded);
  std::vector<float> score_buf(padded), sel_buf(padded);
  int32_t* bits = bits_buf.data();
  float* score = score_buf.data();
  float* sel = biased ? sel_buf.data() : score;
  ExpertSelector selector(cfg, pl);
  const bool use_nodes = selector.node_limited();
  std::vector<uint32_t> round_robin(n, 0);
  std::array<uint32_t, kMaxK> top_id{};
  std::array<uint32_t, kMaxK> dst_gpu{};
  std::array<uint32_t, kMaxK> dst_node{};

  for (uint32_t src = 0; src < num_gpus; ++src) {
    for (uint32_t i = 0; i < tokens_per_gpu[src]; ++i) {
      const uint64_t token = r.token_begin[src] + i;
      score_token(ls, token_key(layer, src, i), bits, score);
      if (biased) {
        for (uint32_t e = 0; e < n; ++e)
          sel[e] = score[e] + bias[e];
      }
      r.node_limit_overflows += selector.select(sel, top_id.data()) ? 1 : 0;

      float weight_sum = 0;
      for (uint32_t j = 0; j < k; ++j)
        weight_sum += score[top_id[j]];
      const float weight_scale =
          static_cast<float>(cfg.routed_scaling_factor) / (cfg.norm_topk_prob ? weight_sum : 1.0f);

      uint32_t distinct_gpus = 0, distinct_nodes = 0;
      for (uint32_t j = 0; j < k; ++j) {
        const uint32_t e = top_id[j];
        const auto reps = pl.replicas(e);
        uint32_t slot = reps[0];
        if (reps.size() > 1) {
          // Only replicas on the token's nodes are eligible when node-limited.
          auto eligible = [&](uint32_t sl) {
            return !use_nodes || selector.node_chosen(pl.slot_node(sl));
          };
          if (least_loaded) {
            uint32_t best = UINT32_MAX;
            for (uint32_t sl : reps) {
              if (eligible(sl) && (best == UINT32_MAX || r.slot_load[sl] < r.slot_load[best])) {
                best = sl;
              }
            }
            slot = best;
          } else {
            const uint32_t m = static_cast<uint32_t>(reps.size());
            const uint32_t start = round_robin[e]++;
            for (uint32_t t = 0; t < m; ++t) {
              if (eligible(reps[(start + t) % m])) {
                slot = reps[(start + t) % m];
                break;
              }
            }
          }
        }
        const uint32_t gpu = pl.slot_gpu(slot);
        ++r.expert_load[e];
        ++r.slot_load[slot];
        ++r.gpu_load[gpu];
        bool new_gpu = std::find(dst_gpu.begin(), dst_gpu.begin() + distinct_gpus, gpu) ==
                       dst_gpu.begin() + distinct_gpus;
        if (new_gpu) {
          dst_gpu[distinct_gpus++] = gpu;
          const uint32_t node = pl.slot_node(slot);
          if (std::find(dst_node.begin(), dst_node.begin() + distinct_nodes, node) ==
              dst_node.begin() + distinct_nodes) {
            dst_node[distinct_nodes++] = node;
            // Once per node the token goes to: to the GPU there with its source's local index.
            if (relays && node != src / gpn) {
              ++r.relay_copies[size_t{src} * num_gpus + node * gpn + src % gpn];
            }
          }
        }
        if (new_gpu || !per_gpu_copies) ++r.copies[size_t{src} * num_gpus + gpu];
        if (keep_assignments) {
          r.experts[token * k + j] = static_cast<uint16_t>(e);
          r.expert_gpus[token * k + j] = gpu;
          r.weights[token * k + j] = score[e] * weight_scale;
        }
      }
      r.total_gpus_reached += distinct_gpus;
      r.total_nodes_reached += distinct_nodes;
    }
  }
  return r;
}

void MoeRouter::update_bias(uint32_t layer, std::span<const uint32_t> expert_load) {
  if (config_.topk_method != TopkMethod::NoauxTc || config_.bias_update_speed == 0) return;
  const uint32_t n = config_.n_routed_experts;
  if (expert_load.size() != n) throw InputError("router: expert load has the wrong size");
  const uint64_t total = std::accumulate(expert_load.begin(), expert_load.end(), uint64_t{0});
  const double mean = static_cast<double>(total) / n;
  const float step = static_cast<float>(config_.bias_update_speed);
  std::vector<float>& b = layers_[layer].bias;
  for (uint32_t e = 0; e < n; ++e) {
    const double load = expert_load[e];
    if (load < mean) {
      b[e] += step;
    } else if (load > mean) {
      b[e] -= step;
    }
  }
}

std::vector<LayerRouting> MoeRouter::route_step(std::span<const uint32_t> tokens_per_gpu,
                                                bool keep_assignments) {
  const std::vector<std::span<const uint32_t>> per_layer(layers_.size(), tokens_per_gpu);
  return route_step_layers(per_layer, keep_assignments);
}

std::vector<LayerRouting> MoeRouter::route_step_layers(
    std::span<const std::span<const uint32_t>> tokens_per_layer, bool keep_assignments) {
  const auto layers = static_cast<uint32_t>(layers_.size());
  if (tokens_per_layer.size() != layers) {
    throw InputError(fmt::format("router: token counts for {} layers, but it routes {}",
                                 tokens_per_layer.size(), layers));
  }
  for (uint32_t l = 0; l < layers; ++l) {
    // Checked up front so that a bad call leaves no layer half-updated.
    if (tokens_per_layer[l].size() != placement(l).num_gpus()) {
      throw InputError(fmt::format("router: {} token counts for an EP group of {} GPUs",
                                   tokens_per_layer[l].size(), placement(l).num_gpus()));
    }
  }
  std::vector<LayerRouting> out(layers);
  uint32_t workers = config_.threads ? config_.threads : std::thread::hardware_concurrency();
  workers = std::clamp(workers, 1U, layers);
  // Each layer's routing reads only its own bias, and each worker updates only the biases of the
  // layers it routed, so workers share nothing but the layer counter.
  std::atomic<uint32_t> next{0};
  std::vector<std::exception_ptr> errors(workers);
  auto work = [&](uint32_t worker) {
    try {
      for (uint32_t l = next++; l < layers; l = next++) {
        out[l] = route_layer(l, tokens_per_layer[l], keep_assignments);
        update_bias(l, out[l].expert_load);
      }
    } catch (...) {
      errors[worker] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> pool;
    for (uint32_t w = 1; w < workers; ++w)
      pool.emplace_back(work, w);
    work(0);
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  next_step();
  return out;
}

}  // namespace mlasim
