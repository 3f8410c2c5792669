// Numeric data types shared by workloads (what an op computes in) and models (how fast the
// hardware does it). Sizes are storage bytes per element.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "sim/params.h"

namespace mlasim {

enum class DType : uint8_t { FP8, BF16, FP16, FP32, FP64 };

inline constexpr uint32_t dtype_bytes(DType t) {
  switch (t) {
    case DType::FP8:
      return 1;
    case DType::BF16:
    case DType::FP16:
      return 2;
    case DType::FP32:
      return 4;
    case DType::FP64:
      return 8;
  }
  return 0;
}

// FP8 data carries its scales: one FP32 scale per 1x128 tile of a row (activations, cache
// rows) or per 128x128 block (weights), as DeepSeek-V3's fine-grained quantization does.
inline constexpr int64_t kFp8TileSize = 128;
inline constexpr uint64_t kFp8ScaleBytes = 4;

// Bytes of a row of n elements stored in `t`, its FP8 scales included.
inline constexpr uint64_t stored_row_bytes(uint64_t n, DType t) {
  const uint64_t tiles = (n + kFp8TileSize - 1) / kFp8TileSize;
  return n * dtype_bytes(t) + (t == DType::FP8 ? tiles * kFp8ScaleBytes : 0);
}

template <>
struct EnumNames<DType> {
  static constexpr std::array<std::pair<DType, std::string_view>, 5> values{
      {{DType::FP8, "fp8"},
       {DType::BF16, "bf16"},
       {DType::FP16, "fp16"},
       {DType::FP32, "fp32"},
       {DType::FP64, "fp64"}}};
};

}  // namespace mlasim
