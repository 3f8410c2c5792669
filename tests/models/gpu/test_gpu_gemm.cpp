// GEMMs on the tile/wave model against the closed-form tile model (estimate_gemm): the
// compute-bound and memory-bound regimes, wave quantisation and SMs reserved for communication
// emerge from tiles scheduled on SMs; nothing here is computed by the model from a formula.
#include <gtest/gtest.h>

#include "models/gpu/kernel_builders.h"
#include "models/gpu/kernel_timer.h"

namespace mlasim {
namespace {

// Sustained HBM bandwidth of the H800 preset: pin peak x calibrated streaming efficiency.
constexpr double kPeakHbm = 3.3508e12;
constexpr double kSustainedHbm = 0.897 * kPeakHbm;

KernelTiming run_gemm(const KernelTimer& timer, const GemmOp& g, const GemmTiling& t) {
  return timer.time([&](const TileGpuParams& p, DeviceAddressSpace& mem,
                        double) { return build_gemm(g, t, p, mem); },
                    g.flops());
}

TEST(GpuGemm, LargeBf16GemmIsComputeBoundWithinTenPercentOfTileModel) {
  const KernelTimer timer = KernelTimer::from_preset("h800");
  const GemmOp g{4096, 7168, 2048, DType::BF16};
  const GemmTiling t = choose_gemm_tiling(g.m, g.n, g.k, g.dtype, timer.gpu(), kSustainedHbm);
  const GemmEstimate est = estimate_gemm(g.m, g.n, g.k, g.dtype, t, timer.gpu(), kSustainedHbm);
  const KernelTiming r = run_gemm(timer, g, t);
  // The closed form says compute-bound by a wide margin...
  EXPECT_GT(est.compute.to_seconds(), 3 * est.memory.to_seconds());
  // ...the tile model agrees within 10%, with HBM far from busy.
  EXPECT_NEAR(r.time_us / est.total.to_us(), 1.0, 0.10);
  EXPECT_LT(r.achieved_tb_per_s * 1e12, 0.5 * kPeakHbm);
  EXPECT_GT(r.achieved_tflops, 0.7 * 989);
}

TEST(GpuGemm, SkinnyGemmIsMemoryBoundWithinTenPercentOfTileModel) {
  const KernelTimer timer = KernelTimer::from_preset("h800");
  const GemmOp g{64, 7168, 7168, DType::BF16};
  const GemmTiling t = choose_gemm_tiling(g.m, g.n, g.k, g.dtype, timer.gpu(), kSustainedHbm);
  const GemmEstimate est = estimate_gemm(g.m, g.n, g.k, g.dtype, t, timer.gpu(), kSustainedHbm);
  const KernelTiming r = run_gemm(timer, g, t);
  // Math alone (the whole GEMM at the BF16 peak) is a small part of the memory time.
  EXPECT_GT(est.memory.to_seconds(), 3 * g.flops() / 989e12);
  EXPECT_NEAR(r.time_us / est.total.to_us(), 1.0, 0.10);
  EXPECT_GT(r.achieved_tb_per_s * 1e12, 0.75 * kPeakHbm);
}

TEST(GpuGemm, OneTileMoreThanAWaveCostsAWave) {
  // 128 x 256 tiles, K deep enough to be compute-bound: 12 x 11 = 132 tiles fill every SM
  // once; 12 x 12 = 144 need a second wave for 12 of them.
  const KernelTimer timer = KernelTimer::from_preset("h800");
  GemmTiling t;
  t.bm = 128;
  t.bn = 256;
  t.bk = 64;
  t.stages = 4;
  const KernelTiming one = run_gemm(timer, GemmOp{12 * 128, 11 * 256, 8192, DType::BF16}, t);
  const KernelTiming two = run_gemm(timer, GemmOp{12 * 128, 12 * 256, 8192, DType::BF16}, t);
  EXPECT_EQ(one.kernels[0].waves, 1u);
  EXPECT_EQ(two.kernels[0].waves, 2u);
  // 9% more work, about twice the time (the tail wave runs at 9% occupancy).
  EXPECT_GT(two.time_us / one.time_us, 1.8);
  EXPECT_LT(two.achieved_tflops, 0.6 * one.achieved_tflops);
}

TEST(GpuGemm, ReservedSmsSlowComputeAsTheTileModelSays) {
  KernelTimer timer = KernelTimer::from_preset("h800");
  const GemmOp g{4096, 7168, 2048, DType::BF16};
  const GemmTiling t = choose_gemm_tiling(g.m, g.n, g.k, g.dtype, timer.gpu(), kSustainedHbm);
  const KernelTiming all = run_gemm(timer, g, t);
  const GemmEstimate est_all = estimate_gemm(g.m, g.n, g.k, g.dtype, t, timer.gpu(), kSustainedHbm);
  timer.gpu().reserved_sms = 20;
  const KernelTiming fewer = run_gemm(timer, g, t);
  const GemmEstimate est_fewer =
      estimate_gemm(g.m, g.n, g.k, g.dtype, t, timer.gpu(), kSustainedHbm);
  const double ratio = fewer.time_us / all.time_us;
  // 896 tiles: 7 per SM on 132 SMs, 8 on 112.
  EXPECT_GT(ratio, 1.1);
  EXPECT_NEAR(ratio, est_fewer.total.to_seconds() / est_all.total.to_seconds(), 0.05);
}

TEST(GpuGemm, TilingHeuristicSplitsKWhenTooFewTiles) {
  const TileGpuParams p;
  const GemmTiling t = choose_gemm_tiling(128, 1024, 16384, DType::BF16, p, kSustainedHbm);
  // 1 x 8 tiles of 128 x 128 would use 8 of 132 SMs.
  EXPECT_GT(t.split_k, 1u);
  const GemmTiling big = choose_gemm_tiling(8192, 8192, 8192, DType::BF16, p, kSustainedHbm);
  EXPECT_EQ(big.split_k, 1u);
  EXPECT_EQ(big.bm * big.bn, 128u * 256u);
}

// Element-wise kernels (norms, RoPE, activations) are sized by their bytes: streaming ones run
// at the memory's sustained bandwidth, and ones with enough FP32 work at the CUDA-core rate.
TEST(GpuStreaming, ElementwiseRunsAtStreamingBandwidthOrCudaCoreRate) {
  const KernelTimer timer = KernelTimer::from_preset("h800", "hbm_bandwidth");
  ElementwiseOp norm;
  norm.function = ElementwiseFunction::RmsNorm;
  norm.bytes_in = Bytes(256ull << 20);
  norm.bytes_out = Bytes(256ull << 20);
  norm.flops = 4.0 * (128ull << 20);  // a few FLOPs per BF16 element
  const KernelTiming n = timer.time(OpPayload{norm});
  const double stream_us = 512.0 * (1 << 20) / kSustainedHbm * 1e6;
  EXPECT_NEAR(n.time_us / stream_us, 1.0, 0.10);
  EXPECT_EQ(n.hbm_bytes, 512ull << 20);
  // The same bytes with 8x the CUDA-core time of the stream: compute sets the pace.
  ElementwiseOp rope = norm;
  rope.function = ElementwiseFunction::Rope;
  const double fp32_rate = 132.0 * 256 * 1.83e9;
  rope.flops = 8 * stream_us * 1e-6 * fp32_rate;
  const KernelTiming r = timer.time(OpPayload{rope});
  EXPECT_NEAR(r.time_us / (rope.flops / fp32_rate * 1e6), 1.0, 0.10);
}

}  // namespace
}  // namespace mlasim
