// Model descriptions read from HuggingFace `config.json` files.
//
// Only the fields the simulator uses are read, under their HuggingFace names; every other field
// of a real config.json (tokenizer ids, auto_map, ...) is ignored, because these files are
// written by model authors, not by us. A model is MLA when `kv_lora_rank` is given (the
// DeepSeek-V2/V3 family) and MoE when `n_routed_experts` is; otherwise it is MHA/GQA/MQA
// according to `num_key_value_heads`, and dense. Missing, mistyped or contradictory fields
// throw ConfigError with the message "FILE: field 'NAME': what is wrong" (nlohmann-json reports
// no line numbers). Left out: vision/audio towers, sliding-window attention, dynamic-NTK RoPE.
//
// The fields read, all of them (this list is the reference; the README points here). Sizes are
// element counts, lengths tokens; "required" fields have no default. A field written as null
// counts as not given (HuggingFace writes null for "not used").
//   model_type               deepseek_v2, deepseek_v3, llama or qwen2; any other is refused;
//                            without it the file is read by its fields
//   hidden_size              model width (required)
//   num_hidden_layers        transformer layers, at most 4096 (required)
//   intermediate_size        width of the dense MLP (required)
//   vocab_size               vocabulary, tokens (required)
//   max_position_embeddings  longest context, tokens (required)
//   rms_norm_eps             RMSNorm epsilon (1e-6)
//   rope_theta               RoPE base (10000)
//   rope_scaling             null or {type or rope_type: linear | yarn | llama3, factor >= 1;
//                            yarn: original_max_position_embeddings, beta_fast (32), beta_slow
//                            (1), mscale (1), mscale_all_dim (0); llama3:
//                            original_max_position_embeddings, low_freq_factor,
//                            high_freq_factor}
//   num_attention_heads      query heads (required)
//   num_key_value_heads      K/V heads (num_attention_heads); must divide the query heads, and
//                            equal them in an MLA model
//   head_dim                 per-head width, even (hidden_size / num_attention_heads); not MLA
//   attention_bias           biases on the q/k/v projections (false; qwen2: true); not MLA
// MLA, switched on by kv_lora_rank:
//   kv_lora_rank             width of the compressed KV latent, d_c
//   q_lora_rank              width of the query latent, d_c' (absent: queries not compressed)
//   qk_nope_head_dim         per-head query/key width without RoPE (required with MLA)
//   qk_rope_head_dim         per-head decoupled RoPE width d_r, even (required with MLA)
//   v_head_dim               per-head value width (required with MLA)
// MoE, switched on by n_routed_experts:
//   n_routed_experts         routed experts
//   num_experts_per_tok      experts per token, top-k, at most n_routed_experts (required)
//   moe_intermediate_size    width of one expert's FFN (required)
//   n_shared_experts         shared experts run on every token (0)
//   first_k_dense_replace    dense layers before the first MoE layer (0); every later layer is
//                            MoE, so moe_layer_freq, if given, must be 1
//   n_group, topk_group      expert groups (dividing n_routed_experts) and the groups a token's
//                            experts may come from (1, 1)
//   topk_method              greedy, group_limited_greedy or noaux_tc (greedy; deepseek_v3:
//                            noaux_tc, as transformers' DeepseekV3Config fixes it unwritten)
//   scoring_func             softmax or sigmoid (softmax; deepseek_v3: sigmoid, likewise)
//   routed_scaling_factor    scale of the routed experts' weighted sum, > 0 (1)
// MTP:
//   num_nextn_predict_layers MTP modules the checkpoint has (0); the simulated depth is
//                            workload.mtp.depth whatever this says
// Misspelt switches are caught two ways. A deepseek_v2 or deepseek_v3 file must write
// kv_lora_rank and n_routed_experts (null for a model without MLA or without MoE), with an MLA
// model also q_lora_rank, and with an MoE model every gate field above but moe_layer_freq (null
// where unused). In any file, an MLA field given while kv_lora_rank is not written at all, or
// an MoE field while n_routed_experts is not, is refused naming both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"

namespace mlasim {

// `rope_scaling` of config.json. `type` is empty when the model uses plain RoPE.
struct RopeScalingConfig {
  std::string type;  // "", "linear", "yarn" or "llama3"
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  // YaRN (DeepSeek-V2/V3).
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;  // 0: softmax scale is not adjusted
  // Llama 3.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
};

struct ModelConfig {
  std::string name;    // built-in name ("deepseek-v3") or the file's stem
  std::string source;  // the file it was read from
  std::string model_type;

  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // MLA: equal to num_attention_heads
  int64_t head_dim = 0;             // MHA family: per-head q/k/v width
  bool attention_bias = false;      // bias on q/k/v projections (always on for qwen2)

  // MLA (DeepSeek). kv_lora_rank > 0 marks an MLA model.
  int64_t q_lora_rank = 0;  // 0: no query compression (DeepSeek-V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 0;
  RopeScalingConfig rope_scaling;

  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;

  // Mixture of experts; all zero for a dense model.
  int64_t moe_intermediate_size = 0;
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t first_k_dense_replace = 0;
  int64_t n_group = 0;
  int64_t topk_group = 0;
  std::string topk_method;
  std::string scoring_func;
  double routed_scaling_factor = 1.0;
  int64_t num_nextn_predict_layers = 0;  // MTP depth

  bool is_mla() const { return kv_lora_rank > 0; }
  bool is_moe() const { return n_routed_experts > 0; }
  // Width of one head's query/key: nope + rope for MLA, head_dim otherwise.
  int64_t qk_head_dim() const { return is_mla() ? qk_nope_head_dim + qk_rope_head_dim : head_dim; }
  // Width of one head's value.
  int64_t value_head_dim() const { return is_mla() ? v_head_dim : head_dim; }
  // Rotary dims per head: the decoupled part for MLA, the whole head otherwise.
  int64_t rotary_dim() const { return is_mla() ? qk_rope_head_dim : head_dim; }
};

// Replacements for fields of a model's config.json, for what-if studies and sweeps (the YAML
// `model_overrides:` mapping of a workload, e.g. `{kv_lora_rank: 256}`). Each field keeps its
// HuggingFace name; 0 keeps the file's value. The patched config goes through the same checks
// as the file itself, so an inconsistent override fails like a bad config.json would.
// Transformer layers a model may have: 30x today's deepest, and few enough that a step's op
// graph (ops per layer x ranks) stays buildable.
inline constexpr int64_t kMaxModelLayers = 4096;

struct ModelOverrides {
  uint32_t kv_lora_rank = 0;
  uint32_t q_lora_rank = 0;
  uint32_t qk_nope_head_dim = 0;
  uint32_t qk_rope_head_dim = 0;
  uint32_t v_head_dim = 0;
  uint32_t num_attention_heads = 0;
  uint32_t num_key_value_heads = 0;
  uint32_t head_dim = 0;
  uint32_t n_routed_experts = 0;
  uint32_t num_experts_per_tok = 0;
  uint32_t n_shared_experts = 0;
  uint32_t moe_intermediate_size = 0;
  template <class V>
  void visit(V& v) {
    v("kv_lora_rank", kv_lora_rank, "count", "MLA latent width d_c (MLA models only)");
    v("q_lora_rank", q_lora_rank, "count", "MLA query latent width d_c' (MLA models only)");
    v("qk_nope_head_dim", qk_nope_head_dim, "count", "MLA per-head key width without RoPE");
    v("qk_rope_head_dim", qk_rope_head_dim, "count", "MLA decoupled RoPE width d_r (even)");
    v("v_head_dim", v_head_dim, "count", "MLA per-head value width");
    v("num_attention_heads", num_attention_heads, "count", "query heads n_h");
    v("num_key_value_heads", num_key_value_heads, "count", "K/V heads (MHA/GQA models)");
    v("head_dim", head_dim, "count", "per-head width (MHA/GQA models)");
    v("n_routed_experts", n_routed_experts, "count", "routed experts (MoE models)");
    v("num_experts_per_tok", num_experts_per_tok, "count", "experts per token, top-k");
    v("n_shared_experts", n_shared_experts, "count", "shared experts (MoE models)");
    v("moe_intermediate_size", moe_intermediate_size, "count", "expert FFN width");
  }
  // The fields given (non-zero), by HuggingFace name, in declaration order.
  std::vector<std::pair<std::string, int64_t>> given() const;
};

// Parses config.json text; `label` names the source in error messages.
ModelConfig parse_model_config(std::string_view json_text, const std::string& label);

// Reads a config.json file.
ModelConfig load_model_config(const std::filesystem::path& file);

// The built-in model names: the *.json files of `<config_dir>/models`, sorted.
std::vector<std::string> builtin_model_names(const std::filesystem::path& config_dir);

// Whether a model reference is written as a path (it has a '/' or ends in ".json") rather
// than a built-in name. A bare name that happens to be an existing file is a path too, but only
// resolve_model() checks that.
bool written_as_model_path(std::string_view name_or_path);

// `name_or_path` is a built-in name (see builtin_model_names) or the path of any config.json;
// a relative path missing from the working directory is looked up under `config_dir`.
// An unknown name throws InputError listing the known ones.
ModelConfig resolve_model(std::string_view name_or_path, const std::filesystem::path& config_dir);

// Same, with the project's configs/ folder (the MLASIM_CONFIG_DIR compile definition).
ModelConfig resolve_model(std::string_view name_or_path);

// Resolves the model, then applies `overrides` (see ModelOverrides). Errors name the file
// "(with model_overrides)" and the field.
ModelConfig resolve_model(std::string_view name_or_path, const ModelOverrides& overrides,
                          const std::filesystem::path& config_dir);
ModelConfig resolve_model(std::string_view name_or_path, const ModelOverrides& overrides);

}  // namespace mlasim
