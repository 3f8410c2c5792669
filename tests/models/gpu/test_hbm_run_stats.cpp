// End to end: a run with `gpu: {type: tile}` and `memory: {type: hbm}` (the H800 preset) writes
// the cycle-level HBM's statistics into stats.json, and they agree with each other and with
// the GPU's L2, which saw the same traffic from the other side.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
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
  // Occupancy, utilisation and bandwidth within their physical ranges (the queues hold 64
  // read and 64 write bursts per pseudo-channel in the preset).
  EXPECT_GT(value(hbm, "queue_occupancy"), 0);
  EXPECT_LE(value(hbm, "queue_occupancy"), 64 + 64);
  EXPECT_GT(value(hbm, "bank_utilization"), 0);
  EXPECT_LE(value(hbm, "bank_utilization"), 1);
  const double bw = value(hbm, "achieved_bandwidth");
  EXPECT_NEAR(bw, (read + written) / (value(hbm, "active_time") * 1e-12), 1e-6 * bw);
  EXPECT_LE(bw, value(hbm, "peak_bandwidth"));
  // The run outlasts tREFI (3.9 us): refreshes happened and took banks away for tRFC each.
  // H800 preset: 5 stacks x 16 channels x 2 = 160 pseudo-channels, tCK 764 ps, all-bank
  // refresh every floor(3.9 us / tCK) = 5,104 cycles, each blocking all banks for
  // ceil(350 ns / tCK) = 459 cycles; refresh_time is the blocked time per pseudo-channel.
  const double pcs = 5 * 16 * 2, tck_ps = 764, refi_ps = 5104 * tck_ps, rfc_ps = 459 * tck_ps;
  const double refreshes = value(hbm, "refreshes");
  EXPECT_DOUBLE_EQ(value(hbm, "refresh_time"), refreshes * rfc_ps / pcs);
  // Pseudo-channel i refreshes first at (i + 1) / 160 of tREFI, then every tREFI, for as long
  // as it is simulated: from time 0 to about the end of its traffic, which ends between
  // `active_time` (time with requests outstanding, which began after time 0) and the end of the
  // GEMM (the GPU's busy time). Staggered so, the 160 channels refresh floor(160 t / tREFI)
  // times in all by time t.
  const double busy = value(gpu, "busy_time");
  EXPECT_GE(refreshes, std::floor(pcs * value(hbm, "active_time") / refi_ps));
  EXPECT_LE(refreshes, std::floor(pcs * busy / refi_ps));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
