// HuggingFace config.json reading: the shipped models' figures, and errors that name the file
// and the field for missing, mistyped and contradictory fields.
#include <gtest/gtest.h>

#include <tuple>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "sim/config.h"
#include "workloads/model_config.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A folder of its own per test (each test runs in its own process, possibly in parallel).
fs::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::temp_directory_path() / (std::string("mlasim_model_config_") +
                                                    info->test_suite_name() + "_" + info->name());
  fs::create_directories(dir);
  return dir;
}

// Starts each test with an empty scratch folder and removes it afterwards.
class KernelModelConfig : public ::testing::Test {
 protected:
  void SetUp() override { fs::remove_all(scratch_dir()); }
  void TearDown() override { fs::remove_all(scratch_dir()); }
};

Json llama_like() {
  return Json::parse(R"({"model_type": "llama", "hidden_size": 1024, "num_hidden_layers": 4,
    "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 2816,
    "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "rope_scaling": null})");
}

// A dense DeepSeek-V3-style model: MLA, and no routed experts (said with null, as a deepseek
// config.json must say it).
Json mla_like() {
  Json j = llama_like();
  j["model_type"] = "deepseek_v3";
  j["num_key_value_heads"] = 16;
  j["kv_lora_rank"] = 128;
  j["q_lora_rank"] = 256;
  j["qk_nope_head_dim"] = 32;
  j["qk_rope_head_dim"] = 16;
  j["v_head_dim"] = 32;
  j["n_routed_experts"] = nullptr;
  return j;
}

// The same with a small MoE, every gate field given.
Json moe_like() {
  Json j = mla_like();
  j["n_routed_experts"] = 8;
  j["num_experts_per_tok"] = 2;
  j["moe_intermediate_size"] = 64;
  j["n_shared_experts"] = 1;
  j["first_k_dense_replace"] = 1;
  j["n_group"] = 1;
  j["topk_group"] = 1;
  j["topk_method"] = "greedy";
  j["scoring_func"] = "softmax";
  j["routed_scaling_factor"] = 1.0;
  return j;
}

// Writes `j` to a file and returns the message of the ConfigError loading it raises.
std::string load_error(const Json& j, const std::string& file_name = "config.json") {
  const fs::path path = scratch_dir() / file_name;
  std::ofstream(path) << j.dump(2);
  try {
    load_model_config(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << j.dump();
  return {};
}

std::string expected_prefix(const std::string& field, const std::string& file = "config.json") {
  return (scratch_dir() / file).string() + ": field '" + field + "': ";
}

TEST_F(KernelModelConfig, BuiltinModelsLoadWithTheirFigures) {
  EXPECT_EQ(builtin_model_names(MLASIM_CONFIG_DIR),
            (std::vector<std::string>{"deepseek-v2", "deepseek-v2-lite", "deepseek-v3",
                                      "llama-3.1-405b", "qwen2.5-72b", "teaching"}));
  const ModelConfig v3 = resolve_model("deepseek-v3");
  EXPECT_TRUE(v3.is_mla());
  EXPECT_EQ(v3.name, "deepseek-v3");
  EXPECT_EQ(v3.hidden_size, 7168);
  EXPECT_EQ(v3.num_hidden_layers, 61);
  EXPECT_EQ(v3.q_lora_rank, 1536);
  EXPECT_EQ(v3.kv_lora_rank, 512);
  EXPECT_EQ(v3.qk_head_dim(), 192);
  EXPECT_EQ(v3.rope_scaling.type, "yarn");
  EXPECT_EQ(v3.rope_scaling.factor, 40.0);
  EXPECT_EQ(v3.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_EQ(v3.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_EQ(v3.n_routed_experts, 256);
  EXPECT_EQ(v3.num_experts_per_tok, 8);
  EXPECT_EQ(v3.topk_method, "noaux_tc");
  EXPECT_EQ(v3.num_nextn_predict_layers, 1);

  const ModelConfig lite = resolve_model("deepseek-v2-lite");
  EXPECT_EQ(lite.q_lora_rank, 0);  // null in the file: no query compression
  EXPECT_EQ(lite.rope_scaling.mscale, 0.707);

  const ModelConfig qwen = resolve_model("qwen2.5-72b");
  EXPECT_FALSE(qwen.is_mla());
  EXPECT_EQ(qwen.head_dim, 128);  // 8192 / 64
  EXPECT_EQ(qwen.num_key_value_heads, 8);
  EXPECT_TRUE(qwen.attention_bias);
  EXPECT_EQ(qwen.rope_theta, 1e6);
  EXPECT_EQ(qwen.intermediate_size, 29568);

  const ModelConfig llama = resolve_model("llama-3.1-405b");
  EXPECT_EQ(llama.rope_scaling.type, "llama3");
  EXPECT_EQ(llama.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama.rope_theta, 500000.0);
  EXPECT_EQ(llama.num_hidden_layers, 126);
  EXPECT_FALSE(llama.attention_bias);

  const ModelConfig t = resolve_model("teaching");
  EXPECT_EQ(t.hidden_size, 240);
  EXPECT_EQ(t.num_attention_heads, 10);
  EXPECT_EQ(t.qk_nope_head_dim, 24);
  EXPECT_EQ(t.v_head_dim, 24);
  EXPECT_EQ(t.kv_lora_rank, 120);
  EXPECT_EQ(t.qk_rope_head_dim, 8);
}

TEST_F(KernelModelConfig, PathsResolveAndHfFoldersNameTheModel) {
  const fs::path dir = scratch_dir() / "my-model";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << mla_like().dump();
  const ModelConfig m = resolve_model((dir / "config.json").string());
  EXPECT_EQ(m.name, "my-model");
  EXPECT_TRUE(m.is_mla());
  EXPECT_EQ(m.num_key_value_heads, 16);
}

TEST(ModelReference, PathsAreToldFromBuiltinNamesByHowTheyAreWritten) {
  EXPECT_FALSE(written_as_model_path("deepseek-v3"));
  EXPECT_FALSE(written_as_model_path("llama-3.1-405b"));  // a dot, but no .json
  EXPECT_TRUE(written_as_model_path("config.json"));
  EXPECT_TRUE(written_as_model_path("models/x"));
  EXPECT_TRUE(written_as_model_path("/abs/config.json"));
  EXPECT_FALSE(written_as_model_path("config.yaml"));
}

TEST_F(KernelModelConfig, MissingFieldsAreNamed) {
  Json j = llama_like();
  j.erase("hidden_size");
  EXPECT_EQ(load_error(j), expected_prefix("hidden_size") + "missing (required)");
  Json m = mla_like();
  m.erase("qk_rope_head_dim");
  EXPECT_EQ(load_error(m), expected_prefix("qk_rope_head_dim") + "missing (required)");
  Json y = mla_like();
  y["rope_scaling"] = Json::parse(R"({"type": "yarn", "original_max_position_embeddings": 1024})");
  EXPECT_EQ(load_error(y), expected_prefix("rope_scaling.factor") + "missing (required)");
}

TEST_F(KernelModelConfig, ContradictoryFieldsAreNamed) {
  Json j = llama_like();
  j["num_key_value_heads"] = 6;
  EXPECT_EQ(load_error(j),
            expected_prefix("num_key_value_heads") + "6 does not divide num_attention_heads 16");
  Json h = llama_like();
  h["num_attention_heads"] = 24;
  h["num_key_value_heads"] = 8;
  EXPECT_EQ(load_error(h), expected_prefix("num_attention_heads") +
                               "24 does not divide hidden_size 1024 (and no head_dim is given)");
  h["head_dim"] = 64;  // an explicit head_dim makes it consistent
  const fs::path ok = scratch_dir() / "ok.json";
  std::ofstream(ok) << h.dump();
  EXPECT_EQ(load_model_config(ok).head_dim, 64);

  Json m = mla_like();
  m["num_key_value_heads"] = 4;
  EXPECT_NE(load_error(m).find(expected_prefix("num_key_value_heads") +
                               "an MLA model (kv_lora_rank given) has one K/V per query head"),
            std::string::npos);
  Json r = mla_like();
  r["qk_rope_head_dim"] = 15;
  EXPECT_EQ(load_error(r), expected_prefix("qk_rope_head_dim") +
                               "RoPE rotates pairs of dims; must be even, got 15");
  Json t = mla_like();
  t["rope_scaling"] = Json::parse(R"({"type": "yarn", "rope_type": "llama3", "factor": 4})");
  EXPECT_EQ(load_error(t),
            expected_prefix("rope_scaling.type") + "'yarn' contradicts rope_type 'llama3'");
  Json e = moe_like();
  e["num_experts_per_tok"] = 9;
  EXPECT_EQ(load_error(e), expected_prefix("num_experts_per_tok") + "9 exceeds n_routed_experts 8");
  // MoE every other layer is not what the step builds (it used to be read as every layer).
  e["num_experts_per_tok"] = 2;
  e["moe_layer_freq"] = 2;
  EXPECT_EQ(load_error(e), expected_prefix("moe_layer_freq") +
                               "2: mlasim builds an MoE layer at every layer after "
                               "first_k_dense_replace (moe_layer_freq 1)");
  e["moe_layer_freq"] = 1;
  const fs::path every = scratch_dir() / "every.json";
  std::ofstream(every) << e.dump();
  EXPECT_EQ(load_model_config(every).n_routed_experts, 8);
}

// A deepseek config.json always writes the fields that switch MLA and MoE on (null where the
// model goes without) and those that shape them: one misspelt used to turn the model into a
// GQA or dense one, or change its gate, without a word.
TEST_F(KernelModelConfig, DeepSeekFilesMustNameTheirMlaAndMoeFields) {
  const std::string v3 = "a deepseek_v3 config.json gives it";
  Json a = mla_like();
  a.erase("kv_lora_rank");
  a.erase("q_lora_rank");
  a.erase("qk_nope_head_dim");
  a.erase("qk_rope_head_dim");
  a.erase("v_head_dim");
  EXPECT_EQ(load_error(a), expected_prefix("kv_lora_rank") + "missing: " + v3 +
                               " (the MLA latent width; null for a model without MLA)");
  Json q = mla_like();
  q.erase("q_lora_rank");
  EXPECT_NE(load_error(q).find(expected_prefix("q_lora_rank") + "missing: " + v3),
            std::string::npos);
  Json d = mla_like();
  d.erase("n_routed_experts");
  EXPECT_EQ(load_error(d), expected_prefix("n_routed_experts") + "missing: " + v3 +
                               " (the routed experts; null for a dense model)");
  for (const char* gate : {"n_shared_experts", "first_k_dense_replace", "n_group", "topk_group",
                           "routed_scaling_factor"}) {
    Json g = moe_like();
    g.erase(gate);
    EXPECT_NE(load_error(g).find(expected_prefix(gate) + "missing: " + v3), std::string::npos)
        << gate;
  }
  // transformers' own DeepseekV3Config saves neither topk_method nor scoring_func (its gate is
  // fixed): a V3 file without them has V3's gate, a V2 file V2's defaults.
  for (const auto& [type, method, scoring] : {std::tuple{"deepseek_v3", "noaux_tc", "sigmoid"},
                                              std::tuple{"deepseek_v2", "greedy", "softmax"}}) {
    Json g = moe_like();
    g["model_type"] = type;
    g.erase("topk_method");
    g.erase("scoring_func");
    const fs::path file = scratch_dir() / (std::string(type) + "_gate.json");
    std::ofstream(file) << g.dump();
    const ModelConfig gm = load_model_config(file);
    EXPECT_EQ(gm.topk_method, method) << type;
    EXPECT_EQ(gm.scoring_func, scoring) << type;
  }
  // Null turns a family off on purpose: a deepseek model without MLA (the teaching MHA twin)
  // loads, whatever MLA fields it keeps.
  Json off = mla_like();
  off["kv_lora_rank"] = nullptr;
  const fs::path mha = scratch_dir() / "mha.json";
  std::ofstream(mha) << off.dump();
  const ModelConfig m = load_model_config(mha);
  EXPECT_FALSE(m.is_mla());
  EXPECT_FALSE(m.is_moe());
  const ModelConfig twin = resolve_model("teaching/models/deepseek-v2-lite-mha.json");
  EXPECT_FALSE(twin.is_mla());
  EXPECT_EQ(twin.n_routed_experts, 64);

  // The shipped DeepSeek-V2-Lite with either switch misspelt.
  std::ifstream in(fs::path(MLASIM_CONFIG_DIR) / "models" / "deepseek-v2-lite.json");
  const std::string lite((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string field : {"kv_lora_rank", "n_routed_experts"}) {
    std::string text = lite;
    const size_t at = text.find("\"" + field + "\"");
    ASSERT_NE(at, std::string::npos) << field;
    text.replace(at + 1, field.size(), field + "x");
    const fs::path path = scratch_dir() / "lite.json";
    std::ofstream(path) << text;
    try {
      load_model_config(path);
      ADD_FAILURE() << field << " misspelt was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": field '" + field +
                                                "': missing: a deepseek_v2 config.json gives it",
                                            0),
                0u)
          << e.what();
    }
  }
}

// In any file, a field only MLA (MoE) reads, given while the field that switches the family on
// is not written at all, is refused naming both: the switch is most likely misspelt.
TEST_F(KernelModelConfig, FamilyFieldsWithoutTheirSwitchAreRefused) {
  Json r = llama_like();
  r["qk_rope_head_dim"] = 64;
  EXPECT_EQ(load_error(r), expected_prefix("qk_rope_head_dim") +
                               "given, but kv_lora_rank (which makes a model MLA) is not: is "
                               "kv_lora_rank misspelt or missing? (for a model without MLA, "
                               "write kv_lora_rank: null or leave qk_rope_head_dim out)");
  Json k = llama_like();
  k["num_experts_per_tok"] = 2;
  EXPECT_NE(load_error(k).find(expected_prefix("num_experts_per_tok") +
                               "given, but n_routed_experts (which makes a model MoE) is not"),
            std::string::npos);
  // Without model_type the file is read by its fields: the same holds.
  Json u = moe_like();
  u.erase("model_type");
  u.erase("kv_lora_rank");
  EXPECT_NE(load_error(u).find(expected_prefix("q_lora_rank") + "given, but kv_lora_rank"),
            std::string::npos);
  Json w = moe_like();
  w.erase("model_type");
  w.erase("n_routed_experts");
  EXPECT_NE(
      load_error(w).find(expected_prefix("num_experts_per_tok") + "given, but n_routed_experts"),
      std::string::npos);
  // A switch written as null leaves its family's fields unread (HuggingFace writes defaults).
  Json n = llama_like();
  n["n_routed_experts"] = nullptr;
  n["topk_method"] = "greedy";
  const fs::path dense = scratch_dir() / "dense.json";
  std::ofstream(dense) << n.dump();
  EXPECT_FALSE(load_model_config(dense).is_moe());
}

TEST_F(KernelModelConfig, BadValuesAreNamed) {
  Json j = llama_like();
  j["hidden_size"] = "big";
  EXPECT_EQ(load_error(j), expected_prefix("hidden_size") + "expected an integer, got \"big\"");
  Json z = llama_like();
  z["num_hidden_layers"] = 0;
  EXPECT_EQ(load_error(z), expected_prefix("num_hidden_layers") + "must be at least 1, got 0");
  Json f = llama_like();
  f["vocab_size"] = 3.5;
  EXPECT_EQ(load_error(f), expected_prefix("vocab_size") + "expected an integer, got 3.5");
  Json d = llama_like();
  d["rope_scaling"] = Json::parse(R"({"rope_type": "dynamic", "factor": 2})");
  EXPECT_EQ(load_error(d),
            expected_prefix("rope_scaling.type") +
                "unsupported RoPE scaling 'dynamic' (supported: linear, yarn, llama3)");
  const fs::path bad = scratch_dir() / "broken.json";
  std::ofstream(bad) << "{\"hidden_size\": 12,";
  try {
    load_model_config(bad);
    ADD_FAILURE() << "broken JSON accepted";
  } catch (const ConfigError& e) {
    // Named by line and column: the input ends after its 19 characters.
    EXPECT_EQ(std::string(e.what()).rfind(bad.string() + ":1:20: not valid JSON: syntax error", 0),
              0u)
        << e.what();
  }
}

TEST_F(KernelModelConfig, UnknownNamesAndMissingFiles) {
  try {
    resolve_model("gpt-7");
    ADD_FAILURE() << "unknown model accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown model 'gpt-7' (built-in: deepseek-v2, deepseek-v2-lite, deepseek-v3, "
              "llama-3.1-405b, qwen2.5-72b, teaching; or give the path of a config.json)");
  }
  const std::string missing = (scratch_dir() / "absent.json").string();
  try {
    resolve_model(missing);
    ADD_FAILURE() << "missing file accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open model config");
  }
}

}  // namespace
}  // namespace mlasim
