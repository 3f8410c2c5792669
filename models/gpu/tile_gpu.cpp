// TileGpu: op graph -> kernels -> TileExecutor (see tile_gpu.h).
#include "models/gpu/tile_gpu.h"

namespace mlasim {

namespace {
// Sustained fraction of the memory peak the tiling heuristics assume (the calibrated streaming
// efficiency of the HBM model, `mlasim calibrate hbm`).
constexpr double kAssumedMemoryEfficiency = 0.9;
}  // namespace

TileGpu::TileGpu(const TileGpuParams& params, const ModuleEnv& env)
    : GpuBase(env),
      params_(params),
      sink_(actions()),
      port_(memory()),
      executor_(params_, sink_, port_),
      hbm_bytes_per_s_(memory().peak_bandwidth().bytes_per_s() * kAssumedMemoryEfficiency) {
  executor_.register_stats(stats().child("tiles"));
}

void TileGpu::start_compute(const Op& op, std::function<void()> done) {
  KernelSequence kernels = build_kernels(op.payload, params_, addresses_, hbm_bytes_per_s_);
  if (kernels.empty()) {
    actions().after(Time{}, std::move(done));
    return;
  }
  executor_.run(std::move(kernels), std::move(done));
}

}  // namespace mlasim
