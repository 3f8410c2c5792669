// The teaching scenarios (configs/teaching) run, and show what their comments say they show.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/sim/cli_runner.h"
#include "tests/sim/temp_dir_fixture.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

class Teaching : public TempDirTest {
 protected:
  Teaching() : TempDirTest("teaching") {}
  // Runs a teaching scenario with overrides; returns its summary (empty on failure).
  nlohmann::json run(const std::string& file, const std::vector<std::string>& sets,
                     const std::string& out) {
    std::vector<std::string> args = {
        "-q",         "run",   MLASIM_SOURCE_DIR "/configs/teaching/" + file,
        "--no-plots", "--out", (dir_ / out).string()};
    for (const auto& s : sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    last_ = run_cli(args);
    if (last_.exit_code != 0) return {};
    std::ifstream in(dir_ / out / "summary.json");
    return nlohmann::json::parse(in);
  }
  CliResult last_;
};

TEST_F(Teaching, EveryTeachingScenarioRuns) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(MLASIM_SOURCE_DIR "/configs/teaching")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    nlohmann::json s = run(e.path().filename().string(), {}, e.path().stem().string());
    EXPECT_EQ(last_.exit_code, 0) << e.path() << ": " << last_.err;
    EXPECT_GT(s.value("sim_time_us", 0.0), 0.0) << e.path();
  }
  EXPECT_GE(n, 3);
}

// roofline.yaml: a GPU's busy time is its GEMM's, max(math at 989 TFLOP/s, A, B and C through
// memory at the HBM bandwidth + its 500 ns latency). m = 64 is memory-bound (~31 us against
// ~6.6 us of math), m = 4096 compute-bound (~426 us against ~66 us), and 4.8 TB/s speeds up
// only the first.
TEST_F(Teaching, RooflineGemmIsMemoryBoundAtSmallMAndComputeBoundAtLargeM) {
  const double n = 7168, k = 7168;
  auto math_us = [&](double m) { return 2 * m * n * k / 989e12 * 1e6; };
  auto memory_us = [&](double m, double bandwidth) {
    return ((m * k + k * n + m * n) * 2 / bandwidth + 500e-9) * 1e6;
  };
  auto busy_us = [&](const std::vector<std::string>& sets, const std::string& out) {
    const nlohmann::json s = run("roofline.yaml", sets, out);
    EXPECT_EQ(last_.exit_code, 0) << last_.err;
    return s.is_object() ? s.value("gpu_busy_mean_us", -1.0) : -1.0;
  };
  const double skinny = busy_us({}, "m64"), fat = busy_us({"workload.gemm.m=4096"}, "m4096");
  EXPECT_GT(memory_us(64, 3.35e12), 4 * math_us(64));
  EXPECT_NEAR(skinny, memory_us(64, 3.35e12), 1e-5);
  EXPECT_NEAR(skinny, 31, 1);  // the comment's figure
  EXPECT_GT(math_us(4096), 4 * memory_us(4096, 3.35e12));
  EXPECT_NEAR(fat, math_us(4096), 1e-5);
  EXPECT_NEAR(fat, 426, 1);
  const std::string faster = "hardware.memory.bandwidth=4.8TB/s";
  EXPECT_NEAR(busy_us({faster}, "m64_fast"), memory_us(64, 4.8e12), 1e-5);
  EXPECT_LT(memory_us(64, 4.8e12), skinny - 5);
  EXPECT_NEAR(busy_us({faster, "workload.gemm.m=4096"}, "m4096_fast"), fat, 1e-5);
}

TEST_F(Teaching, MhaTwinReadsTheLargerCacheEveryStep) {
  // Same model, hardware and batch; only the attention differs. Per token and layer MLA caches
  // (512 + 64) x 2 B = 1,152 B and the MHA twin 2 x 16 x 128 x 2 B = 8,192 B; a decode step
  // reads each request's whole cache once in each of the 4 layers and the MTP module's layer.
  const nlohmann::json mla = run("mla-vs-mha.yaml", {}, "mla");
  ASSERT_EQ(last_.exit_code, 0) << last_.err;
  const nlohmann::json mha =
      run("mla-vs-mha.yaml", {"workload.model=teaching/models/deepseek-v2-lite-mha.json"}, "mha");
  ASSERT_EQ(last_.exit_code, 0) << last_.err;
  const double expected = (8192.0 - 1152.0) * (4 + 1) * 32 * 16384;
  const double delta =
      mha["hbm_read_mean_bytes"].get<double>() - mla["hbm_read_mean_bytes"].get<double>();
  EXPECT_NEAR(delta, expected, 0.02 * expected);
  EXPECT_GT(mha["sim_time_us"].get<double>(), 2.0 * mla["sim_time_us"].get<double>());
}

TEST_F(Teaching, OnePlaneOfFourPortSwitchesCannotHoldSixteenNics) {
  run("planes.yaml", {"cluster.planes=1"}, "one");
  EXPECT_EQ(last_.exit_code, 2);
  EXPECT_NE(last_.err.find("at most 2 nodes fit this fabric"), std::string::npos) << last_.err;
  // A failed plane leaves every GPU reachable (traffic detours over NVLink).
  const nlohmann::json failed = run("planes.yaml", {"network.faults.planes=[1]"}, "failed");
  EXPECT_EQ(last_.exit_code, 0) << last_.err;
  EXPECT_EQ(failed.value("net_injected_bytes", 0.0), failed.value("net_delivered_bytes", -1.0));
}

}  // namespace
}  // namespace mlasim
