// DeepSeekInference's input checks (see deepseek_inference.h): the params' own validation,
// the context against the model's positions, and the settings a step does not read.
#include <fmt/format.h>

#include "sim/errors.h"
#include "workloads/deepseek_inference.h"

namespace mlasim {

void DeepSeekInferenceParams::validate(const ParamCheck& c) const {
  c.require(!model.name.empty(), "model", "must name a model");
  c.require(phase != InferencePhase::Decode ||
                (requests_per_gpu > 0 && requests_per_gpu <= kMaxRequestsPerGpu),
            "requests_per_gpu", "must be in [1, 1048576] (2^20)");
  c.require(phase != InferencePhase::Prefill ||
                (tokens_per_gpu > 0 && tokens_per_gpu <= kMaxTokensPerGpu),
            "tokens_per_gpu", "must be in [1, 16777216] (2^24)");
  c.require(context_length > 0 && context_length <= kMaxContextTokens, "context_length",
            "must be in [1, 4294967296] (2^32 tokens)");
  c.require(attention_tp >= 1, "attention_tp", "must be >= 1");
  c.require(router_warmup_steps <= kMaxRouterWarmupSteps, "router_warmup_steps",
            fmt::format("must be at most {}", kMaxRouterWarmupSteps));
  // Each drafted token adds an MTP module, a layer of the step's op graph.
  c.require(mtp.depth <= kMaxModelLayers, "mtp.depth",
            fmt::format("must be at most {} (as a model's layers)", kMaxModelLayers));
  c.require(mtp.acceptance_rate >= 0 && mtp.acceptance_rate <= 1, "mtp.acceptance_rate",
            "must be in [0, 1]");
  c.require(phase == InferencePhase::Decode || mtp.depth == 0, "mtp.depth",
            "MTP verification is modelled for decode only");
  c.require(phase == InferencePhase::Prefill || chunk_size == 0, "chunk_size",
            "chunked prefill applies to the prefill phase");
  // A pass's tokens go through the MLP split over the TP group's ranks (sequence parallel).
  c.require(attention_tp == 0 || chunk_size % attention_tp == 0, "chunk_size",
            fmt::format("must be a multiple of attention_tp ({}), so that each pass's tokens split "
                        "evenly over the TP group's ranks",
                        attention_tp));
  // Settings this phase or this generator does not read would be silently ignored. Compared
  // with the defaults rather than with the keys a file names, so that a resolved config (every
  // key listed) still loads.
  const DeepSeekInferenceParams defaults;
  c.require(phase == InferencePhase::Prefill || tokens_per_gpu == defaults.tokens_per_gpu,
            "tokens_per_gpu", "applies to the prefill phase (decode takes requests_per_gpu)");
  c.require(phase == InferencePhase::Decode || requests_per_gpu == defaults.requests_per_gpu,
            "requests_per_gpu", "applies to the decode phase (prefill takes tokens_per_gpu)");
  c.require(phase == InferencePhase::Prefill || carry_over == defaults.carry_over, "carry_over",
            "applies to the prefill phase (a decode step's requests are all under way)");
  c.require(phase == InferencePhase::Decode || dp_balance == defaults.dp_balance, "dp_balance",
            "applies to the decode phase (prefill deals each DP group its own prompts: with "
            "equal tokens per GPU, dealing them again leaves the long prompts' attention where "
            "it is)");
  for (const auto& [key, vl] : {std::pair{"ep_comm.dispatch_vl", ep_comm.dispatch_vl},
                                std::pair{"ep_comm.combine_vl", ep_comm.combine_vl}}) {
    c.require(vl <= kMaxVl, key, kVlRange);
  }
  // Forwarding deduplicates per node as DeepEP's normal kernels do; its low-latency kernels
  // (one copy per expert) send every copy straight to its GPU.
  c.require(!ep_comm.nvlink_forwarding || moe_traffic.copies == DispatchCopies::PerGpu,
            "ep_comm.nvlink_forwarding",
            "forwards per-GPU copies (moe_traffic.copies: per_gpu, DeepEP's normal kernels); "
            "per_expert copies are its low-latency kernels, which do not forward over NVLink");
  c.require(shared_expert.placement == SharedExpertPlacement::Local || shared_expert.gpus >= 1,
            "shared_expert.gpus", "must be >= 1 for placement: dedicated");
  router.validate(c);
}

uint32_t check_layout(const DeepSeekInferenceParams& p, const ModelConfig& model,
                      const ClusterShape& cluster) {
  const auto ranks = static_cast<uint32_t>(cluster.ranks());
  if (ranks % p.attention_tp != 0 || model.num_attention_heads % p.attention_tp != 0) {
    throw InputError(
        fmt::format("workload.attention_tp: {} must divide the GPU count ({}) and the heads ({})",
                    p.attention_tp, ranks, model.num_attention_heads));
  }
  // Each GPU holds whole K/V heads (tp divides them) or one replicated head (they divide tp);
  // otherwise its share would be a fraction of a head and its query heads no whole groups.
  if (const int64_t kv = model.num_key_value_heads;
      !model.is_mla() && kv > 0 && kv % p.attention_tp != 0 && p.attention_tp % kv != 0) {
    throw InputError(fmt::format(
        "workload.attention_tp: {} must divide the model's K/V heads ({}) or be a multiple of "
        "them (each GPU holds whole K/V heads, or one of them replicated)",
        p.attention_tp, kv));
  }
  if (p.attention == AttentionVariant::Mha && !model.is_mla()) {
    throw InputError(fmt::format(
        "workload.attention: mha replaces MLA by MHA, but model '{}' has no MLA (its attention "
        "is already MHA/GQA); use attention: model",
        model.name));
  }
  // Expert-parallel groups: ranks / ep of them, each holding every expert and routing its own
  // GPUs' tokens among its own GPUs (their all-to-alls never leave the group). A group is whole
  // nodes or a part of one, so that its GPUs' node ids are the cluster's.
  const uint32_t ep = p.ep_size == 0 ? ranks : p.ep_size;
  const auto gpn = static_cast<uint32_t>(cluster.gpus_per_node);
  if (ranks % ep != 0 || (gpn > 0 && ep % gpn != 0 && gpn % ep != 0)) {
    throw InputError(fmt::format(
        "workload.ep_size: {} must divide the GPU count ({}) and be a multiple or a divisor of "
        "the GPUs per node ({}): each EP group is whole nodes or a part of one",
        p.ep_size, ranks, gpn));
  }
  return ep;
}

// Rejects a context the model cannot hold, as `mlasim kernels` does: the KV a request reaches
// (decode: its cached tokens plus the 1 + MTP depth tokens the step adds) must be within the
// model's max_position_embeddings. Checked on the values the user set (context_length, the
// distribution's max), not on the draws.
void check_positions(const DeepSeekInferenceParams& p, const ModelConfig& m) {
  const uint64_t added = p.phase == InferencePhase::Decode ? 1 + uint64_t{p.mtp.depth} : 0;
  const auto limit = static_cast<uint64_t>(m.max_position_embeddings);
  auto check = [&](std::string_view key, uint64_t context) {
    if (context + added <= limit) return;
    throw InputError(fmt::format(
        "workload.{}: {} tokens{} exceed {}'s max_position_embeddings {}", key, context + added,
        added > 0 ? fmt::format(" ({} cached + {} computed by the step)", context, added) : "",
        m.name, limit));
  };
  // Uniform draws take [min, max] and ignore context_length.
  if (p.context_distribution.type != ContextDistribution::Uniform)
    check("context_length", p.context_length);
  if (p.context_distribution.max > 0) check("context_distribution.max", p.context_distribution.max);
}

// Settings that are legal but that this step does not read. Warned about rather than refused:
// a sweep may cross them with values that make them moot (MTP acceptance at depth 0, router
// settings over dense and MoE models). Only values other than the defaults count, so that a
// resolved config (every key written out) says nothing.
std::optional<std::string> node_limit_warning(uint32_t max_nodes, uint32_t routed_layers,
                                              uint32_t ep, uint32_t gpus_per_node) {
  const uint32_t ep_nodes = gpus_per_node > 0 ? (ep + gpus_per_node - 1) / gpus_per_node : 1;
  if (routed_layers == 0 || max_nodes == 0 || max_nodes < ep_nodes) return std::nullopt;
  return fmt::format(
      "workload.router.max_nodes_per_token {} limits nothing: the EP group of {} GPUs spans {} "
      "node{} (0 switches the limit off)",
      max_nodes, ep, ep_nodes, ep_nodes == 1 ? "" : "s");
}

std::vector<std::string> unused_settings(const DeepSeekInferenceParams& p, const ModelConfig& m,
                                         uint32_t routed_layers, uint32_t mtp_depth) {
  const DeepSeekInferenceParams defaults;
  std::vector<std::string> out;
  auto unused = [&](std::string_view key, std::string_view why) {
    out.push_back(fmt::format("workload.{} is not used: {}", key, why));
  };
  auto unused_group = [&](std::string_view group, const std::vector<std::string>& keys,
                          std::string_view why) {
    for (const std::string& k : keys)
      unused(fmt::format("{}.{}", group, k), why);
  };
  if (routed_layers == 0) {
    const std::string why =
        m.is_moe() ? fmt::format(
                         "the simulated layers include no MoE layer ({}'s first {} are "
                         "dense)",
                         m.name, m.first_k_dense_replace)
                   : fmt::format("{} has no routed experts", m.name);
    unused_group("router", changed_params(p.router), why);
    unused_group("placement", changed_params(p.placement), why);
    unused_group("moe_traffic", changed_params(p.moe_traffic), why);
    unused_group("ep_comm", changed_params(p.ep_comm), why);
    unused_group("shared_expert", changed_params(p.shared_expert), why);
    if (p.dtypes.dispatch != defaults.dtypes.dispatch) unused("dtypes.dispatch", why);
    if (p.dtypes.combine != defaults.dtypes.combine) unused("dtypes.combine", why);
    if (p.dtypes.gate != defaults.dtypes.gate) unused("dtypes.gate", why);
    if (p.router_warmup_steps != defaults.router_warmup_steps) unused("router_warmup_steps", why);
  } else {
    if (m.topk_method != "noaux_tc" &&
        p.router.bias_update_speed != defaults.router.bias_update_speed) {
      unused("router.bias_update_speed",
             fmt::format("{}'s gate ({}) keeps no aux-loss-free bias", m.name, m.topk_method));
    } else if (m.topk_method != "noaux_tc" &&
               p.router_warmup_steps != defaults.router_warmup_steps) {
      unused("router_warmup_steps",
             fmt::format("{}'s gate ({}) keeps no aux-loss-free bias for warm-up steps to "
                         "balance (they only vary the tokens routed)",
                         m.name, m.topk_method));
    } else if (m.topk_method == "noaux_tc" &&
               p.router.bias_update_speed != defaults.router.bias_update_speed &&
               p.router_warmup_steps == 0) {
      out.push_back(fmt::format(
          "workload.router.bias_update_speed {} acts between steps, and the step has no "
          "router_warmup_steps before it (at most the one EPLB routes): set "
          "workload.router_warmup_steps for the biases to balance the load",
          p.router.bias_update_speed));
    }
    if (p.moe_traffic.dispatch_bytes_per_token.count() > 0 &&
        p.dtypes.dispatch != defaults.dtypes.dispatch) {
      unused("dtypes.dispatch", "moe_traffic.dispatch_bytes_per_token sets the payload");
    }
    if (p.moe_traffic.combine_bytes_per_token.count() > 0 &&
        p.dtypes.combine != defaults.dtypes.combine) {
      unused("dtypes.combine", "moe_traffic.combine_bytes_per_token sets the payload");
    }
  }
  if (p.shared_expert.placement == SharedExpertPlacement::Local &&
      p.shared_expert.gpus != defaults.shared_expert.gpus) {
    unused("shared_expert.gpus", "the shared expert runs on every GPU (placement: local)");
  } else if (routed_layers > 0 && m.n_shared_experts == 0 &&
             p.shared_expert.placement != defaults.shared_expert.placement) {
    unused("shared_expert.placement", fmt::format("{} has no shared expert", m.name));
  }
  // The absorbed W_UK/W_UV GEMMs exist in MLA decode only.
  if (p.dtypes.absorb != defaults.dtypes.absorb) {
    if (!m.is_mla() || p.attention != AttentionVariant::Model) {
      unused("dtypes.absorb", "the step's attention is not MLA (no absorbed W_UK/W_UV GEMMs)");
    } else if (p.phase != InferencePhase::Decode) {
      unused("dtypes.absorb", "prefill up-projects the latent instead of absorbing W_UK/W_UV");
    }
  }
  if (p.dp_balance != defaults.dp_balance &&
      p.context_distribution.type == ContextDistribution::Fixed) {
    unused("dp_balance",
           "every request has context_length (context_distribution.type: fixed): there is "
           "nothing to even out");
  }
  if (mtp_depth == 0 && p.mtp.acceptance_rate != defaults.mtp.acceptance_rate)
    unused("mtp.acceptance_rate", "mtp.depth is 0 (no drafted tokens)");
  return out;
}

}  // namespace mlasim
