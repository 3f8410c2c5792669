// Synthetic DeepSeek-style MoE router: which experts, GPUs and nodes each token of a step goes
// to, per MoE layer, and the dispatch/combine traffic that follows. Pure logic, no SystemC.
//
// Affinities. Token t's logit for expert e is x = o_e + G, where G = -ln E is a standard Gumbel
// variable (E ~ Exp(1)) drawn from a counter-based hash of (seed, step, layer, source GPU, token,
// expert) and o_e is the expert's popularity offset. With skew s, the experts of a layer are
// ranked by a fixed random permutation (hot experts differ per layer) and o_e = -s ln(rank_e) + C,
// with C chosen so that sum_e exp(o_e) = n. By the Gumbel-max property the expert with the
// largest logit is then exactly Zipf(s)-distributed, and the distribution of the winning logit
// does not depend on s. (With top-8 of 256, s = 1 puts the hottest expert into about 3/4 of all
// tokens: max/mean load about 24 before any balancing.) Scores are sigmoid(x - ln(n/k)) (the
// shift puts the k-th best expert of a uniform token near 0.5, where the sigmoid is steepest) or
// softmax(x) over all experts. Popularity weights exp(o_e) are floored at 1e-30.
//
// Selection follows DeepSeek's gate: noaux_tc adds the per-expert bias b_e to the scores for
// selection only; experts form n_group groups of consecutive ids and a token keeps the
// topk_group groups with the best group score (sum of the two best biased scores for noaux_tc,
// best score for group_limited_greedy; greedy keeps all). Node-limited routing then keeps at
// most M nodes, ranked by the sum of the ceil(k/M) best selection scores of the still allowed
// experts hosted there, and the token takes its top k among allowed experts on those nodes. An
// expert with replicas counts on every node holding one, and the token uses a replica on a
// chosen node. Gate weights are the unbiased scores of the chosen experts, divided by their sum
// when norm_topk_prob, times routed_scaling_factor (DeepSeek-V3's rule).
//
// Aux-loss-free balancing: after each step, per layer, b_e += gamma * sign(mean_load - load_e),
// for noaux_tc only. DeepSeek applies this rule in training; at inference the bias is a fixed
// weight, so running it here models a router that has learned to counter the given skew.
//
// Traffic. A token is dispatched from its source GPU (its EP rank) to the GPUs holding its
// experts. With copies = per_gpu one copy goes to each distinct destination GPU, as DeepEP's
// normal (prefill) kernels do, the destination applying all its local experts; per_expert sends
// one copy per chosen expert, as DeepEP's low-latency (decode) kernels do. Combine returns the
// same copies in the opposite direction, so its matrix is the dispatch matrix transposed, with
// the combine payload. Copies to the source GPU itself are counted on the diagonal.
//
// DeepEP's normal kernels send a token over the network once per destination node, to the GPU
// there with the source's local index, which forwards it over NVLink to the token's GPUs on
// that node. With set_count_relays, a layer's routing also counts those node-level copies
// (LayerRouting::relay_copies) for the deduplicated traffic (AllToAllOp::relay).
//
// Left out: real token content and correlation between tokens or layers, capacity limits and
// token dropping, and shared experts (the generator adds them).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"
#include "sim/units.h"
#include "workloads/expert_placement.h"

namespace mlasim {

struct ModelConfig;

enum class RouterScoring : uint8_t { Sigmoid, Softmax };
enum class TopkMethod : uint8_t { NoauxTc, GroupLimitedGreedy, Greedy };
enum class DispatchCopies : uint8_t { PerGpu, PerExpert };

template <>
struct EnumNames<RouterScoring> {
  static constexpr std::array<std::pair<RouterScoring, std::string_view>, 2> values{
      {{RouterScoring::Sigmoid, "sigmoid"}, {RouterScoring::Softmax, "softmax"}}};
};
template <>
struct EnumNames<TopkMethod> {
  static constexpr std::array<std::pair<TopkMethod, std::string_view>, 3> values{
      {{TopkMethod::NoauxTc, "noaux_tc"},
       {TopkMethod::GroupLimitedGreedy, "group_limited_greedy"},
       {TopkMethod::Greedy, "greedy"}}};
};
template <>
struct EnumNames<DispatchCopies> {
  static constexpr std::array<std::pair<DispatchCopies, std::string_view>, 2> values{
      {{DispatchCopies::PerGpu, "per_gpu"}, {DispatchCopies::PerExpert, "per_expert"}}};
};

// Router behaviour. The first eight fields describe the model's gate (config.json: experts, k,
// groups, scoring, top-k method, scaling; defaults are DeepSeek-V3's) and are filled from the
// model by router_config_for(); they are not config keys, so `workload.router` holds only the
// rest (node limit, balancing, skew, seed, threads).
struct RouterConfig {
  uint32_t n_routed_experts = 256;
  uint32_t num_experts_per_tok = 8;
  uint32_t n_group = 8;
  uint32_t topk_group = 4;
  RouterScoring scoring = RouterScoring::Sigmoid;
  TopkMethod topk_method = TopkMethod::NoauxTc;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 2.5;
  uint32_t max_nodes_per_token = 0;
  double bias_update_speed = 0.001;
  double skew = 0.0;
  uint64_t seed = 1;
  uint32_t threads = 0;

  // The gate fields that come from the model, by their config.json names.
  static constexpr std::array<std::string_view, 8> kModelFields{
      "n_routed_experts", "num_experts_per_tok", "n_group",        "topk_group",
      "scoring",          "topk_method",         "norm_topk_prob", "routed_scaling_factor"};

  template <class V>
  void visit(V& v) {
    for (std::string_view key : kModelFields) {
      v.elsewhere(key,
                  "the router's experts, k, groups, scoring, top-k method and scaling come from "
                  "the model's config.json (workload.model; n_routed_experts and "
                  "num_experts_per_tok can be changed with workload.model_overrides)");
    }
    v("max_nodes_per_token", max_nodes_per_token, "count",
      "node-limited routing: nodes a token may reach (M), at most 64; 0: unlimited (DeepSeek-V3 "
      "trained with M = 4; its inference gate limits only groups)");
    v("bias_update_speed", bias_update_speed, "-",
      "aux-loss-free balancing: bias step per routing step (gamma), in [0, 1]; 0 freezes the "
      "bias");
    v("skew", skew, "-", "Zipf exponent of expert popularity, in [0, 20]; 0: uniform affinities");
    v("seed", seed, "-", "seed of the affinity generator");
    v("threads", threads, "count",
      "worker threads routing the layers of a step in parallel; 0: one per hardware thread "
      "(results do not depend on it)");
  }
  void validate(const ParamCheck& c) const;
};

// Fills the model fields of `base` from a HuggingFace config (experts, k, groups, methods,
// scaling). config.json's norm_topk_prob is not read by ModelConfig; it is taken as true for
// noaux_tc and false otherwise, which matches DeepSeek-V3, V2 and V2-Lite.
RouterConfig router_config_for(const ModelConfig& model, RouterConfig base = {});

// Dispatch/combine payload (config section such as `workload.moe_traffic`).
struct MoeTrafficConfig {
  Bytes dispatch_bytes_per_token{0};
  Bytes combine_bytes_per_token{0};
  DispatchCopies copies = DispatchCopies::PerGpu;

  template <class V>
  void visit(V& v) {
    v("dispatch_bytes_per_token", dispatch_bytes_per_token, "B",
      "bytes of one dispatched token copy; 0: FP8 hidden state plus one FP32 scale per 128");
    v("combine_bytes_per_token", combine_bytes_per_token, "B",
      "bytes of one combined token copy; 0: BF16 hidden state");
    v("copies", copies, "-",
      "per_gpu: one copy per destination GPU (DeepEP normal); per_expert: one per expert "
      "(DeepEP low-latency)");
  }
  // A token copy is a hidden state, tens of KiB; a size far beyond that is a slip (1TiB ran for
  // hours at packet level rather than being refused).
  static constexpr uint64_t kMaxBytesPerToken = uint64_t{16} << 20;
  void validate(const ParamCheck& c) const {
    c.require(dispatch_bytes_per_token.count() <= kMaxBytesPerToken, "dispatch_bytes_per_token",
              "must be at most 16 MiB (a token's hidden state)");
    c.require(combine_bytes_per_token.count() <= kMaxBytesPerToken, "combine_bytes_per_token",
              "must be at most 16 MiB (a token's hidden state)");
  }
  // Replaces zero sizes by DeepSeek's: FP8 dispatch with 1x128 FP32 scales, BF16 combine.
  MoeTrafficConfig resolved(uint64_t hidden_size) const;
};

// One MoE layer's routing in one step.
struct LayerRouting {
  uint32_t layer = 0;
  uint32_t num_gpus = 0;
  uint32_t num_experts = 0;
  uint32_t k = 0;
  uint64_t num_tokens = 0;
  uint64_t dispatch_bytes_per_copy = 0;
  uint64_t combine_bytes_per_copy = 0;

  std::vector<uint32_t> expert_load;  // tokens per logical expert
  std::vector<uint32_t> slot_load;    // tokens per physical slot (replica)
  std::vector<uint32_t> gpu_load;     // token-expert pairs computed per GPU
  std::vector<uint32_t> copies;       // [src * num_gpus + dst] token copies dispatched
  // [src * num_gpus + relay] tokens sent to another node once (with set_count_relays; else
  // empty): the relay is the GPU with src's local index on that node.
  std::vector<uint32_t> relay_copies;
  uint64_t total_nodes_reached = 0;   // sum over tokens of distinct destination nodes
  uint64_t total_gpus_reached = 0;    // sum over tokens of distinct destination GPUs
  uint64_t node_limit_overflows = 0;  // tokens that needed more than M nodes to find k experts

  // Filled only when assignments are requested. Token i of source GPU g is global token
  // token_begin[g] + i; its j-th expert (best first) is experts[token * k + j].
  std::vector<uint64_t> token_begin;
  std::vector<uint16_t> experts;
  std::vector<uint32_t> expert_gpus;  // GPU of the replica used
  std::vector<float> weights;

  // Byte matrices [src * num_gpus + dst]; combine is the transpose with the combine payload.
  std::vector<uint64_t> dispatch_bytes() const;
  std::vector<uint64_t> combine_bytes() const;
  uint64_t total_copies() const;
  double expert_imbalance() const;  // max / mean tokens per expert
  double gpu_imbalance() const;     // max / mean token-expert pairs per GPU
};

// max / mean of `values` (1 when all are zero).
double max_over_mean(std::span<const uint32_t> values);

// Load imbalance of the routed step (max / mean), over the simulated MoE layers and micro-batches.
struct RoutingImbalance {
  double expert_mean = 1, expert_max = 1;  // tokens per logical expert
  double gpu_mean = 1, gpu_max = 1;        // token-expert pairs per GPU
  uint64_t node_limit_overflows = 0;
  uint32_t routed_layers = 0;
  // Per routed layer, in order: its number (as in layers.csv: MTP module d is the model's
  // layer count + d) and its mean imbalances over micro-batches, EP groups and passes.
  std::vector<uint32_t> layers;
  std::vector<double> layer_expert, layer_gpu;
  // Every routing's loads, in the order given: its layer number, then its tokens per logical
  // expert (experts entries) and token-expert pairs per GPU of its EP group (gpus entries).
  uint32_t experts = 0, gpus = 0;
  std::vector<uint32_t> load_layers;
  std::vector<uint32_t> expert_loads, gpu_loads;
};

// The imbalance over a step's routings (every EP group's, micro-batch's and prefill pass's
// layers): means and maxima over all of them, and per routed layer r the mean over its own,
// numbered layer_numbers[r] in reports.
RoutingImbalance summarize_imbalance(std::span<const LayerRouting* const> routings,
                                     std::vector<uint32_t> layer_numbers);

class MoeRouter {
 public:
  // One placement shared by all layers, or one per layer (EPLB places each layer separately).
  // `traffic` must be resolved (non-zero sizes). Throws ConfigError on invalid settings.
  MoeRouter(const RouterConfig& config, std::vector<ExpertPlacement> placements,
            uint32_t num_layers, const MoeTrafficConfig& traffic);

  // Routes every layer for `tokens_per_gpu[g]` tokens on each EP rank g, updates the biases and
  // advances the step. Layers are independent, so they are spread over config().threads workers.
  std::vector<LayerRouting> route_step(std::span<const uint32_t> tokens_per_gpu,
                                       bool keep_assignments = false);
  // The same with each layer's own token counts (MTP layers see other batches than the model's).
  std::vector<LayerRouting> route_step_layers(
      std::span<const std::span<const uint32_t>> tokens_per_layer, bool keep_assignments = false);

  // Routes one layer in the current step; touches no state.
  LayerRouting route_layer(uint32_t layer, std::span<const uint32_t> tokens_per_gpu,
                           bool keep_assignments = false) const;
  // The aux-loss-free update from one layer's loads (a no-op unless noaux_tc).
  void update_bias(uint32_t layer, std::span<const uint32_t> expert_load);
  void next_step() { ++step_; }
  // Count LayerRouting::relay_copies from now on (EP groups spanning several nodes).
  void set_count_relays(bool on) { count_relays_ = on; }
  // Places the experts anew from the next routing on (biases and step stay): one placement for
  // every layer or one per layer, as in the constructor.
  void set_placements(std::vector<ExpertPlacement> placements);

  uint64_t step() const { return step_; }
  uint32_t num_layers() const { return static_cast<uint32_t>(layers_.size()); }
  const RouterConfig& config() const { return config_; }
  const ExpertPlacement& placement(uint32_t layer) const {
    return placements_[placements_.size() == 1 ? 0 : layer];
  }
  std::span<const float> bias(uint32_t layer) const { return layers_[layer].bias; }
  // Popularity rank of each expert in `layer` (1 = hottest; all equal in spirit when skew = 0).
  std::span<const uint32_t> popularity_rank(uint32_t layer) const { return layers_[layer].rank; }
  // Unbiased scores of every expert for token `token` of EP rank `src_gpu` in `layer` at the
  // current step: what route_layer sees, for checking selection against a reference.
  std::vector<float> affinities(uint32_t layer, uint32_t src_gpu, uint32_t token) const;

 private:
  struct LayerState {
    std::vector<uint32_t> rank;
    std::vector<float> weight;  // exp(o_e), times k/n for sigmoid scoring
    std::vector<float> bias;
  };
  void check_placements(const std::vector<ExpertPlacement>& placements, uint32_t num_layers) const;
  uint64_t token_key(uint32_t layer, uint32_t src_gpu, uint32_t token) const;
  // Fills score[] for one token; bits[] is scratch padded to a multiple of 3.
  void score_token(const LayerState& ls, uint64_t key, int32_t* bits, float* score) const;

  RouterConfig config_;
  std::vector<ExpertPlacement> placements_;
  MoeTrafficConfig traffic_;
  std::vector<LayerState> layers_;
  uint64_t step_ = 0;
  bool count_relays_ = false;
};

}  // namespace mlasim
