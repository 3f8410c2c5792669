// Internal to the attention kernels: the context a step's stages share and the stages that
// attention_kernel.cpp, mha.cpp and mla.cpp split between them. Each stage records its own
// FLOPs and bytes into the step's KernelCost as it runs (see accounting.h for the model).
#pragma once

#include <cstdint>
#include <type_traits>

#include "workloads/kernels/attention_kernel.h"

namespace mlasim::kernels::detail {

template <class Real>
struct StepContext {
  const AttentionSpec& spec;
  const AttentionWeights<Real>& w;
  const RopeTable& rope;
  const Precision& precision;
  MlaMode mode;
  double scale;
  const StepShape& shape;
  KernelCost* cost;  // may be null

  uint64_t act_bytes() const { return dtype_bytes(precision.activation); }
  void add_weights(uint64_t bytes) const {
    if (cost) cost->traffic.weight_bytes_read += bytes;
  }
  void add_activation_read(uint64_t elements) const {
    if (cost) cost->traffic.activation_bytes_read += elements * act_bytes();
  }
  void add_activation_write(uint64_t elements) const {
    if (cost) cost->traffic.activation_bytes_written += elements * act_bytes();
  }
  void add_cache_read(uint64_t bytes) const {
    if (cost) cost->traffic.kv_cache_bytes_read += bytes;
  }
  void add_cache_write(uint64_t bytes) const {
    if (cost) cost->traffic.kv_cache_bytes_written += bytes;
  }
  void add_projection_flops(uint64_t flops) const {
    if (cost) cost->projection_flops += flops;
  }
  void add_absorb_flops(uint64_t flops) const {
    if (cost) cost->absorb_flops += flops;
  }
  void add_attention_flops(uint64_t flops) const {
    if (cost) cost->attention_flops += flops;
  }
};

// y[rows, n] = x[rows, k] W^T (+ bias) with W [n, k]: x is quantised as a matrix-product input
// (FP8: 1x128 tiles) on a copy. Records the FLOPs and the weight (and bias) bytes; the caller
// records where x came from and where y goes.
template <class Real>
void linear(const StepContext<Real>& ctx, const Real* x, int64_t rows, int64_t ldx,
            const Tensor<Real>& weight, const std::type_identity_t<Tensor<Real>>* bias, Real* y,
            int64_t ldy);

// `batches` such products sharing one weight (read once): x and y advance by their strides.
template <class Real>
void linear_batched(const StepContext<Real>& ctx, int64_t batches, const Real* x, int64_t x_stride,
                    int64_t rows, int64_t ldx, const Tensor<Real>& weight, Real* y,
                    int64_t y_stride, int64_t ldy);

// Absorbed MLA's strided per-head product without bias: y = x W^T (W [n, k], ld ldw) or x W
// (W [k, n]), in the activation dtype (BF16 in FP8 runs, with W_UK and W_UV kept dequantised in
// that dtype, as serving engines load them); records absorb FLOPs and the bytes of one [n, k]
// (or [k, n]) matrix in that dtype.
template <class Real>
void head_product_nt(const StepContext<Real>& ctx, int64_t rows, int64_t n, int64_t k,
                     const Real* x, int64_t ldx, const Real* w, int64_t ldw, Real* y, int64_t ldy);
template <class Real>
void head_product_nn(const StepContext<Real>& ctx, int64_t rows, int64_t n, int64_t k,
                     const Real* x, int64_t ldx, const Real* w, int64_t ldw, Real* y, int64_t ldy);

// MHA family: projects and caches the new tokens' K/V, then attends. q: [b, s, n_h, d_qk]
// after RoPE; kv_x: [b, t, d] or null. Returns [b, s, n_h, d_v].
template <class Real>
Tensor<Real> mha_attend(const StepContext<Real>& ctx, const Tensor<Real>& q, const Real* kv_x,
                        KvCache<Real>& cache);

// MLA: compresses and caches the new tokens' latent and rotary key, then attends naive or
// absorbed. Returns [b, s, n_h, d_v].
template <class Real>
Tensor<Real> mla_attend(const StepContext<Real>& ctx, const Tensor<Real>& q, const Real* kv_x,
                        KvCache<Real>& cache);

}  // namespace mlasim::kernels::detail
