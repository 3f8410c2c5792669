// The stages every variant shares (input rounding, query path, output projection), weight
// preparation, shape checks and the dispatch to the MHA-family or MLA middle part.
#include "workloads/kernels/attention_kernel.h"

#include <fmt/format.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "sim/errors.h"
#include "workloads/kernels/kernel_stages.h"
#include "workloads/kernels/linalg.h"

namespace mlasim::kernels {
namespace {

uint64_t u(int64_t x) {
  return static_cast<uint64_t>(x);
}

Tensor<double> random_matrix(int64_t rows, int64_t cols, std::mt19937_64& rng) {
  Tensor<double> t({rows, cols});
  fill_normal(t, rng, 1.0 / std::sqrt(static_cast<double>(cols)));
  return t;
}

Tensor<double> random_vector(int64_t n, std::mt19937_64& rng, double mean, double stddev) {
  Tensor<double> t({n});
  fill_normal(t, rng, stddev, mean);
  return t;
}

template <class Real>
Tensor<Real> prepare_matrix(const Tensor<double>& m, DType dtype) {
  Tensor<Real> t = tensor_cast<Real>(m);
  if (!t.empty()) quantize_blocks(dtype, t.data(), t.dim(0), t.dim(1));
  return t;
}

template <class Real>
Tensor<Real> prepare_vector(const Tensor<double>& v, DType dtype) {
  Tensor<Real> t = tensor_cast<Real>(v);
  round_to(dtype, t.data(), t.size());
  return t;
}

void check_shape(const char* name, const std::vector<int64_t>& got,
                 const std::vector<int64_t>& want) {
  if (got == want) return;
  auto show = [](const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
      out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  };
  throw InputError(
      fmt::format("attention kernel: {} has shape {}, expected {}", name, show(got), show(want)));
}

template <class Real>
void check_weights(const AttentionSpec& s, const AttentionWeights<Real>& w) {
  const int64_t qk = s.n_heads * s.qk_head_dim();
  const std::vector<int64_t> none{0};
  if (s.q_lora_rank > 0) {
    check_shape("q_a_proj", w.q_a_proj.shape(), {s.q_lora_rank, s.hidden});
    check_shape("q_b_proj", w.q_b_proj.shape(), {qk, s.q_lora_rank});
    if (s.latent_norm) check_shape("q_a_layernorm", w.q_a_layernorm.shape(), {s.q_lora_rank});
  } else {
    check_shape("q_proj", w.q_proj.shape(), {qk, s.hidden});
  }
  if (s.qkv_bias) check_shape("q_bias", w.q_bias.shape(), {qk});
  if (s.is_mla()) {
    check_shape("kv_a_proj_with_mqa", w.kv_a_proj_with_mqa.shape(),
                {s.kv_lora_rank + s.qk_rope_dim, s.hidden});
    if (s.latent_norm) check_shape("kv_a_layernorm", w.kv_a_layernorm.shape(), {s.kv_lora_rank});
    check_shape("kv_b_proj", w.kv_b_proj.shape(),
                {s.n_heads * (s.qk_nope_dim + s.v_head_dim), s.kv_lora_rank});
  } else {
    check_shape("k_proj", w.k_proj.shape(), {s.n_kv_heads * s.qk_head_dim(), s.hidden});
    check_shape("v_proj", w.v_proj.shape(), {s.n_kv_heads * s.v_head_dim, s.hidden});
    if (s.qkv_bias) {
      check_shape("k_bias", w.k_bias.shape(), {s.n_kv_heads * s.qk_head_dim()});
      check_shape("v_bias", w.v_bias.shape(), {s.n_kv_heads * s.v_head_dim});
    }
  }
  check_shape("o_proj", w.o_proj.shape(), {s.hidden, s.n_heads * s.v_head_dim});
}

// Shapes of every weight of a spec, in one place; `matrix(rows, cols)` and
// `vector(n, mean, stddev)` draw the values.
template <class Real, class Matrix, class Vector>
AttentionWeights<Real> build_weights(const AttentionSpec& s, Matrix matrix, Vector vector) {
  s.validate();
  AttentionWeights<Real> w;
  const int64_t qk = s.n_heads * s.qk_head_dim();
  if (s.q_lora_rank > 0) {
    w.q_a_proj = matrix(s.q_lora_rank, s.hidden);
    w.q_a_layernorm = vector(s.q_lora_rank, 1.0, 0.1);
    w.q_b_proj = matrix(qk, s.q_lora_rank);
  } else {
    w.q_proj = matrix(qk, s.hidden);
  }
  if (s.qkv_bias) w.q_bias = vector(qk, 0.0, 0.1);
  if (s.is_mla()) {
    w.kv_a_proj_with_mqa = matrix(s.kv_lora_rank + s.qk_rope_dim, s.hidden);
    w.kv_a_layernorm = vector(s.kv_lora_rank, 1.0, 0.1);
    w.kv_b_proj = matrix(s.n_heads * (s.qk_nope_dim + s.v_head_dim), s.kv_lora_rank);
  } else {
    w.k_proj = matrix(s.n_kv_heads * s.qk_head_dim(), s.hidden);
    w.v_proj = matrix(s.n_kv_heads * s.v_head_dim, s.hidden);
    if (s.qkv_bias) {
      w.k_bias = vector(s.n_kv_heads * s.qk_head_dim(), 0.0, 0.1);
      w.v_bias = vector(s.n_kv_heads * s.v_head_dim, 0.0, 0.1);
    }
  }
  w.o_proj = matrix(s.hidden, s.n_heads * s.v_head_dim);
  return w;
}

// xorshift64*: fast and good enough for benchmark values.
class FastUniform {
 public:
  explicit FastUniform(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  // Uniform in [-1, 1).
  float next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    const uint64_t r = state_ * 0x2545F4914F6CDD1Dull;
    return static_cast<float>(static_cast<double>(r >> 11) * 0x1.0p-52 - 1.0);
  }

 private:
  uint64_t state_;
};

}  // namespace

AttentionWeights<double> random_attention_weights(const AttentionSpec& s, std::mt19937_64& rng) {
  return build_weights<double>(
      s, [&](int64_t rows, int64_t cols) { return random_matrix(rows, cols, rng); },
      [&](int64_t n, double mean, double sd) { return random_vector(n, rng, mean, sd); });
}

AttentionWeights<float> uniform_random_weights(const AttentionSpec& s, uint64_t seed) {
  FastUniform gen(seed);
  // Uniform on [-a, a] has variance a^2/3; a = sqrt(3/fan_in) matches random_matrix.
  auto matrix = [&](int64_t rows, int64_t cols) {
    Tensor<float> t({rows, cols});
    const float a = static_cast<float>(std::sqrt(3.0 / static_cast<double>(cols)));
    for (float& x : t.span())
      x = a * gen.next();
    return t;
  };
  auto vector = [&](int64_t n, double mean, double sd) {
    Tensor<float> t({n});
    const double a = sd * std::sqrt(3.0);
    for (float& x : t.span())
      x = static_cast<float>(mean + a * gen.next());
    return t;
  };
  return build_weights<float>(s, matrix, vector);
}

template <class Real>
AttentionWeights<Real> prepare_weights(const AttentionWeights<double>& m, const Precision& p) {
  AttentionWeights<Real> w;
  const DType wt = p.compute, vec = p.activation;
  w.q_proj = prepare_matrix<Real>(m.q_proj, wt);
  w.q_a_proj = prepare_matrix<Real>(m.q_a_proj, wt);
  w.q_a_layernorm = prepare_vector<Real>(m.q_a_layernorm, vec);
  w.q_b_proj = prepare_matrix<Real>(m.q_b_proj, wt);
  w.q_bias = prepare_vector<Real>(m.q_bias, vec);
  w.k_proj = prepare_matrix<Real>(m.k_proj, wt);
  w.v_proj = prepare_matrix<Real>(m.v_proj, wt);
  w.k_bias = prepare_vector<Real>(m.k_bias, vec);
  w.v_bias = prepare_vector<Real>(m.v_bias, vec);
  w.kv_a_proj_with_mqa = prepare_matrix<Real>(m.kv_a_proj_with_mqa, wt);
  w.kv_a_layernorm = prepare_vector<Real>(m.kv_a_layernorm, vec);
  w.kv_b_proj = prepare_matrix<Real>(m.kv_b_proj, wt);
  w.o_proj = prepare_matrix<Real>(m.o_proj, wt);
  return w;
}

template <class Real>
AttentionKernel<Real>::AttentionKernel(AttentionSpec spec, AttentionWeights<Real> weights,
                                       RopeTable rope, Precision precision, MlaMode mode,
                                       double softmax_scale)
    : spec_(spec),
      weights_(std::move(weights)),
      rope_(std::move(rope)),
      precision_(precision),
      mode_(mode) {
  spec_.validate();
  check_weights(spec_, weights_);
  if (rope_.rotary_dim() != spec_.qk_rope_dim) {
    throw InputError(fmt::format("attention kernel: RoPE table rotates {} dims, spec has {}",
                                 rope_.rotary_dim(), spec_.qk_rope_dim));
  }
  const bool reference = precision_.compute == DType::FP64;
  if (reference != std::is_same_v<Real, double>) {
    throw InputError(
        "attention kernel: fp64 precision goes with double elements, others with float");
  }
  scale_ = softmax_scale > 0
               ? softmax_scale
               : rope_.softmax_factor() / std::sqrt(static_cast<double>(spec_.qk_head_dim()));
}

template <class Real>
KvCache<Real> AttentionKernel<Real>::make_cache(int64_t batch, int64_t max_len) const {
  KvCache<Real> c;
  c.batch = batch;
  c.max_len = max_len;
  if (spec_.is_mla()) {
    c.kv = Tensor<Real>({batch, max_len, spec_.kv_lora_rank});
    c.rk = Tensor<Real>({batch, max_len, spec_.qk_rope_dim});
  } else {
    c.k = Tensor<Real>({batch, max_len, spec_.n_kv_heads, spec_.qk_head_dim()});
    c.v = Tensor<Real>({batch, max_len, spec_.n_kv_heads, spec_.v_head_dim});
  }
  return c;
}

template <class Real>
Tensor<Real> AttentionKernel<Real>::forward(const Tensor<Real>& x, int64_t start_pos,
                                            KvCache<Real>& cache, KernelCost* cost) const {
  if (x.rank() != 3) throw InputError("attention kernel: x must be [batch, tokens, hidden]");
  return step(x, &x, StepShape::self_attention(x.dim(0), start_pos, x.dim(1)), cache, cost);
}

template <class Real>
Tensor<Real> AttentionKernel<Real>::forward_cross(const Tensor<Real>& x, const Tensor<Real>& memory,
                                                  KvCache<Real>& cache, KernelCost* cost) const {
  if (x.rank() != 3 || memory.rank() != 3) {
    throw InputError("attention kernel: x and memory must be [batch, tokens, hidden]");
  }
  return step(x, &memory, StepShape::cross_attention(x.dim(0), x.dim(1), memory.dim(1)), cache,
              cost);
}

template <class Real>
Tensor<Real> AttentionKernel<Real>::step(const Tensor<Real>& x, const Tensor<Real>* kv_x,
                                         const StepShape& shape, KvCache<Real>& cache,
                                         KernelCost* cost) const {
  shape.validate();
  const AttentionSpec& s = spec_;
  check_shape("x", x.shape(), {shape.batch, shape.q_len, s.hidden});
  if (shape.kv_new > 0) {
    if (!kv_x) throw InputError("attention kernel: kv_new > 0 needs key/value inputs");
    check_shape("kv_x", kv_x->shape(), {shape.batch, shape.kv_new, s.hidden});
  }
  if (cache.batch != shape.batch || shape.kv_len() > cache.max_len) {
    throw InputError(fmt::format("attention kernel: cache holds {} x {} tokens, step needs {} x {}",
                                 cache.batch, cache.max_len, shape.batch, shape.kv_len()));
  }
  const detail::StepContext<Real> ctx{s, weights_, rope_, precision_, mode_, scale_, shape, cost};
  const int64_t tq = shape.batch * shape.q_len;
  const int64_t dqk = s.qk_head_dim();

  // Inputs arrive stored in the activation dtype.
  Tensor<Real> xin = x;
  round_to(precision_.activation, xin.data(), xin.size());
  Tensor<Real> kvin;
  const Real* kv_ptr = nullptr;
  if (kv_x == &x) {
    kv_ptr = xin.data();
  } else if (kv_x && shape.kv_new > 0) {
    kvin = *kv_x;
    round_to(precision_.activation, kvin.data(), kvin.size());
    kv_ptr = kvin.data();
  }

  // Query path: [Tq, d] -> ([Tq, d_q] -> RMSNorm ->) [Tq, n_h * d_qk], RoPE on each head's tail.
  Tensor<Real> q({shape.batch, shape.q_len, s.n_heads, dqk});
  const Tensor<Real>* q_bias = s.qkv_bias ? &weights_.q_bias : nullptr;
  if (s.q_lora_rank > 0) {
    Tensor<Real> qa({tq, s.q_lora_rank});
    detail::linear(ctx, xin.data(), tq, s.hidden, weights_.q_a_proj, nullptr, qa.data(),
                   s.q_lora_rank);
    ctx.add_activation_read(u(tq * s.hidden));
    if (s.latent_norm) {
      rms_norm_rows(qa.data(), tq, s.q_lora_rank, s.q_lora_rank, weights_.q_a_layernorm.data(),
                    s.rms_norm_eps);
      ctx.add_weights(u(s.q_lora_rank) * ctx.act_bytes());
    }
    round_to(precision_.activation, qa.data(), qa.size());
    ctx.add_activation_write(u(qa.size()));
    detail::linear(ctx, qa.data(), tq, s.q_lora_rank, weights_.q_b_proj, q_bias, q.data(),
                   s.n_heads * dqk);
    ctx.add_activation_read(u(qa.size()));
  } else {
    detail::linear(ctx, xin.data(), tq, s.hidden, weights_.q_proj, q_bias, q.data(),
                   s.n_heads * dqk);
    ctx.add_activation_read(u(tq * s.hidden));
  }
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t i = 0; i < shape.q_len; ++i) {
      Real* token = q.data() + (b * shape.q_len + i) * s.n_heads * dqk;
      rope_.rotate(token + s.qk_nope_dim, s.n_heads, dqk, shape.q_start + i);
    }
  }
  round_to(precision_.activation, q.data(), q.size());
  ctx.add_activation_write(u(q.size()));

  Tensor<Real> heads = s.is_mla() ? detail::mla_attend(ctx, q, kv_ptr, cache)
                                  : detail::mha_attend(ctx, q, kv_ptr, cache);

  // Output projection: [Tq, n_h * d_v] -> [Tq, d].
  Tensor<Real> out({shape.batch, shape.q_len, s.hidden});
  detail::linear(ctx, heads.data(), tq, s.n_heads * s.v_head_dim, weights_.o_proj, nullptr,
                 out.data(), s.hidden);
  ctx.add_activation_read(u(heads.size()));
  round_to(precision_.activation, out.data(), out.size());
  ctx.add_activation_write(u(out.size()));
  return out;
}

namespace detail {

namespace {
// A matrix-product input in FP8 is re-quantised per 1x128 tile; BF16 and FP32 inputs are
// already stored in their dtype, so the copy is skipped.
template <class Real>
const Real* gemm_input(const Precision& p, const Real* x, int64_t rows, int64_t cols, int64_t ld,
                       std::vector<Real>& scratch) {
  if (p.compute != DType::FP8) return x;
  scratch.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(x + r * ld, x + r * ld + cols, scratch.begin() + r * cols);
  }
  quantize_rows(DType::FP8, scratch.data(), rows, cols, cols);
  return scratch.data();
}
}  // namespace

template <class Real>
void linear(const StepContext<Real>& ctx, const Real* x, int64_t rows, int64_t ldx,
            const Tensor<Real>& weight, const std::type_identity_t<Tensor<Real>>* bias, Real* y,
            int64_t ldy) {
  const int64_t n = weight.dim(0), k = weight.dim(1);
  std::vector<Real> scratch;
  const Real* xq = gemm_input(ctx.precision, x, rows, k, ldx, scratch);
  gemm_nt(rows, n, k, xq, xq == x ? ldx : k, weight.data(), k, y, ldy);
  ctx.add_projection_flops(2 * u(rows) * u(n) * u(k));
  ctx.add_weights(weight_matrix_bytes(n, k, ctx.precision.compute));
  if (bias) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < n; ++j)
        y[r * ldy + j] += (*bias)[j];
    }
    ctx.add_weights(u(n) * ctx.act_bytes());
  }
}

template <class Real>
void linear_batched(const StepContext<Real>& ctx, int64_t batches, const Real* x, int64_t x_stride,
                    int64_t rows, int64_t ldx, const Tensor<Real>& weight, Real* y,
                    int64_t y_stride, int64_t ldy) {
  const int64_t n = weight.dim(0), k = weight.dim(1);
  std::vector<Real> scratch;
  for (int64_t b = 0; b < batches; ++b) {
    const Real* xb = x + b * x_stride;
    const Real* xq = gemm_input(ctx.precision, xb, rows, k, ldx, scratch);
    gemm_nt(rows, n, k, xq, xq == xb ? ldx : k, weight.data(), k, y + b * y_stride, ldy);
  }
  ctx.add_projection_flops(2 * u(batches) * u(rows) * u(n) * u(k));
  ctx.add_weights(weight_matrix_bytes(n, k, ctx.precision.compute));
}

template <class Real>
void head_product_nt(const StepContext<Real>& ctx, int64_t rows, int64_t n, int64_t k,
                     const Real* x, int64_t ldx, const Real* w, int64_t ldw, Real* y, int64_t ldy) {
  // In the activation dtype x is stored in already: no FP8 re-quantisation (see KernelCost).
  gemm_nt(rows, n, k, x, ldx, w, ldw, y, ldy);
  ctx.add_absorb_flops(2 * u(rows) * u(n) * u(k));
  ctx.add_weights(weight_matrix_bytes(n, k, ctx.precision.activation));
}

template <class Real>
void head_product_nn(const StepContext<Real>& ctx, int64_t rows, int64_t n, int64_t k,
                     const Real* x, int64_t ldx, const Real* w, int64_t ldw, Real* y, int64_t ldy) {
  // In the activation dtype x is stored in already: no FP8 re-quantisation (see KernelCost).
  gemm_nn(rows, n, k, x, ldx, w, ldw, y, ldy);
  ctx.add_absorb_flops(2 * u(rows) * u(n) * u(k));
  ctx.add_weights(weight_matrix_bytes(k, n, ctx.precision.activation));
}

template void linear<float>(const StepContext<float>&, const float*, int64_t, int64_t,
                            const Tensor<float>&, const Tensor<float>*, float*, int64_t);
template void linear<double>(const StepContext<double>&, const double*, int64_t, int64_t,
                             const Tensor<double>&, const Tensor<double>*, double*, int64_t);
template void linear_batched<float>(const StepContext<float>&, int64_t, const float*, int64_t,
                                    int64_t, int64_t, const Tensor<float>&, float*, int64_t,
                                    int64_t);
template void linear_batched<double>(const StepContext<double>&, int64_t, const double*, int64_t,
                                     int64_t, int64_t, const Tensor<double>&, double*, int64_t,
                                     int64_t);
template void head_product_nt<float>(const StepContext<float>&, int64_t, int64_t, int64_t,
                                     const float*, int64_t, const float*, int64_t, float*, int64_t);
template void head_product_nt<double>(const StepContext<double>&, int64_t, int64_t, int64_t,
                                      const double*, int64_t, const double*, int64_t, double*,
                                      int64_t);
template void head_product_nn<float>(const StepContext<float>&, int64_t, int64_t, int64_t,
                                     const float*, int64_t, const float*, int64_t, float*, int64_t);
template void head_product_nn<double>(const StepContext<double>&, int64_t, int64_t, int64_t,
                                      const double*, int64_t, const double*, int64_t, double*,
                                      int64_t);

}  // namespace detail

template AttentionWeights<float> prepare_weights<float>(const AttentionWeights<double>&,
                                                        const Precision&);
template AttentionWeights<double> prepare_weights<double>(const AttentionWeights<double>&,
                                                          const Precision&);
template class AttentionKernel<float>;
template class AttentionKernel<double>;

}  // namespace mlasim::kernels
