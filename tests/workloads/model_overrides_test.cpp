// workload.model_overrides: replaced config.json fields reach the model, the rest is untouched,
// and bad overrides fail like a bad config.json (InputError, exit 2 from the CLI).
#include <gtest/gtest.h>

#include <string>

#include "sim/config.h"
#include "sim/errors.h"
#include "workloads/kernels/accounting.h"
#include "workloads/model_config.h"

namespace mlasim {
namespace {

TEST(ModelOverrides, ReplaceOnlyTheGivenFields) {
  const ModelConfig base = resolve_model("deepseek-v3");
  ModelOverrides o;
  o.kv_lora_rank = 256;
  o.qk_rope_head_dim = 32;
  const ModelConfig m = resolve_model("deepseek-v3", o);
  EXPECT_EQ(m.name, "deepseek-v3");
  EXPECT_EQ(m.kv_lora_rank, 256);
  EXPECT_EQ(m.qk_rope_head_dim, 32);
  EXPECT_EQ(m.head_dim, base.qk_nope_head_dim + 32);
  EXPECT_EQ(m.hidden_size, base.hidden_size);
  EXPECT_EQ(m.num_attention_heads, base.num_attention_heads);
  EXPECT_EQ(m.q_lora_rank, base.q_lora_rank);
  EXPECT_EQ(m.n_routed_experts, base.n_routed_experts);
  EXPECT_EQ(m.num_hidden_layers, 61);
  // MLA caches the latent plus one shared rotary key per layer: (d_c + d_r) x layers x 2 B.
  EXPECT_EQ(kernels::model_kv_cache_bytes_per_token(m, kernels::Variant::MlaAbsorbed, DType::BF16),
            uint64_t{(256 + 32) * 61 * 2});
  EXPECT_TRUE(ModelOverrides{}.given().empty());
  ASSERT_EQ(o.given().size(), 2u);
  EXPECT_EQ(o.given()[0].first, "kv_lora_rank");
}

TEST(ModelOverrides, MoeAndHeadFieldsOfAnMhaModel) {
  ModelOverrides o;
  o.num_key_value_heads = 4;
  const ModelConfig m = resolve_model("qwen2.5-72b", o);
  EXPECT_EQ(m.num_key_value_heads, 4);
  EXPECT_EQ(m.num_attention_heads, resolve_model("qwen2.5-72b").num_attention_heads);
  ModelOverrides e;
  e.num_experts_per_tok = 4;
  EXPECT_EQ(resolve_model("deepseek-v2-lite", e).num_experts_per_tok, 4);
}

std::string error_of(const std::string& model, const ModelOverrides& o) {
  try {
    resolve_model(model, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ModelOverrides, InconsistentOverridesAreRejectedLikeABadFile) {
  ModelOverrides odd;
  odd.qk_rope_head_dim = 33;
  EXPECT_NE(error_of("deepseek-v3", odd).find("(with model_overrides): field 'qk_rope_head_dim'"),
            std::string::npos)
      << error_of("deepseek-v3", odd);
  ModelOverrides too_many;
  too_many.num_experts_per_tok = 1000;
  EXPECT_NE(error_of("deepseek-v3", too_many).find("exceeds n_routed_experts"), std::string::npos);
  ModelOverrides mla_on_mha;
  mla_on_mha.kv_lora_rank = 512;
  EXPECT_NE(error_of("llama-3.1-405b", mla_on_mha).find("is not MLA"), std::string::npos)
      << error_of("llama-3.1-405b", mla_on_mha);
  // Any MLA or MoE field on a model of another family names the override, not the file.
  ModelOverrides rope_on_gqa;
  rope_on_gqa.qk_rope_head_dim = 64;
  EXPECT_NE(error_of("qwen2.5-72b", rope_on_gqa)
                .find("model_overrides.qk_rope_head_dim: the model is not MLA (no kv_lora_rank)"),
            std::string::npos)
      << error_of("qwen2.5-72b", rope_on_gqa);
  for (auto set : {+[](ModelOverrides& o) { o.n_routed_experts = 8; },
                   +[](ModelOverrides& o) { o.num_experts_per_tok = 2; },
                   +[](ModelOverrides& o) { o.moe_intermediate_size = 1024; }}) {
    ModelOverrides moe_on_dense;
    set(moe_on_dense);
    const std::string err = error_of("llama-3.1-405b", moe_on_dense);
    EXPECT_NE(err.find("the model is not MoE (no n_routed_experts)"), std::string::npos) << err;
    EXPECT_EQ(err.find("misspelt"), std::string::npos) << err;
  }
}

TEST(ModelOverrides, ReadFromYamlWithUnknownFieldsRejected) {
  ConfigNode ok = load_config_string("{kv_lora_rank: 128}", "w.yaml", ".");
  EXPECT_EQ(read_params<ModelOverrides>(&ok, "workload.model_overrides").kv_lora_rank, 128u);
  ConfigNode typo = load_config_string("{kv_lora: 128}", "w.yaml", ".");
  try {
    read_params<ModelOverrides>(&typo, "workload.model_overrides");
    FAIL() << "unknown field accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.model_overrides.kv_lora"), std::string::npos)
        << e.what();
  }
  ConfigNode negative = load_config_string("{kv_lora_rank: -1}", "w.yaml", ".");
  EXPECT_THROW(read_params<ModelOverrides>(&negative, "workload.model_overrides"), InputError);
}

}  // namespace
}  // namespace mlasim
