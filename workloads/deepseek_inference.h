// DeepSeek-style inference step as per-rank op graphs (`type: deepseek_inference`): a model
// config.json (MLA or MHA/GQA attention, dense and MoE layers) deployed with attention data
// parallelism (optionally tensor parallel within groups of `attention_tp` GPUs, with sequence
// parallelism: all-gather before attention, reduce-scatter after o_proj) and expert parallelism
// over every GPU, in a decode or prefill phase.
//
// One step per rank: embedding; per layer RMSNorm, the attention projections (MLA: q_a/q_b or q,
// kv_a; decode absorbs W_UK/W_UV into per-head grouped GEMMs, prefill up-projects K/V with kv_b),
// the fused attention kernel, o_proj; then a dense MLP (first_k_dense_replace layers) or the MoE
// block: gate GEMM, dispatch all-to-all, grouped expert GEMMs (per-slot token counts from the
// MoE router), the shared expert (overlapping dispatch), combine all-to-all, residual add; the
// MTP modules (depth D: eh_proj plus one MoE block each, one token per request) and the LM head.
// With MTP each decode step verifies D drafted tokens: attention q_len 1 + D and (1 + D) tokens
// per request through the main model's MoE.
//
// Dual micro-batch overlap splits the rank's batch in two; all compute runs on one stream in the
// order A0 A1 E0 E1 R0 | A0' R1 A1' ... (A: attention through the gate and shared expert, E:
// routed experts, R: residual add after combine; primes the next layer), so each micro-batch's
// dispatch and combine overlap the other's compute. With attention_tp > 1, dense MLPs and the
// LM head are tensor parallel too (all-gather, sharded GEMMs, reduce-scatter), and in A (and in
// dense layers) the second micro-batch runs a stretch between TP collectives behind the first,
// so that each one's collectives run beside the other's compute (its R comes before A0's gate
// then, so A0's dispatch also waits for its combine of the layer before). The LM head runs
// once over every micro-batch's tokens (prefill: each prompt's last token only).
//
// `attention: mha` swaps an MLA model's attention for MHA of the same head dimensions.
// report() turns the simulated op times into summary keys and layers.csv
// (workloads/inference_report.h).
//
// Decode requests have `context_length` each, or contexts drawn from `context_distribution`
// (workloads/context_lengths.h): each attention kernel then gets the KV length of every sequence.
// With `dp_balance: attention` the requests of each serving instance's (EP group's) DP groups
// are pooled and dealt again by KV length.
// Prefill prompts are drawn from the same keys: each DP group's micro-batches are filled with
// prompts of their own lengths (`fixed`: context_length) up to tokens_per_gpu x attention_tp
// tokens, the last one that does not fit prefilled in part and not completed in the step
// (workloads/step_batches.h); each attention kernel gets
// every prompt's query length (AttentionOp q_lens). With `chunk_size` each micro-batch's
// prompts, concatenated, run in windows of that many tokens, one forward pass per window
// (Sarathi-style: a window may finish one prompt and start the next; a piece attends causally to
// its own tokens and, through the cache, to its prompt's earlier pieces; MLA up-projects the
// cached latent with kv_b_proj). Each pass ends with the LM head over the prompts it completed,
// their time to first token; the step is the whole prefill. Ops of pass c are named
// `c<c>.L<layer>.mb<i>.<op>`, its LM head `c<c>.lm_head`.
//
// With carry_over (the default) a prefill step is a steady one: each micro-batch begins with the
// rest of the prompt its previous step cut (step_batches.h).
//
// Left out: the bytes of weights/KV beyond what the ops read, prefill chunks batched with
// decode requests, balancing prompts over DP groups, pipeline parallelism, EP groups smaller
// than the cluster, and the softmax / sampling after the LM head.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/dtype.h"
#include "sim/params.h"
#include "workloads/context_lengths.h"
#include "workloads/expert_placement.h"
#include "workloads/model_config.h"
#include "workloads/moe_router.h"
#include "workloads/workload_generator.h"

namespace mlasim {

enum class InferencePhase : uint8_t { Decode, Prefill };
// `attention: mha` replaces a model's MLA by plain multi-head attention with the same heads and
// head dimensions (one K and one V per head, cached un-compressed), to show what MLA saves.
enum class AttentionVariant : uint8_t { Model, Mha };
template <>
struct EnumNames<AttentionVariant> {
  static constexpr std::array<std::pair<AttentionVariant, std::string_view>, 2> values{
      {{AttentionVariant::Model, "model"}, {AttentionVariant::Mha, "mha"}}};
};
// Where the shared expert(s) run: on every GPU for its own tokens, or on dedicated GPUs of each
// EP group, each token dispatched to one of them as one more routed copy.
enum class SharedExpertPlacement : uint8_t { Local, Dedicated };
template <>
struct EnumNames<SharedExpertPlacement> {
  static constexpr std::array<std::pair<SharedExpertPlacement, std::string_view>, 2> values{
      {{SharedExpertPlacement::Local, "local"}, {SharedExpertPlacement::Dedicated, "dedicated"}}};
};
// How a decode step's requests are dealt to DP groups and micro-batches: each group with its own
// draws in order, or those of each serving instance (EP group) pooled and dealt to even out
// attention work (DeepSeek's decode load balancer).
enum class DpBalance : uint8_t { None, Attention };
template <>
struct EnumNames<DpBalance> {
  static constexpr std::array<std::pair<DpBalance, std::string_view>, 2> values{
      {{DpBalance::None, "none"}, {DpBalance::Attention, "attention"}}};
};
template <>
struct EnumNames<InferencePhase> {
  static constexpr std::array<std::pair<InferencePhase, std::string_view>, 2> values{
      {{InferencePhase::Decode, "decode"}, {InferencePhase::Prefill, "prefill"}}};
};

// Batch limits (far beyond real deployments; they keep per-sequence tables and byte counts
// small): decode requests and prefill tokens per GPU.
inline constexpr uint32_t kMaxRequestsPerGpu = uint32_t{1} << 20;
inline constexpr uint32_t kMaxTokensPerGpu = uint32_t{1} << 24;
// Router warm-up: at most this many steps. Routing: at most this many token routings (a token
// on a rank through one routed layer) in a run, the warm-up steps' and the step's together,
// about ten minutes of routing before the simulation starts: DeepSeek-V3 on 144 GPUs routes
// about a million tokens per step (about 3 s), so some 250 warm-up steps fit. Beyond that a run
// would look hung. (The batch limits above allow far more: 2^20 requests on the 8 GPUs of the
// default scenario are some 4 x 10^8 routings.)
inline constexpr uint32_t kMaxRouterWarmupSteps = 10000;
inline constexpr uint64_t kMaxTokenRoutings = uint64_t{1} << 28;

// The model a scenario names: a built-in name, or the path of a config.json. A relative path is
// taken from the folder of the scenario (or sweep) file that gives it when the file is there,
// as trace paths are, so a scenario and its model file can move together; otherwise it stays as
// given, for resolve_model() to look up from the working folder, then under configs/ (shipped
// scenarios name teaching/models/... that way). The resolved config then holds the absolute
// path.
struct ModelRef {
  std::string name;
  ModelRef() = default;
  ModelRef(std::string n) : name(std::move(n)) {}  // NOLINT: a name converts implicitly
  ModelRef(const char* n) : name(n) {}             // NOLINT
};
template <>
struct ParamTraits<ModelRef> {
  static constexpr std::string_view type_name = "string";
  static ModelRef parse(const ConfigNode& n, std::string_view path) {
    const std::string& given = detail::expect_scalar(n, path, "a model name or path");
    const std::filesystem::path p(given);
    const std::filesystem::path base = relative_path_base(n);
    if (written_as_model_path(given) && p.is_relative() && !base.empty() &&
        std::filesystem::is_regular_file(base / p)) {
      return ModelRef(std::filesystem::absolute(base / p).string());
    }
    return ModelRef(given);
  }
  static std::string format(const ModelRef& v) { return v.name; }
};

// With carry_over a prefill step is this step (from 0) of an endless stream of prompts.
inline constexpr uint32_t kSteadyStep = 16;

struct DeepSeekInferenceParams {
  ModelRef model = "deepseek-v3";
  ModelOverrides model_overrides;
  uint32_t layers = 0;
  InferencePhase phase = InferencePhase::Decode;
  uint32_t requests_per_gpu = 128;
  uint64_t context_length = 4096;
  ContextDistributionParams context_distribution;
  DpBalance dp_balance = DpBalance::None;
  uint32_t tokens_per_gpu = 16384;
  uint64_t chunk_size = 0;
  bool carry_over = true;
  uint32_t attention_tp = 1;
  AttentionVariant attention = AttentionVariant::Model;
  uint32_t ep_size = 0;
  bool dual_micro_batch = true;
  uint32_t router_warmup_steps = 0;
  struct Dtypes {
    DType gemm = DType::FP8;
    DType dispatch = DType::FP8;
    DType attention = DType::BF16;
    DType kv_cache = DType::BF16;
    DType combine = DType::BF16;
    DType gate = DType::BF16;
    DType absorb = DType::BF16;
    DType lm_head = DType::BF16;
    template <class V>
    void visit(V& v) {
      v("gemm", gemm, "-", "dense, projection and expert GEMMs");
      v("dispatch", dispatch, "-",
        "dispatched tokens (fp8 adds one FP32 scale per 128 values) when "
        "moe_traffic.dispatch_bytes_per_token is 0");
      v("attention", attention, "-", "core attention math");
      v("kv_cache", kv_cache, "-", "KV cache storage");
      v("combine", combine, "-", "combined tokens when moe_traffic.combine_bytes_per_token is 0");
      v("gate", gate, "-", "the MoE router's gate GEMM (token x expert affinities)");
      v("absorb", absorb, "-",
        "absorbed MLA decode: the per-head W_UK and W_UV GEMMs around attention over the latent");
      v("lm_head", lm_head, "-", "the LM head GEMM (vocabulary logits)");
    }
  } dtypes;
  struct Mtp {
    uint32_t depth = 0;
    double acceptance_rate = 0.85;
    template <class V>
    void visit(V& v) {
      v("depth", depth, "count",
        "drafted tokens verified per decode step (D), each by an MTP module (a layer); 0: no MTP; "
        "at most 4096, as a model's layers");
      v("acceptance_rate", acceptance_rate, "fraction",
        "probability a drafted token is accepted, in [0, 1]");
    }
  } mtp;
  ExpertPlacementParams placement;
  struct SharedExpert {
    SharedExpertPlacement placement = SharedExpertPlacement::Local;
    uint32_t gpus = 0;
    template <class V>
    void visit(V& v) {
      v("placement", placement, "-",
        "local: every GPU runs the shared expert(s) on its own tokens (DeepSeek's EP32 prefill "
        "and EP144 decode); dedicated: `gpus` GPUs of each EP group host them and every token "
        "goes there in the dispatch as one more copy, and back in the combine (the V3 paper's "
        "320-GPU decode)");
      v("gpus", gpus, "count",
        "dedicated: hosts per EP group, its last GPUs; GPU g sends its tokens to host g mod gpus "
        "(a host keeps its own)");
    }
  } shared_expert;
  RouterConfig router;
  MoeTrafficConfig moe_traffic;
  // How the EP dispatch and combine all-to-alls are sent (AllToAllOp's options).
  struct EpComm {
    bool nvlink_forwarding = false;
    CommIssuer issuer = CommIssuer::Sm;
    uint32_t dispatch_vl = 0;
    uint32_t combine_vl = 0;
    template <class V>
    void visit(V& v) {
      v("nvlink_forwarding", nvlink_forwarding, "-",
        "DeepEP normal mode: a token for another node crosses the network once for that node, "
        "to the GPU with the sender's local index (its plane), which forwards it over NVLink to "
        "its GPUs there; combine goes over NVLink to the GPU with the destination's local index, "
        "which sums the results and sends one per token (needs moe_traffic.copies: per_gpu)");
      v("issuer", issuer, "-",
        "who starts the transfers: sm (the GPU's SMs, adding network.gpu_port.issue_latency) or "
        "nic (work requests posted ahead, the NIC's doorbell latency only)");
      v("dispatch_vl", dispatch_vl, "-",
        "virtual lane (traffic class) of dispatch messages, 0..14 (packet level: lane vl mod "
        "network.vls)");
      v("combine_vl", combine_vl, "-",
        "virtual lane of combine messages, 0..14: on another lane than dispatch, one "
        "micro-batch's combine does not wait for credits behind the other's dispatch");
    }
  } ep_comm;

  template <class V>
  void visit(V& v) {
    v("model", model, "-",
      "built-in model name (configs/models) or path of a config.json (relative: to the folder "
      "of the scenario or sweep file that names it where the file is there, else to the working "
      "folder or configs/)");
    v.group("model_overrides", model_overrides,
            "config.json fields replaced for what-if studies (e.g. kv_lora_rank); 0 keeps the "
            "model's value");
    v("layers", layers, "count", "transformer layers simulated; 0: all of the model's");
    v("phase", phase, "-", "decode (requests_per_gpu at context_length) or prefill");
    v("requests_per_gpu", requests_per_gpu, "count",
      "decode: requests in flight per GPU (at most 2^20, and the step at most 2^28 token "
      "routings: GPUs x tokens x routed layers)");
    v("context_length", context_length, "count",
      "decode: KV length of every request; prefill: prompt length, tokens (the mean with "
      "context_distribution)");
    v.group("context_distribution", context_distribution,
            "decode: per-request context lengths; prefill: per-prompt lengths (around "
            "context_length)");
    v("dp_balance", dp_balance, "-",
      "decode: none: each DP group serves its own draws (context_distribution), dealt to its "
      "micro-batches in order; attention: the draws of each EP group's DP groups pooled and "
      "dealt longest first to the micro-batch with the fewest KV tokens so far that has room "
      "(DeepSeek's decode load balancer: the same requests per GPU, even KV cache and "
      "attention work)");
    v("tokens_per_gpu", tokens_per_gpu, "count",
      "prefill: prompt tokens per GPU (the sum of its prompts' lengths; a DP group's prompts fill "
      "tokens_per_gpu x attention_tp, the last one that does not fit prefilled in part, not "
      "completed in the step; at most 2^24, and the step at "
      "most 2^28 token routings: GPUs x tokens x routed layers)");
    v("chunk_size", chunk_size, "count",
      "prefill: tokens per forward pass of each micro-batch's prompt stream (Sarathi-style "
      "chunked prefill; a window may end one prompt and start the next); 0: whole prompts; a "
      "multiple of attention_tp; passes x layers at most 4096, as a model's layers");
    v("carry_over", carry_over, "-",
      "prefill: the step is one of a steady stream (the 17th): each micro-batch begins with "
      "the rest of the prompt its previous step cut, whose TTFT counts the earlier steps it "
      "was prefilled in, each as long as this one; false: the first step of a fresh server");
    v("attention_tp", attention_tp, "count",
      "tensor-parallel size of attention and of dense MLPs and the LM head (DP = GPUs / "
      "attention_tp)");
    v("attention", attention, "-",
      "model: the model's own attention; mha: MLA replaced by MHA of the same head dimensions "
      "(MLA models only; an error for MHA/GQA models)");
    v("ep_size", ep_size, "count",
      "GPUs per expert-parallel group, each holding every expert and routing its own tokens; "
      "0 (or the GPU count): one group of every GPU");
    v("dual_micro_batch", dual_micro_batch, "-",
      "two micro-batches: compute of one overlaps communication of the other");
    v("router_warmup_steps", router_warmup_steps, "count",
      "routing steps run first so aux-loss-free biases settle (at most 10000, and at most 2^28 "
      "token routings in all with the step's: GPUs x tokens x routed layers)");
    v.group("dtypes", dtypes, "data types per op");
    v.group("mtp", mtp, "multi-token prediction");
    v.group("placement", placement, "expert placement (ep_size is taken from above)");
    v.group("shared_expert", shared_expert, "where the shared expert(s) run");
    v.group("router", router,
            "MoE router; expert counts, groups, scoring and top-k method come from the model");
    v.group("moe_traffic", moe_traffic, "dispatch/combine payloads");
    v.group("ep_comm", ep_comm, "how dispatch and combine are sent");
  }
  void validate(const ParamCheck& c) const;
};

// What the step is, besides its op graphs: the figures the run report needs.
struct DeepSeekStepInfo {
  RoutingImbalance imbalance;
  uint64_t tokens_per_step_per_gpu = 0;     // tokens through the main model's MoE per rank
  double mtp_accepted_tokens_per_step = 1;  // per request: 1 + sum_{i<=D} a^i
  uint32_t max_slots_per_gpu = 0;           // expert slots (replicas included) on one GPU
  uint32_t micro_batches = 1;
  uint64_t activation_bytes_per_gpu = 0;  // estimate: largest op's activations x micro-batches
  uint32_t model_layers = 0;  // the model's transformer layers (MTP modules follow them)
  // Decode: tokens cached for the sequences of each attention DP group (the TP group's), summed
  // over groups, and the most any group caches; dp_groups 0: not set (the closed form
  // requests_per_gpu x attention_tp x context_length applies).
  uint64_t kv_cached_tokens_sum = 0, kv_cached_tokens_max = 0;
  uint32_t dp_groups = 0;
  // Prefill: forward passes (chunks) and the prompts DP group g completes in pass c,
  // [g * prefill_passes + c] (their first token comes from that pass's LM head).
  uint32_t prefill_passes = 0;
  std::vector<uint32_t> prompts_done;
  // Prefill with carry_over: the prompts completed in this step that began in an earlier one,
  // (group, pass, steps before this one) each, flat.
  std::vector<uint32_t> carried_prompts;
  // Settings the step does not read, one line each (shown when the scenario is built).
  std::vector<std::string> warnings;
};

struct DeepSeekStep : DeepSeekStepInfo {
  Workload workload;
};

struct ModelConfig;
// Rejects a context the model cannot hold (deepseek_inference_checks.cpp).
void check_positions(const DeepSeekInferenceParams& p, const ModelConfig& m);
// Checks attention_tp against the GPUs and heads, the attention variant against the model, and
// ep_size against the GPUs and nodes; returns the EP group size.
uint32_t check_layout(const DeepSeekInferenceParams& p, const ModelConfig& model,
                      const ClusterShape& cluster);
// Settings that are legal but that the step does not read, one warning line each
// (deepseek_inference_checks.cpp).
// A node limit no smaller than the EP group's nodes limits nothing: the warning, if so.
std::optional<std::string> node_limit_warning(uint32_t max_nodes, uint32_t routed_layers,
                                              uint32_t ep, uint32_t gpus_per_node);
std::vector<std::string> unused_settings(const DeepSeekInferenceParams& p, const ModelConfig& m,
                                         uint32_t routed_layers, uint32_t mtp_depth);
// KV heads one rank caches (MLA: the one shared latent; MHA/GQA: its share of the KV heads).
uint64_t kv_heads_per_rank(const ModelConfig& m, AttentionVariant v, uint32_t tp);

class DeepSeekInference : public WorkloadGenerator {
 public:
  explicit DeepSeekInference(const DeepSeekInferenceParams& params) : params_(params) {}
  Workload generate(const ClusterShape& cluster) const override;
  // The graphs with the router's figures.
  DeepSeekStep build(const ClusterShape& cluster) const;
  RoutingImbalance imbalance(const ClusterShape& cluster) const { return build(cluster).imbalance; }
  // Summary keys and layers.csv of a finished run of the last generated step
  // (workloads/inference_report.h).
  WorkloadReport report(const WorkloadRun& run) const override;
  std::vector<std::string> setting_warnings() const override { return last_.warnings; }
  const DeepSeekInferenceParams& params() const { return params_; }
  // The report's inputs for the last generated step, for the trace's metadata block.
  nlohmann::ordered_json trace_metadata() const override;

 private:
  DeepSeekInferenceParams params_;
  // The figures of the step generate() built last, for report().
  mutable DeepSeekStepInfo last_;
  mutable ClusterShape last_cluster_;
};

}  // namespace mlasim
