// The network scenarios in configs/scenarios: each validates; the latency trio orders as the
// hardware does; a run writes the network result files; fidelity/model mismatches are input
// errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

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
  // One 64 B message and nothing else (an 8 B acknowledgement came back after it once, and its
  // own shorter time was what fct_min_us read).
  EXPECT_EQ(cross_summary["net_injected_messages_count"].get<int>(), 1);
  EXPECT_EQ(cross_summary["net_injected_bytes"].get<int>(), 64);
  EXPECT_EQ(cross_summary["fct_min_us"], cross_summary["fct_max_us"]);
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

TEST(NetworkScenarios, MultiPlaneFatTreeIsolatesAPlaneFailureBetterThanOnePlane) {
  // The same all-to-all and the same failed hardware (NIC 3 of every node and its switches) on
  // 8 planes and on one: both recover every byte, but the single plane loses far more of its
  // goodput after the fault, because its spines carried every GPU's traffic.
  // On 8 planes the other 7 never stop: the network keeps 7/8 of its NIC bandwidth, so the
  // goodput after the fault is about 7/8 of that before. Within 0.05: the before part also
  // holds the intra-node (NVLink) ninth of the bytes (7 of each GPU's 63 peers), which does not
  // cross NICs and ends early, and the lost packets wait out a retransmission timeout (32.8 us of
  // the 238 after).
  fs::path mpft_out;
  const auto mpft = run_scenario("net-fault-plane-mpft", &mpft_out);
  const auto ft2 = run_scenario("net-fault-plane-ft2");
  for (const auto* s : {&mpft, &ft2}) {
    EXPECT_EQ((*s)["net_delivered_bytes"], (*s)["net_injected_bytes"]);
    EXPECT_EQ((*s)["net_delivered_bytes"].get<uint64_t>(), 64u * 63u * 256u * 1024u);
    EXPECT_GT((*s)["fault_packets_lost_count"].get<uint64_t>(), 0u);
    EXPECT_EQ((*s)["fault_messages_failed_count"].get<uint64_t>(), 0u);
  }
  auto kept = [](const nlohmann::json& s) {
    return s["fault_goodput_after_bytes_per_s"].get<double>() /
           s["fault_goodput_before_bytes_per_s"].get<double>();
  };
  EXPECT_NEAR(kept(mpft), 7.0 / 8, 0.05);
  // The single plane does not keep the failure to the NICs' eighth: it stays below that band.
  EXPECT_LT(kept(ft2), 7.0 / 8 - 0.05);
  EXPECT_TRUE(fs::exists(mpft_out / "throughput.csv"));
  std::ifstream report(mpft_out / "network_report.json");
  const auto r = nlohmann::json::parse(report);
  ASSERT_EQ(r["faults"].size(), 1u);
  EXPECT_EQ(r["faults"][0]["what"], "plane 3 down");
  EXPECT_DOUBLE_EQ(r["faults"][0]["reroute_us"].get<double>(), 110.0);
}

TEST(NetworkScenarios, ANetworkThatNeverRunsSpentNoCpuTime) {
  // Two layers of this prefill send nothing over the network: the engine never wakes.
  const fs::path dir = nettest::temp_dir("idle");
  CliResult r = run_cli({"run", scenario("deepseek-v3-prefill-ep32-prompts-lognormal"),
                         "--no-plots", "-q", "--out", dir.string(), "--set", "workload.layers=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "summary.json");
  const auto s = nlohmann::json::parse(in);
  ASSERT_EQ(s["net_engine_activations_count"], 0) << "the precondition: no network activity";
  EXPECT_EQ(s["net_cpu_s"].get<double>(), 0.0);
  EXPECT_EQ(s["packet_hops_per_cpu_s"].get<double>(), 0.0);
}

// throughput.csv at packet and at flow level: every payload byte delivered is in exactly one
// bin (the total is messages.csv's), and no bin holds bytes outside the time the messages were
// in the network.
TEST(NetworkScenarios, ThroughputSeriesHoldsEveryDeliveredByte) {
  for (const char* fidelity : {"packet", "flow"}) {
    SCOPED_TRACE(fidelity);
    const fs::path dir = nettest::temp_dir(std::string("tput_") + fidelity);
    CliResult r = run_cli({"run", scenario("net-incast"), "--no-plots", "-q", "--out", dir.string(),
                           "--set", std::string("network.fidelity=") + fidelity});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    double total = 0, first_in = 1e300, last_done = 0;
    {
      std::ifstream in(dir / "messages.csv");
      std::string line;
      std::getline(in, line);
      while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string f[6];
        for (auto& x : f)
          std::getline(ss, x, ',');
        total += std::stod(f[3]);
        first_in = std::min(first_in, std::stod(f[4]));
        last_done = std::max(last_done, std::stod(f[5]));
      }
    }
    ASSERT_GT(total, 0);
    std::ifstream in(dir / "throughput.csv");
    std::string line;
    std::getline(in, line);
    ASSERT_EQ(line, "bin,bin_start_us,bin_width_us,delivered_bytes,goodput_bytes_per_s");
    double sum = 0;
    size_t bins = 0;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string f[5];
      for (auto& x : f)
        std::getline(ss, x, ',');
      const double start = std::stod(f[1]), width = std::stod(f[2]), bytes = std::stod(f[3]);
      ++bins;
      sum += bytes;
      if (bytes > 0) {
        EXPECT_GT(start + width, first_in) << line;
        EXPECT_LT(start, last_done) << line;
      }
    }
    ASSERT_GT(bins, 1u);
    EXPECT_NEAR(sum, total, static_cast<double>(bins));  // each bin is printed rounded
  }
}

// A message for another plane crosses NVLink to the GPU of that plane, at the sender or at the
// receiver. Either way one NIC takes a work request, so both pay its doorbell once: the cross-
// plane 64 B latency is the same-plane one plus the NVLink hop through the NVSwitch (25 + 150 +
// 25 ns, and 64 + 16 header bytes at 200 GB/s: 0.4 ns) and the forwarding GPU's 300 ns, at both
// fidelities. (Forwarding at the sender once paid no doorbell: 500 ns less.)
TEST(NetworkScenarios, CrossPlaneForwardingPaysOneDoorbellAtEitherEnd) {
  const std::string yaml = R"(name: mpft-lat
cluster: {type: mpft, k: 8, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
hardware: {gpu: {type: roofline}, memory: {type: fixed_bandwidth}, nic: {type: rdma},
           switch: {type: infiniband}, nvswitch: {type: nvswitch}}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 8, sizes: [64B], count: 1}
)";
  auto latency_us = [&](const std::string& dst, const std::string& mode,
                        const std::string& fidelity) {
    return nettest::run_cli_yaml(yaml,
                                 {"workload.dst=" + dst, "routing.cross_plane=" + mode,
                                  "network.fidelity=" + fidelity},
                                 "xplane")["fct_min_us"]
        .get<double>();
  };
  for (const std::string fidelity : {"packet", "flow"}) {
    const double same_plane = latency_us("8", "sender", fidelity);  // GPU 0 of node 1
    const double nvlink_and_forward = 0.2 + 80.0 / 200e3 + 0.3;
    for (const std::string mode : {"sender", "receiver"}) {
      EXPECT_NEAR(latency_us("11", mode, fidelity) - same_plane, nvlink_and_forward, 1e-6)
          << fidelity << ", forwarding at the " << mode;
    }
  }
}

// Packets are cut once for their whole route, at the NICs' MTU: the NVSwitch's transfer unit
// (its simulated NVLink packet) must not shrink the InfiniBand packets of a route with no NVLink
// on it (it once did: 1 KiB cut a 16 MiB transfer's rate from 49.68 to 48.76 GB/s). It is
// warned about as unused.
TEST(NetworkScenarios, NvSwitchTransferUnitLeavesInfiniBandPacketsAlone) {
  auto run = [](const std::vector<std::string>& sets) {
    const fs::path dir = nettest::temp_dir("transfer-unit");
    std::vector<std::string> args{
        "run",   scenario("net-p2p-bandwidth"), "--no-plots", "--out",           dir.string(),
        "--set", "workload.sizes=[16MiB]",      "--set",      "workload.count=2"};
    for (const auto& s : sets)
      args.insert(args.end(), {"--set", s});
    CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(dir / "summary.json");
    return std::pair{nlohmann::json::parse(in), r.err};
  };
  const auto [plain, plain_err] = run({});
  const auto [small, small_err] = run({"hardware.nvswitch.transfer_unit=1KiB"});
  EXPECT_EQ(small["sim_time_us"], plain["sim_time_us"]);
  EXPECT_EQ(small["packet_hops"], plain["packet_hops"]);
  EXPECT_EQ(plain_err.find("transfer_unit"), std::string::npos) << plain_err;
  EXPECT_NE(small_err.find("hardware.nvswitch.transfer_unit is not used"), std::string::npos)
      << small_err;
}

// Per-plane totals are the planes' InfiniBand links: PCIe and NVLink stay inside a node (plane
// -1, "none"), though each GPU takes its NIC's plane (they once counted in its plane: plane 0
// of this all-to-all held 159 MB, 50 MB of it on InfiniBand).
TEST(NetworkScenarios, PlaneTotalsHoldOnlyThePlanesInfiniBandLinks) {
  fs::path out;
  run_scenario("net-a2a-mpft", &out);
  std::ifstream csv(out / "links.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("link,from,to,kind,tier,plane,bandwidth_bytes_per_s,bytes,", 0), 0u);
  std::map<std::string, uint64_t> bytes_by_plane;
  int ib_links = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');)
      f.push_back(cell);
    ASSERT_GE(f.size(), 8u) << line;
    const bool ib = f[3] == "ib";
    ib_links += ib;
    EXPECT_EQ(f[5] != "-1", ib) << line;
    bytes_by_plane[f[5] == "-1" ? "none" : f[5]] += std::stoull(f[7]);
  }
  EXPECT_GT(ib_links, 0);
  std::ifstream in(out / "network_report.json");
  const nlohmann::json planes = nlohmann::json::parse(in)["planes"];
  EXPECT_EQ(planes.size(), 9u);  // 8 planes and none
  for (const auto& [plane, total] : planes.items())
    EXPECT_EQ(total["bytes"].get<uint64_t>(), bytes_by_plane[plane]) << plane;
}

// links.csv gives each link's line rate and the rate its wire bytes go at (line rate x
// encoding), and utilisation is wire bytes at that rate over the whole run (network_report.json's
// end_us). With InfiniBand encoding 0.5 an IB link's rate is half its line rate.
TEST(NetworkScenarios, LinkRatesAndUtilisationOverTheRun) {
  const fs::path dir = nettest::temp_dir("link_rates");
  const CliResult r = run_cli({"run", scenario("net-p2p-bandwidth"), "--no-plots", "-q", "--out",
                               dir.string(), "--set", "hardware.nic.ib_encoding=0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream report_in(dir / "network_report.json");
  const double end_us = nlohmann::json::parse(report_in)["end_us"].get<double>();
  ASSERT_GT(end_us, 0.0);
  std::ifstream csv(dir / "links.csv");
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> header;
  for (std::stringstream h(line); std::getline(h, line, ',');)
    header.push_back(line);
  auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const size_t kind = col("kind"), line_rate = col("bandwidth_bytes_per_s"),
               rate = col("rate_bytes_per_s"), wire = col("wire_bytes"), util = col("utilization");
  ASSERT_LT(std::max({kind, line_rate, rate, wire, util}), header.size()) << line;
  int ib = 0, busy = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    for (std::stringstream row(line); std::getline(row, line, ',');)
      f.push_back(line);
    ASSERT_EQ(f.size(), header.size());
    const double expect_rate = std::stod(f[line_rate]) * (f[kind] == "ib" ? 0.5 : 1.0);
    EXPECT_DOUBLE_EQ(std::stod(f[rate]), expect_rate) << f[0];
    ib += f[kind] == "ib";
    const double wire_bytes = std::stod(f[wire]);
    if (wire_bytes == 0) continue;
    ++busy;
    // Busy time rounds up to whole ps per packet; the CSV prints six decimals.
    EXPECT_NEAR(std::stod(f[util]), wire_bytes / (expect_rate * end_us * 1e-6), 2e-5) << f[0];
  }
  EXPECT_GT(ib, 0);
  EXPECT_GT(busy, 0);
  fs::remove_all(dir);
}

TEST(NetworkScenarios, PacketFidelityWithPlaceholderNicIsABadInput) {
  CliResult r =
      run_cli({"run", MLASIM_CONFIG_DIR "/teaching/pairwise-exchange.yaml", "--no-plots", "-q",
               "--set", "network.fidelity=packet", "--out", nettest::temp_dir("bad").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fixed_latency"), std::string::npos) << r.err;
}

// `validate` builds what a run builds: a buffer too small for a packet and models that do not
// suit the fidelity fail there too (it once said "ok" to both).
TEST(NetworkScenarios, ValidateRefusesWhatOnlyBuildingFinds) {
  for (const std::string set : {"hardware.nvswitch.buffer=1KiB", "network.fidelity=message"}) {
    CliResult r = run_cli({"validate", scenario("net-latency-nvlink"), "--set", set});
    EXPECT_EQ(r.exit_code, 2) << set;
    EXPECT_NE(r.err.find(set.substr(0, set.find('='))), std::string::npos) << set << ": " << r.err;
  }
}

TEST(NetworkScenarios, BufferSmallerThanAPacketIsABadInput) {
  CliResult r =
      run_cli({"run", scenario("net-latency-nvlink"), "--no-plots", "-q", "--set",
               "hardware.nvswitch.buffer=1KiB", "--out", nettest::temp_dir("small").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot hold one"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hardware.nvswitch.buffer: 1024 B per virtual lane"), std::string::npos)
      << r.err;  // the key to change
}

}  // namespace
}  // namespace mlasim
