// KernelTimer: ops on a fresh standalone GPU + memory (see kernel_timer.h).
#include "models/gpu/kernel_timer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "models/gpu/kernel_builders.h"
#include "models/hbm/hbm_calibration.h"
#include "models/hbm/hbm_params.h"
#include "models/hbm/memory_engines.h"
#include "sim/errors.h"
#include "sim/params.h"

namespace mlasim {

namespace {

// Tile stages of the kernels (a tile with none counts one), counted up to just past `limit`.
uint64_t tile_stages(const KernelSequence& kernels, uint64_t limit) {
  uint64_t n = 0;
  for (const auto& k : kernels) {
    const uint32_t tiles = k->tiles();
    for (uint32_t t = 0; t < tiles; ++t) {
      n += std::max<uint32_t>(1, k->stages(t));
      if (n > limit) return n;
    }
  }
  return n;
}

}  // namespace

KernelTimer::KernelTimer(TileGpuParams gpu, ConfigNode memory)
    : gpu_(std::move(gpu)), memory_(std::move(memory)) {}

void KernelTimer::set_hbm_threads(unsigned threads) {
  const ConfigNode* type = memory_.find("type");
  if (!type || type->as_string() != "hbm") return;
  ConfigNode* controller = memory_.find("controller");
  if (!controller) controller = &memory_.set("controller", ConfigNode::map());
  controller->set("threads", ConfigNode::scalar(std::to_string(threads)));
}

KernelTimer KernelTimer::from_preset(std::string_view name_or_path, std::string_view memory) {
  std::filesystem::path path(name_or_path);
  if (!name_or_path.empty() && name_or_path.find('/') == std::string_view::npos &&
      !path.has_extension()) {
    path = std::filesystem::path(MLASIM_CONFIG_DIR) / "hardware" /
           (std::string(name_or_path) + ".yaml");
  }
  if (!std::filesystem::exists(path)) {
    throw InputError(
        fmt::format("hardware preset '{}' not found ({})", name_or_path, path.string()));
  }
  const ConfigNode root = load_config_file(path);
  const ConfigNode* gpu = root.find("gpu");
  const ConfigNode* mem = root.find("memory");
  if (!gpu || !mem)
    throw InputError(fmt::format("{}: needs gpu: and memory: sections", path.string()));
  const ConfigNode* type = gpu->find("type");
  if (!type || type->as_string() != "tile") {
    throw InputError(fmt::format("{}: gpu.type must be 'tile' to time kernels", path.string()));
  }
  TileGpuParams params = read_params<TileGpuParams>(gpu, "gpu", {"type"});
  const ConfigNode* mem_type = mem->find("type");
  const std::string preset_memory = mem_type ? mem_type->as_string() : "";
  if (memory.empty() || memory == preset_memory) return KernelTimer(std::move(params), *mem);
  if (memory == "hbm_bandwidth" && preset_memory == "hbm") {
    // The bandwidth fidelity of this preset's own HBM (pin peak, calibrated efficiency and
    // latency).
    const HbmBandwidthFigures f =
        bandwidth_fidelity_of(read_params<HbmParams>(mem, "memory", {"type"}));
    ConfigNode bw = ConfigNode::map();
    bw.set("type", ConfigNode::scalar("hbm_bandwidth"));
    for (const auto& [key, value] : f.config_values())
      bw.set(key, ConfigNode::scalar(value));
    return KernelTimer(std::move(params), bw);
  }
  throw InputError(fmt::format("{}: memory.type is '{}'; cannot time it as '{}'", path.string(),
                               preset_memory, memory));
}

KernelTiming KernelTimer::time(const std::vector<OpPayload>& ops) const {
  double flops = 0;
  for (const auto& op : ops)
    flops += op_flops(op);
  return time(
      [&ops](const TileGpuParams& gpu, DeviceAddressSpace& addresses, double hbm_bytes_per_s) {
        KernelSequence all;
        for (const auto& op : ops) {
          KernelSequence k = build_kernels(op, gpu, addresses, hbm_bytes_per_s);
          for (auto& p : k)
            all.push_back(std::move(p));
        }
        return all;
      },
      flops);
}

KernelTiming KernelTimer::time(const Builder& build, double flops) const {
  const auto t0 = std::chrono::steady_clock::now();
  EventLoop loop;
  std::unique_ptr<MemoryPort> engine = make_memory_engine(memory_, "memory", loop);
  CountingMemoryPort memory(*engine);
  TileExecutor exec(gpu_, loop, memory);
  DeviceAddressSpace addresses;
  KernelTiming out;
  out.flops = flops;
  Time end;
  bool done = false;
  // The tiling heuristics assume the calibrated streaming efficiency of HBM (~0.9).
  KernelSequence kernels = build(gpu_, addresses, memory.peak_bandwidth().bytes_per_s() * 0.9);
  if (max_tile_stages_ > 0) {
    if (const uint64_t stages = tile_stages(kernels, max_tile_stages_); stages > max_tile_stages_) {
      throw InputError(fmt::format(
          "takes more than {} tile stages on the tile GPU model, its limit", max_tile_stages_));
    }
  }
  exec.run(std::move(kernels), [&] {
    end = loop.now();
    done = true;
  });
  loop.run();
  if (!done) throw std::logic_error("kernel sequence did not finish");
  out.time_us = end.to_us();
  out.hbm_bytes = memory.bytes_read() + memory.bytes_written();
  const double seconds = end.to_seconds();
  if (seconds > 0) {
    out.achieved_tb_per_s = static_cast<double>(out.hbm_bytes) / seconds * 1e-12;
    out.achieved_tflops = out.flops / seconds * 1e-12;
  }
  const L2Stats& l2 = exec.l2().stats();
  out.l2 = l2;
  const double reads = static_cast<double>(l2.hits + l2.misses + l2.merged);
  out.l2_hit_rate = reads > 0 ? static_cast<double>(l2.hits + l2.merged) / reads : 0.0;
  out.kernels = exec.records();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace mlasim
