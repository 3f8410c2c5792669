// DeepSeekInference generator (see deepseek_inference.h).
#include "workloads/deepseek_inference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <utility>

#include "sim/errors.h"
#include "workloads/inference_report.h"
#include "workloads/layer_blocks.h"
#include "workloads/model_config.h"
#include "workloads/step_batches.h"
#include "workloads/trace.h"

namespace mlasim {

namespace {

// EPLB's load estimate when no warm-up step gives one: tokens routed per MoE layer.
constexpr uint64_t kEplbSampleTokens = 16384;

// Layer plan: which layers exist in the simulated step.
struct LayerPlan {
  std::string prefix;
  bool moe = false;
  bool mtp = false;
  uint32_t route = 0;  // router layer index (MoE layers)
  uint32_t chunk = 0;  // prefill chunk (forward pass)
  uint32_t layer = 0;  // as reports number it: MTP module d is the model's layer count + d
};

}  // namespace

Workload DeepSeekInference::generate(const ClusterShape& cluster) const {
  DeepSeekStep step = build(cluster);
  last_ = step;
  last_cluster_ = cluster;
  return std::move(step.workload);
}

WorkloadReport DeepSeekInference::report(const WorkloadRun& run) const {
  return inference_report(resolve_model(params_.model.name, params_.model_overrides), params_,
                          last_, run);
}

nlohmann::ordered_json DeepSeekInference::trace_metadata() const {
  return inference_trace_metadata(
      inference_facts(resolve_model(params_.model.name, params_.model_overrides), params_, last_));
}

DeepSeekStep DeepSeekInference::build(const ClusterShape& cluster) const {
  const auto& p = params_;
  const ModelConfig model = resolve_model(p.model.name, p.model_overrides);
  const uint32_t ranks = static_cast<uint32_t>(cluster.ranks());
  if (ranks == 0) throw InputError("deepseek_inference: the cluster has no GPUs");
  check_positions(p, model);
  const uint32_t ep = check_layout(p, model, cluster);
  const uint32_t ep_groups = ranks / ep;
  LayerShape s;
  s.m = &model;
  s.p = &p;
  s.tp = p.attention_tp;
  s.ranks = ranks;
  s.gpus_per_node = static_cast<uint32_t>(cluster.gpus_per_node);
  s.h = config_count(model.hidden_size);
  s.heads = config_count(model.num_attention_heads) / s.tp;

  const bool decode = p.phase == InferencePhase::Decode;
  const uint32_t depth = decode ? p.mtp.depth : 0;
  const uint32_t n_mb = p.dual_micro_batch ? 2 : 1;
  // Micro-batches: the main model's and the MTP modules' (one token per request).
  const StepMicroBatches smb = step_micro_batches(p, s.tp, n_mb);
  const std::vector<MicroBatch>&main_mb = smb.main, &mtp_mb = smb.mtp;
  // Forward passes (prefill: one per chunk, with each DP group's prompts; decode: one).
  const uint32_t groups = ranks / s.tp;
  const PrefillPasses passes =
      decode ? PrefillPasses{{main_mb}, {}, {}} : prefill_passes(p, main_mb, groups, s.tp);
  const std::vector<std::vector<MicroBatch>>& chunks = passes.shared;
  DeepSeekStep out;
  out.dp_groups = groups;
  const GroupContexts gc = group_contexts(p, main_mb, groups, s.tp, ep, depth, &passes);
  out.kv_cached_tokens_sum = gc.cached_sum;
  out.kv_cached_tokens_max = gc.cached_max;
  if (!decode) passes.describe(groups, out);
  // Rank `rank`'s micro-batches in pass c: its group's shapes (decode: its KV lengths).
  auto rank_pass = [&](uint32_t rank, size_t c) {
    return decode ? gc.apply(main_mb, rank / s.tp) : passes.pass(rank / s.tp, c);
  };

  if (static_cast<int64_t>(p.layers) > model.num_hidden_layers) {
    throw InputError(
        fmt::format("workload.layers: {} is more than the model's {} layers (0 "
                    "simulates them all)",
                    p.layers, model.num_hidden_layers));
  }
  const auto n_layers = static_cast<uint32_t>(p.layers == 0 ? model.num_hidden_layers : p.layers);
  // Chunked prefill repeats every layer once per pass: the step's op graph holds passes x layers
  // of them, bounded as a model's layers are (64 passes of DeepSeek-V3's 61 layers on 32 GPUs
  // took 600 MB; chunk_size 1 of 16K tokens per GPU ran out of memory).
  if (chunks.size() > 1 && chunks.size() * n_layers > static_cast<uint64_t>(kMaxModelLayers)) {
    throw InputError(
        fmt::format("workload.chunk_size: {} passes of {} layers make {} layers in the step, more "
                    "than {} (as a model's layers); take a larger chunk_size or fewer layers",
                    chunks.size(), n_layers, chunks.size() * n_layers, kMaxModelLayers));
  }
  std::vector<LayerPlan> plan;
  uint32_t routed = 0;
  for (uint32_t c = 0; c < chunks.size(); ++c) {
    const std::string chunk = chunks.size() > 1 ? fmt::format("c{}.", c) : "";
    uint32_t route = 0;  // every chunk passes through the same router layers
    for (uint32_t l = 0; l < n_layers; ++l) {
      const bool moe = model.is_moe() && l >= model.first_k_dense_replace;
      plan.push_back({fmt::format("{}L{}.", chunk, l), moe, false, moe ? route++ : 0, c, l});
    }
    routed = route;
  }
  for (uint32_t d = 0; d < depth; ++d) {
    plan.push_back({fmt::format("mtp{}.", d), model.is_moe(), true, model.is_moe() ? routed++ : 0,
                    0, static_cast<uint32_t>(model.num_hidden_layers) + d});
  }
  const LayerPlan* first_mtp = depth > 0 ? &plan[plan.size() - depth] : nullptr;
  out.warnings = unused_settings(p, model, routed, depth);
  if (auto w = node_limit_warning(p.router.max_nodes_per_token, routed, ep, s.gpus_per_node))
    out.warnings.push_back(*w);

  const uint64_t moe_inter = config_count(model.moe_intermediate_size);
  const uint64_t shared_inter = moe_inter * config_count(model.n_shared_experts);
  // Dedicated shared-expert hosts: the last `gpus` of each EP group; shared_host[g] is where
  // group GPU g sends its tokens for the shared expert (a host keeps its own).
  const bool dedicated = p.shared_expert.placement == SharedExpertPlacement::Dedicated &&
                         shared_inter > 0 && routed > 0;
  std::vector<uint32_t> shared_host(ep), shared_senders(ep, 0);
  if (dedicated) {
    if (p.shared_expert.gpus > ep) {
      throw InputError(
          fmt::format("workload.shared_expert.gpus: {} hosts do not fit an EP group of {} GPUs",
                      p.shared_expert.gpus, ep));
    }
    const uint32_t first = ep - p.shared_expert.gpus;
    for (uint32_t g = 0; g < ep; ++g) {
      shared_host[g] = g >= first ? g : first + g % p.shared_expert.gpus;
      ++shared_senders[shared_host[g]];
    }
  }
  // Routing: per micro-batch, every MoE layer of this step (router step advances between them,
  // and between prefill chunks).
  // [EP group][micro-batch][routed layer]
  // EP dispatch and combine cross nodes, and with DeepEP forwarding once per node.
  const bool cross_node = s.gpus_per_node > 0 && ep > s.gpus_per_node;
  const bool forwarding = cross_node && p.ep_comm.nvlink_forwarding;
  std::vector<std::vector<std::vector<LayerRouting>>> routing(
      ep_groups, std::vector<std::vector<LayerRouting>>(n_mb));
  std::optional<ExpertPlacement> placement;
  // Each EP group's placement per routed layer (one for all layers with the spread layout).
  std::vector<std::vector<ExpertPlacement>> layer_placements(ep_groups);
  MoeTrafficConfig traffic = p.moe_traffic;
  if (routed > 0) {
    const RouterConfig rc = router_config_for(model, p.router);
    ExpertPlacementParams pp = p.placement;
    pp.ep_size = ep;
    placement = ExpertPlacement::build(pp, rc.n_routed_experts, ep, std::min(s.gpus_per_node, ep));
    if (traffic.dispatch_bytes_per_token.count() == 0 && p.dtypes.dispatch != DType::FP8) {
      traffic.dispatch_bytes_per_token = Bytes(s.h * dtype_bytes(p.dtypes.dispatch));
    }
    if (traffic.combine_bytes_per_token.count() == 0 && p.dtypes.combine != DType::BF16) {
      traffic.combine_bytes_per_token = Bytes(s.h * dtype_bytes(p.dtypes.combine));
    }
    traffic = traffic.resolved(s.h);
    // One router per EP group, each with its own affinities (seed) and balancing biases.
    std::vector<MoeRouter> routers;
    for (uint32_t g = 0; g < ep_groups; ++g) {
      RouterConfig rg = rc;
      rg.seed = rc.seed + uint64_t{g} * 0x9E3779B97F4A7C15ull;
      routers.emplace_back(rg, std::vector<ExpertPlacement>{*placement}, routed, traffic);
    }
    // A step's layers are routed in parallel (router.threads); results do not depend on it.
    // Prefill chunks are router steps of their own, routed one layer after another.
    // `cap`: at most this many tokens per rank and layer (a sample).
    auto route_all = [&](MoeRouter& router, uint32_t mbi, uint64_t cap = UINT64_MAX) {
      if (chunks.size() == 1) {  // one router step: its layers are routed in parallel
        std::vector<std::vector<uint32_t>> tokens(routed);
        for (const LayerPlan& lp : plan) {
          if (!lp.moe) continue;
          const uint64_t tok =
              std::min(cap, lp.mtp ? mtp_mb[mbi].moe_tokens : chunks[0][mbi].moe_tokens);
          tokens[lp.route].assign(ep, static_cast<uint32_t>(tok));
        }
        const std::vector<std::span<const uint32_t>> per_layer(tokens.begin(), tokens.end());
        return router.route_step_layers(per_layer);
      }
      std::vector<LayerRouting> layers;
      size_t done = 0;  // layers whose biases are updated
      auto end_step = [&] {
        for (; done < layers.size(); ++done)
          router.update_bias(layers[done].layer, layers[done].expert_load);
        router.next_step();
      };
      for (size_t l = 0; l < plan.size(); ++l) {
        const LayerPlan& lp = plan[l];
        if (l > 0 && lp.chunk != plan[l - 1].chunk) end_step();  // the next prefill chunk
        if (!lp.moe) continue;
        const uint64_t tok =
            std::min(cap, lp.mtp ? mtp_mb[mbi].moe_tokens : chunks[lp.chunk][mbi].moe_tokens);
        const std::vector<uint32_t> tokens(ep, static_cast<uint32_t>(tok));
        layers.push_back(router.route_layer(lp.route, tokens));
      }
      end_step();
      return layers;
    };
    // The routing budget, checked before any routing: the step routes every micro-batch's
    // tokens, each warm-up step micro-batch 0's (as route_all does).
    // `cap`: at most this many tokens per rank and layer, as route_all takes it.
    auto routings = [&](uint32_t mbi, uint64_t cap = UINT64_MAX) {
      uint64_t n = 0;  // token routings: a token on a rank through one routed layer
      for (const LayerPlan& lp : plan) {
        if (lp.moe) {
          n += std::min(cap, lp.mtp ? mtp_mb[mbi].moe_tokens : chunks[lp.chunk][mbi].moe_tokens) *
               ranks;
        }
      }
      return n;
    };
    uint64_t step_routings = 0;
    for (uint32_t i = 0; i < n_mb; ++i)
      step_routings += routings(i);
    if (step_routings > kMaxTokenRoutings) {
      const bool dec = p.phase == InferencePhase::Decode;
      const uint64_t given = dec ? p.requests_per_gpu : p.tokens_per_gpu;
      throw InputError(fmt::format(
          "workload.{}: {} per GPU on {} GPUs make {} token routings in the step ({} routed "
          "layers), "
          "over the budget of {} (2^28, minutes of routing before the simulation starts); "
          "at most about {} fit this scenario",
          dec ? "requests_per_gpu" : "tokens_per_gpu", given, ranks, step_routings, routed,
          kMaxTokenRoutings,
          static_cast<uint64_t>(static_cast<double>(given) *
                                static_cast<double>(kMaxTokenRoutings) /
                                static_cast<double>(step_routings))));
    }
    // EPLB places each layer's redundant slots from the loads of a step before the measured
    // one: the last warm-up step, or one routed for it (a warm-up step of its own).
    const bool eplb = pp.layout != ReplicaLayout::Spread && pp.redundant_experts > 0;
    const uint32_t warmup = std::max(p.router_warmup_steps, eplb ? 1U : 0U);
    // Without warm-up steps, EPLB's history step routes a sample: kEplbSampleTokens tokens per
    // layer, spread over the group's ranks (a few hundred per expert, enough to rank them).
    const uint64_t sample =
        p.router_warmup_steps > 0 ? UINT64_MAX : std::max<uint64_t>(1, kEplbSampleTokens / ep);
    if (warmup > 0) {
      const uint64_t per_step = routings(0, sample);  // one warm-up step's
      const uint64_t left = kMaxTokenRoutings - step_routings;
      if (per_step > 0 && warmup > left / per_step && p.router_warmup_steps == 0) {
        throw InputError(fmt::format(
            "workload.placement.layout: EPLB's history step (a sample of {} token routings), "
            "with the step's {}, exceeds the routing budget of {} (2^28) token routings; "
            "serve fewer tokens per GPU, or place replicas without it (layout: spread)",
            per_step, step_routings, kMaxTokenRoutings));
      }
      if (per_step > 0 && warmup > left / per_step) {
        throw InputError(fmt::format(
            "workload.router_warmup_steps: {} steps of {} token routings each (EPLB's history "
            "step included), with the step's {}, exceed the routing budget of {} (2^28) token "
            "routings; at most {} steps fit this step",
            warmup, per_step, step_routings, kMaxTokenRoutings, left / per_step));
      }
    }
    for (uint32_t g = 0; g < ep_groups; ++g) {
      std::vector<LayerRouting> history;
      for (uint32_t w = 0; w < warmup; ++w)
        history = route_all(routers[g], 0, sample);
      if (!eplb) {
        layer_placements[g] = {*placement};
        continue;
      }
      std::vector<std::vector<double>> load(routed, std::vector<double>(rc.n_routed_experts, 0));
      for (const LayerRouting& r : history) {  // a layer per prefill chunk sums up
        for (uint32_t e = 0; e < rc.n_routed_experts; ++e)
          load[r.layer][e] += r.expert_load[e];
      }
      for (uint32_t l = 0; l < routed; ++l) {
        layer_placements[g].push_back(ExpertPlacement::build(pp, rc.n_routed_experts, ep,
                                                             std::min(s.gpus_per_node, ep), load[l],
                                                             pp.layout == ReplicaLayout::Eplb));
      }
      routers[g].set_placements(layer_placements[g]);
    }
    for (uint32_t g = 0; g < ep_groups; ++g) {
      // DeepEP forwarding sends each token once per node: the measured step counts those
      // copies (not the warm-up steps, which need only the loads).
      routers[g].set_count_relays(forwarding);
      for (uint32_t i = 0; i < n_mb; ++i) {
        routing[g][i] = route_all(routers[g], i);
      }
    }
    std::vector<uint32_t> numbers(routed, 0);
    for (const LayerPlan& lp : plan) {
      if (lp.moe) numbers[lp.route] = lp.layer;
    }
    std::vector<const LayerRouting*> all;
    for (const auto& group : routing)
      for (const auto& layers : group)
        for (const LayerRouting& r : layers)
          all.push_back(&r);
    out.imbalance = summarize_imbalance(all, std::move(numbers));
  }
  const DType gt = p.dtypes.gemm;

  // One shared matrix of token copies per routed layer and micro-batch, for every rank's
  // dispatch (its rows) and combine (its columns, the copies coming back); the routers' dense
  // copies are dropped once it is built. With several EP groups it is block diagonal.
  // Dedicated shared experts: each token is one more copy, to its GPU's host.
  if (dedicated) {
    for (uint32_t i = 0; i < n_mb; ++i) {
      uint32_t l = 0;
      for (const LayerPlan& lp : plan) {
        if (!lp.moe) continue;
        const uint64_t tok = lp.mtp ? mtp_mb[i].moe_tokens : chunks[lp.chunk][i].moe_tokens;
        for (auto& group : routing) {
          std::vector<uint32_t>& c = group[i][l].copies;
          std::vector<uint32_t>& rc = group[i][l].relay_copies;
          const uint32_t g = s.gpus_per_node;
          for (uint32_t src = 0; src < ep; ++src) {
            const uint32_t host = shared_host[src];
            c[size_t{src} * ep + host] += static_cast<uint32_t>(tok);
            // Every token goes to the host's node: once each, whatever its routed experts.
            if (!rc.empty() && host / g != src / g)
              rc[size_t{src} * ep + host / g * g + src % g] = static_cast<uint32_t>(tok);
          }
        }
        ++l;
      }
    }
  }
  // With forwarding, the node-level copies likewise (dispatch's rows, combine's sums).
  std::vector<std::vector<std::shared_ptr<const A2AMatrix>>> copies_matrix(n_mb),
      relay_matrix(n_mb);
  for (uint32_t i = 0; i < n_mb && routed > 0; ++i) {
    for (size_t l = 0; l < routing[0][i].size(); ++l) {
      std::vector<std::span<const uint32_t>> blocks, relay_blocks;
      for (const auto& group : routing) {
        blocks.emplace_back(group[i][l].copies);
        relay_blocks.emplace_back(group[i][l].relay_copies);
      }
      copies_matrix[i].push_back(A2AMatrix::from_dense_blocks(ranks, blocks));
      relay_matrix[i].push_back(forwarding ? A2AMatrix::from_dense_blocks(ranks, relay_blocks)
                                           : nullptr);
      for (auto& group : routing) {
        std::vector<uint32_t>().swap(group[i][l].copies);
        std::vector<uint32_t>().swap(group[i][l].relay_copies);
      }
    }
  }
  out.workload.ranks.resize(ranks);
  // By rank: ops over the whole step's tokens (LM heads, their TP all-gathers), held once.
  std::vector<std::vector<uint32_t>> whole_step(ranks);
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    RankBuilder b(out.workload.ranks[rank]);
    int32_t tag = 1;
    auto head = [&](uint64_t n, std::vector<uint32_t> in, const std::string& name, int32_t& t) {
      const uint32_t h = lm_head(b, s, n, std::move(in), name, rank, t);
      whole_step[rank].push_back(h);
      if (s.tp > 1) whole_step[rank].push_back(out.workload.ranks[rank].ops[h].deps.front());
      return h;
    };
    std::vector<uint32_t> x(n_mb);  // last op of each micro-batch's data flow
    // The embedding of a forward pass (prefill: of each chunk).
    auto embed = [&](uint32_t chunk) {
      const std::string pre = chunks.size() > 1 ? fmt::format("c{}.", chunk) : "";
      for (uint32_t i = 0; i < n_mb; ++i) {
        x[i] = embedding(b, s, chunks[chunk][i].moe_tokens, fmt::format("{}mb{}.embedding", pre, i),
                         static_cast<int32_t>(i), rank, tag);
      }
    };
    embed(0);
    std::vector<std::vector<MicroBatch>> rank_chunks;
    for (size_t c = 0; c < chunks.size(); ++c)
      rank_chunks.push_back(rank_pass(rank, c));
    const std::vector<MicroBatch> rank_mtp = depth > 0 ? gc.apply(mtp_mb, rank / s.tp) : mtp_mb;
    std::vector<uint32_t> main_out(n_mb);
    // Decode's LM heads: the main one over every micro-batch's tokens (its weight read once),
    // and with MTP each module's draft head over that module's tokens.
    uint64_t main_tokens = 0, module_tokens = 0;
    for (uint32_t i = 0; i < n_mb; ++i) {
      main_tokens += main_mb[i].moe_tokens;
      module_tokens += mtp_mb[i].moe_tokens;
    }
    uint32_t token = 0;  // the LM head whose sampled token the next MTP module embeds
    auto mtp_head_name = [](std::ptrdiff_t d) {
      return d == 0 ? std::string("mtp.lm_head") : fmt::format("mtp.lm_head{}", d);
    };
    // Prefill: after each pass, the LM head over the last tokens of the prompts it completed
    // (with TP, the group's prompts shared over its ranks), so each prompt's first token comes
    // out with its last chunk.
    auto prompt_heads = [&](uint32_t c) {
      uint64_t done = 0;  // the group's prompts completed in the pass, every micro-batch's
      for (const MicroBatch& mb : rank_chunks[c])
        done += mb.prompts_done;
      const uint64_t rows = (done + s.tp - 1) / s.tp;
      const std::string name = chunks.size() > 1 ? fmt::format("c{}.lm_head", c) : "lm_head";
      // Every rank spends the same tags whether its group completes prompts in this pass or not.
      int32_t head_tag = tag;
      if (rows > 0) head(rows, x, name, head_tag);
      tag += s.tp > 1 ? 1 : 0;
    };
    uint32_t moe_index = 0;
    // The last micro-batch's residual add is emitted after the next layer's first micro-batch
    // has started its attention, so that its combine overlaps that compute.
    std::vector<std::function<void()>> pending(n_mb);
    auto flush = [&](uint32_t i) {
      if (pending[i]) std::exchange(pending[i], nullptr)();
    };
    for (const LayerPlan& lp : plan) {
      const std::vector<MicroBatch>& mbs = lp.mtp ? rank_mtp : rank_chunks[lp.chunk];
      if (lp.mtp) {
        // A draft needs the token before it: MTP module 0 the main model's (its LM head), module
        // d the draft of module d - 1 (that module's LM head, over its tokens).
        for (uint32_t i = 0; i < n_mb; ++i)
          flush(i);
        if (&lp == first_mtp) {
          main_out = x;
          token = head(main_tokens, main_out, "lm_head", tag);
        } else {
          token = head(module_tokens, x, mtp_head_name(&lp - first_mtp - 1), tag);
        }
      }
      if (&lp != &plan[0] && lp.chunk != (&lp)[-1].chunk) {  // the next prefill chunk's pass
        for (uint32_t i = 0; i < n_mb; ++i)
          flush(i);
        prompt_heads(lp.chunk - 1);
        embed(lp.chunk);
      }
      std::vector<uint32_t> gate(n_mb), shared(n_mb), dispatch(n_mb), y(n_mb);
      auto pre_of = [&](uint32_t i) { return fmt::format("{}mb{}.", lp.prefix, i); };
      auto attention = [&](uint32_t i, BlockPart part) {
        attention_part(b, s, mbs[i], static_cast<int32_t>(i), rank, part, y[i], pre_of(i), tag);
      };
      auto mlp = [&](uint32_t i, BlockPart part) {
        dense_mlp_part(b, s, mbs[i].moe_tokens, static_cast<int32_t>(i), part, y[i], pre_of(i),
                       rank, tag);
      };
      // Micro-batch i's dispatch, or its combine (summed at the relays with DeepEP forwarding).
      auto ep_all_to_all = [&](uint32_t i, bool combine) {
        const LayerRouting& r = routing[rank / ep][i][moe_index];
        AllToAllOp a;
        a.matrix = copies_matrix[i][moe_index];
        a.rank = static_cast<int32_t>(rank);
        a.transposed = combine;
        a.unit_bytes = combine ? r.combine_bytes_per_copy : r.dispatch_bytes_per_copy;
        a.tag = tag++;
        a.gpus_per_node = cross_node ? s.gpus_per_node : 0;
        a.nvlink_forwarding = forwarding;
        a.relay = relay_matrix[i][moe_index];
        a.reduce = combine && forwarding;
        a.issuer = p.ep_comm.issuer;
        a.vl = static_cast<uint8_t>(combine ? p.ep_comm.combine_vl : p.ep_comm.dispatch_vl);
        return a;
      };
      // The gate, the dispatch and the shared expert after micro-batch i's attention.
      auto moe_entry = [&](uint32_t i) {
        const int32_t mbi = static_cast<int32_t>(i);
        const std::string pre = pre_of(i);
        const uint64_t t = mbs[i].moe_tokens;
        gate[i] = b.compute(pre + "gate",
                            gemm_op(t, config_count(model.n_routed_experts), s.h, p.dtypes.gate),
                            {y[i]}, mbi);
        dispatch[i] = b.comm(pre + "dispatch", ep_all_to_all(i, false), {gate[i]}, mbi);
        shared[i] = y[i];
        if (shared_inter > 0 && !dedicated) {
          uint32_t su =
              b.compute(pre + "shared_gate_up", gemm_op(t, 2 * shared_inter, s.h, gt), {y[i]}, mbi);
          shared[i] = b.compute(pre + "shared_down", gemm_op(t, s.h, shared_inter, gt), {su}, mbi);
        }
      };
      // Stage j of micro-batch i, split where the TP collectives are.
      const uint32_t stages = lp.moe ? 3 : 5;
      auto stage = [&](uint32_t i, uint32_t j) {
        switch (j) {
          case 0:  // the layer's input (through eh_proj in MTP), its norm and all-gather
            flush(i);
            y[i] = x[i];
            if (lp.mtp) {
              y[i] = b.compute(pre_of(i) + "eh_proj", gemm_op(mbs[i].moe_tokens, s.h, 2 * s.h, gt),
                               {x[i], token}, static_cast<int32_t>(i));
            }
            return attention(i, BlockPart::Pre);
          case 1:
            return attention(i, BlockPart::Core);
          case 2:
            attention(i, BlockPart::Post);
            return lp.moe ? moe_entry(i) : mlp(i, BlockPart::Pre);
          case 3:
            return mlp(i, BlockPart::Core);
          default:
            mlp(i, BlockPart::Post);
            x[i] = y[i];
        }
      };
      // Stage A: attention, then the gate, dispatch and shared expert (MoE) or the dense MLP.
      // With TP and two micro-batches the second runs a stage behind the first, so that each
      // one's TP collectives run beside the other's compute; otherwise each micro-batch's stages
      // in turn.
      if (s.tp > 1 && n_mb > 1) {
        for (uint32_t step = 0; step + 1 < stages + n_mb; ++step)
          for (uint32_t i = 0; i < n_mb; ++i)
            if (step >= i && step - i < stages) stage(i, step - i);
      } else {
        for (uint32_t i = 0; i < n_mb; ++i)
          for (uint32_t j = 0; j < stages; ++j)
            stage(i, j);
      }
      if (!lp.moe) continue;
      // Stage B: routed experts and combine of every micro-batch, then the residual adds: one
      // micro-batch's combine overlaps the next one's experts.
      std::vector<uint32_t> comb(n_mb);
      for (uint32_t i = 0; i < n_mb; ++i) {
        const int32_t mbi = static_cast<int32_t>(i);
        const std::string pre = pre_of(i);
        const LayerRouting& r = routing[rank / ep][i][moe_index];
        const auto& placed = layer_placements[rank / ep];
        std::vector<uint64_t> m;
        for (uint32_t slot : placed[placed.size() == 1 ? 0 : r.layer].slots_of_gpu(rank % ep))
          m.push_back(r.slot_load[slot]);
        const GroupedLayout layout = decode ? GroupedLayout::Masked : GroupedLayout::Contiguous;
        const uint64_t rows = std::accumulate(m.begin(), m.end(), uint64_t{0});
        GroupedGemmOp up{m, 2 * moe_inter, s.h, gt, layout, 0};
        uint32_t e = b.compute(pre + "experts_gate_up", up, {dispatch[i]}, mbi);
        e = b.compute(pre + "experts_act",
                      elementwise_op(ElementwiseFunction::Elementwise, rows * 2 * moe_inter * 2,
                                     rows * moe_inter * 2, 5.0 * rows * moe_inter),
                      {e}, mbi);
        GroupedGemmOp down{std::move(m), s.h, moe_inter, gt, layout, 0};
        e = b.compute(pre + "experts_down", down, {e}, mbi);
        std::vector<uint32_t> done{e};
        if (const uint64_t st = shared_senders[rank % ep] * mbs[i].moe_tokens; dedicated && st) {
          // A host's shared expert over the tokens its group's GPUs sent it.
          uint32_t su = b.compute(pre + "shared_gate_up", gemm_op(st, 2 * shared_inter, s.h, gt),
                                  {dispatch[i]}, mbi);
          done.push_back(
              b.compute(pre + "shared_down", gemm_op(st, s.h, shared_inter, gt), {su}, mbi));
        }
        comb[i] = b.comm(pre + "combine", ep_all_to_all(i, true), std::move(done), mbi);
      }
      for (uint32_t i = 0; i < n_mb; ++i) {
        const uint64_t t = mbs[i].moe_tokens;
        const uint32_t deps[2] = {comb[i], shared[i]};
        pending[i] = [&b, &x, i, t, deps, pre = pre_of(i), h = s.h] {
          x[i] = b.compute(pre + "residual",
                           elementwise_op(ElementwiseFunction::Elementwise, 3 * t * h * 2,
                                          t * h * 2, 2.0 * t * h),
                           {deps[0], deps[1]}, static_cast<int32_t>(i));
        };
        if (n_mb == 1 || i + 1 < n_mb) flush(i);
      }
      ++moe_index;
    }
    for (uint32_t i = 0; i < n_mb; ++i)
      flush(i);
    if (depth == 0) main_out = x;
    if (!decode) {
      prompt_heads(static_cast<uint32_t>(chunks.size() - 1));
      continue;
    }
    // The main LM head (with MTP, emitted before module 0) and the last module's draft head.
    if (depth == 0) {
      head(main_tokens, main_out, "lm_head", tag);
    } else {
      head(module_tokens, x, mtp_head_name(depth - 1), tag);
    }
  }
  for (const MicroBatch& mb : main_mb)
    out.tokens_per_step_per_gpu += mb.moe_tokens;
  double accepted = 1, a = 1;
  for (uint32_t d = 0; d < depth; ++d)
    accepted += (a *= p.mtp.acceptance_rate);
  out.mtp_accepted_tokens_per_step = accepted;
  out.micro_batches = n_mb;
  out.model_layers = static_cast<uint32_t>(model.num_hidden_layers);
  for (uint32_t rank = 0; rank < ranks; ++rank) {
    const std::vector<Op>& ops = out.workload.ranks[rank].ops;
    std::vector<uint32_t> copies(ops.size(), n_mb);
    for (uint32_t i : whole_step[rank])
      copies[i] = 1;
    for (size_t i = 0; i < ops.size(); ++i)
      out.activation_bytes_per_gpu =
          std::max(out.activation_bytes_per_gpu, op_activation_bytes(ops[i].payload) * copies[i]);
  }
  if (placement) out.max_slots_per_gpu = placement->slots_per_gpu();
  // Weight and KV sizes that do not fit 64 bits are an input error before the run, not after.
  (void)inference_memory(model, p, out);
  return out;
}

}  // namespace mlasim
