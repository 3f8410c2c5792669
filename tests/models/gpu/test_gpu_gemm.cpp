// GEMMs on the tile model: compute-bound and memory-bound regimes against the closed-form tile
// model, wave quantisation, reserved SMs.
#include <gtest/gtest.h>

#include "models/gpu/kernel_builders.h"
#include "models/gpu/kernel_timer.h"

namespace mlasim {
namespace {

KernelTimer h800() { return KernelTimer::from_preset("h800"); }

TEST(GpuGemm, Explore) {
  KernelTimer t = h800();
  for (auto [m, n, k] : {std::tuple{4096ull, 7168ull, 2048ull}}) {
    GemmOp g{m, n, k, DType::BF16};
    const GemmTiling tl = choose_gemm_tiling(m, n, k, DType::BF16, t.gpu(), 0.9 * 3.3508e12);
    const auto est = estimate_gemm(m, n, k, DType::BF16, tl, t.gpu(), 0.8971 * 3.3508e12);
    const KernelTiming r = t.time(g);
    std::printf("%llu x %llu x %llu tile %u x %u x %u s%u split %u: sim %.2f us est %.2f us (c %.2f m %.2f l2 %.2f) %.1f TFLOPS %.3f TB/s l2hit %.2f wall %.2f s\n",
                (unsigned long long)m, (unsigned long long)n, (unsigned long long)k, tl.bm, tl.bn, tl.bk, tl.stages, tl.split_k, r.time_us,
                est.total.to_us(), est.compute.to_us(), est.memory.to_us(), est.l2.to_us(),
                r.achieved_tflops, r.achieved_tb_per_s, r.l2_hit_rate, r.wall_seconds);
  }
}

}  // namespace
}  // namespace mlasim
