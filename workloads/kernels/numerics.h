// Storage-precision emulation for the functional kernels: BF16 and FP8 E4M3 values are held in
// float after rounding, and every matrix product accumulates in FP32 (float) as tensor cores
// do; the float64 path rounds nothing and is the reference.
//
// FP8 follows DeepSeek-V3's fine-grained scaling: activations get one FP32 scale per 1x128
// tile along the reduction dim, weights one per 128x128 block, each scale = amax / 448.
// Left out: Hopper's ~14-bit FP8 accumulator (we accumulate in full FP32, which is what
// DeepSeek's promotion every 128 elements approximates), FP16, stochastic rounding.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "sim/dtype.h"

namespace mlasim::kernels {

// (kFp8TileSize and kFp8ScaleBytes, the FP8 scale layout: sim/dtype.h.)
inline constexpr float kFp8E4M3Max = 448.0f;  // largest finite E4M3 ("fn" variant)

// Round to nearest even to bfloat16 (8 exponent, 7 fraction bits); NaN stays NaN.
inline float round_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf and NaN pass through
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xffff0000u);
}

// Round to nearest even to FP8 E4M3 (4 exponent bits with bias 7, 3 fraction bits, subnormals
// down to 2^-9), saturating at +-448 as scaled conversions do.
inline float round_fp8_e4m3(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  if (a >= kFp8E4M3Max) return std::copysign(kFp8E4M3Max, x);
  int e = 0;
  std::frexp(a, &e);                             // a = m * 2^e with m in [0.5, 1)
  const int exponent = e - 1 < -6 ? -6 : e - 1;  // below 2^-6 the spacing stays 2^-9
  const float quantum = std::ldexp(1.0f, exponent - 3);
  float q = std::nearbyint(a / quantum) * quantum;  // default rounding mode: ties to even
  if (q > kFp8E4M3Max) q = kFp8E4M3Max;
  return std::copysign(q, x);
}

// Which dtype each kind of tensor is stored in for one kernel run.
struct Precision {
  DType compute = DType::FP32;     // weights and matrix-product inputs
  DType activation = DType::FP32;  // stored activations (FP8 runs keep them in BF16)
  DType cache = DType::FP32;       // the KV cache
  DType attention = DType::FP32;   // attention-core operands (FP8 runs: BF16, as DeepSeek does)

  // compute: FP64 (reference), FP32, BF16 or FP8; the cache defaults to the activation dtype
  // (BF16 for FP8 compute, as DeepSeek-V3 serves). FP16, and an FP64 cache without FP64
  // compute, are rejected with InputError.
  static Precision make(DType compute, std::optional<DType> cache = std::nullopt);
  std::string describe() const;
};

// Bytes one stored activation element takes.
inline uint64_t activation_bytes(const Precision& p) {
  return dtype_bytes(p.activation);
}

// Rounds n elements to `dtype` (FP32 on a float buffer and FP64 leave values unchanged).
template <class T>
void round_to(DType dtype, T* data, int64_t n);

// Quantise-dequantise a [rows, cols] matrix (leading dim ld) as a matrix-product input: FP8
// per 1x128 tile of each row, other dtypes elementwise.
template <class T>
void quantize_rows(DType dtype, T* data, int64_t rows, int64_t cols, int64_t ld);

// Same for a weight matrix [rows, cols] (contiguous): FP8 per 128x128 block.
template <class T>
void quantize_blocks(DType dtype, T* data, int64_t rows, int64_t cols);

}  // namespace mlasim::kernels
