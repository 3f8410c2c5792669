// RoPE frequency tables. The YaRN and Llama 3 formulas follow the published descriptions
// (YaRN paper arXiv 2309.00071 and DeepSeek's reference code; Meta's Llama 3.1 release).
#include "workloads/kernels/rope.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "sim/errors.h"

namespace mlasim::kernels {
namespace {

// The dim index (of `dim`) whose wavelength completes `rotations` turns over `max_len`.
double yarn_correction_dim(double rotations, int64_t dim, double base, double max_len) {
  return static_cast<double>(dim) * std::log(max_len / (rotations * 2 * std::numbers::pi)) /
         (2 * std::log(base));
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

RopeTable::RopeTable(int64_t rotary_dim, double theta, const RopeScalingConfig& scaling)
    : rotary_dim_(rotary_dim) {
  if (rotary_dim < 0 || rotary_dim % 2 != 0) {
    throw InputError(
        fmt::format("RoPE: rotary dim must be even and non-negative, got {}", rotary_dim));
  }
  const int64_t half = rotary_dim / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv_freq_[i] = std::pow(theta, -static_cast<double>(2 * i) / static_cast<double>(rotary_dim));
  }
  const double factor = scaling.factor;
  if (scaling.type == "linear") {
    for (double& f : inv_freq_)
      f /= factor;
  } else if (scaling.type == "yarn") {
    // Dims that turn more than beta_fast times over the original context keep their frequency
    // (extrapolation), those turning fewer than beta_slow times are divided by the factor
    // (interpolation), with a linear ramp between.
    const double orig = static_cast<double>(scaling.original_max_position_embeddings);
    double low = std::floor(yarn_correction_dim(scaling.beta_fast, rotary_dim, theta, orig));
    double high = std::ceil(yarn_correction_dim(scaling.beta_slow, rotary_dim, theta, orig));
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(rotary_dim - 1));
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      const double keep = 1.0 - ramp;  // share of the unscaled frequency
      inv_freq_[i] = inv_freq_[i] / factor * (1.0 - keep) + inv_freq_[i] * keep;
    }
    magnitude_ = yarn_mscale(factor, scaling.mscale) / yarn_mscale(factor, scaling.mscale_all_dim);
    if (scaling.mscale_all_dim != 0.0) {
      const double m = yarn_mscale(factor, scaling.mscale_all_dim);
      softmax_factor_ = m * m;
    }
  } else if (scaling.type == "llama3") {
    // Wavelengths shorter than orig/high_freq_factor are kept, longer than orig/low_freq_factor
    // divided by the factor, and the band between is blended by its position in wavelength.
    const double orig = static_cast<double>(scaling.original_max_position_embeddings);
    const double low_wavelen = orig / scaling.low_freq_factor;
    const double high_wavelen = orig / scaling.high_freq_factor;
    for (double& f : inv_freq_) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f /= factor;
        continue;
      }
      const double smooth = (orig / wavelen - scaling.low_freq_factor) /
                            (scaling.high_freq_factor - scaling.low_freq_factor);
      f = (1.0 - smooth) * f / factor + smooth * f;
    }
  } else if (!scaling.type.empty()) {
    throw InputError(fmt::format("RoPE: unsupported scaling '{}'", scaling.type));
  }
}

RopeTable RopeTable::for_model(const ModelConfig& model) {
  return RopeTable(model.rotary_dim(), model.rope_theta, model.rope_scaling);
}

template <class T>
void RopeTable::rotate_impl(T* x, int64_t count, int64_t stride, int64_t position) const {
  const int64_t half = rotary_dim_ / 2;
  if (half == 0 || count == 0) return;
  // One cos/sin table per call: all heads of a token share the position.
  std::vector<T> cs(static_cast<size_t>(2 * half));
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * inv_freq_[i];
    cs[2 * i] = static_cast<T>(std::cos(angle) * magnitude_);
    cs[2 * i + 1] = static_cast<T>(std::sin(angle) * magnitude_);
  }
  for (int64_t v = 0; v < count; ++v) {
    T* p = x + v * stride;
    for (int64_t i = 0; i < half; ++i) {
      const T a = p[2 * i], b = p[2 * i + 1], c = cs[2 * i], s = cs[2 * i + 1];
      p[2 * i] = a * c - b * s;
      p[2 * i + 1] = a * s + b * c;
    }
  }
}

void RopeTable::rotate(float* x, int64_t count, int64_t stride, int64_t position) const {
  rotate_impl(x, count, stride, position);
}
void RopeTable::rotate(double* x, int64_t count, int64_t stride, int64_t position) const {
  rotate_impl(x, count, stride, position);
}

}  // namespace mlasim::kernels
