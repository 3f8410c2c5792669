// Standalone timing of ops on a hardware preset, without SystemC: each call builds a fresh GPU
// (TileExecutor, cold L2) and memory engine on an EventLoop and runs the op's kernels. This is
// what `mlasim kernels` takes its time_us from.
//
//   KernelTimer timer = KernelTimer::from_preset("h800");       // or a path to a YAML preset
//   KernelTiming t = timer.time(AttentionOp{...});              // or a list of ops, in order
//   t.time_us, t.achieved_tb_per_s, t.achieved_tflops
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "models/gpu/kernel_builders.h"
#include "models/gpu/tile_executor.h"
#include "models/gpu/tile_gpu_params.h"
#include "sim/config.h"
#include "workloads/op_graph.h"

namespace mlasim {

struct KernelTiming {
  double time_us = 0;
  double flops = 0;        // useful FLOPs of the ops
  uint64_t hbm_bytes = 0;  // bytes the memory moved (reads + writes)
  double achieved_tb_per_s = 0;
  double achieved_tflops = 0;
  double l2_hit_rate = 0;
  L2Stats l2;
  std::vector<KernelRecord> kernels;  // each kernel's start, end, tiles, waves
  double wall_seconds = 0;            // host time the simulation took
};

class KernelTimer {
 public:
  // `memory` is a `memory:` section with its `type` (hbm, hbm_bandwidth, fixed_bandwidth).
  KernelTimer(TileGpuParams gpu, ConfigNode memory);
  // A preset name (h100, h800, h200: configs/hardware/<name>.yaml) or a YAML file with `gpu:`
  // (type: tile) and `memory:` sections. Throws InputError.
  // `memory`: empty for the preset's own memory section; "hbm_bandwidth" for the bandwidth
  // fidelity of the preset's cycle-level HBM (its pin peak, and the stream efficiency and idle
  // latency calibrated on it as the timer is built); "hbm" for the preset's section, which must
  // then be cycle-level.
  static KernelTimer from_preset(std::string_view name_or_path, std::string_view memory = "");

  KernelTiming time(const OpPayload& op) const { return time(std::vector<OpPayload>{op}); }
  // The ops back to back on one stream (their kernels share the L2).
  KernelTiming time(const std::vector<OpPayload>& ops) const;
  // Kernels built by the caller (a chosen tiling, say); `flops` is what they are credited. The
  // builder gets the sustained memory bandwidth the tiling heuristics assume (90% of peak).
  using Builder = std::function<KernelSequence(const TileGpuParams&, DeviceAddressSpace&,
                                               double hbm_bytes_per_s)>;
  KernelTiming time(const Builder& build, double flops) const;

  const TileGpuParams& gpu() const { return gpu_; }
  const ConfigNode& memory() const { return memory_; }  // the `memory:` section it runs
  // With cycle-level HBM: its controller.threads (the same results, less wall time); no effect
  // on other memory types.
  void set_hbm_threads(unsigned threads);
  TileGpuParams& gpu() { return gpu_; }
  // Refuses (InputError) to run kernels of more than `stages` tile stages in all, the measure
  // of the executor's work; 0: no limit.
  void set_max_tile_stages(uint64_t stages) { max_tile_stages_ = stages; }

 private:
  TileGpuParams gpu_;
  ConfigNode memory_;
  uint64_t max_tile_stages_ = 0;
};

}  // namespace mlasim
