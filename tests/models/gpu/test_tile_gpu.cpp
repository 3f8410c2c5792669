// The tile GPU and the HBM models as SystemC modules made by the registry from the presets:
// an op graph runs to completion and takes the time the standalone engines give.
#include <gtest/gtest.h>

#include <systemc>

#include "models/gpu/kernel_timer.h"
#include "models/gpu/tile_gpu.h"
#include "models/hbm/hbm_params.h"
#include "sim/builtin_components.h"

namespace mlasim {
namespace {

TEST(TileGpuModule, PresetsResolveThroughTheRegistry) {
  const Components comps = make_builtin_components();
  for (const char* name : {"h100", "h800", "h200"}) {
    const ConfigNode root =
        load_config_file(std::string(MLASIM_CONFIG_DIR) + "/hardware/" + name + ".yaml");
    const ConfigNode gpu = comps.gpu.resolve(root.find("gpu"), "gpu");
    const ConfigNode mem = comps.memory.resolve(root.find("memory"), "memory");
    EXPECT_EQ(gpu.find("type")->as_string(), "tile");
    EXPECT_EQ(mem.find("type")->as_string(), "hbm");
  }
  // The HBM presets' pin peaks are the products' figures.
  auto peak = [](const char* name) {
    const ConfigNode root =
        load_config_file(std::string(MLASIM_CONFIG_DIR) + "/hardware/" + name + ".yaml");
    return read_params<HbmParams>(root.find("memory"), "memory", {"type"})
        .peak_bandwidth()
        .bytes_per_s();
  };
  EXPECT_NEAR(peak("h800") / 3.35e12, 1.0, 0.005);
  EXPECT_NEAR(peak("h100") / 3.35e12, 1.0, 0.005);
  EXPECT_NEAR(peak("h200") / 4.8e12, 1.0, 0.005);
  // The GPU side: the datasheet's dense tensor TFLOPS (REFERENCE.md §2), the same die on all
  // three; FP32 CUDA cores at the preset clock (66.9 TFLOPS is quoted at the 1.98 GHz boost).
  for (const char* name : {"h100", "h800", "h200"}) {
    const ConfigNode root =
        load_config_file(std::string(MLASIM_CONFIG_DIR) + "/hardware/" + name + ".yaml");
    const TileGpuParams g = read_params<TileGpuParams>(root.find("gpu"), "gpu", {"type"});
    const double sms = g.sms;
    EXPECT_EQ(g.sms, 132u) << name;
    EXPECT_NEAR(sms * g.tensor_rate(DType::FP8) / 1979e12, 1.0, 0.01) << name;
    EXPECT_NEAR(sms * g.tensor_rate(DType::BF16) / 989e12, 1.0, 0.01) << name;
    EXPECT_NEAR(sms * g.tensor_rate(DType::FP32) / 495e12, 1.0, 0.01) << name;
    EXPECT_NEAR(sms * g.fp32_rate() / 66.9e12, 1.0, 0.10) << name;
    EXPECT_NEAR(static_cast<double>(g.l2_capacity.count()) / 50e6, 1.0, 0.05) << name;
  }
}

TEST(TileGpuModule, RunsAnOpGraphUnderSystemCLikeTheStandaloneEngine) {
  Components comps = make_builtin_components();
  SimContext ctx;
  const ConfigNode root = load_config_file(std::string(MLASIM_CONFIG_DIR) + "/hardware/h800.yaml");
  std::unique_ptr<MemoryModel> mem;
  {
    sc_core::sc_module_name n("gpu0_memory");
    ModuleEnv env{n, ctx, 0, nullptr};
    mem = comps.memory.create(root.find("memory"), "memory", env).product;
  }
  sc_core::sc_module_name n("gpu0");
  ModuleEnv env{n, ctx, 0, mem.get()};
  auto gpu = comps.gpu.create(root.find("gpu"), "gpu", env).product;

  AttentionOp attn;
  attn.kernel = AttentionKernel::MlaDecode;
  attn.batch = 4;
  attn.kv_len = 4096;
  attn.heads_q = 128;
  ElementwiseOp norm;
  norm.function = ElementwiseFunction::RmsNorm;
  norm.bytes_in = norm.bytes_out = Bytes(4 * 7168 * 2);
  norm.flops = 4.0 * 7168 * 4;
  RankProgram prog;
  prog.ops.push_back(Op{"norm", norm, {}, 0, 0});
  prog.ops.push_back(Op{"gemm", GemmOp{4, 7168, 2048, DType::BF16}, {0}, 0, 0});
  prog.ops.push_back(Op{"attn", attn, {1}, 0, 0});
  gpu->load_program(prog);
  gpu->start();
  sc_core::sc_start();
  ASSERT_TRUE(gpu->finished());
  // The same ops back to back on the standalone engine, from a cold L2.
  const KernelTiming alone = KernelTimer::from_preset("h800").time(
      std::vector<OpPayload>{norm, GemmOp{4, 7168, 2048, DType::BF16}, attn});
  EXPECT_NEAR(gpu->finish_time().to_us() / alone.time_us, 1.0, 0.02);
  EXPECT_GT(gpu->stats().lookup("tiles.tiles"), 0);
}

}  // namespace
}  // namespace mlasim
