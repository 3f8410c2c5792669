// TileGpu (`type: tile`): the tile/wave GPU model as a SystemC module. Compute ops of the op
// graph become kernel sequences (kernel_builders.h) run by a TileExecutor on the GPU's memory
// model (`hardware.memory`: hbm, hbm_bandwidth or fixed_bandwidth). The timing engine is plain
// C++; this wrapper drives it with the module's ActionQueue and reports its statistics.
#pragma once

#include "models/gpu/gpu_base.h"
#include "models/gpu/kernel_builders.h"
#include "models/gpu/tile_executor.h"
#include "models/gpu/tile_gpu_params.h"
#include "models/hbm/event_sink.h"

namespace mlasim {

class TileGpu : public GpuBase {
 public:
  TileGpu(const TileGpuParams& params, const ModuleEnv& env);
  TileExecutor& executor() { return executor_; }

 protected:
  void start_compute(const Op& op, std::function<void()> done) override;

 private:
  TileGpuParams params_;
  ActionQueueSink sink_;
  MemoryModelPort port_;
  TileExecutor executor_;
  DeviceAddressSpace addresses_;
  double hbm_bytes_per_s_;
};

}  // namespace mlasim
