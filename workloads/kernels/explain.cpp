// Builds the --explain listing from the same AttentionSpec the accounting uses, so the shapes
// shown are the ones counted.
#include "workloads/kernels/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "workloads/kernels/rope.h"

namespace mlasim::kernels {
namespace {

uint64_t product(const std::vector<int64_t>& dims) {
  uint64_t n = 1;
  for (int64_t d : dims)
    n *= static_cast<uint64_t>(d);
  return n;
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::string bytes_text(uint64_t bytes) {
  if (bytes == 0) return "on chip";
  if (bytes < 10'000) return fmt::format("{} B", bytes);
  if (bytes < 10'000'000) return fmt::format("{:.1f} kB", bytes / 1e3);
  if (bytes < 10'000'000'000) return fmt::format("{:.1f} MB", bytes / 1e6);
  return fmt::format("{:.2f} GB", bytes / 1e9);
}

}  // namespace

DimensionFlow dimension_flow(const ModelConfig& model, Variant variant, const StepShape& shape,
                             const Precision& precision) {
  const AttentionSpec s = attention_spec(model, variant);
  const int64_t b = shape.batch, q = shape.q_len, L = shape.kv_len(), t = shape.kv_new;
  const int64_t d = s.hidden, nh = s.n_heads, dn = s.qk_nope_dim, dr = s.qk_rope_dim;
  const int64_t dv = s.v_head_dim, dc = s.kv_lora_rank, dq = s.q_lora_rank, dqk = dn + dr;
  const uint64_t a = dtype_bytes(precision.activation);
  const DType cdt = precision.cache;

  DimensionFlow f;
  f.variant = variant;
  auto act = [&](std::string stage, std::string sym, std::vector<int64_t> dims, std::string w,
                 std::string note = {}) {
    const uint64_t bytes = product(dims) * a;
    f.steps.push_back(
        {std::move(stage), std::move(sym), std::move(dims), std::move(w), bytes, std::move(note)});
  };
  auto on_chip = [&](std::string stage, std::string sym, std::vector<int64_t> dims,
                     std::string note) {
    f.steps.push_back({std::move(stage), std::move(sym), std::move(dims), "", 0, std::move(note)});
  };
  auto cached = [&](std::string stage, std::string sym, std::vector<int64_t> dims, std::string w,
                    uint64_t bytes, std::string note) {
    f.steps.push_back(
        {std::move(stage), std::move(sym), std::move(dims), std::move(w), bytes, std::move(note)});
  };
  const std::string q_head = dn > 0 ? "d_nope+d_rope" : "d_h";
  // YaRN (DeepSeek-V2/V3) also scales the softmax, by its mscale(factor, mscale_all_dim)^2.
  const RopeScalingConfig& rs = model.rope_scaling;
  const double yarn = rs.type == "yarn" && rs.mscale_all_dim != 0.0
                          ? std::pow(yarn_mscale(rs.factor, rs.mscale_all_dim), 2)
                          : 1.0;
  auto scaled = [&](const std::string& dims) {
    return fmt::format("scaled by 1/sqrt({}){}, causal mask from start_pos", dims,
                       yarn != 1.0 ? fmt::format(" x {:.4g} (YaRN mscale^2)", yarn) : "");
  };
  const std::string bias = s.qkv_bias ? " + bias" : "";

  act("x (normed hidden states)", "[b, s, d]", {b, q, d}, "");
  if (dq > 0) {
    act("q_a_proj + q_a_layernorm", "[b, s, d_q]", {b, q, dq}, dims_text({dq, d}),
        "query compression");
    act("q_b_proj" + bias + " + RoPE", fmt::format("[b, s, n_h, {}]", q_head), {b, q, nh, dqk},
        dims_text({nh * dqk, dq}), dn > 0 ? "RoPE on each head's last d_rope dims" : "RoPE");
  } else {
    act("q_proj" + bias + " + RoPE", fmt::format("[b, s, n_h, {}]", q_head), {b, q, nh, dqk},
        dims_text({nh * dqk, d}), dn > 0 ? "RoPE on each head's last d_rope dims" : "RoPE");
  }

  if (s.is_mla()) {
    const bool absorbed = variant == Variant::MlaAbsorbed;
    f.title = absorbed ? "MLA, absorbed (W_UK into the query, W_UV after attention)"
                       : "MLA, naive (latent up-projected to K and V every step)";
    act("kv_a_proj_with_mqa", "[b, s, d_c+d_rope]", {b, t, dc + dr}, dims_text({dc + dr, d}),
        "split into the latent c and one rotary key");
    cached("kv_a_layernorm -> cache_kv", "[b, L, d_c]", {b, L, dc}, "",
           static_cast<uint64_t>(b * L) * cache_vector_bytes(dc, cdt),
           fmt::format("{} new at slot {}; L = cached + new", t, shape.kv_start));
    cached("RoPE -> cache_rk", "[b, L, d_rope]", {b, L, dr}, "",
           static_cast<uint64_t>(b * L) * cache_vector_bytes(dr, cdt), "shared by all heads");
    if (!absorbed) {
      act("kv_b_proj over the whole cache", "[b, L, n_h, d_nope+d_v]", {b, L, nh, dn + dv},
          dims_text({nh * (dn + dv), dc}), "K_nope and V materialised each step");
      act("cache_rk copied to every head", "[b, L, n_h, d_rope]", {b, L, nh, dr}, "",
          "completes per-head K = [k_nope | k_rope]");
      on_chip("scores q.[k_nope | k_rope]", "[b, n_h, s, L]", {b, nh, q, L},
              scaled("d_nope+d_rope"));
      act("softmax . V", "[b, s, n_h, d_v]", {b, q, nh, dv}, "");
    } else {
      act("q_nope . W_UK", "[b, s, n_h, d_c]", {b, q, nh, dc}, dims_text({nh, dn, dc}),
          "W_UK = kv_b_proj's key rows, per head");
      on_chip("scores q_lat.cache_kv + q_rope.cache_rk", "[b, n_h, s, L]", {b, nh, q, L},
              scaled("d_nope+d_rope"));
      act("softmax . cache_kv", "[b, s, n_h, d_c]", {b, q, nh, dc}, "",
          "the latent is the value too");
      act(". W_UV", "[b, s, n_h, d_v]", {b, q, nh, dv}, dims_text({nh, dv, dc}),
          "W_UV = kv_b_proj's value rows, per head");
    }
  } else {
    const int64_t nkv = s.n_kv_heads;
    f.title = fmt::format("{} with {} KV head{} ({} query heads per KV head)",
                          variant == Variant::Mha   ? "MHA"
                          : variant == Variant::Mqa ? "MQA"
                                                    : "GQA",
                          nkv, nkv == 1 ? "" : "s", nh / nkv);
    cached("k_proj" + bias + " + RoPE -> cache_k", fmt::format("[b, L, n_kv, {}]", q_head),
           {b, L, nkv, dqk}, dims_text({nkv * dqk, d}),
           static_cast<uint64_t>(b * L * nkv) * cache_vector_bytes(dqk, cdt),
           fmt::format("{} new at slot {}; L = cached + new", t, shape.kv_start));
    cached("v_proj" + bias + " -> cache_v", "[b, L, n_kv, d_v]", {b, L, nkv, dv},
           dims_text({nkv * dv, d}),
           static_cast<uint64_t>(b * L * nkv) * cache_vector_bytes(dv, cdt), "");
    on_chip("scores q.k", "[b, n_h, s, L]", {b, nh, q, L}, scaled("d_qk"));
    act("softmax . V", "[b, s, n_h, d_v]", {b, q, nh, dv}, "");
  }
  act("o_proj", "[b, s, d]", {b, q, d}, dims_text({d, nh * dv}));
  return f;
}

std::vector<DimensionFlow> dimension_flows(const ModelConfig& model, const StepShape& shape,
                                           const Precision& precision) {
  if (model.is_mla()) {
    return {dimension_flow(model, Variant::MlaAbsorbed, shape, precision),
            dimension_flow(model, Variant::MlaNaive, shape, precision)};
  }
  const Variant native = model.num_key_value_heads == model.num_attention_heads ? Variant::Mha
                         : model.num_key_value_heads == 1                       ? Variant::Mqa
                                                                                : Variant::Gqa;
  return {dimension_flow(model, native, shape, precision)};
}

std::string format_flows(const ModelConfig& model, const std::vector<DimensionFlow>& flows) {
  std::string out;
  for (const DimensionFlow& f : flows) {
    out += fmt::format("Dimension flow of one attention layer of {}: {}\n", model.name, f.title);
    size_t w_stage = 5, w_shape = 5, w_dims = 5, w_weight = 6;
    for (const FlowStep& s : f.steps) {
      w_stage = std::max(w_stage, s.stage.size());
      w_shape = std::max(w_shape, s.shape.size());
      w_dims = std::max(w_dims, dims_text(s.dims).size());
      w_weight = std::max(w_weight, s.weight.size());
    }
    out += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>10}  {}\n", "stage", w_stage, "shape",
                       w_shape, "sizes", w_dims, "weight", w_weight, "in memory", "note");
    for (const FlowStep& s : f.steps) {
      out += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>10}  {}\n", s.stage, w_stage,
                         s.shape, w_shape, dims_text(s.dims), w_dims, s.weight, w_weight,
                         bytes_text(s.bytes), s.note);
    }
    out += "\n";
  }
  out +=
      "Symbols: b batch, s new tokens, L = cached + new tokens, d hidden, d_q query latent, d_c "
      "KV latent, n_h query heads, n_kv KV heads, d_nope/d_rope/d_v per-head widths.\n";
  return out;
}

}  // namespace mlasim::kernels
