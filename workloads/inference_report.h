// Run report of an inference step (DeepSeekInference::report): the summary keys a deployment
// study needs and a per-layer breakdown measured from the simulated op times.
//
// Memory figures come from the model config and the deployment, for the whole model (all its
// layers, even when `layers` simulates fewer): KV cache bytes per token (MLA: the latent
// d_c + d_r per layer; MHA/GQA: K and V of every KV head per layer), the weights one GPU holds
// (attention, dense MLP, LM head and embedding sharded over attention_tp; its expert slots; the
// shared expert and gate replicated; FP8 block scales and norms left out) and an estimate
// of its activations. Cached tokens follow the step's requests: with a context distribution, the
// sum of each GPU's request contexts (mean and largest over GPUs). The MTP modules' own cache
// (one layer each) is reported apart from the main layers'. Time figures come from the spans of the
// ops on the critical rank (the one that finished last): op names say which layer and which part of
// it an op is. Prefill TTFT per prompt comes from the LM-head spans of every rank (see
// prompt_first_tokens).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "workloads/deepseek_inference.h"
#include "workloads/model_config.h"
#include "workloads/workload_generator.h"

namespace mlasim {

// What part of a layer an op of DeepSeekInference is, from its name.
enum class OpPart : uint8_t { Attention, Gate, Dispatch, Experts, Combine, TpComm, Other };

struct OpPlace {
  int layer = -1;  // transformer layer (MTP module d: model_layers + d); -1: none
  OpPart part = OpPart::Other;
};
OpPlace op_place(std::string_view name, uint32_t model_layers);
// The layer an op's name gives ("L<n>." or "mtp<d>.", after an optional "c<chunk>."): its
// number `n` and whether it is an MTP module's; false when the name gives none.
bool named_layer(std::string_view name, uint64_t& n, bool& mtp);

// Per-layer (or per-step) times in ps. Compute parts sum op run times; dispatch, combine and the
// TP collectives (tp_comm: attention TP's all-gathers and reduce-scatters) sum each op's time
// from ready to done; exposed_comm is time with communication in flight and the compute engine
// idle.
struct PartTimes {
  int64_t attention = 0, gate = 0, dispatch = 0, experts = 0, combine = 0, tp_comm = 0;
  int64_t exposed_comm = 0;
  int64_t other_compute = 0;
};

struct StepBreakdown {
  std::map<int, PartTimes> layers;  // by layer index
  PartTimes total;                  // every op, layer or not
  int64_t step_ps = 0;
  // Step time not covered by attention, gate, experts or exposed communication: other compute
  // (embedding, residual adds, LM head, MTP eh_proj) and time with nothing running.
  int64_t other_ps() const {
    return step_ps - total.attention - total.gate - total.experts - total.exposed_comm;
  }
};
StepBreakdown step_breakdown(const std::vector<OpSpan>& spans, uint32_t model_layers,
                             Time step_end);

struct InferenceMemory {
  uint64_t kv_bytes_per_token = 0;          // all layers, one copy of the model's cache
  uint64_t kv_bytes_per_token_per_gpu = 0;  // what one GPU stores for one cached token
  uint64_t kv_cached_tokens_per_gpu = 0;    // tokens of its (TP group's) sequences, mean over GPUs
  uint64_t kv_cached_tokens_max = 0;        // the most any GPU caches
  uint64_t kv_bytes_per_gpu = 0;            // mean over GPUs
  uint64_t kv_bytes_per_gpu_max = 0;
  // The MTP modules' own cache (one layer each, decode only), per token and per GPU (mean).
  uint64_t kv_mtp_bytes_per_token = 0, kv_mtp_bytes_per_token_per_gpu = 0;
  uint64_t kv_mtp_bytes_per_gpu = 0;
  uint64_t weight_bytes_per_gpu = 0;
};
InferenceMemory inference_memory(const ModelConfig& m, const DeepSeekInferenceParams& p,
                                 const DeepSeekStepInfo& step);

// Bytes of activations (inputs, outputs, message buffers) one op touches; weights and KV cache
// excluded.
uint64_t op_activation_bytes(const OpPayload& p);

// What the report needs besides the simulated times: fixed by the model, the deployment and the
// generated step. A trace carries it in its metadata block (workloads/trace.h), so a replayed
// trace reports what the generator's run reports.
struct InferenceFacts {
  InferencePhase phase = InferencePhase::Decode;
  uint64_t requests_per_gpu = 0;  // decode (0 in prefill)
  uint64_t tokens_per_gpu = 0;    // prefill (0 in decode)
  bool context_varied = false;    // contexts (decode) or prompts (prefill) drawn, not fixed
  double mtp_accepted_tokens_per_step = 1;
  uint64_t model_layers = 0;
  uint64_t kv_bytes_per_token = 0, kv_bytes_per_token_per_gpu = 0;
  uint64_t kv_cached_tokens_per_gpu = 0, kv_cached_tokens_max = 0;
  uint64_t kv_bytes_per_gpu = 0, kv_bytes_per_gpu_max = 0;
  uint64_t kv_mtp_bytes_per_token = 0, kv_mtp_bytes_per_gpu = 0;
  uint64_t weight_bytes_per_gpu = 0, activation_bytes_per_gpu = 0;
  double expert_imbalance = 1, expert_imbalance_max = 1, gpu_imbalance = 1, gpu_imbalance_max = 1;
  uint64_t node_limit_overflows = 0;
  // Prefill: forward passes and the prompts each DP group completes in each,
  // [group * prefill_passes + pass] (DeepSeekStepInfo); empty: no per-prompt TTFT figures.
  uint64_t prefill_passes = 0;
  std::vector<uint64_t> prompts_done;
  // Of those, the ones an earlier step began (carry_over): (group, pass, steps before) each,
  // flat; their TTFT adds those steps, each as long as this one. Empty: none (or before minor 7).
  std::vector<uint64_t> carried_prompts;
  // Per routed layer (its number as in layers.csv), mean over micro-batches, EP groups and
  // prefill passes: max / mean tokens per expert and token-expert pairs per GPU.
  std::vector<uint64_t> imbalance_layers;
  std::vector<double> layer_expert_imbalance, layer_gpu_imbalance;
  // Every routing (a routed layer of one EP group, micro-batch and prefill pass), in step order:
  // its layer number, its tokens per logical expert (load_experts of them) and its token-expert
  // pairs per GPU of the EP group (load_gpus of them). Written to expert_loads.csv and
  // gpu_loads.csv; empty: not known (traces before minor 6).
  uint64_t load_experts = 0, load_gpus = 0;
  std::vector<uint64_t> load_layers, expert_loads, gpu_loads;
  template <class V>
  void visit(V& v) {
    v("phase", phase);
    v("requests_per_gpu", requests_per_gpu);
    v("tokens_per_gpu", tokens_per_gpu);
    v("context_varied", context_varied);
    v("mtp_accepted_tokens_per_step", mtp_accepted_tokens_per_step);
    v("model_layers", model_layers);
    v("kv_bytes_per_token", kv_bytes_per_token);
    v("kv_bytes_per_token_per_gpu", kv_bytes_per_token_per_gpu);
    v("kv_cached_tokens_per_gpu", kv_cached_tokens_per_gpu);
    v("kv_cached_tokens_max", kv_cached_tokens_max);
    v("kv_bytes_per_gpu", kv_bytes_per_gpu);
    v("kv_bytes_per_gpu_max", kv_bytes_per_gpu_max);
    v("kv_mtp_bytes_per_token", kv_mtp_bytes_per_token);
    v("kv_mtp_bytes_per_gpu", kv_mtp_bytes_per_gpu);
    v("weight_bytes_per_gpu", weight_bytes_per_gpu);
    v("activation_bytes_per_gpu", activation_bytes_per_gpu);
    v("expert_imbalance", expert_imbalance);
    v("expert_imbalance_max", expert_imbalance_max);
    v("gpu_imbalance", gpu_imbalance);
    v("gpu_imbalance_max", gpu_imbalance_max);
    v("node_limit_overflows", node_limit_overflows);
    v("prefill_passes", prefill_passes, since_minor(2));
    v("prompts_done", prompts_done, since_minor(2));
    v("carried_prompts", carried_prompts, since_minor(7));
    v("imbalance_layers", imbalance_layers, since_minor(4));
    v("layer_expert_imbalance", layer_expert_imbalance, since_minor(4));
    v("layer_gpu_imbalance", layer_gpu_imbalance, since_minor(4));
    v("load_experts", load_experts, since_minor(6));
    v("load_gpus", load_gpus, since_minor(6));
    v("load_layers", load_layers, since_minor(6));
    v("expert_loads", expert_loads, since_minor(6));
    v("gpu_loads", gpu_loads, since_minor(6));
  }
};
InferenceFacts inference_facts(const ModelConfig& m, const DeepSeekInferenceParams& p,
                               const DeepSeekStepInfo& step);

// Time to first token of each prefill prompt: the end of the LM head (`lm_head`, chunked:
// `c<pass>.lm_head`) of the pass that completes it, the latest over its DP group's ranks.
// A prompt begun in earlier steps (carried_prompts) adds those steps at the step's time each.
// Returns (time in ms, prompts) pairs, sorted; empty when the facts or the run do not say.
std::vector<std::pair<double, uint64_t>> prompt_first_tokens(const InferenceFacts& f,
                                                             const WorkloadRun& run);

WorkloadReport inference_report(const InferenceFacts& f, const WorkloadRun& run);
WorkloadReport inference_report(const ModelConfig& m, const DeepSeekInferenceParams& p,
                                const DeepSeekStepInfo& step, const WorkloadRun& run);

}  // namespace mlasim
