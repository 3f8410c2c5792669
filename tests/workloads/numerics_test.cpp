// Storage-precision emulation (BF16, FP8 E4M3 with tile and block scales) and RoPE tables
// (plain, YaRN as DeepSeek configures it, Llama 3), checked against hand-derived values.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "workloads/kernels/numerics.h"
#include "workloads/kernels/rope.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {
namespace {

TEST(KernelNumerics, Bf16RoundsToNearestEven) {
  const float ulp = std::ldexp(1.0f, -7);  // spacing of bfloat16 in [1, 2)
  EXPECT_EQ(round_bf16(1.0f), 1.0f);
  EXPECT_EQ(round_bf16(1.0f + ulp / 2), 1.0f);                // tie: stays on even 1.0
  EXPECT_EQ(round_bf16(1.0f + 3 * ulp / 2), 1.0f + 2 * ulp);  // tie: up to even
  EXPECT_EQ(round_bf16(1.0f + ulp / 2 + std::ldexp(1.0f, -20)), 1.0f + ulp);  // above the tie
  EXPECT_EQ(round_bf16(-3.0f), -3.0f);
  EXPECT_EQ(round_bf16(3.14159265f), 3.140625f);
  EXPECT_TRUE(std::isnan(round_bf16(std::nanf(""))));
  EXPECT_TRUE(std::isinf(round_bf16(3.4e38f)));  // beyond bf16's largest finite value
}

// Every finite positive E4M3 value: exponent field e (bias 7), mantissa m (3 bits);
// e = 0 is subnormal; e = 15, m = 7 is NaN in the "fn" variant.
std::vector<float> e4m3_values() {
  std::vector<float> v;
  for (int e = 0; e < 16; ++e) {
    for (int m = 0; m < 8; ++m) {
      if (e == 15 && m == 7) continue;
      v.push_back(e == 0 ? std::ldexp(m / 8.0f, -6) : std::ldexp(1.0f + m / 8.0f, e - 7));
    }
  }
  return v;
}

TEST(KernelNumerics, Fp8E4M3RoundsOntoItsGridToNearestEven) {
  const std::vector<float> grid = e4m3_values();
  EXPECT_EQ(grid.back(), 448.0f);
  for (size_t i = 0; i < grid.size(); ++i) {
    EXPECT_EQ(round_fp8_e4m3(grid[i]), grid[i]);
    EXPECT_EQ(round_fp8_e4m3(-grid[i]), -grid[i]);
    if (i + 1 == grid.size()) break;
    // The midpoint goes to the neighbour with the even mantissa (even index in the grid).
    const float mid = (grid[i] + grid[i + 1]) / 2;
    EXPECT_EQ(round_fp8_e4m3(mid), i % 2 == 0 ? grid[i] : grid[i + 1]) << mid;
    EXPECT_EQ(round_fp8_e4m3(std::nextafter(mid, 1e9f)), grid[i + 1]);
    EXPECT_EQ(round_fp8_e4m3(std::nextafter(mid, 0.0f)), grid[i]);
  }
  EXPECT_EQ(round_fp8_e4m3(1000.0f), 448.0f);  // scaled conversion saturates
  EXPECT_EQ(round_fp8_e4m3(17.0f), 16.0f);     // spacing 2 in [16, 32): tie to even
}

TEST(KernelNumerics, Fp8TilesKeepRelativePrecisionPerTile) {
  // Two 1x128 tiles six decades apart: one shared scale would flush the small tile to zero.
  std::vector<float> row(256);
  for (int i = 0; i < 256; ++i)
    row[i] = (i < 128 ? 1e-3f : 1e3f) * (1.0f + 0.37f * (i % 11));
  std::vector<float> q = row;
  quantize_rows(DType::FP8, q.data(), 1, 256, 256);
  for (int i = 0; i < 256; ++i) {
    EXPECT_LE(std::fabs(q[i] - row[i]), row[i] / 16 * 1.0001f) << i;  // half a step of 3 bits
    EXPECT_GT(q[i], 0.0f);
  }
  // Each tile's largest element maps to 448 exactly and so survives to float rounding.
  EXPECT_NEAR(q[120], row[120], row[120] * 1e-6);  // 120 % 11 == 10: the first tile's largest

  // Weights: 128x128 blocks, each with its own scale.
  std::vector<float> w(256 * 130);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = (i / 130 < 128 ? 1.0f : 1e-4f) * std::sin(0.1f * i);
  std::vector<float> wq = w;
  quantize_blocks(DType::FP8, wq.data(), 256, 130);
  for (size_t i = 0; i < w.size(); ++i) {
    const float block_amax = i / 130 < 128 ? 1.0f : 1e-4f;
    EXPECT_LE(std::fabs(wq[i] - w[i]), std::max(std::fabs(w[i]) / 15, block_amax * 1e-3f)) << i;
  }
}

// A tile whose largest magnitude is a float subnormal has a scale (amax / 448) that underflows
// to 0: its elements become zeros, not 0/0.
TEST(KernelNumerics, Fp8TileTooSmallForItsScaleBecomesZeros) {
  std::vector<float> row(128, 0.0f);
  row[3] = 1e-44f;
  row[7] = -1e-45f;
  quantize_rows(DType::FP8, row.data(), 1, 128, 128);
  for (float v : row)
    EXPECT_EQ(v, 0.0f);
}

TEST(KernelNumerics, PrecisionDefaults) {
  const Precision fp8 = Precision::make(DType::FP8);
  EXPECT_EQ(fp8.activation, DType::BF16);
  EXPECT_EQ(fp8.attention, DType::BF16);
  EXPECT_EQ(fp8.cache, DType::BF16);
  EXPECT_EQ(Precision::make(DType::FP8, DType::FP8).cache, DType::FP8);
  EXPECT_EQ(Precision::make(DType::FP32).cache, DType::FP32);
  EXPECT_THROW(Precision::make(DType::FP16), InputError);
  EXPECT_THROW(Precision::make(DType::BF16, DType::FP64), InputError);
}

TEST(KernelRope, YarnAsDeepSeekV3ConfiguresIt) {
  const ModelConfig v3 = resolve_model("deepseek-v3");
  const RopeTable t = RopeTable::for_model(v3);
  ASSERT_EQ(t.inv_freq().size(), 32u);
  auto base = [](int i) { return std::pow(10000.0, -2.0 * i / 64); };
  // Correction range for dim 64, base 1e4, 4096 original positions: beta_fast 32 turns gives
  // floor(64 ln(4096/(64 pi)) / (2 ln 1e4)) = 10, beta_slow 1 turn ceil(64 ln(4096/(2 pi)) /
  // (2 ln 1e4)) = 23. Below 10 frequencies are kept, from 23 on divided by 40, linear between.
  for (int i : {0, 5, 10})
    EXPECT_EQ(t.inv_freq()[i], base(i)) << i;
  for (int i : {23, 30, 31})
    EXPECT_DOUBLE_EQ(t.inv_freq()[i], base(i) / 40) << i;
  const double ramp = (16 - 10) / 13.0;
  EXPECT_DOUBLE_EQ(t.inv_freq()[16], base(16) / 40 * ramp + base(16) * (1 - ramp));
  // mscale == mscale_all_dim: cos/sin unscaled, softmax scale times (0.1 ln 40 + 1)^2.
  EXPECT_DOUBLE_EQ(t.magnitude(), 1.0);
  EXPECT_DOUBLE_EQ(t.softmax_factor(), std::pow(0.1 * std::log(40.0) + 1.0, 2));
  const RopeTable v2 = RopeTable::for_model(resolve_model("deepseek-v2"));
  EXPECT_DOUBLE_EQ(v2.softmax_factor(), std::pow(0.1 * 0.707 * std::log(40.0) + 1.0, 2));
  EXPECT_NEAR(v2.softmax_factor() / std::sqrt(192.0), 0.114721, 1e-6);
}

TEST(KernelRope, Llama3SmoothScaling) {
  const RopeTable t = RopeTable::for_model(resolve_model("llama-3.1-405b"));
  ASSERT_EQ(t.inv_freq().size(), 64u);
  auto base = [](int i) { return std::pow(500000.0, -2.0 * i / 128); };
  // Wavelength below 8192/4 = 2048 positions: kept; above 8192: divided by 8.
  EXPECT_EQ(t.inv_freq()[0], base(0));
  EXPECT_EQ(t.inv_freq()[20], base(20));                   // wavelength ~ 410
  EXPECT_EQ(t.inv_freq()[40], base(40) / 8);               // wavelength ~ 22900
  const double wavelen = 2 * std::numbers::pi / base(32);  // ~4443: in the blended band
  const double smooth = (8192 / wavelen - 1) / 3;
  EXPECT_DOUBLE_EQ(t.inv_freq()[32], (1 - smooth) * base(32) / 8 + smooth * base(32));
  EXPECT_DOUBLE_EQ(t.softmax_factor(), 1.0);
}

TEST(KernelRope, ScoresDependOnlyOnRelativePosition) {
  const RopeTable t(16, 10000.0);
  std::vector<double> q(16), k(16);
  for (int i = 0; i < 16; ++i) {
    q[i] = std::sin(1.0 + i);
    k[i] = std::cos(2.0 * i);
  }
  auto score = [&](int64_t pq, int64_t pk) {
    std::vector<double> a = q, b = k;
    t.rotate(a.data(), 1, 16, pq);
    t.rotate(b.data(), 1, 16, pk);
    double s = 0;
    for (int i = 0; i < 16; ++i)
      s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(score(7, 3), score(1004, 1000), 1e-9);
  EXPECT_GT(std::fabs(score(7, 3) - score(7, 6)), 1e-3);
}

}  // namespace
}  // namespace mlasim::kernels
