// The network scenarios in configs/scenarios: each validates; the latency trio orders as the
// hardware does; a run writes the network result files; fidelity/model mismatches are input
// errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

std::string scenario(const std::string& name) {
  return (fs::path(MLASIM_CONFIG_DIR) / "scenarios" / (name + ".yaml")).string();
}

TEST(NetworkScenarios, EveryNetworkScenarioValidates) {
  int count = 0;
  for (const auto& e : fs::directory_iterator(fs::path(MLASIM_CONFIG_DIR) / "scenarios")) {
    const std::string f = e.path().filename().string();
    if (f.rfind("net-", 0) != 0) continue;
    ++count;
    CliResult r = run_cli({"validate", "-q", e.path().string()});
    EXPECT_EQ(r.exit_code, 0) << f << ": " << r.err;
  }
  EXPECT_GE(count, 8);
}

nlohmann::json run_scenario(const std::string& name, fs::path* out = nullptr) {
  const fs::path dir = nettest::temp_dir(name);
  CliResult r = run_cli({"run", scenario(name), "--no-plots", "-q", "--out", dir.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (out) *out = dir;
  std::ifstream in(dir / "summary.json");
  return nlohmann::json::parse(in);
}

TEST(NetworkScenarios, LatencyOrdersNvlinkSameLeafCrossLeaf) {
  fs::path out;
  const double nvlink = run_scenario("net-latency-nvlink")["fct_min_us"].get<double>();
  const double same = run_scenario("net-latency-same-leaf")["fct_min_us"].get<double>();
  auto cross_summary = run_scenario("net-latency-cross-leaf", &out);
  const double cross = cross_summary["fct_min_us"].get<double>();
  EXPECT_LT(nvlink, same);
  EXPECT_LT(same, cross);
  // Cross-leaf adds two cut-through switch pipelines and two optical hops (leaf-spine-leaf):
  // 2 x (300 + 100) ns of the defaults. Cut-through at equal link rates adds no
  // serialisation.
  EXPECT_NEAR(cross - same, 0.8, 1e-6);
  for (const char* f : {"links.csv", "messages.csv", "link_timeseries.csv", "network_report.json",
                        "summary.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  for (const char* key : {"max_link_utilization", "mean_link_utilization", "p99_fct_slowdown",
                          "credit_stall_fraction", "packet_hops"}) {
    EXPECT_TRUE(cross_summary.contains(key)) << key;
  }
  std::ifstream msgs(out / "messages.csv");
  std::string header;
  std::getline(msgs, header);
  EXPECT_EQ(header, "id,src,dst,bytes,injected_us,completed_us,fct_us,ideal_us,slowdown");
}

TEST(NetworkScenarios, PacketFidelityWithPlaceholderNicIsABadInput) {
  CliResult r =
      run_cli({"run", MLASIM_CONFIG_DIR "/teaching/pairwise-exchange.yaml", "--no-plots", "-q",
               "--set", "network.fidelity=packet", "--out", nettest::temp_dir("bad").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fixed_latency"), std::string::npos) << r.err;
}

TEST(NetworkScenarios, BufferSmallerThanAPacketIsABadInput) {
  CliResult r =
      run_cli({"run", scenario("net-latency-nvlink"), "--no-plots", "-q", "--set",
               "hardware.nvswitch.buffer=1KiB", "--out", nettest::temp_dir("small").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot hold one"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mlasim
