// Attention and grouped GEMM on the tile model: MLA decode turns compute-bound as heads x query
// tokens grow, at the preset's roofline crossover; memory-bound kernels run near the HBM
// bandwidth; MoE grouped GEMMs cost what their experts' weights cost.
#include <gtest/gtest.h>

#include <cmath>

#include "models/gpu/kernel_timer.h"

namespace mlasim {
namespace {

constexpr double kPeakHbm = 3.3508e12;
constexpr double kPeakBf16 = 989.0e12;

// The H800 GPU with the bandwidth fidelity of HBM (the sweeps below run many kernels; the two
// fidelities agree within 5% on streams, and within a few % on these kernels).
KernelTimer h800_bandwidth() {
  const KernelTimer preset = KernelTimer::from_preset("h800");
  ConfigNode mem = ConfigNode::map();
  mem.set("type", ConfigNode::scalar("hbm_bandwidth"));
  return KernelTimer(preset.gpu(), mem);
}

AttentionOp mla_decode(uint64_t batch, uint64_t ctx, uint32_t heads, uint64_t q_len) {
  AttentionOp a;
  a.kernel = AttentionKernel::MlaDecode;
  a.batch = batch;
  a.kv_len = ctx;
  a.heads_q = heads;
  a.heads_kv = 1;
  a.q_len = q_len;
  a.head_dim_qk = 576;
  a.head_dim_v = 512;
  return a;
}

TEST(GpuAttention, MlaDecodeCrossoverWhereTheRooflinePutsIt) {
  const KernelTimer timer = h800_bandwidth();
  // Rows = heads x query tokens; long contexts so the KV cache dominates the traffic. The
  // attention kernel's own duration (the combine kernel after it is a separate matter).
  std::vector<std::pair<double, double>> t;  // (rows, us)
  for (auto [heads, q] : {std::pair{16u, 1u}, std::pair{32u, 1u}, std::pair{64u, 1u},
                          std::pair{128u, 4u}, std::pair{128u, 8u}}) {
    const KernelTiming r = timer.time(mla_decode(8, 16384, heads, q));
    const double us = (r.kernels[0].end - r.kernels[0].start).to_us();
    std::printf("rows %3u: %.2f us, %.0f TFLOPS\n", heads * q, us, r.achieved_tflops);
    t.emplace_back(static_cast<double>(heads * q), us);
  }
  // Memory-bound: the time hardly depends on the rows.
  const double plateau = (t[0].second + t[1].second + t[2].second) / 3;
  EXPECT_NEAR(t[0].second / t[2].second, 1.0, 0.1);
  // Compute-bound: the time grows with the rows at the tensor rate.
  const double slope = (t[4].second - t[3].second) / (t[4].first - t[3].first);
  const double flops_per_row_us = 8.0 * 16384 * 2 * (576 + 512) / kPeakBf16 * 1e6;
  EXPECT_NEAR(slope / flops_per_row_us, 1.0, 0.1);
  // The two asymptotes meet where the preset's roofline says: a KV token is 576 x 2 B and
  // costs 2 x (576 + 512) FLOPs per row.
  const double crossover = t[3].first - (t[3].second - plateau) / slope;
  const double roofline = kPeakBf16 * 576 * 2 / (kPeakHbm * 2 * (576 + 512));
  std::printf("crossover %.1f rows, roofline %.1f rows\n", crossover, roofline);
  EXPECT_NEAR(crossover / roofline, 1.0, 0.25);
}

TEST(GpuAttention, MlaDecodeStreamsTheCacheNearHbmBandwidthOnTheCycleModel) {
  // DeepSeek-V3 heads, one query token: memory-bound, on the cycle-level HBM.
  const KernelTimer timer = KernelTimer::from_preset("h800");
  const AttentionOp a = mla_decode(8, 16384, 128, 1);
  const KernelTiming r = timer.time(a);
  const double kv = 8.0 * 16384 * 576 * 2;
  EXPECT_GT(kv / (r.kernels[0].end - r.kernels[0].start).to_seconds(), 0.7 * kPeakHbm);
  EXPECT_LT(r.achieved_tb_per_s * 1e12, 0.95 * kPeakHbm);
}

TEST(GpuAttention, GqaDecodeIsMemoryBoundAndPrefillComputeBound) {
  const KernelTimer timer = h800_bandwidth();
  AttentionOp d;
  d.kernel = AttentionKernel::MhaDecode;
  d.batch = 16;
  d.kv_len = 4096;
  d.heads_q = 64;
  d.heads_kv = 8;
  d.head_dim_qk = d.head_dim_v = 128;
  const KernelTiming dr = timer.time(d);
  const double kv = 16.0 * 4096 * 8 * 256 * 2;
  EXPECT_GT(kv / (dr.kernels[0].end - dr.kernels[0].start).to_seconds(), 0.7 * kPeakHbm);

  AttentionOp p = d;
  p.kernel = AttentionKernel::MhaPrefill;
  p.batch = 1;
  p.q_len = p.kv_len = 8192;
  p.heads_q = p.heads_kv = 32;
  const KernelTiming pr = timer.time(p);
  EXPECT_GT(pr.achieved_tflops * 1e12, 0.6 * kPeakBf16);
  EXPECT_LT(pr.achieved_tb_per_s * 1e12, 0.3 * kPeakHbm);
}

TEST(GpuAttention, MlaPrefillRunsInMhaFormWithCausalWork) {
  const KernelTimer timer = h800_bandwidth();
  AttentionOp p;
  p.kernel = AttentionKernel::MlaPrefill;
  p.batch = 1;
  p.q_len = p.kv_len = 4096;
  p.heads_q = p.heads_kv = 32;
  p.head_dim_qk = 192;
  p.head_dim_v = 128;
  const KernelTiming causal = timer.time(p);
  p.mask = AttentionMask::None;
  const KernelTiming full = timer.time(p);
  // The causal mask skips the blocks above the diagonal: about half the work.
  EXPECT_NEAR(causal.time_us / full.time_us, 0.5, 0.1);
}

GroupedGemmOp experts(std::vector<uint64_t> m, GroupedLayout layout) {
  GroupedGemmOp g;
  g.m = std::move(m);
  g.n = 4096;  // gate + up projections of a DeepSeek-V3 expert (2 x 2048)
  g.k = 7168;
  g.dtype = DType::FP8;
  g.layout = layout;
  return g;
}

// Requests with contexts of their own (AttentionOp::kv_lens): FlashMLA splits the batch's
// total KV blocks evenly over the SMs, so a batch of short and long contexts costs about what a
// batch at their mean costs, far less than one at the longest; equal lengths given one by one
// cost exactly what the single length costs.
TEST(GpuAttention, MlaDecodeWithPerRequestContextsFollowsTheTotalKv) {
  const KernelTimer timer = h800_bandwidth();
  const AttentionOp mean = mla_decode(64, 4096, 128, 2);
  AttentionOp same = mean;
  same.kv_lens.assign(64, 4096);
  EXPECT_EQ(timer.time(same).time_us, timer.time(mean).time_us);
  AttentionOp mixed = mla_decode(64, 7168, 128, 2);
  for (uint64_t i = 0; i < 64; ++i)
    mixed.kv_lens.push_back(i % 2 ? 7168 : 1024);  // mean 4096
  EXPECT_EQ(mixed.total_kv_tokens(), mean.total_kv_tokens());
  const double t_mixed = timer.time(mixed).time_us, t_mean = timer.time(mean).time_us;
  const double t_longest = timer.time(mla_decode(64, 7168, 128, 2)).time_us;
  std::printf("mean %.1f us, mixed %.1f us, longest %.1f us\n", t_mean, t_mixed, t_longest);
  EXPECT_NEAR(t_mixed / t_mean, 1.0, 0.1);
  EXPECT_LT(t_mixed, 0.7 * t_longest);
}

// FlashDecoding (GQA) with per-request contexts: each (sequence, KV head) walks its own blocks,
// so the time lies between the batch at the shortest and at the longest context.
TEST(GpuAttention, GqaDecodeWithPerRequestContextsLiesBetweenItsBounds) {
  const KernelTimer timer = h800_bandwidth();
  AttentionOp a;
  a.kernel = AttentionKernel::MhaDecode;
  a.batch = 32;
  a.q_len = 1;
  a.heads_q = 16;
  a.heads_kv = 1;
  a.head_dim_qk = a.head_dim_v = 128;
  AttentionOp shortest = a, longest = a, mixed = a;
  shortest.kv_len = 1024;
  longest.kv_len = mixed.kv_len = 8192;
  for (uint64_t i = 0; i < 32; ++i)
    mixed.kv_lens.push_back(i % 4 ? 1024 : 8192);
  const double s = timer.time(shortest).time_us, m = timer.time(mixed).time_us,
               l = timer.time(longest).time_us;
  std::printf("shortest %.1f us, mixed %.1f us, longest %.1f us\n", s, m, l);
  EXPECT_GT(m, s);
  EXPECT_LT(m, l);
}

// Prefill prompts of their own lengths (AttentionOp::q_lens, varlen FlashAttention): each
// prompt gets its own 128-row blocks per head and walks only its own causal blocks, so a batch
// of short and long prompts costs less than the batch padded to the longest and more than the
// longest alone; equal lengths given one by one cost exactly what the single length costs.
TEST(GpuAttention, PrefillWithPerPromptLengthsTilesEachPrompt) {
  const KernelTimer timer = h800_bandwidth();
  AttentionOp a;
  a.kernel = AttentionKernel::MlaPrefill;
  a.heads_q = a.heads_kv = 16;
  a.head_dim_qk = 192;
  a.head_dim_v = 128;
  a.batch = 3;
  a.q_len = a.kv_len = 2048;
  AttentionOp same = a;
  same.q_lens.assign(3, 2048);
  EXPECT_EQ(timer.time(same).time_us, timer.time(a).time_us);
  AttentionOp mixed = a;
  mixed.q_lens = mixed.kv_lens = {256, 1024, 2048};
  AttentionOp longest = a;
  longest.batch = 1;
  const KernelTiming m = timer.time(mixed);
  // 16 heads x (2 + 8 + 16) row blocks of 128 queries.
  EXPECT_EQ(m.kernels[0].tiles, 16u * (2 + 8 + 16));
  // Useful FLOPs: each prompt's own causal pairs, sum_p p (p + 1) / 2, x 2 x 16 x (192 + 128).
  const double pairs = (256.0 * 257 + 1024.0 * 1025 + 2048.0 * 2049) / 2;
  EXPECT_DOUBLE_EQ(m.flops, 2.0 * pairs * 16 * (192 + 128));
  const double t_mixed = m.time_us, t_padded = timer.time(a).time_us,
               t_longest = timer.time(longest).time_us;
  std::printf("longest %.1f us, mixed %.1f us, padded %.1f us\n", t_longest, t_mixed, t_padded);
  EXPECT_GT(t_mixed, t_longest);
  EXPECT_LT(t_mixed, t_padded);
}

TEST(GpuAttention, MlaDecodeWithManyQueryTokensSkipsMaskedBlocks) {
  // 1024 query tokens over their own 1024 keys (absorbed MLA over a chunk): compute-bound, and
  // under the causal mask each row block walks only the KV blocks its tokens see, about half.
  const KernelTimer timer = h800_bandwidth();
  AttentionOp causal = mla_decode(1, 1024, 128, 1024);
  AttentionOp full = causal;
  full.mask = AttentionMask::None;
  const KernelTiming c = timer.time(causal), f = timer.time(full);
  // Token t sees ceil((t + 1) / 64) of the 16 blocks: 8.5 on average, 0.53 of the work; the
  // last wave's tail adds a little.
  EXPECT_GT(c.time_us / f.time_us, 0.5);
  EXPECT_LT(c.time_us / f.time_us, 0.65);
  // The useful FLOPs follow the mask: 1024 x 1025 / 2 of the 1024^2 pairs. (The achieved rate
  // then drops by the tail: about 0.85 of the full mask's.)
  EXPECT_DOUBLE_EQ(c.flops / f.flops, 1025.0 / 2048);
}

TEST(GpuGroupedGemm, DecodeExpertsCostTheirWeights) {
  // 4 experts with 64 tokens each (masked, as in low-latency decode), on the cycle-level HBM:
  // the weights dominate and stream at about the calibrated bandwidth.
  const KernelTiming r = KernelTimer::from_preset("h800").time(
      experts(std::vector<uint64_t>(4, 64), GroupedLayout::Masked));
  const double weights = 4.0 * 4096 * 7168;
  EXPECT_NEAR(weights / (0.897 * kPeakHbm) * 1e6 / r.time_us, 1.0, 0.15);
  // Half the experts idle: their tiles exit at once and their weights are not read.
  const KernelTimer timer = h800_bandwidth();
  const KernelTiming all = timer.time(experts(std::vector<uint64_t>(8, 64), GroupedLayout::Masked));
  std::vector<uint64_t> half(8, 0);
  for (int i = 0; i < 4; ++i)
    half[i] = 64;
  const KernelTiming h = timer.time(experts(half, GroupedLayout::Masked));
  EXPECT_NEAR(h.time_us / all.time_us, 0.5, 0.1);
  EXPECT_NEAR(static_cast<double>(h.hbm_bytes) / all.hbm_bytes, 0.5, 0.05);
}

TEST(GpuGroupedGemm, ContiguousLayoutPadsEachExpertToTheTile) {
  const KernelTimer timer = h800_bandwidth();
  // Prefill-sized groups: compute-bound. Uneven groups cost their padded row tiles.
  const KernelTiming even =
      timer.time(experts(std::vector<uint64_t>(16, 1024), GroupedLayout::Contiguous));
  const KernelTiming odd =
      timer.time(experts(std::vector<uint64_t>(16, 1025), GroupedLayout::Contiguous));
  EXPECT_GT(even.achieved_tflops * 1e12, 0.6 * 2 * kPeakBf16);
  // One more row per expert adds a row tile per expert: 9 instead of 8 at 128 rows per tile,
  // 1/8 more tiles, while the useful FLOPs grow by only 1/1024.
  ASSERT_EQ(even.kernels.size(), 1u);
  ASSERT_EQ(odd.kernels.size(), 1u);
  EXPECT_EQ(odd.kernels[0].tiles * 8, even.kernels[0].tiles * 9)
      << odd.kernels[0].tiles << " tiles against " << even.kernels[0].tiles;
  EXPECT_EQ(even.kernels[0].tiles % 16, 0u);  // the same number for each of the 16 experts
  EXPECT_DOUBLE_EQ(odd.flops / even.flops, 1025.0 / 1024);
  // The time grows with the tiles, each as long as before, but less than their number: the
  // busiest of the 132 SMs runs ceil(tiles / 132) of them (4,096 / 4,608 tiles at 128 x 128:
  // 32 / 35), and the launch and the pipeline's fill and drain do not grow.
  const double busiest =
      std::ceil(odd.kernels[0].tiles / 132.0) / std::ceil(even.kernels[0].tiles / 132.0);
  EXPECT_GT(odd.time_us / even.time_us, 1.0);
  EXPECT_LE(odd.time_us / even.time_us, busiest);
}

}  // namespace
}  // namespace mlasim
