// FLOP and byte accounting: the kernels' stage-by-stage counters, the closed forms of
// accounting.h and formulas re-derived here from the whole-layer view ("every weight once,
// these activations in and out") must agree exactly; KV bytes per token match the published
// figures for the real models.
#include <gtest/gtest.h>

#include <random>

#include "workloads/kernels/accounting.h"
#include "workloads/kernels/attention_kernel.h"
#include "workloads/kernels/kernels_timing.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {
namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

// Independent byte sizes: FP8 weights carry a 4-byte scale per 128x128 block, FP8 cache rows
// one per 128 elements.
struct Sizes {
  DType w, act, cache;
  uint64_t weight(uint64_t rows, uint64_t cols) const {
    return rows * cols * dtype_bytes(w) +
           (w == DType::FP8 ? 4 * ceil_div(rows, 128) * ceil_div(cols, 128) : 0);
  }
  uint64_t cached(uint64_t n) const {
    return n * dtype_bytes(cache) + (cache == DType::FP8 ? 4 * ceil_div(n, 128) : 0);
  }
  uint64_t a() const { return dtype_bytes(act); }
};

uint64_t brute_force_pairs(const StepShape& s) {
  uint64_t pairs = 0;
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t i = 0; i < s.q_len; ++i) {
      for (int64_t j = 0; j < s.kv_len(); ++j) {
        if (!s.causal || j <= s.q_start + i) ++pairs;
      }
    }
  }
  return pairs;
}

// The whole-layer formulas.
KernelCost expected_cost(const AttentionSpec& s, const StepShape& sh, const Precision& p,
                         MlaMode mode) {
  const Sizes z{p.compute, p.activation, p.cache};
  const uint64_t a = z.a();
  const uint64_t b = sh.batch, tq = b * sh.q_len, tkv = b * sh.kv_new, L = sh.kv_len();
  const uint64_t d = s.hidden, nh = s.n_heads, dn = s.qk_nope_dim, dr = s.qk_rope_dim;
  const uint64_t dv = s.v_head_dim, dqk = dn + dr, dq = s.q_lora_rank, dc = s.kv_lora_rank;
  const uint64_t pairs = brute_force_pairs(sh);
  const bool kv_step = tkv > 0;

  KernelCost c;
  MemoryTraffic& t = c.traffic;
  // Query side, same for every variant.
  const uint64_t q_macs = dq ? d * dq + dq * nh * dqk : d * nh * dqk;
  c.projection_flops = 2 * tq * q_macs + 2 * tq * nh * dv * d;  // + o_proj
  t.weight_bytes_read = (dq ? z.weight(dq, d) + z.weight(nh * dqk, dq) : z.weight(nh * dqk, d)) +
                        (dq && s.latent_norm ? dq * a : 0) + (s.qkv_bias ? nh * dqk * a : 0) +
                        z.weight(d, nh * dv);
  t.activation_bytes_read = a * (tq * d + (dq ? tq * dq : 0) + tq * nh * dv);
  t.activation_bytes_written = a * ((dq ? tq * dq : 0) + tq * nh * dqk + tq * d);

  if (s.is_mla()) {
    const uint64_t row = z.cached(dc) + z.cached(dr);
    if (kv_step) {
      c.projection_flops += 2 * tkv * d * (dc + dr);
      t.weight_bytes_read += z.weight(dc + dr, d) + (s.latent_norm ? dc * a : 0);
      t.activation_bytes_read += a * tkv * d;
    }
    t.kv_cache_bytes_written = tkv * row;
    t.kv_cache_bytes_read = b * L * row;  // latent and rotary key, once each either way
    if (mode == MlaMode::Naive) {
      c.projection_flops += 2 * b * L * dc * nh * (dn + dv);
      c.attention_flops = 2 * pairs * nh * (dn + dr + dv);
      t.weight_bytes_read += z.weight(nh * (dn + dv), dc);
      // Per-head K is [K_nope | k_rope]: the rotary key is copied to every head.
      t.activation_bytes_read += a * (tq * nh * dqk + b * L * nh * (dqk + dv));
      t.activation_bytes_written += a * (b * L * nh * (dn + dv + dr) + tq * nh * dv);
    } else {
      c.absorb_flops = 2 * tq * nh * dn * dc + 2 * tq * nh * dc * dv;
      c.attention_flops = 2 * pairs * nh * (dc + dr + dc);
      // W_UK and W_UV in the activation dtype (dequantised in FP8 runs).
      t.weight_bytes_read += nh * (dn + dv) * dc * a;
      t.activation_bytes_read += a * (tq * nh * dn + tq * nh * (dc + dr) + tq * nh * dc);
      t.activation_bytes_written += a * (tq * nh * dc + tq * nh * dc + tq * nh * dv);
    }
  } else {
    const uint64_t nkv = s.n_kv_heads;
    if (kv_step) {
      c.projection_flops += 2 * tkv * d * nkv * (dqk + dv);
      t.weight_bytes_read +=
          z.weight(nkv * dqk, d) + z.weight(nkv * dv, d) + (s.qkv_bias ? nkv * (dqk + dv) * a : 0);
      t.activation_bytes_read += a * 2 * tkv * d;
    }
    c.attention_flops = 2 * pairs * nh * (dqk + dv);
    t.kv_cache_bytes_written = tkv * nkv * (z.cached(dqk) + z.cached(dv));
    t.kv_cache_bytes_read = b * L * nkv * (z.cached(dqk) + z.cached(dv));
    t.activation_bytes_read += a * tq * nh * dqk;
    t.activation_bytes_written += a * tq * nh * dv;
  }
  return c;
}

AttentionSpec small_mla(int64_t q_lora) {
  AttentionSpec s;
  s.hidden = 160;
  s.n_heads = 3;
  s.n_kv_heads = 1;
  s.q_lora_rank = q_lora;
  s.kv_lora_rank = 136;  // two FP8 tiles, the second partial
  s.qk_nope_dim = 16;
  s.qk_rope_dim = 8;
  s.v_head_dim = 24;
  return s;
}

AttentionSpec small_gqa(int64_t kv_heads, bool bias) {
  AttentionSpec s;
  s.hidden = 144;
  s.n_heads = 4;
  s.n_kv_heads = kv_heads;
  s.qk_rope_dim = 16;
  s.v_head_dim = 16;
  s.qkv_bias = bias;
  return s;
}

TEST(KernelAccounting, VisiblePairsMatchBruteForce) {
  for (const StepShape& s :
       {StepShape::self_attention(2, 0, 7), StepShape::self_attention(3, 10, 1),
        StepShape::self_attention(1, 5, 4), StepShape::cross_attention(2, 3, 9)}) {
    EXPECT_EQ(s.visible_pairs(), brute_force_pairs(s));
  }
  // Decode of s tokens after P cached: s*P + s(s+1)/2 per sequence.
  EXPECT_EQ(StepShape::self_attention(1, 4096, 1).visible_pairs(), 4097u);
  EXPECT_EQ(StepShape::self_attention(2, 100, 4).visible_pairs(), 2u * (400 + 10));
}

TEST(KernelAccounting, KernelCountersMatchClosedFormsAndWholeLayerFormulas) {
  std::mt19937_64 rng(17);
  struct Case {
    AttentionSpec spec;
    MlaMode mode;
  };
  const std::vector<Case> cases = {
      {small_mla(48), MlaMode::Absorbed},       {small_mla(48), MlaMode::Naive},
      {small_mla(0), MlaMode::Absorbed},        {small_mla(0), MlaMode::Naive},
      {small_gqa(4, false), MlaMode::Absorbed}, {small_gqa(2, true), MlaMode::Absorbed},
      {small_gqa(1, false), MlaMode::Absorbed},
  };
  const std::vector<Precision> precisions = {
      Precision::make(DType::FP32), Precision::make(DType::BF16), Precision::make(DType::FP8),
      Precision::make(DType::FP8, DType::FP8), Precision::make(DType::BF16, DType::FP32)};
  for (const Case& c : cases) {
    const auto master = random_attention_weights(c.spec, rng);
    for (const Precision& p : precisions) {
      SCOPED_TRACE(p.describe());
      AttentionKernel<float> k(c.spec, prepare_weights<float>(master, p),
                               RopeTable(c.spec.qk_rope_dim, 10000.0), p, c.mode);
      auto cache = k.make_cache(2, 16);
      Tensor<float> prompt({2, 5, c.spec.hidden}, 0.25f), next({2, 3, c.spec.hidden}, -0.5f);
      // Prefill from an empty cache, then a 3-token step at start_pos 5.
      for (const auto& [x, start] :
           {std::pair{&prompt, int64_t{0}}, std::pair{&next, int64_t{5}}}) {
        KernelCost counted;
        k.forward(*x, start, cache, &counted);
        const StepShape sh = StepShape::self_attention(2, start, x->dim(1));
        EXPECT_EQ(counted, attention_step_cost(c.spec, sh, p, c.mode));
        EXPECT_EQ(counted, expected_cost(c.spec, sh, p, c.mode));
      }
      // Cross-attention: 3 queries over 11 memory tokens.
      auto cross_cache = k.make_cache(2, 11);
      Tensor<float> mem({2, 11, c.spec.hidden}, 0.75f);
      KernelCost counted;
      k.forward_cross(next, mem, cross_cache, &counted);
      const StepShape cross = StepShape::cross_attention(2, 3, 11);
      EXPECT_EQ(counted, attention_step_cost(c.spec, cross, p, c.mode));
      EXPECT_EQ(counted, expected_cost(c.spec, cross, p, c.mode));
    }
  }
}

TEST(KernelAccounting, DeepSeekV3DecodeLayerFigures) {
  const ModelConfig v3 = resolve_model("deepseek-v3");
  const Precision bf16 = Precision::make(DType::BF16);
  const StepShape decode = StepShape::self_attention(1, 4096, 1);
  const AttentionSpec mla = attention_spec(v3, Variant::MlaAbsorbed);
  const KernelCost absorbed = attention_step_cost(mla, decode, bf16, MlaMode::Absorbed);
  // Every weight of the layer once: q_a 7168x1536, its norm, q_b 1536x(128*192), kv_a
  // 7168x576, its norm, kv_b 512x(128*256), o 16384x7168; two bytes each.
  EXPECT_EQ(
      absorbed.traffic.weight_bytes_read,
      2ull * (7168 * 1536 + 1536 + 1536 * 24576 + 7168 * 576 + 512 + 512 * 32768 + 16384 * 7168));
  EXPECT_EQ(absorbed.traffic.kv_cache_bytes_read, 4097u * 576 * 2);
  EXPECT_EQ(absorbed.traffic.kv_cache_bytes_written, 576u * 2);
  EXPECT_EQ(absorbed.attention_flops, 2ull * 4097 * 128 * (512 + 64 + 512));
  const KernelCost naive = attention_step_cost(mla, decode, bf16, MlaMode::Naive);
  // Naive up-projects 4097 latent rows to 128 heads of K_nope and V every step.
  EXPECT_EQ(naive.projection_flops - absorbed.projection_flops, 2ull * 4097 * 512 * 128 * 256);
  // The absorption products instead, W_UK and W_UV of 128 heads (timed in the activation dtype).
  EXPECT_EQ(absorbed.absorb_flops, 2ull * 128 * 128 * 512 * 2);
  EXPECT_EQ(naive.absorb_flops, 0u);
  for (const Precision& p : {bf16, Precision::make(DType::FP8)}) {
    for (MlaMode mode : {MlaMode::Absorbed, MlaMode::Naive}) {
      EXPECT_EQ(attention_step_cost(mla, decode, p, mode), expected_cost(mla, decode, p, mode));
    }
  }
}

TEST(KernelAccounting, KvBytesPerTokenOfRealModels) {
  auto bytes = [](const char* name, Variant v, DType t) {
    return model_kv_cache_bytes_per_token(resolve_model(name), v, t);
  };
  // ISCA'25 Table 1: (512 + 64) x 61 x 2; 2 x 8 x 128 x 80 x 2; 2 x 8 x 128 x 126 x 2.
  EXPECT_EQ(bytes("deepseek-v3", Variant::MlaAbsorbed, DType::BF16), 70'272u);
  EXPECT_EQ(bytes("deepseek-v3", Variant::MlaNaive, DType::BF16), 70'272u);
  EXPECT_EQ(bytes("qwen2.5-72b", Variant::Gqa, DType::BF16), 327'680u);
  EXPECT_EQ(bytes("llama-3.1-405b", Variant::Gqa, DType::BF16), 516'096u);
  EXPECT_EQ(bytes("deepseek-v2", Variant::MlaAbsorbed, DType::BF16), 576u * 60 * 2);
  EXPECT_EQ(bytes("deepseek-v2-lite", Variant::MlaAbsorbed, DType::BF16), 576u * 27 * 2);
  // The MHA baseline of V3: 128 heads of 192-wide keys and 128-wide values.
  EXPECT_EQ(bytes("deepseek-v3", Variant::Mha, DType::BF16), 128u * (192 + 128) * 2 * 61);
  EXPECT_EQ(bytes("deepseek-v3", Variant::Gqa, DType::BF16), 8u * (192 + 128) * 2 * 61);
  EXPECT_EQ(bytes("deepseek-v3", Variant::Mqa, DType::FP32), (192u + 128) * 4 * 61);
  // FP8 cache: one byte per element plus a 4-byte scale per 128-element tile (4 + 1 tiles).
  EXPECT_EQ(bytes("deepseek-v3", Variant::MlaAbsorbed, DType::FP8), (576u + 5 * 4) * 61);
  EXPECT_EQ(bytes("qwen2.5-72b", Variant::Mha, DType::BF16), 2u * 64 * 128 * 80 * 2);
}

TEST(KernelAccounting, VariantsAndBaselines) {
  const ModelConfig v3 = resolve_model("deepseek-v3");
  EXPECT_EQ(model_variants(v3).size(), 5u);
  EXPECT_EQ(attention_spec(v3, Variant::Gqa).n_kv_heads, 8);
  EXPECT_EQ(attention_spec(v3, Variant::Mha).qk_head_dim(), 192);
  EXPECT_EQ(attention_spec(v3, Variant::Mha).q_lora_rank, 1536);  // same query path
  const ModelConfig teaching = resolve_model("teaching");
  EXPECT_EQ(gqa_kv_heads(teaching), 5);  // 8 does not divide 10 heads
  const ModelConfig qwen = resolve_model("qwen2.5-72b");
  EXPECT_EQ(model_variants(qwen).size(), 3u);
  EXPECT_EQ(attention_spec(qwen, Variant::Gqa).n_kv_heads, 8);
  EXPECT_TRUE(attention_spec(qwen, Variant::Gqa).qkv_bias);
  EXPECT_THROW(attention_spec(qwen, Variant::MlaAbsorbed), InputError);
}

TEST(KernelAccounting, Fp8ScaleOverheads) {
  EXPECT_EQ(weight_matrix_bytes(7168, 1536, DType::FP8), 7168u * 1536 + 56 * 12 * 4);
  EXPECT_EQ(weight_matrix_bytes(100, 130, DType::FP8), 100u * 130 + 1 * 2 * 4);
  EXPECT_EQ(weight_matrix_bytes(100, 130, DType::BF16), 100u * 130 * 2);
  EXPECT_EQ(cache_vector_bytes(512, DType::FP8), 512u + 16);
  EXPECT_EQ(cache_vector_bytes(64, DType::FP8), 64u + 4);
  EXPECT_EQ(cache_vector_bytes(64, DType::FP32), 256u);
}

// The ops the GPU model times (kernels_timing.h) move the accounted bytes: reads exactly, less
// the norm gains and biases the GEMM ops leave out; writes exactly where the cache is stored
// as the projections write (otherwise the cache writes are in the GEMMs' output dtype). FP8
// cache rows are read with their scales. Real V3 dims and small ones (no q_lora, a partial FP8
// tile, biases), every variant, decode, MTP-style multi-token decode, chunked prefill, prefill.
TEST(KernelAccounting, TimingOpsMoveTheAccountedBytes) {
  const ModelConfig v3 = resolve_model("deepseek-v3");
  struct Case {
    AttentionSpec spec;
    MlaMode mode;
  };
  const std::vector<Case> cases = {
      {attention_spec(v3, Variant::MlaAbsorbed), MlaMode::Absorbed},
      {attention_spec(v3, Variant::MlaNaive), MlaMode::Naive},
      {attention_spec(v3, Variant::Mha), MlaMode::Absorbed},
      {attention_spec(v3, Variant::Gqa), MlaMode::Absorbed},
      {small_mla(0), MlaMode::Naive},
      {small_mla(48), MlaMode::Absorbed},
      {small_gqa(2, true), MlaMode::Absorbed},
  };
  const std::vector<StepShape> shapes = {
      StepShape::self_attention(3, 700, 1), StepShape::self_attention(2, 300, 2),
      StepShape::self_attention(2, 256, 64), StepShape::self_attention(1, 0, 200)};
  const std::vector<Precision> precisions = {Precision::make(DType::FP32),
                                             Precision::make(DType::BF16),
                                             Precision::make(DType::BF16, DType::FP8)};
  for (const Case& c : cases) {
    const AttentionSpec& s = c.spec;
    for (const Precision& p : precisions) {
      const uint64_t a = dtype_bytes(p.activation);
      const uint64_t nh = s.n_heads, dqk = s.qk_head_dim(), dv = s.v_head_dim;
      const uint64_t nkv = s.is_mla() ? 0 : s.n_kv_heads;
      const uint64_t norms = s.latent_norm ? (s.q_lora_rank + s.kv_lora_rank) * a : 0;
      const uint64_t biases = s.qkv_bias ? (nh * dqk + nkv * (dqk + dv)) * a : 0;
      for (const StepShape& sh : shapes) {
        SCOPED_TRACE(p.describe() + " q_len " + std::to_string(sh.q_len) + " heads " +
                     std::to_string(nh) + (c.mode == MlaMode::Naive ? " naive" : ""));
        const MemoryTraffic t = attention_step_cost(s, sh, p, c.mode).traffic;
        uint64_t read = 0, written = 0;
        for (const OpPayload& op : attention_step_ops(s, sh, p, c.mode)) {
          std::visit(
              [&](const auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, ElementwiseOp>) {
                  read += o.bytes_in.count();
                  written += o.bytes_out.count();
                } else if constexpr (requires { o.bytes_read(); }) {
                  read += o.bytes_read();
                  written += o.bytes_written();
                }
              },
              op);
        }
        // (Naive MLA's up-projection GEMM reads the cached latent in its compute dtype, where
        // the accounting reads the cache's own bytes.)
        const uint64_t latent_as_compute = c.mode == MlaMode::Naive
                                               ? sh.batch * sh.kv_len() *
                                                     (s.kv_lora_rank * dtype_bytes(p.compute) -
                                                      stored_row_bytes(s.kv_lora_rank, p.cache))
                                               : 0;
        EXPECT_EQ(read, t.weight_bytes_read + t.activation_bytes_read + t.kv_cache_bytes_read -
                            norms - biases + latent_as_compute);
        if (p.cache == p.compute) {
          EXPECT_EQ(written, t.activation_bytes_written + t.kv_cache_bytes_written);
        }
      }
    }
  }
}

// Steps the timing ops cannot express are refused rather than timed as another shape: causal
// queries that are not the last positions, and more queries than keys.
TEST(KernelAccounting, TimingOpsRefuseShapesTheAttentionOpCannotHold) {
  const AttentionSpec s = small_mla(0);
  const Precision p = Precision::make(DType::BF16);
  StepShape early = StepShape::self_attention(1, 10, 2);
  early.q_start = 3;  // queries at 3 and 4 over 12 keys
  EXPECT_NO_THROW(attention_step_cost(s, early, p, MlaMode::Absorbed));
  EXPECT_THROW(attention_step_ops(s, early, p, MlaMode::Absorbed), InputError);
  EXPECT_THROW(attention_step_ops(s, StepShape::cross_attention(1, 5, 3), p, MlaMode::Absorbed),
               InputError);
  EXPECT_NO_THROW(attention_step_ops(s, StepShape::cross_attention(1, 3, 5), p, MlaMode::Naive));
  EXPECT_NO_THROW(attention_step_ops(s, StepShape::self_attention(2, 7, 3), p, MlaMode::Naive));
}

}  // namespace
}  // namespace mlasim::kernels
