// What the tile executor runs: a kernel is a grid of tiles (thread blocks), each a pipeline of
// stages. A stage loads a few operand blocks through L2/HBM and then does its math (tensor
// FLOPs at the kernel's dtype rate, FP32 CUDA-core FLOPs, SFU ops); an epilogue stores the
// tile's result. Each tile also states the per-SM resources it holds (shared memory, threads,
// registers), which set how many tiles an SM runs at once, and its pipeline depth (stages whose
// loads may be in flight ahead of the math: the shared-memory buffers).
//
// Plans describe their tiles on demand (stage(tile, s)), so a grid of millions of stages costs
// no memory. Builders for each op kind live in kernel_builders.h.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/dtype.h"

namespace mlasim {

struct TileLoad {
  uint64_t address = 0;  // also the block's identity in L2
  uint32_t bytes = 0;
  bool multicast = false;  // delivered by a cluster peer's load (TMA multicast): no L2 traffic
};

struct TileStage {
  static constexpr int kMaxLoads = 4;
  std::array<TileLoad, kMaxLoads> loads{};
  int n_loads = 0;
  std::array<TileLoad, kMaxLoads> stores{};
  int n_stores = 0;
  double tensor_flops = 0;
  double cuda_flops = 0;  // FP32 on CUDA cores
  double sfu_ops = 0;
  void load(uint64_t address, uint64_t bytes, bool multicast = false) {
    if (bytes > 0 && n_loads < kMaxLoads) {
      loads[n_loads++] = TileLoad{address, static_cast<uint32_t>(bytes), multicast};
    }
  }
  void store(uint64_t address, uint64_t bytes) {
    if (bytes > 0 && n_stores < kMaxLoads) {
      stores[n_stores++] = TileLoad{address, static_cast<uint32_t>(bytes), false};
    }
  }
};

struct TileResources {
  uint64_t smem = 0;  // bytes
  uint32_t threads = 128;
  uint32_t registers_per_thread = 128;
  uint32_t pipeline_depth = 2;  // stages whose loads may run ahead of the math
};

class KernelPlan {
 public:
  virtual ~KernelPlan() = default;
  virtual uint32_t tiles() const = 0;
  virtual uint32_t stages(uint32_t tile) const = 0;
  virtual void stage(uint32_t tile, uint32_t s, TileStage& out) const = 0;
  // Stores (and any last math) after the tile's final stage.
  virtual void epilogue(uint32_t tile, TileStage& out) const = 0;

  std::string name;
  DType dtype = DType::BF16;  // rate of tensor_flops
  TileResources resources;
  double useful_flops = 0;  // what the op asks for (tiles may compute padding on top)
};

using KernelSequence = std::vector<std::unique_ptr<KernelPlan>>;

}  // namespace mlasim
