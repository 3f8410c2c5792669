// Functional attention kernels against the independent float64 reference
// (attention_reference.h) and against each other: naive vs absorbed MLA, decode vs prefill,
// cross-attention, MLA vs the MHA of its composed projections, GQA vs MHA.
#include <gtest/gtest.h>

#include <random>

#include "tests/workloads/attention_reference.h"
#include "workloads/kernels/attention_kernel.h"

namespace mlasim::kernels {
namespace {

using reference::plain_rotary;
using reference::reference_attention;
using reference::relative_error;

constexpr double kTheta = 10000.0;

// The reference with plain RoPE at kTheta and scale 1/sqrt(d_qk).
Tensor<double> plain_reference(const AttentionSpec& s, const AttentionWeights<double>& w,
                               const Tensor<double>& xq, const Tensor<double>& xkv, bool causal) {
  return reference_attention(s, w, xq, 0, xkv, causal, plain_rotary(s.qk_rope_dim, kTheta),
                             1.0 / std::sqrt(static_cast<double>(s.qk_head_dim())));
}

struct MlaShape {
  int64_t batch, prefill, decode, hidden, heads, q_lora, kv_lora, nope, rope, v;
};

AttentionSpec mla_spec(const MlaShape& m) {
  AttentionSpec s;
  s.hidden = m.hidden;
  s.n_heads = m.heads;
  s.n_kv_heads = 1;
  s.q_lora_rank = m.q_lora;
  s.kv_lora_rank = m.kv_lora;
  s.qk_nope_dim = m.nope;
  s.qk_rope_dim = m.rope;
  s.v_head_dim = m.v;
  return s;
}

AttentionSpec gqa_spec(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim,
                       bool bias = false) {
  AttentionSpec s;
  s.hidden = hidden;
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.qk_rope_dim = head_dim;  // rotate the whole head, as Llama/Qwen do
  s.v_head_dim = head_dim;
  s.qkv_bias = bias;
  return s;
}

template <class Real>
Tensor<Real> slice_tokens(const Tensor<double>& x, int64_t t0, int64_t t1) {
  const int64_t B = x.dim(0), N = x.dim(1), d = x.dim(2);
  Tensor<Real> out({B, t1 - t0, d});
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t e = 0; e < d; ++e) {
        out[(b * (t1 - t0) + t - t0) * d + e] = static_cast<Real>(x[(b * N + t) * d + e]);
      }
    }
  }
  return out;
}

// Runs x [B, N, d] through the kernel: the first `prefill` tokens in one call, then the rest
// `chunk` at a time at their start_pos; returns all N outputs.
template <class Real>
Tensor<double> run_sequence(const AttentionKernel<Real>& k, const Tensor<double>& x,
                            int64_t prefill, int64_t chunk) {
  const int64_t B = x.dim(0), N = x.dim(1), d = x.dim(2);
  KvCache<Real> cache = k.make_cache(B, N);
  Tensor<double> out({B, N, d});
  for (int64_t t0 = 0; t0 < N;) {
    const int64_t t1 = std::min(N, t0 == 0 && prefill > 0 ? prefill : t0 + chunk);
    const Tensor<Real> y = k.forward(slice_tokens<Real>(x, t0, t1), t0, cache);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t e = 0; e < d; ++e) {
          out[(b * N + t) * d + e] = static_cast<double>(y[(b * (t1 - t0) + t - t0) * d + e]);
        }
      }
    }
    t0 = t1;
  }
  return out;
}

template <class Real>
AttentionKernel<Real> make_kernel(const AttentionSpec& s, const AttentionWeights<double>& master,
                                  DType dtype, MlaMode mode = MlaMode::Absorbed) {
  const Precision p = Precision::make(dtype);
  return AttentionKernel<Real>(s, prepare_weights<Real>(master, p),
                               RopeTable(s.qk_rope_dim, kTheta), p, mode);
}

// The model as stored in `dtype`: weights rounded (FP8: 128x128-block scaled), gains and
// biases in the activation dtype. Reduced-precision kernels are compared with the float64
// reference of these same weights, so the tolerances measure the arithmetic (activation
// rounding, FP32 accumulation), not the checkpoint's quantisation.
AttentionWeights<double> stored_weights(const AttentionWeights<double>& master, DType dtype) {
  return prepare_weights<double>(master, Precision::make(dtype));
}

double tolerance(DType t) {
  switch (t) {
    case DType::FP32:
      return 1e-5;
    case DType::BF16:
      return 2e-2;
    case DType::FP8:
      return 1e-1;
    default:
      return 1e-12;
  }
}

const MlaShape kMlaShapes[] = {
    // batch, prefill, decode, hidden, heads, q_lora, kv_lora, nope, rope, v
    {2, 5, 3, 64, 4, 48, 32, 16, 8, 16},    // V3-like: query compression
    {1, 0, 6, 96, 3, 0, 40, 24, 8, 32},     // V2-Lite-like: no query compression, d_v != d_nope
    {3, 9, 2, 160, 5, 64, 130, 16, 4, 24},  // latent wider than one FP8 tile
    {1, 70, 2, 64, 4, 0, 24, 8, 8, 8},      // more keys than a block (64), rows than a chunk (256)
};

TEST(KernelMla, NaiveAndAbsorbedMatchFloat64Reference) {
  std::mt19937_64 rng(20240601);
  for (const MlaShape& m : kMlaShapes) {
    const AttentionSpec s = mla_spec(m);
    const AttentionWeights<double> master = random_attention_weights(s, rng);
    const int64_t n = m.prefill + m.decode;
    Tensor<double> x({m.batch, n, m.hidden});
    fill_normal(x, rng, 1.0);
    const Tensor<double> ref = plain_reference(s, master, x, x, true);
    SCOPED_TRACE(::testing::Message() << "hidden " << m.hidden << " heads " << m.heads);

    for (MlaMode mode : {MlaMode::Naive, MlaMode::Absorbed}) {
      const auto k64 = make_kernel<double>(s, master, DType::FP64, mode);
      EXPECT_LT(relative_error(run_sequence(k64, x, m.prefill, 1), ref), 1e-12);
    }
    for (DType dt : {DType::FP32, DType::BF16, DType::FP8}) {
      SCOPED_TRACE(enum_name(dt));
      const AttentionWeights<double> stored = stored_weights(master, dt);
      const Tensor<double> ref_dt = plain_reference(s, stored, x, x, true);
      const Tensor<double> naive =
          run_sequence(make_kernel<float>(s, stored, dt, MlaMode::Naive), x, m.prefill, 1);
      const Tensor<double> absorbed =
          run_sequence(make_kernel<float>(s, stored, dt, MlaMode::Absorbed), x, m.prefill, 1);
      EXPECT_LT(relative_error(naive, ref_dt), tolerance(dt));
      EXPECT_LT(relative_error(absorbed, ref_dt), tolerance(dt));
      EXPECT_LT(relative_error(naive, absorbed), tolerance(dt));
    }
  }
}

TEST(KernelMla, ReducedPrecisionIsNotExact) {
  // Guards the tolerances above: if rounding were silently skipped, BF16 and FP8 would match
  // the reference to FP32 accuracy. Here against the unrounded weights: the whole error.
  std::mt19937_64 rng(7);
  const AttentionSpec s = mla_spec(kMlaShapes[0]);
  const auto master = random_attention_weights(s, rng);
  Tensor<double> x({1, 6, s.hidden});
  fill_normal(x, rng, 1.0);
  const auto ref = plain_reference(s, master, x, x, true);
  const double e32 =
      relative_error(run_sequence(make_kernel<float>(s, master, DType::FP32), x, 6, 1), ref);
  const double e16 =
      relative_error(run_sequence(make_kernel<float>(s, master, DType::BF16), x, 6, 1), ref);
  const double e8 =
      relative_error(run_sequence(make_kernel<float>(s, master, DType::FP8), x, 6, 1), ref);
  EXPECT_GT(e16, 100 * e32);
  EXPECT_GT(e8, 4 * e16);
}

TEST(KernelMla, CrossAttentionMatchesReference) {
  std::mt19937_64 rng(99);
  for (const MlaShape& m : {kMlaShapes[0], kMlaShapes[1]}) {
    const AttentionSpec s = mla_spec(m);
    const auto master = random_attention_weights(s, rng);
    Tensor<double> xq({m.batch, 3, m.hidden}), mem({m.batch, 11, m.hidden});
    fill_normal(xq, rng, 1.0);
    fill_normal(mem, rng, 1.0);
    const auto ref = plain_reference(s, master, xq, mem, false);  // 3 queries, 11 keys, no mask
    for (MlaMode mode : {MlaMode::Naive, MlaMode::Absorbed}) {
      const auto k64 = make_kernel<double>(s, master, DType::FP64, mode);
      auto c64 = k64.make_cache(m.batch, 11);
      EXPECT_LT(relative_error(k64.forward_cross(xq, mem, c64), ref), 1e-12);
      for (DType dt : {DType::FP32, DType::BF16, DType::FP8}) {
        const auto stored = stored_weights(master, dt);
        const auto k = make_kernel<float>(s, stored, dt, mode);
        auto c = k.make_cache(m.batch, 11);
        const auto y = k.forward_cross(tensor_cast<float>(xq), tensor_cast<float>(mem), c);
        EXPECT_LT(relative_error(y, plain_reference(s, stored, xq, mem, false)), tolerance(dt))
            << enum_name(dt);
      }
      // Later query steps over the cached memory (no new keys) see the same memory.
      Tensor<double> xq2({m.batch, 2, m.hidden});
      fill_normal(xq2, rng, 1.0);
      const auto ref2 = plain_reference(s, master, xq2, mem, false);
      StepShape later = StepShape::cross_attention(m.batch, 2, 11);
      later.kv_new = 0;
      later.kv_start = 11;
      EXPECT_LT(relative_error(k64.step(xq2, nullptr, later, c64), ref2), 1e-12);
    }
  }
}

// With YaRN the kernel takes its frequencies, cos/sin magnitude and softmax scale from the
// RoPE table: mscale(40, 0.8) / mscale(40, 1.0) on cos/sin and mscale(40, 1.0)^2 on the scale.
TEST(KernelMla, YarnScalingReachesScoresAndScale) {
  std::mt19937_64 rng(21);
  const AttentionSpec s = mla_spec(kMlaShapes[0]);
  const auto master = random_attention_weights(s, rng);
  RopeScalingConfig yarn;
  yarn.type = "yarn";
  yarn.factor = 40;
  yarn.original_max_position_embeddings = 64;
  yarn.mscale = 0.8;
  yarn.mscale_all_dim = 1.0;
  const RopeTable table(s.qk_rope_dim, kTheta, yarn);
  reference::Rotary rot{table.inv_freq(),
                        (0.1 * 0.8 * std::log(40.0) + 1) / (0.1 * std::log(40.0) + 1)};
  const double scale =
      std::pow(0.1 * std::log(40.0) + 1, 2) / std::sqrt(static_cast<double>(s.qk_head_dim()));
  Tensor<double> x({2, 9, s.hidden});
  fill_normal(x, rng, 1.0);
  const auto ref = reference_attention(s, master, x, 0, x, true, rot, scale);
  for (MlaMode mode : {MlaMode::Naive, MlaMode::Absorbed}) {
    const Precision p = Precision::make(DType::FP64);
    AttentionKernel<double> k(s, prepare_weights<double>(master, p), table, p, mode);
    EXPECT_DOUBLE_EQ(k.softmax_scale(), scale);
    EXPECT_LT(relative_error(run_sequence(k, x, 5, 2), ref), 1e-12);
    // Plain RoPE would not do: the test can tell the difference.
    EXPECT_GT(relative_error(
                  run_sequence(make_kernel<double>(s, master, DType::FP64, mode), x, 5, 2), ref),
              1e-3);
  }
}

TEST(KernelAttention, TokenByTokenDecodeEqualsOneShotPrefill) {
  std::mt19937_64 rng(5);
  const MlaShape m = kMlaShapes[0];
  std::vector<std::pair<AttentionSpec, MlaMode>> cases = {
      {mla_spec(m), MlaMode::Naive},
      {mla_spec(m), MlaMode::Absorbed},
      {gqa_spec(64, 4, 2, 16), MlaMode::Absorbed},
  };
  for (const auto& [s, mode] : cases) {
    const auto master = random_attention_weights(s, rng);
    Tensor<double> x({2, 13, s.hidden});
    fill_normal(x, rng, 1.0);
    const auto kernel = make_kernel<float>(s, master, DType::FP32, mode);
    const Tensor<double> one_shot = run_sequence(kernel, x, 13, 1);
    EXPECT_LT(relative_error(run_sequence(kernel, x, 0, 1), one_shot), 1e-5);  // token by token
    EXPECT_LT(relative_error(run_sequence(kernel, x, 4, 3), one_shot), 1e-5);  // chunked prefill
    const auto k64 = make_kernel<double>(s, master, DType::FP64, mode);
    EXPECT_LT(relative_error(run_sequence(k64, x, 0, 1), run_sequence(k64, x, 13, 1)), 1e-13);
  }
}

// MLA without the latent RMSNorms is linear in the latent, so it equals an MHA whose per-head
// projections are the composed ones: K_h = [W_UK_h W_DKV ; W_KR], V_h = W_UV_h W_DKV.
TEST(KernelMla, FullRankLatentReproducesComposedMha) {
  std::mt19937_64 rng(3);
  MlaShape m{2, 6, 2, 48, 3, 40, 48, 16, 8, 12};  // d_c = d: the latent is full rank
  AttentionSpec mla = mla_spec(m);
  mla.latent_norm = false;
  const auto w = random_attention_weights(mla, rng);

  AttentionSpec mha = mla;
  mha.kv_lora_rank = 0;
  mha.n_kv_heads = m.heads;
  AttentionWeights<double> wm;
  wm.q_a_proj = w.q_a_proj;
  wm.q_b_proj = w.q_b_proj;
  wm.o_proj = w.o_proj;
  const int64_t d = m.hidden, dc = m.kv_lora, dn = m.nope, dr = m.rope, dv = m.v;
  wm.k_proj = Tensor<double>({m.heads * (dn + dr), d});
  wm.v_proj = Tensor<double>({m.heads * dv, d});
  const auto& a = w.kv_a_proj_with_mqa;  // rows [0, dc): W_DKV; rows [dc, dc + dr): W_KR
  const auto& up = w.kv_b_proj;
  for (int64_t h = 0; h < m.heads; ++h) {
    for (int64_t col = 0; col < d; ++col) {
      for (int64_t e = 0; e < dn; ++e) {
        double sum = 0;
        for (int64_t c = 0; c < dc; ++c)
          sum += up[(h * (dn + dv) + e) * dc + c] * a[c * d + col];
        wm.k_proj[(h * (dn + dr) + e) * d + col] = sum;
      }
      for (int64_t e = 0; e < dr; ++e)
        wm.k_proj[(h * (dn + dr) + dn + e) * d + col] = a[(dc + e) * d + col];
      for (int64_t e = 0; e < dv; ++e) {
        double sum = 0;
        for (int64_t c = 0; c < dc; ++c)
          sum += up[(h * (dn + dv) + dn + e) * dc + c] * a[c * d + col];
        wm.v_proj[(h * dv + e) * d + col] = sum;
      }
    }
  }
  Tensor<double> x({m.batch, m.prefill + m.decode, d});
  fill_normal(x, rng, 1.0);
  for (MlaMode mode : {MlaMode::Naive, MlaMode::Absorbed}) {
    const auto y_mha = run_sequence(make_kernel<double>(mha, wm, DType::FP64), x, m.prefill, 1);
    EXPECT_LT(
        relative_error(
            run_sequence(make_kernel<double>(mla, w, DType::FP64, mode), x, m.prefill, 1), y_mha),
        1e-12);
    EXPECT_LT(
        relative_error(run_sequence(make_kernel<float>(mla, w, DType::FP32, mode), x, m.prefill, 1),
                       y_mha),
        1e-5);
  }
}

TEST(KernelMha, GqaWithAllHeadsEqualsMhaReference) {
  std::mt19937_64 rng(11);
  for (bool bias : {false, true}) {
    const AttentionSpec s = gqa_spec(64, 4, 4, 16, bias);
    const auto w = random_attention_weights(s, rng);
    Tensor<double> x({2, 9, 64});
    fill_normal(x, rng, 1.0);
    const auto ref = plain_reference(s, w, x, x, true);
    EXPECT_LT(relative_error(run_sequence(make_kernel<double>(s, w, DType::FP64), x, 4, 1), ref),
              1e-12);
    EXPECT_LT(relative_error(run_sequence(make_kernel<float>(s, w, DType::FP32), x, 4, 1), ref),
              1e-5);
    EXPECT_LT(relative_error(run_sequence(make_kernel<float>(s, w, DType::BF16), x, 4, 1), ref),
              2e-2);
  }
}

// GQA and MQA equal MHA whose K/V heads are copies of each group's shared head.
TEST(KernelMha, GroupedHeadsEqualMhaWithRepeatedKv) {
  std::mt19937_64 rng(13);
  for (int64_t n_kv : {2, 1}) {
    const AttentionSpec g = gqa_spec(48, 6, n_kv, 8);
    const auto w = random_attention_weights(g, rng);
    AttentionSpec full = g;
    full.n_kv_heads = 6;
    AttentionWeights<double> wf = w;
    wf.k_proj = Tensor<double>({6 * 8, 48});
    wf.v_proj = Tensor<double>({6 * 8, 48});
    const int64_t group = 6 / n_kv;
    for (int64_t h = 0; h < 6; ++h) {
      for (int64_t e = 0; e < 8 * 48; ++e) {
        wf.k_proj[h * 8 * 48 + e] = w.k_proj[(h / group) * 8 * 48 + e];
        wf.v_proj[h * 8 * 48 + e] = w.v_proj[(h / group) * 8 * 48 + e];
      }
    }
    Tensor<double> x({2, 7, 48});
    fill_normal(x, rng, 1.0);
    const auto y_full = run_sequence(make_kernel<double>(full, wf, DType::FP64), x, 3, 2);
    EXPECT_LT(relative_error(run_sequence(make_kernel<double>(g, w, DType::FP64), x, 3, 2), y_full),
              1e-12);
  }
}

TEST(KernelAttention, RejectsMismatchedShapes) {
  std::mt19937_64 rng(1);
  const AttentionSpec s = mla_spec(kMlaShapes[0]);
  auto w = random_attention_weights(s, rng);
  w.kv_b_proj = Tensor<double>({3, 3});
  EXPECT_THROW(make_kernel<double>(s, w, DType::FP64), InputError);
  const auto k = make_kernel<float>(s, random_attention_weights(s, rng), DType::FP32);
  auto cache = k.make_cache(1, 4);
  EXPECT_THROW(k.forward(Tensor<float>({1, 5, s.hidden}), 0, cache),
               InputError);  // cache too short
  EXPECT_THROW(k.forward(Tensor<float>({1, 2, s.hidden + 1}), 0, cache), InputError);
  EXPECT_THROW(make_kernel<float>(s, random_attention_weights(s, rng), DType::FP64), InputError);
}

}  // namespace
}  // namespace mlasim::kernels
