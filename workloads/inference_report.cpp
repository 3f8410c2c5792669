// Inference run report (see inference_report.h).
#include "workloads/inference_report.h"
#include "workloads/routing_loads.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <utility>

#include "sim/errors.h"

namespace mlasim {

namespace {

// Parses a leading decimal number; false when there is none. One of more than 18 digits
// (leading zeros apart) reads as UINT64_MAX, beyond any count (no overflow).
bool leading_number(std::string_view& s, uint64_t& out) {
  size_t i = 0;
  uint64_t v = 0;
  int digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    digits += (digits > 0 || s[i] != '0') ? 1 : 0;
    v = digits > 18 ? UINT64_MAX : v * 10 + static_cast<uint64_t>(s[i] - '0');
    ++i;
  }
  if (i == 0) return false;
  out = v;
  s.remove_prefix(i);
  return true;
}

OpPart part_of(std::string_view op) {
  static const std::set<std::string_view> attention{
      "attn_norm",   "q_a_proj",  "q_b_proj",         "q_proj",    "kv_a_proj",
      "w_uk_absorb", "attention", "w_uv_absorb",      "kv_b_proj", "k_rope_copy",
      "qkv_proj",    "o_proj",    "residual_mlp_norm"};
  static const std::set<std::string_view> experts{
      "shared_gate_up", "shared_down", "experts_gate_up", "experts_act",
      "experts_down",   "mlp_gate_up", "mlp_act",         "mlp_down"};
  static const std::set<std::string_view> comm{"attn_all_gather", "attn_reduce_scatter",
                                               "mlp_all_gather", "mlp_reduce_scatter",
                                               "embedding_reduce_scatter"};
  if (attention.count(op)) return OpPart::Attention;
  if (experts.count(op)) return OpPart::Experts;
  if (op == "gate") return OpPart::Gate;
  if (op == "dispatch") return OpPart::Dispatch;
  if (op == "combine") return OpPart::Combine;
  // (The embedding's reduce-scatter and the LM heads' all-gathers belong to no layer:
  // "mb0.embedding_reduce_scatter", "lm_head_all_gather", "mtp.lm_head1_...".)
  if (comm.count(op) ||
      (op.find("lm_head") != std::string_view::npos && op.ends_with("_all_gather"))) {
    return OpPart::TpComm;
  }
  return OpPart::Other;
}

int64_t& slot(PartTimes& t, OpPart part) {
  switch (part) {
    case OpPart::Attention:
      return t.attention;
    case OpPart::Gate:
      return t.gate;
    case OpPart::Dispatch:
      return t.dispatch;
    case OpPart::Experts:
      return t.experts;
    case OpPart::Combine:
      return t.combine;
    case OpPart::TpComm:
      return t.tp_comm;
    case OpPart::Other:
      break;
  }
  return t.other_compute;
}

}  // namespace

bool named_layer(std::string_view name, uint64_t& n, bool& mtp) {
  std::string_view s = name;
  if (s.starts_with("c")) {  // a prefill chunk's pass: "c<chunk>.L<layer>..."
    std::string_view rest = s.substr(1);
    if (leading_number(rest, n) && rest.starts_with(".")) s = rest.substr(1);
  }
  mtp = s.starts_with("mtp");
  if (!mtp && !s.starts_with("L")) return false;
  s.remove_prefix(mtp ? 3 : 1);
  return leading_number(s, n) && s.starts_with(".");
}

OpPlace op_place(std::string_view name, uint32_t model_layers) {
  OpPlace out;
  uint64_t n = 0;
  bool mtp = false;
  // Beyond the model's layers (or 4096 MTP modules) a number names no layer (traces are checked
  // against their metadata when read; see TraceWorkload).
  if (named_layer(name, n, mtp)) {
    if (!mtp && n < model_layers) out.layer = static_cast<int>(n);
    if (mtp && n < static_cast<uint64_t>(kMaxModelLayers))
      out.layer = static_cast<int>(model_layers + n);
  }
  // The op's own name follows the micro-batch ("...mb0.attention").
  const size_t mb = name.find("mb");
  std::string_view op = name;
  if (mb != std::string_view::npos) {
    const size_t dot = name.find('.', mb);
    if (dot != std::string_view::npos) op = name.substr(dot + 1);
  }
  out.part = part_of(op);
  return out;
}

StepBreakdown step_breakdown(const std::vector<OpSpan>& spans, uint32_t model_layers,
                             Time step_end) {
  StepBreakdown b;
  b.step_ps = step_end.ps();
  // Compute intervals (merged) and communication intervals with their layer.
  std::vector<std::pair<int64_t, int64_t>> compute;
  struct Comm {
    int64_t start, end;
    int layer;
  };
  std::vector<Comm> comm;
  for (const OpSpan& sp : spans) {
    const OpPlace pl = op_place(*sp.name, model_layers);
    const int64_t d = (sp.end - sp.start).ps();
    if (sp.compute) {
      compute.emplace_back(sp.start.ps(), sp.end.ps());
    } else {
      comm.push_back({sp.start.ps(), sp.end.ps(), pl.layer});
    }
    const bool counted = sp.compute || pl.part == OpPart::Dispatch || pl.part == OpPart::Combine ||
                         pl.part == OpPart::TpComm;
    if (counted) {
      slot(b.total, pl.part) += d;
      if (pl.layer >= 0) slot(b.layers[pl.layer], pl.part) += d;
    }
  }
  std::sort(compute.begin(), compute.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (const auto& iv : compute) {
    if (!merged.empty() && iv.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, iv.second);
    } else {
      merged.push_back(iv);
    }
  }
  // Sweep over every boundary: between two, the set of ops in flight is constant. Exposed time
  // goes to the layer of the earliest-started communication op in flight.
  std::vector<int64_t> cuts;
  for (const auto& [a, e] : merged) {
    cuts.push_back(a);
    cuts.push_back(e);
  }
  std::vector<std::pair<int64_t, size_t>> starts, ends;
  for (size_t i = 0; i < comm.size(); ++i) {
    cuts.push_back(comm[i].start);
    cuts.push_back(comm[i].end);
    starts.emplace_back(comm[i].start, i);
    ends.emplace_back(comm[i].end, i);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  std::set<std::pair<int64_t, size_t>> active;  // (start, comm index)
  size_t si = 0, ei = 0, ci = 0;
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    const int64_t t0 = cuts[k], t1 = cuts[k + 1];
    while (ei < ends.size() && ends[ei].first <= t0) {
      active.erase({comm[ends[ei].second].start, ends[ei].second});
      ++ei;
    }
    while (si < starts.size() && starts[si].first <= t0) {
      if (comm[starts[si].second].end > t0) active.insert({starts[si].first, starts[si].second});
      ++si;
    }
    while (ci < merged.size() && merged[ci].second <= t0)
      ++ci;
    const bool computing = ci < merged.size() && merged[ci].first <= t0;
    if (computing || active.empty()) continue;
    const int layer = comm[active.begin()->second].layer;
    b.total.exposed_comm += t1 - t0;
    if (layer >= 0) b.layers[layer].exposed_comm += t1 - t0;
  }
  return b;
}

uint64_t op_activation_bytes(const OpPayload& payload) {
  return std::visit(
      [](const auto& op) -> uint64_t {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, GemmOp>) {
          return op.m * (op.k * dtype_bytes(op.dtype) + op.n * dtype_bytes(op.out_dtype()));
        } else if constexpr (std::is_same_v<T, GroupedGemmOp>) {
          return op.total_m() * (op.k * dtype_bytes(op.dtype) + op.n * dtype_bytes(op.out_dtype()));
        } else if constexpr (std::is_same_v<T, AttentionOp>) {
          return op.total_q_tokens() * op.heads_q * (op.head_dim_qk + op.head_dim_v) *
                 dtype_bytes(op.dtype);
        } else if constexpr (std::is_same_v<T, ElementwiseOp>) {
          return op.bytes_in.count() + op.bytes_out.count();
        } else if constexpr (std::is_same_v<T, AllToAllOp>) {
          return op.total_send_bytes() + op.total_recv_bytes();
        } else if constexpr (std::is_same_v<T, RingCollectiveOp>) {
          return 2 * op.bytes.count();
        } else {
          return op.bytes.count();
        }
      },
      payload);
}

InferenceFacts inference_facts(const ModelConfig& m, const DeepSeekInferenceParams& p,
                               const DeepSeekStepInfo& step) {
  const InferenceMemory mem = inference_memory(m, p, step);
  InferenceFacts f;
  f.phase = p.phase;
  // Each phase's own size; the other phase's key (left at its default) is 0 here.
  const bool decode = p.phase == InferencePhase::Decode;
  f.requests_per_gpu = decode ? p.requests_per_gpu : 0;
  f.tokens_per_gpu = decode ? 0 : p.tokens_per_gpu;
  f.context_varied = p.context_distribution.type != ContextDistribution::Fixed;
  f.mtp_accepted_tokens_per_step = step.mtp_accepted_tokens_per_step;
  f.model_layers = step.model_layers;
  f.kv_bytes_per_token = mem.kv_bytes_per_token;
  f.kv_bytes_per_token_per_gpu = mem.kv_bytes_per_token_per_gpu;
  f.kv_cached_tokens_per_gpu = mem.kv_cached_tokens_per_gpu;
  f.kv_cached_tokens_max = mem.kv_cached_tokens_max;
  f.kv_bytes_per_gpu = mem.kv_bytes_per_gpu;
  f.kv_bytes_per_gpu_max = mem.kv_bytes_per_gpu_max;
  f.kv_mtp_bytes_per_token = mem.kv_mtp_bytes_per_token;
  f.kv_mtp_bytes_per_gpu = mem.kv_mtp_bytes_per_gpu;
  f.weight_bytes_per_gpu = mem.weight_bytes_per_gpu;
  f.activation_bytes_per_gpu = step.activation_bytes_per_gpu;
  f.expert_imbalance = step.imbalance.expert_mean;
  f.expert_imbalance_max = step.imbalance.expert_max;
  f.gpu_imbalance = step.imbalance.gpu_mean;
  f.gpu_imbalance_max = step.imbalance.gpu_max;
  f.node_limit_overflows = step.imbalance.node_limit_overflows;
  f.imbalance_layers.assign(step.imbalance.layers.begin(), step.imbalance.layers.end());
  f.layer_expert_imbalance = step.imbalance.layer_expert;
  f.layer_gpu_imbalance = step.imbalance.layer_gpu;
  f.load_experts = step.imbalance.experts;
  f.load_gpus = step.imbalance.gpus;
  f.load_layers.assign(step.imbalance.load_layers.begin(), step.imbalance.load_layers.end());
  f.expert_loads.assign(step.imbalance.expert_loads.begin(), step.imbalance.expert_loads.end());
  f.gpu_loads.assign(step.imbalance.gpu_loads.begin(), step.imbalance.gpu_loads.end());
  f.prefill_passes = step.prefill_passes;
  f.prompts_done.assign(step.prompts_done.begin(), step.prompts_done.end());
  f.carried_prompts.assign(step.carried_prompts.begin(), step.carried_prompts.end());
  return f;
}

std::vector<std::pair<double, uint64_t>> prompt_first_tokens(const InferenceFacts& f,
                                                             const WorkloadRun& run) {
  const size_t ranks = run.finish.size();
  if (f.prefill_passes == 0 || f.prompts_done.empty() || !run.spans) return {};
  const size_t passes = f.prefill_passes, groups = f.prompts_done.size() / passes;
  if (groups == 0 || ranks % groups != 0) return {};
  const size_t tp = ranks / groups;
  std::vector<std::optional<Time>> head(groups * passes);  // [group * passes + pass]
  for (size_t r = 0; r < ranks; ++r) {
    for (const OpSpan& sp : run.spans(static_cast<int>(r))) {
      std::string_view name = *sp.name;
      size_t pass = 0;
      uint64_t c = 0;
      if (name.starts_with("c")) {
        std::string_view rest = name.substr(1);
        if (!leading_number(rest, c) || !rest.starts_with(".")) continue;
        name = rest.substr(1);
        pass = static_cast<size_t>(c);
      }
      if (name != "lm_head" || pass >= passes) continue;
      std::optional<Time>& t = head[r / tp * passes + pass];
      if (!t || *t < sp.end) t = sp.end;
    }
  }
  // A prompt an earlier step began waits for those steps too, each as long as this one (in
  // milliseconds: a sum of steps may pass the picosecond range).
  const double step_ms = std::max_element(run.finish.begin(), run.finish.end())->to_ms();
  std::vector<uint64_t> fresh(f.prompts_done.begin(), f.prompts_done.end());
  std::vector<std::pair<double, uint64_t>> out;
  for (size_t i = 0; i + 2 < f.carried_prompts.size(); i += 3) {
    const size_t at = f.carried_prompts[i] * passes + f.carried_prompts[i + 1];
    if (!head[at]) return {};
    --fresh[at];  // (the trace reader checks each is among prompts_done)
    out.emplace_back(head[at]->to_ms() + step_ms * static_cast<double>(f.carried_prompts[i + 2]),
                     1);
  }
  for (size_t i = 0; i < head.size(); ++i) {
    if (f.prompts_done[i] == 0) continue;
    if (!head[i]) return {};  // a pass that completes prompts without an LM head
    if (fresh[i] > 0) out.emplace_back(head[i]->to_ms(), fresh[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

WorkloadReport inference_report(const ModelConfig& m, const DeepSeekInferenceParams& p,
                                const DeepSeekStepInfo& step, const WorkloadRun& run) {
  return inference_report(inference_facts(m, p, step), run);
}

WorkloadReport inference_report(const InferenceFacts& f, const WorkloadRun& run) {
  WorkloadReport r;
  auto& j = r.summary;
  const size_t ranks = run.finish.size();
  if (ranks == 0) return r;
  // The critical rank: the last to finish (ties: the busiest, then the lowest).
  size_t crit = 0;
  for (size_t i = 1; i < ranks; ++i) {
    if (run.finish[i] > run.finish[crit] ||
        (run.finish[i] == run.finish[crit] && run.busy_ps[i] > run.busy_ps[crit])) {
      crit = i;
    }
  }
  const Time end = run.finish[crit];
  const double step_ms = end.to_ms();
  const double step_s = step_ms * 1e-3;
  const bool decode = f.phase == InferencePhase::Decode;
  const double gpn = run.cluster.gpus_per_node;
  const double requests = static_cast<double>(f.requests_per_gpu);
  const double tokens = static_cast<double>(f.tokens_per_gpu);
  j["step_time_ms"] = step_ms;
  if (decode) {
    const double accepted = f.mtp_accepted_tokens_per_step;
    const double out_per_gpu = requests * accepted;
    j["tpot_ms"] = step_ms / accepted;
    j["mtp_accepted_tokens_per_step"] = accepted;
    j["output_tokens_per_s_per_gpu"] = step_s > 0 ? out_per_gpu / step_s : 0.0;
    j["output_tokens_per_s_per_node"] = step_s > 0 ? out_per_gpu * gpn / step_s : 0.0;
  } else {
    // Per prompt: mean and nearest-rank percentiles over every prompt completed in the step.
    const std::vector<std::pair<double, uint64_t>> firsts = prompt_first_tokens(f, run);
    uint64_t prompts = 0;
    double sum_ms = 0;
    for (const auto& [t, n] : firsts) {
      prompts += n;
      sum_ms += t * static_cast<double>(n);
    }
    if (prompts > 0) {
      auto percentile = [&](double q) {
        const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(prompts)));
        uint64_t seen = 0;
        for (const auto& [t, n] : firsts) {
          if ((seen += n) >= rank) return t;
        }
        return firsts.back().first;
      };
      j["ttft_mean_ms"] = sum_ms / static_cast<double>(prompts);
      j["ttft_p50_ms"] = percentile(0.50);
      j["ttft_p99_ms"] = percentile(0.99);
    }
    // The step's prompts by the facts (a trace without them: unknown, taken as some).
    const uint64_t done =
        std::accumulate(f.prompts_done.begin(), f.prompts_done.end(), uint64_t{0});
    if (f.prefill_passes == 0 || done > 0) {
      j["ttft_ms"] = step_ms;
    } else {
      r.warnings.push_back(
          "no prompt completes in this prefill step (each micro-batch's share ends inside its "
          "first prompt, prefilled in part): no TTFT figures; raise tokens_per_gpu or take "
          "shorter prompts");
    }
    if (f.prefill_passes > 0) {
      j["prompt_count"] = done;
      j["prefill_pass_count"] = f.prefill_passes;
    }
    j["input_tokens_per_s_per_gpu"] = step_s > 0 ? tokens / step_s : 0.0;
    j["input_tokens_per_s_per_node"] = step_s > 0 ? tokens * gpn / step_s : 0.0;
  }
  j["kv_cache_bytes_per_token"] = f.kv_bytes_per_token;
  j["kv_cache_per_gpu_bytes_per_token"] = f.kv_bytes_per_token_per_gpu;
  j["kv_cache_bytes_per_gpu"] = f.kv_bytes_per_gpu;
  if (f.context_varied) {
    j["kv_cached_tokens_per_gpu"] = f.kv_cached_tokens_per_gpu;
    j["kv_cached_max_tokens_per_gpu"] = f.kv_cached_tokens_max;
    j["kv_cache_max_bytes_per_gpu"] = f.kv_bytes_per_gpu_max;
  }
  if (f.kv_mtp_bytes_per_token > 0) {
    j["kv_cache_mtp_bytes_per_token"] = f.kv_mtp_bytes_per_token;
    j["kv_cache_mtp_bytes_per_gpu"] = f.kv_mtp_bytes_per_gpu;
  }
  j["weight_bytes_per_gpu"] = f.weight_bytes_per_gpu;
  j["activation_bytes_per_gpu"] = f.activation_bytes_per_gpu;
  if (run.memory_capacity.count() > 0) {
    const int64_t left = static_cast<int64_t>(run.memory_capacity.count()) -
                         static_cast<int64_t>(f.weight_bytes_per_gpu) -
                         static_cast<int64_t>(f.activation_bytes_per_gpu);
    j["memory_capacity_bytes_per_gpu"] = run.memory_capacity.count();
    // A cached token costs its main layers' cache and, with MTP, the MTP modules' (one layer
    // each, the GPU's share as for the main layers: a whole number of bytes, which the
    // rounding of bytes x per_gpu / per_token recovers).
    const uint64_t mtp_per_gpu =
        f.kv_bytes_per_token > 0 && f.kv_mtp_bytes_per_token > 0
            ? static_cast<uint64_t>(std::llround(static_cast<double>(f.kv_mtp_bytes_per_token) *
                                                 static_cast<double>(f.kv_bytes_per_token_per_gpu) /
                                                 static_cast<double>(f.kv_bytes_per_token)))
            : 0;
    const uint64_t per_token = f.kv_bytes_per_token_per_gpu + mtp_per_gpu;
    j["kv_cache_capacity_tokens_per_gpu"] =
        left > 0 && per_token > 0 ? static_cast<uint64_t>(left) / per_token : uint64_t{0};
    // What the fullest GPU holds against its HBM (sums saturate: replayed metadata is
    // arbitrary).
    auto add = [](uint64_t a, uint64_t b) {
      uint64_t r = 0;
      return __builtin_add_overflow(a, b, &r) ? ~uint64_t{0} : r;
    };
    uint64_t mtp_max = 0;  // the fullest GPU's MTP cache (saturating)
    if (__builtin_mul_overflow(f.kv_cached_tokens_max, mtp_per_gpu, &mtp_max)) mtp_max = ~0ull;
    const uint64_t kv = add(std::max(f.kv_bytes_per_gpu, f.kv_bytes_per_gpu_max),
                            std::max(f.kv_mtp_bytes_per_gpu, mtp_max));
    const uint64_t need = add(add(f.weight_bytes_per_gpu, f.activation_bytes_per_gpu), kv);
    const uint64_t cap = run.memory_capacity.count();
    const uint64_t over = need > cap ? need - cap : 0;
    j["hbm_overcommit_bytes_per_gpu"] = over;
    if (over > 0) {
      auto gb = [](uint64_t b) { return fmt::format("{:.1f} GB", static_cast<double>(b) * 1e-9); };
      r.warnings.push_back(fmt::format(
          "the deployment does not fit in HBM: weights {} + activations {} + KV cache {} = {} per "
          "GPU exceed the capacity {} by {} (hbm_overcommit_bytes_per_gpu)",
          gb(f.weight_bytes_per_gpu), gb(f.activation_bytes_per_gpu), gb(kv), gb(need), gb(cap),
          gb(over)));
    }
  }
  j["expert_load_imbalance"] = f.expert_imbalance;
  j["expert_load_imbalance_max"] = f.expert_imbalance_max;
  j["gpu_load_imbalance"] = f.gpu_imbalance;
  j["gpu_load_imbalance_max"] = f.gpu_imbalance_max;
  j["node_limit_overflow_count"] = f.node_limit_overflows;
  uint64_t busy_sum = 0, busy_max = 0;
  for (uint64_t b : run.busy_ps) {
    busy_sum += b;
    busy_max = std::max(busy_max, b);
  }
  j["gpu_busy_imbalance"] = busy_sum > 0
                                ? static_cast<double>(busy_max) * static_cast<double>(ranks) /
                                      static_cast<double>(busy_sum)
                                : 1.0;

  const StepBreakdown b =
      step_breakdown(run.spans(static_cast<int>(crit)), static_cast<uint32_t>(f.model_layers), end);
  auto ms = [](int64_t ps) { return static_cast<double>(ps) * 1e-9; };
  j["breakdown_rank"] = crit;
  j["time_attention_ms"] = ms(b.total.attention);
  j["time_gate_ms"] = ms(b.total.gate);
  j["time_dispatch_ms"] = ms(b.total.dispatch);
  j["time_experts_ms"] = ms(b.total.experts);
  j["time_combine_ms"] = ms(b.total.combine);
  j["time_tp_comm_ms"] = ms(b.total.tp_comm);
  j["time_exposed_comm_ms"] = ms(b.total.exposed_comm);
  j["time_other_ms"] = ms(b.other_ps());
  // Router imbalance of the routed layers (dense layers, and traces without the figures, leave
  // the columns empty).
  std::map<uint64_t, std::pair<double, double>> routed;
  for (size_t i = 0; i < f.imbalance_layers.size(); ++i) {
    routed[f.imbalance_layers[i]] = {f.layer_expert_imbalance[i], f.layer_gpu_imbalance[i]};
  }
  std::string csv =
      "layer,attention_ms,gate_ms,dispatch_ms,experts_ms,combine_ms,tp_comm_ms,exposed_comm_ms,"
      "expert_load_imbalance,gpu_load_imbalance\n";
  for (const auto& [layer, t] : b.layers) {
    const auto it = routed.find(layer);
    csv += fmt::format(
        "{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{}\n", layer, ms(t.attention),
        ms(t.gate), ms(t.dispatch), ms(t.experts), ms(t.combine), ms(t.tp_comm), ms(t.exposed_comm),
        it == routed.end() ? std::string(",")
                           : fmt::format("{:.9g},{:.9g}", it->second.first, it->second.second));
  }
  r.files["layers.csv"] = std::move(csv);
  add_routing_load_files(f, r.files);
  // The same per layer inside summary.json (the one key that is not a scalar).
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& [layer, t] : b.layers) {
    nlohmann::ordered_json e{{"layer", layer},
                             {"attention_ms", ms(t.attention)},
                             {"gate_ms", ms(t.gate)},
                             {"dispatch_ms", ms(t.dispatch)},
                             {"experts_ms", ms(t.experts)},
                             {"combine_ms", ms(t.combine)},
                             {"tp_comm_ms", ms(t.tp_comm)},
                             {"exposed_comm_ms", ms(t.exposed_comm)}};
    if (const auto it = routed.find(layer); it != routed.end()) {
      e["expert_load_imbalance"] = it->second.first;
      e["gpu_load_imbalance"] = it->second.second;
    }
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  return r;
}

}  // namespace mlasim
