// Rounding loops for the storage dtypes; one switch per buffer, tight loops inside.
#include "workloads/kernels/numerics.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/errors.h"

namespace mlasim::kernels {
namespace {

// Scale so the tile's largest magnitude maps to 448, then round each element in that scale.
template <class T>
void fp8_fake_quant(T* data, int64_t n, float amax) {
  // (A tile so small that its scale underflows holds nothing FP8 can show: zeros, not 0/0.)
  const float scale = amax / kFp8E4M3Max;
  if (!(scale > 0)) {
    std::fill(data, data + n, T(0));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    data[i] = static_cast<T>(round_fp8_e4m3(static_cast<float>(data[i]) / scale) * scale);
  }
}

}  // namespace

Precision Precision::make(DType compute, std::optional<DType> cache) {
  if (compute == DType::FP16) throw InputError("kernels: fp16 is not supported (use bf16)");
  if (cache && *cache == DType::FP16) throw InputError("kernels: fp16 KV cache is not supported");
  if (cache && *cache == DType::FP64 && compute != DType::FP64) {
    throw InputError("kernels: an fp64 KV cache needs fp64 compute");
  }
  Precision p;
  p.compute = compute;
  p.activation = compute == DType::FP8 ? DType::BF16 : compute;
  p.attention = p.activation;
  // DeepSeek keeps the cache (and core attention) in BF16 when its GEMMs run in FP8.
  p.cache = cache.value_or(p.activation);
  return p;
}

std::string Precision::describe() const {
  return fmt::format("compute {}, activations {}, KV cache {}, attention {}", enum_name(compute),
                     enum_name(activation), enum_name(cache), enum_name(attention));
}

template <class T>
void round_to(DType dtype, T* data, int64_t n) {
  switch (dtype) {
    case DType::FP64:
      return;
    case DType::FP32:
      for (int64_t i = 0; i < n; ++i)
        data[i] = static_cast<T>(static_cast<float>(data[i]));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i)
        data[i] = static_cast<T>(round_bf16(static_cast<float>(data[i])));
      return;
    case DType::FP8:
      // Elementwise FP8 without a scale is only meaningful for already-scaled data.
      for (int64_t i = 0; i < n; ++i) {
        data[i] = static_cast<T>(round_fp8_e4m3(static_cast<float>(data[i])));
      }
      return;
    case DType::FP16:
      break;
  }
  throw InputError("kernels: fp16 is not supported");
}

template <class T>
void quantize_rows(DType dtype, T* data, int64_t rows, int64_t cols, int64_t ld) {
  if (dtype != DType::FP8) {
    for (int64_t r = 0; r < rows; ++r)
      round_to(dtype, data + r * ld, cols);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    T* row = data + r * ld;
    for (int64_t c0 = 0; c0 < cols; c0 += kFp8TileSize) {
      const int64_t n = std::min(kFp8TileSize, cols - c0);
      float amax = 0;
      for (int64_t i = 0; i < n; ++i)
        amax = std::max(amax, std::fabs(static_cast<float>(row[c0 + i])));
      fp8_fake_quant(row + c0, n, amax);
    }
  }
}

template <class T>
void quantize_blocks(DType dtype, T* data, int64_t rows, int64_t cols) {
  if (dtype != DType::FP8) {
    round_to(dtype, data, rows * cols);
    return;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += kFp8TileSize) {
    const int64_t nr = std::min(kFp8TileSize, rows - r0);
    for (int64_t c0 = 0; c0 < cols; c0 += kFp8TileSize) {
      const int64_t nc = std::min(kFp8TileSize, cols - c0);
      float amax = 0;
      for (int64_t r = 0; r < nr; ++r) {
        for (int64_t c = 0; c < nc; ++c) {
          amax = std::max(amax, std::fabs(static_cast<float>(data[(r0 + r) * cols + c0 + c])));
        }
      }
      for (int64_t r = 0; r < nr; ++r)
        fp8_fake_quant(data + (r0 + r) * cols + c0, nc, amax);
    }
  }
}

template void round_to<float>(DType, float*, int64_t);
template void round_to<double>(DType, double*, int64_t);
template void quantize_rows<float>(DType, float*, int64_t, int64_t, int64_t);
template void quantize_rows<double>(DType, double*, int64_t, int64_t, int64_t);
template void quantize_blocks<float>(DType, float*, int64_t, int64_t);
template void quantize_blocks<double>(DType, double*, int64_t, int64_t);

}  // namespace mlasim::kernels
