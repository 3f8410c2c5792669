// End to end: a run with `gpu: {type: tile}` and `memory: {type: hbm}` (the H800 preset) writes
// the cycle-level HBM's statistics into stats.json, and they agree with each other and with
// the GPU's L2, which saw the same traffic from the other side.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

double value(const nlohmann::json& group, const std::string& stat) {
  return group.at("stats").at(stat).at("value").get<double>();
}

TEST(HbmRunStats, CycleLevelHbmStatsReachStatsJson) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mlasim_hbm_stats_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "scenario.yaml");
    f << "name: hbm-stats\n"
         "description: two GPUs, one GEMM each, tile GPU on cycle-level HBM\n"
         "seed: 1\n"
         "cluster: {type: single_switch, nodes: 2, gpus_per_node: 1}\n"
         "hardware:\n"
         "  include: "
      << MLASIM_CONFIG_DIR
      << "/hardware/h800.yaml\n"
         "  nic: {type: fixed_latency, latency: 500ns}\n"
         "  switch: {type: fixed_latency, latency: 300ns}\n"
         "workload:\n"
         "  type: pairwise_exchange\n"
         "  gemm: {m: 256, n: 7168, k: 7168, dtype: bf16}\n"
         "  message: 64KiB\n";
  }
  const CliResult r = run_cli(
      {"run", "-q", "--no-plots", "-o", (dir / "out").string(), (dir / "scenario.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "out" / "stats.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto& gpu = j.at("groups").at("n0_gpu0");
  const auto& hbm = gpu.at("groups").at("n0_gpu0_memory");
  const auto& l2 = gpu.at("groups").at("tiles").at("groups").at("l2");
  const double read = value(hbm, "bytes_read"), written = value(hbm, "bytes_written");
  // Every byte the L2 fetched or wrote back went through the HBM, and the GEMM's weight
  // (7168 x 7168 BF16) at least once.
  EXPECT_EQ(read, value(l2, "bytes_from_memory"));
  EXPECT_EQ(written, value(l2, "bytes_to_memory"));
  EXPECT_GE(read, 7168.0 * 7168 * 2);
  // Bursts cover the bytes (32 B each); every activation is a row miss or a conflict.
  EXPECT_GE(32 * value(hbm, "read_bursts"), read);
  EXPECT_GE(32 * value(hbm, "write_bursts"), written);
  EXPECT_EQ(value(hbm, "activates"), value(hbm, "row_misses") + value(hbm, "row_conflicts"));
  EXPECT_GT(value(hbm, "row_hits"), value(hbm, "activates"));  // a GEMM streams its operands
  // Occupancy, utilisation and bandwidth within their physical ranges.
  EXPECT_GT(value(hbm, "queue_occupancy"), 0);
  EXPECT_GT(value(hbm, "bank_utilization"), 0);
  EXPECT_LE(value(hbm, "bank_utilization"), 1);
  const double bw = value(hbm, "achieved_bandwidth");
  EXPECT_NEAR(bw, (read + written) / (value(hbm, "active_time") * 1e-12), 1e-6 * bw);
  EXPECT_LE(bw, value(hbm, "peak_bandwidth"));
  // The run outlasts tREFI (3.9 us): refreshes happened and took banks away for tRFC each.
  EXPECT_GT(value(hbm, "refreshes"), 0);
  EXPECT_GT(value(hbm, "refresh_time"), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
