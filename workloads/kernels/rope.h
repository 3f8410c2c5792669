// Rotary position embedding: the inverse frequencies of plain RoPE and of the scaled variants
// real configs use (YaRN for DeepSeek-V2/V3, Llama 3's smooth low-frequency scaling, linear),
// and the softmax-scale correction YaRN asks for.
//
// Vectors are rotated in interleaved pairs (x[2i], x[2i+1]) by angle pos * inv_freq[i], as
// DeepSeek's reference inference code does; HuggingFace's rotate-half layout is the same
// operation on permuted weights, so with random weights nothing depends on the choice.
// Left out: dynamic NTK scaling (depends on the sequence length seen so far).
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/model_config.h"

namespace mlasim::kernels {

// YaRN's attention-temperature factor: 0.1 * mscale * ln(factor) + 1, or 1 when factor <= 1.
double yarn_mscale(double factor, double mscale);

class RopeTable {
 public:
  // `rotary_dim` even and >= 0 (0: no rotation).
  RopeTable(int64_t rotary_dim, double theta, const RopeScalingConfig& scaling = {});
  static RopeTable for_model(const ModelConfig& model);

  int64_t rotary_dim() const { return rotary_dim_; }
  const std::vector<double>& inv_freq() const { return inv_freq_; }
  // Multiplies cos and sin: YaRN's mscale(factor, mscale) / mscale(factor, mscale_all_dim).
  double magnitude() const { return magnitude_; }
  // Multiplies the softmax scale 1/sqrt(d_qk): YaRN's mscale(factor, mscale_all_dim)^2.
  double softmax_factor() const { return softmax_factor_; }

  // Rotates `count` vectors of rotary_dim elements, `stride` apart, all at `position`.
  void rotate(float* x, int64_t count, int64_t stride, int64_t position) const;
  void rotate(double* x, int64_t count, int64_t stride, int64_t position) const;

 private:
  template <class T>
  void rotate_impl(T* x, int64_t count, int64_t stride, int64_t position) const;

  int64_t rotary_dim_;
  std::vector<double> inv_freq_;
  double magnitude_ = 1.0;
  double softmax_factor_ = 1.0;
};

}  // namespace mlasim::kernels
