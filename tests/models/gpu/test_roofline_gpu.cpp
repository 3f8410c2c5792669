// The roofline GPU: a compute-bound GEMM takes its FLOPs over the dtype's peak, and SMs reserved
// for communication slow its math by sms / (sms - reserved_sms), exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

// One GPU, one FP8 GEMM of 8192^3 (2 x 8192^3 = 1.1e12 FLOPs), far from memory
// bound: its 192 MiB of operands take about 60 us at 3.35 TB/s against over 500 us of math.
double gemm_time_us(const std::filesystem::path& dir, const std::vector<std::string>& sets) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "trace.json")
      << R"({"format": "mlasim-trace", "version": 1, "ranks": [{"rank": 0, "ops": [)"
      << R"({"name": "g", "op": "gemm", "deps": [], "m": 8192, "n": 8192, "k": 8192, )"
      << R"("dtype": "fp8"}]}]})";
  std::ofstream(dir / "s.yaml") << R"(name: roofline
cluster: {type: single_switch, nodes: 1, gpus_per_node: 1}
hardware:
  gpu: {type: roofline, fp8: 1979TFLOP/s}
  memory: {type: fixed_bandwidth, bandwidth: 3.35TB/s}
  nic: {type: fixed_latency}
  switch: {type: fixed_latency}
workload: {type: trace, file: trace.json}
)";
  std::vector<std::string> args{"run",   (dir / "s.yaml").string(), "-q", "--no-plots",
                                "--out", (dir / "out").string()};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "out" / "summary.json");
  return nlohmann::json::parse(in).value("sim_time_us", 0.0);
}

TEST(RooflineGpu, ReservedSmsSlowTheMathByTheirShare) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("mlasim_roofline_" + std::to_string(::getpid()));
  const double all = gemm_time_us(dir / "all", {});
  const double flops = 2.0 * 8192.0 * 8192.0 * 8192.0;
  EXPECT_NEAR(all, flops / 1979e12 * 1e6, 1e-3);
  const double reserved = gemm_time_us(dir / "reserved", {"hardware.gpu.reserved_sms=24"});
  EXPECT_NEAR(reserved, flops / (1979e12 * 108.0 / 132.0) * 1e6, 1e-3);
  const double fewer =
      gemm_time_us(dir / "fewer", {"hardware.gpu.sms=66", "hardware.gpu.reserved_sms=33"});
  EXPECT_NEAR(fewer, 2 * all, 1e-3);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
