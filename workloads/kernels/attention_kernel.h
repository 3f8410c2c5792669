// Functional (numerically real, CPU) attention layers with a KV cache: MHA, GQA and MQA (one
// kernel, n_kv key/value heads) and DeepSeek's Multi-head Latent Attention, run naive
// (latent up-projected to per-head K and V each step) or absorbed (W_UK folded into the
// query, W_UV applied to the latent output, attention in the latent space as FlashMLA runs
// it). A step covers the attention block of one layer, from the normed hidden states x to
// the output projection: the input RMSNorm, residual and FFN are outside.
//
// One call handles decode (one or more new tokens at start_pos), prefill and chunked prefill
// over an existing cache, and cross-attention (queries from x, keys/values from a separate
// memory, no mask). Every call can report its FLOPs and bytes per tensor class, counted
// stage by stage as it runs; accounting.h gives the same figures in closed form.
//
// Numerics: Real = float runs FP32, BF16 or FP8 (Precision) with FP32 accumulation and
// softmax; Real = double with Precision FP64 is the float64 reference.
// Weight names follow the HuggingFace DeepSeek/Llama modules.
#pragma once

#include <cstdint>
#include <random>

#include "workloads/kernels/accounting.h"
#include "workloads/kernels/numerics.h"
#include "workloads/kernels/rope.h"
#include "workloads/kernels/tensor.h"

namespace mlasim::kernels {

// Weight matrices are [out, in] (y = x W^T). Fields a variant does not use stay empty.
template <class Real>
struct AttentionWeights {
  // Query: q_proj when q_lora_rank == 0, else q_a_proj -> q_a_layernorm -> q_b_proj. Each
  // head's query is [nope | rope].
  Tensor<Real> q_proj;         // [n_h*d_qk, d]
  Tensor<Real> q_a_proj;       // [d_q, d]
  Tensor<Real> q_a_layernorm;  // [d_q] RMSNorm gain (latent_norm)
  Tensor<Real> q_b_proj;       // [n_h*d_qk, d_q]
  Tensor<Real> q_bias;         // [n_h*d_qk] (qkv_bias)
  // MHA family: per KV head, keys [nope | rope] and values.
  Tensor<Real> k_proj;  // [n_kv*d_qk, d]
  Tensor<Real> v_proj;  // [n_kv*d_v, d]
  Tensor<Real> k_bias;  // [n_kv*d_qk] (qkv_bias)
  Tensor<Real> v_bias;  // [n_kv*d_v] (qkv_bias)
  // MLA: x -> [latent c (d_c) | shared rotary key (d_r)]; c -> per head [K_nope | V].
  Tensor<Real> kv_a_proj_with_mqa;  // [d_c + d_r, d]
  Tensor<Real> kv_a_layernorm;      // [d_c] RMSNorm gain (latent_norm)
  Tensor<Real> kv_b_proj;           // [n_h*(d_nope + d_v), d_c]: head h's W_UK rows, then W_UV
  // Output.
  Tensor<Real> o_proj;  // [d, n_h*d_v]
};

// Random weights for a spec, scaled 1/sqrt(fan_in) so activations stay O(1); norm gains near 1.
AttentionWeights<double> random_attention_weights(const AttentionSpec& spec, std::mt19937_64& rng);

// Uniform random weights of the same variance from a cheap generator, in float: for benchmarks,
// which draw hundreds of millions of values whose distribution does not matter.
AttentionWeights<float> uniform_random_weights(const AttentionSpec& spec, uint64_t seed);

// Converts master weights to the kernel's element type and rounds them to the precision's
// storage (FP8: 128x128-block scaled; norm gains and biases to the activation dtype).
template <class Real>
AttentionWeights<Real> prepare_weights(const AttentionWeights<double>& master,
                                       const Precision& precision);

// The KV cache of one layer, for `batch` sequences of up to `max_len` tokens. Values are held
// in Real after rounding to the cache dtype.
template <class Real>
struct KvCache {
  int64_t batch = 0;
  int64_t max_len = 0;
  Tensor<Real> k;   // MHA family: [b, max_len, n_kv, d_qk]
  Tensor<Real> v;   // MHA family: [b, max_len, n_kv, d_v]
  Tensor<Real> kv;  // MLA cache_kv: [b, max_len, d_c]
  Tensor<Real> rk;  // MLA cache_rk: [b, max_len, d_r]
};

template <class Real>
class AttentionKernel {
 public:
  // `softmax_scale` 0 means 1/sqrt(d_nope + d_rope) times the RoPE table's YaRN factor.
  // Throws InputError when the weights' shapes or the precision do not fit the spec.
  AttentionKernel(AttentionSpec spec, AttentionWeights<Real> weights, RopeTable rope,
                  Precision precision, MlaMode mode = MlaMode::Absorbed,
                  double softmax_scale = 0.0);

  const AttentionSpec& spec() const { return spec_; }
  const Precision& precision() const { return precision_; }
  MlaMode mode() const { return mode_; }
  double softmax_scale() const { return scale_; }
  const AttentionWeights<Real>& weights() const { return weights_; }

  KvCache<Real> make_cache(int64_t batch, int64_t max_len) const;

  // Self-attention: x [b, s, d] holds tokens at positions start_pos..start_pos+s-1; their K/V
  // (or latent) are written to the cache, and each attends causally over [0, its position].
  Tensor<Real> forward(const Tensor<Real>& x, int64_t start_pos, KvCache<Real>& cache,
                       KernelCost* cost = nullptr) const;

  // Cross-attention: queries x [b, s, d] (positions 0..s-1), keys/values from memory
  // [b, t, d] written to cache slots 0..t-1; no mask.
  Tensor<Real> forward_cross(const Tensor<Real>& x, const Tensor<Real>& memory,
                             KvCache<Real>& cache, KernelCost* cost = nullptr) const;

  // The general step: kv_x [b, shape.kv_new, d] (nullptr when kv_new == 0) is cached at
  // shape.kv_start; x [b, shape.q_len, d] attends over cache [0, shape.kv_len()).
  Tensor<Real> step(const Tensor<Real>& x, const Tensor<Real>* kv_x, const StepShape& shape,
                    KvCache<Real>& cache, KernelCost* cost = nullptr) const;

 private:
  AttentionSpec spec_;
  AttentionWeights<Real> weights_;
  RopeTable rope_;
  Precision precision_;
  MlaMode mode_;
  double scale_;
};

}  // namespace mlasim::kernels
