// Reading HuggingFace config.json into ModelConfig, with checks that name the file and field.
#include "workloads/model_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "sim/config.h"
#include "sim/errors.h"
#include "sim/input_file.h"
#include "sim/json_errors.h"

namespace mlasim {
namespace {

using Json = nlohmann::json;

// Typed access to the fields of one JSON object; every failure names the file and the field.
constexpr int64_t kMaxInteger = int64_t{1} << 40;

class FieldReader {
 public:
  FieldReader(const Json& object, std::string label, std::string prefix = {})
      : object_(object), label_(std::move(label)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(std::string_view field, std::string_view message) const {
    throw ConfigError(fmt::format("{}: field '{}{}': {}", label_, prefix_, field, message));
  }

  // The field's value, or nullptr when it is absent or null (HF writes null for "not used").
  const Json* find(std::string_view field) const {
    auto it = object_.find(std::string(field));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool has(std::string_view field) const { return find(field) != nullptr; }
  // Whether the field is written at all, null included (null says "not used" outright).
  bool named(std::string_view field) const { return object_.contains(std::string(field)); }

  int64_t integer(std::string_view field, int64_t min_value) const {
    const Json* v = find(field);
    if (!v) fail(field, "missing (required)");
    return check_integer(field, *v, min_value);
  }
  int64_t integer_or(std::string_view field, int64_t fallback, int64_t min_value) const {
    const Json* v = find(field);
    return v ? check_integer(field, *v, min_value) : fallback;
  }
  double number(std::string_view field) const {
    const Json* v = find(field);
    if (!v) fail(field, "missing (required)");
    return check_number(field, *v);
  }
  double number_or(std::string_view field, double fallback) const {
    const Json* v = find(field);
    return v ? check_number(field, *v) : fallback;
  }
  double positive_number_or(std::string_view field, double fallback) const {
    double x = number_or(field, fallback);
    if (!(x > 0)) fail(field, fmt::format("must be positive, got {}", x));
    return x;
  }
  std::string string_or(std::string_view field, std::string fallback) const {
    const Json* v = find(field);
    if (!v) return fallback;
    if (!v->is_string()) fail(field, fmt::format("expected a string, got {}", v->dump()));
    return v->get<std::string>();
  }
  bool boolean_or(std::string_view field, bool fallback) const {
    const Json* v = find(field);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(field, fmt::format("expected true or false, got {}", v->dump()));
    return v->get<bool>();
  }

 private:
  int64_t check_integer(std::string_view field, const Json& v, int64_t min_value) const {
    int64_t x = 0;
    if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else if (v.is_number_float() && std::fabs(v.get<double>()) < 9.0e18 &&
               v.get<double>() == std::trunc(v.get<double>())) {
      x = static_cast<int64_t>(v.get<double>());  // 4096.0 written by some exporters
    } else {
      fail(field, fmt::format("expected an integer, got {}", v.dump()));
    }
    // Sizes beyond 2^40 describe no real model and would overflow the products built on them.
    if (x > kMaxInteger || (v.is_number_unsigned() && v.get<uint64_t>() > kMaxInteger)) {
      fail(field, fmt::format("must be at most 2^40, got {}", v.dump()));
    }
    if (x < min_value) fail(field, fmt::format("must be at least {}, got {}", min_value, x));
    return x;
  }
  double check_number(std::string_view field, const Json& v) const {
    if (!v.is_number()) fail(field, fmt::format("expected a number, got {}", v.dump()));
    return v.get<double>();
  }

  const Json& object_;
  std::string label_;
  std::string prefix_;
};

RopeScalingConfig read_rope_scaling(const FieldReader& top, const Json* node,
                                    const std::string& label) {
  RopeScalingConfig rs;
  if (!node) return rs;
  if (!node->is_object()) top.fail("rope_scaling", "expected an object or null");
  FieldReader f(*node, label, "rope_scaling.");
  // Newer transformers write `rope_type`, older ones `type`; both must agree when present.
  std::string type = f.string_or("rope_type", "");
  std::string legacy = f.string_or("type", "");
  if (!type.empty() && !legacy.empty() && type != legacy) {
    f.fail("type", fmt::format("'{}' contradicts rope_type '{}'", legacy, type));
  }
  if (type.empty()) type = legacy;
  if (type.empty() || type == "default") return rs;
  rs.type = type;
  if (type == "linear") {
    rs.factor = f.number("factor");
  } else if (type == "yarn") {
    rs.factor = f.number("factor");
    rs.original_max_position_embeddings = f.integer("original_max_position_embeddings", 1);
    rs.beta_fast = f.number_or("beta_fast", 32.0);
    rs.beta_slow = f.number_or("beta_slow", 1.0);
    rs.mscale = f.number_or("mscale", 1.0);
    rs.mscale_all_dim = f.number_or("mscale_all_dim", 0.0);
    if (!(rs.beta_fast > rs.beta_slow)) {
      f.fail("beta_fast",
             fmt::format("must exceed beta_slow ({}), got {}", rs.beta_slow, rs.beta_fast));
    }
  } else if (type == "llama3") {
    rs.factor = f.number("factor");
    rs.original_max_position_embeddings = f.integer("original_max_position_embeddings", 1);
    rs.low_freq_factor = f.number("low_freq_factor");
    rs.high_freq_factor = f.number("high_freq_factor");
    if (!(rs.high_freq_factor > rs.low_freq_factor)) {
      f.fail("high_freq_factor", fmt::format("must exceed low_freq_factor ({}), got {}",
                                             rs.low_freq_factor, rs.high_freq_factor));
    }
  } else {
    f.fail("type",
           fmt::format("unsupported RoPE scaling '{}' (supported: linear, yarn, llama3)", type));
  }
  if (!(rs.factor >= 1.0)) f.fail("factor", fmt::format("must be at least 1, got {}", rs.factor));
  return rs;
}

// The fields that only an MLA model (kv_lora_rank) or an MoE model (n_routed_experts) reads.
constexpr std::array<std::string_view, 4> kMlaFields{"q_lora_rank", "qk_nope_head_dim",
                                                     "qk_rope_head_dim", "v_head_dim"};
constexpr std::array<std::string_view, 10> kMoeFields{"num_experts_per_tok",
                                                      "moe_intermediate_size",
                                                      "n_shared_experts",
                                                      "first_k_dense_replace",
                                                      "n_group",
                                                      "topk_group",
                                                      "topk_method",
                                                      "scoring_func",
                                                      "routed_scaling_factor",
                                                      "moe_layer_freq"};

// DeepSeek-V2/V3 configs always write the fields that switch MLA and MoE on, null where a model
// goes without (HuggingFace's "not used"), and the ones that shape them. One that is not there
// was misspelt or lost, and reading on would give another model (GQA, dense, another gate)
// without a word.
void require_deepseek_fields(const FieldReader& f, const std::string& model_type) {
  auto need = [&](std::string_view field, std::string_view what) {
    if (!f.named(field)) {
      f.fail(field, fmt::format("missing: a {} config.json gives it ({})", model_type, what));
    }
  };
  need("kv_lora_rank", "the MLA latent width; null for a model without MLA");
  need("n_routed_experts", "the routed experts; null for a dense model");
  if (f.has("kv_lora_rank")) {
    need("q_lora_rank", "the query latent width; null for no query compression");
  }
  if (f.has("n_routed_experts")) {
    need("n_shared_experts", "shared experts");
    need("first_k_dense_replace", "dense layers before the first MoE layer");
    need("n_group", "expert groups of the gate");
    need("topk_group", "groups a token's experts may come from");
    need("routed_scaling_factor", "the scale of the routed experts' output");
  }
}

// A field only MLA (or MoE) reads, given while the field that switches it on is not written at
// all: the switch was most likely misspelt, and the model would be read as MHA/GQA (or dense).
// A switch written as null turns the family off on purpose; its fields are then not read.
void refuse_orphan_fields(const FieldReader& f) {
  auto check = [&f](std::string_view switch_field, std::string_view family, const auto& fields) {
    if (f.named(switch_field)) return;
    for (std::string_view field : fields) {
      if (!f.has(field)) continue;
      f.fail(field, fmt::format("given, but {} (which makes a model {}) is not: is {} "
                                "misspelt or missing? (for a model without {}, write {}: null "
                                "or leave {} out)",
                                switch_field, family, switch_field, family, switch_field, field));
    }
  };
  check("kv_lora_rank", "MLA", kMlaFields);
  check("n_routed_experts", "MoE", kMoeFields);
}

void read_moe(const FieldReader& f, ModelConfig& m) {
  m.n_routed_experts = f.integer_or("n_routed_experts", 0, 0);
  m.num_nextn_predict_layers = f.integer_or("num_nextn_predict_layers", 0, 0);
  if (m.n_routed_experts == 0) return;
  m.num_experts_per_tok = f.integer("num_experts_per_tok", 1);
  m.moe_intermediate_size = f.integer("moe_intermediate_size", 1);
  m.n_shared_experts = f.integer_or("n_shared_experts", 0, 0);
  m.first_k_dense_replace = f.integer_or("first_k_dense_replace", 0, 0);
  // DeepSeek's configs give 1: every layer after the dense ones is MoE, which is what the step
  // builds; another interleaving would be read as that one without a word.
  if (const int64_t freq = f.integer_or("moe_layer_freq", 1, 1); freq != 1) {
    f.fail("moe_layer_freq", fmt::format("{}: mlasim builds an MoE layer at every layer after "
                                         "first_k_dense_replace (moe_layer_freq 1)",
                                         freq));
  }
  m.n_group = f.integer_or("n_group", 1, 1);
  m.topk_group = f.integer_or("topk_group", 1, 1);
  // transformers' DeepseekV3Config has neither field (its gate is fixed: sigmoid scores, noaux_tc
  // top-k), so a config it saved does not write them; the hub's files do.
  const bool v3 = m.model_type == "deepseek_v3";
  m.topk_method = f.string_or("topk_method", v3 ? "noaux_tc" : "greedy");
  m.scoring_func = f.string_or("scoring_func", v3 ? "sigmoid" : "softmax");
  m.routed_scaling_factor = f.positive_number_or("routed_scaling_factor", 1.0);
  if (m.num_experts_per_tok > m.n_routed_experts) {
    f.fail("num_experts_per_tok", fmt::format("{} exceeds n_routed_experts {}",
                                              m.num_experts_per_tok, m.n_routed_experts));
  }
  if (m.n_routed_experts % m.n_group != 0) {
    f.fail("n_group",
           fmt::format("{} does not divide n_routed_experts {}", m.n_group, m.n_routed_experts));
  }
  if (m.topk_group > m.n_group) {
    f.fail("topk_group", fmt::format("{} exceeds n_group {}", m.topk_group, m.n_group));
  }
  if (m.first_k_dense_replace > m.num_hidden_layers) {
    f.fail("first_k_dense_replace", fmt::format("{} exceeds num_hidden_layers {}",
                                                m.first_k_dense_replace, m.num_hidden_layers));
  }
}

void read_attention(const FieldReader& f, ModelConfig& m) {
  m.num_attention_heads = f.integer("num_attention_heads", 1);
  m.kv_lora_rank = f.integer_or("kv_lora_rank", 0, 1);
  if (m.is_mla()) {
    // One latent serves every head, so a K/V head count other than the query heads' would
    // describe a different model than the one the MLA fields describe.
    m.num_key_value_heads = f.integer_or("num_key_value_heads", m.num_attention_heads, 1);
    if (m.num_key_value_heads != m.num_attention_heads) {
      f.fail("num_key_value_heads",
             fmt::format("an MLA model (kv_lora_rank given) has one K/V per query head; expected "
                         "{} (num_attention_heads), got {}",
                         m.num_attention_heads, m.num_key_value_heads));
    }
    m.q_lora_rank = f.integer_or("q_lora_rank", 0, 1);
    m.qk_nope_head_dim = f.integer("qk_nope_head_dim", 1);
    m.qk_rope_head_dim = f.integer("qk_rope_head_dim", 2);
    m.v_head_dim = f.integer("v_head_dim", 1);
    if (m.qk_rope_head_dim % 2 != 0) {
      f.fail("qk_rope_head_dim",
             fmt::format("RoPE rotates pairs of dims; must be even, got {}", m.qk_rope_head_dim));
    }
    m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    return;
  }
  m.num_key_value_heads = f.integer_or("num_key_value_heads", m.num_attention_heads, 1);
  if (m.num_attention_heads % m.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}",
                                              m.num_key_value_heads, m.num_attention_heads));
  }
  if (f.has("head_dim")) {
    m.head_dim = f.integer("head_dim", 2);
  } else {
    if (m.hidden_size % m.num_attention_heads != 0) {
      f.fail("num_attention_heads",
             fmt::format("{} does not divide hidden_size {} (and no head_dim is given)",
                         m.num_attention_heads, m.hidden_size));
    }
    m.head_dim = m.hidden_size / m.num_attention_heads;
  }
  if (m.head_dim % 2 != 0) {
    f.fail(
        f.has("head_dim") ? "head_dim" : "hidden_size",
        fmt::format("RoPE rotates pairs of dims; the head width must be even, got {}", m.head_dim));
  }
  // Qwen2 has biases on q/k/v by construction and its config does not say so.
  m.attention_bias = f.boolean_or("attention_bias", m.model_type == "qwen2");
}

// HuggingFace keeps config.json inside a folder named after the model.
std::string model_name_of(const std::filesystem::path& file) {
  return file.stem() == "config" && file.has_parent_path() ? file.parent_path().filename().string()
                                                           : file.stem().string();
}

std::string read_file(const std::filesystem::path& file) {
  if (const std::string why = non_regular_file_problem(file); !why.empty())
    throw InputError(fmt::format("{}: {}", file.string(), why));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open model config", file.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ModelConfig parse_model_config(std::string_view json_text, const std::string& label) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {  // syntax, or a number out of range
    throw ConfigError(json_error_message(label, "not valid JSON", e));
  }
  if (!root.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", label));
  FieldReader f(root, label);

  ModelConfig m;
  m.source = label;
  m.model_type = f.string_or("model_type", "");
  // The families whose fields this reader understands. Another (mamba, mixtral...) would be read
  // as whatever its fields resemble, e.g. a dense GQA model, without a word. A config.json
  // without the field is taken as its fields describe it.
  constexpr std::array<std::string_view, 4> kKnownTypes{"deepseek_v2", "deepseek_v3", "llama",
                                                        "qwen2"};
  if (f.has("model_type") &&
      std::find(kKnownTypes.begin(), kKnownTypes.end(), m.model_type) == kKnownTypes.end()) {
    f.fail("model_type", fmt::format("'{}' is not a model type mlasim reads (known: {})",
                                     m.model_type, fmt::join(kKnownTypes, ", ")));
  }
  if (m.model_type == "deepseek_v2" || m.model_type == "deepseek_v3") {
    require_deepseek_fields(f, m.model_type);
  }
  refuse_orphan_fields(f);
  m.hidden_size = f.integer("hidden_size", 1);
  m.num_hidden_layers = f.integer("num_hidden_layers", 1);
  if (m.num_hidden_layers > kMaxModelLayers) {
    f.fail("num_hidden_layers",
           fmt::format("must be at most {}, got {}", kMaxModelLayers, m.num_hidden_layers));
  }
  m.intermediate_size = f.integer("intermediate_size", 1);
  m.vocab_size = f.integer("vocab_size", 1);
  m.max_position_embeddings = f.integer("max_position_embeddings", 1);
  m.rms_norm_eps = f.positive_number_or("rms_norm_eps", 1e-6);
  m.rope_theta = f.positive_number_or("rope_theta", 10000.0);
  read_attention(f, m);
  m.rope_scaling = read_rope_scaling(f, f.find("rope_scaling"), label);
  if (m.rope_scaling.original_max_position_embeddings > m.max_position_embeddings) {
    f.fail("max_position_embeddings",
           fmt::format("{} is below rope_scaling.original_max_position_embeddings {}",
                       m.max_position_embeddings, m.rope_scaling.original_max_position_embeddings));
  }
  read_moe(f, m);
  return m;
}

ModelConfig load_model_config(const std::filesystem::path& file) {
  ModelConfig m = parse_model_config(read_file(file), file.string());
  m.name = model_name_of(file);
  return m;
}

std::vector<std::string> builtin_model_names(const std::filesystem::path& config_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_dir / "models", ec)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool written_as_model_path(std::string_view name_or_path) {
  return name_or_path.find('/') != std::string_view::npos ||
         std::filesystem::path(std::string(name_or_path)).extension() == ".json";
}

namespace {

// The config.json a model name or path designates, and the name the model goes by.
std::pair<std::filesystem::path, std::string> model_file(std::string_view name_or_path,
                                                         const std::filesystem::path& config_dir) {
  const std::filesystem::path as_path{std::string(name_or_path)};
  const bool looks_like_path =
      written_as_model_path(name_or_path) || std::filesystem::is_regular_file(as_path);
  if (looks_like_path) {
    // A relative path that is not there from the working directory may be one under configs/
    // (e.g. teaching/models/x.json), so scenarios can name their own model files.
    if (as_path.is_relative() && !std::filesystem::exists(as_path) &&
        std::filesystem::is_regular_file(config_dir / as_path)) {
      return {config_dir / as_path, std::string()};
    }
    return {as_path, std::string()};
  }
  const std::filesystem::path builtin = config_dir / "models" / (as_path.string() + ".json");
  if (std::filesystem::is_regular_file(builtin)) return {builtin, std::string(name_or_path)};
  std::string known;
  for (const auto& n : builtin_model_names(config_dir))
    known += (known.empty() ? "" : ", ") + n;
  throw InputError(fmt::format(
      "unknown model '{}' (built-in: {}; or give the path of a config.json)", name_or_path, known));
}

}  // namespace

ModelConfig resolve_model(std::string_view name_or_path, const std::filesystem::path& config_dir) {
  return resolve_model(name_or_path, ModelOverrides{}, config_dir);
}

ModelConfig resolve_model(std::string_view name_or_path) {
  return resolve_model(name_or_path, std::filesystem::path(MLASIM_CONFIG_DIR));
}

std::vector<std::pair<std::string, int64_t>> ModelOverrides::given() const {
  struct Collect {
    std::vector<std::pair<std::string, int64_t>> out;
    void operator()(std::string_view key, uint32_t value, std::string_view, std::string_view) {
      if (value != 0) out.emplace_back(std::string(key), value);
    }
  } c;
  const_cast<ModelOverrides*>(this)->visit(c);
  return std::move(c.out);
}

ModelConfig resolve_model(std::string_view name_or_path, const ModelOverrides& overrides,
                          const std::filesystem::path& config_dir) {
  const auto [file, name] = model_file(name_or_path, config_dir);
  ModelConfig m;
  const auto given = overrides.given();
  if (given.empty()) {
    m = load_model_config(file);
  } else {
    Json root;
    try {
      root = Json::parse(read_file(file));
    } catch (const Json::exception& e) {  // syntax, or a number out of range
      throw ConfigError(json_error_message(file.string(), "not valid JSON", e));
    }
    if (!root.is_object())
      throw ConfigError(fmt::format("{}: expected a JSON object", file.string()));
    auto family_of = [&root](std::string_view key) -> std::optional<std::string_view> {
      auto among = [key](const auto& fields) {
        return std::find(fields.begin(), fields.end(), key) != fields.end();
      };
      if (key == "kv_lora_rank" || among(kMlaFields)) return "kv_lora_rank";
      if (key == "n_routed_experts" || among(kMoeFields)) return "n_routed_experts";
      return std::nullopt;
    };
    for (const auto& [key, value] : given) {
      // An MLA (MoE) field given to a model without MLA (MoE) would turn it into another family,
      // or be refused as the file's orphan field, which blames the file, not the override.
      if (const auto family = family_of(key)) {
        const std::string sw(*family);
        if (!root.contains(sw) || root[sw].is_null()) {
          throw ConfigError(fmt::format(
              "{}: model_overrides.{}: the model is not {} (no {}); overrides change a model's "
              "sizes, not its family",
              file.string(), key, sw == "kv_lora_rank" ? "MLA" : "MoE", sw));
        }
      }
      root[key] = value;
    }
    m = parse_model_config(root.dump(), file.string() + " (with model_overrides)");
    m.source = file.string();
    m.name = model_name_of(file);
  }
  if (!name.empty()) m.name = name;
  return m;
}

ModelConfig resolve_model(std::string_view name_or_path, const ModelOverrides& overrides) {
  return resolve_model(name_or_path, overrides, std::filesystem::path(MLASIM_CONFIG_DIR));
}

}  // namespace mlasim
