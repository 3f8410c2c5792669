// Faults before the run (network.faults.{links,switches,nics,planes}) in the results: the fault
// list of network_report.json has each at time 0 with its routes in effect from 0, summary.json
// counts them with the faults at a simulated time, and the traffic never touches the failed
// parts, so nothing is lost or resent. At packet, flow and message fidelity, and mixed with a
// fault at a simulated time, whose timing keys are then measured from that fault.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_cli_yaml;

constexpr uint64_t kGpus = 32;
constexpr uint64_t kBytes = 16 * 1024;  // per pair

// 4 nodes x 8 GPUs, 8 NICs per node, NVLink inside a node, all-to-all; leaf0:spine0 and NIC
// n0_nic0 fail before the run (node 0 still reaches the others through its other NICs).
const std::string kAllToAll = std::string(R"(
name: static_faults
cluster: {type: ft2, k: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8, nvswitch: true}
network:
  fidelity: packet
  faults: {links: ["leaf0:spine0"], nics: [n0_nic0]}
workload: {type: network_traffic, pattern: all_to_all, bytes: 16KiB}
)") + nettest::kPacketHardware;

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Link names of links.csv rows that carried bytes.
std::vector<std::string> links_with_bytes(const std::filesystem::path& out) {
  std::ifstream in(out / "links.csv");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> used;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<std::string> cells;
    while (std::getline(row, cell, ','))
      cells.push_back(cell);
    if (cells.size() > 7 && std::stoull(cells[7]) > 0) used.push_back(cells[0]);
  }
  return used;
}

bool mentions(const std::vector<std::string>& links, const std::string& part) {
  for (const auto& l : links)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

void expect_reported_before_run(const nlohmann::json& s, const std::filesystem::path& out) {
  ASSERT_FALSE(s.empty());
  // Every pair's bytes arrive, none lost or resent: routes never used the failed parts.
  EXPECT_EQ(s["net_delivered_bytes"].get<uint64_t>(), kGpus * (kGpus - 1) * kBytes);
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  EXPECT_EQ(s["fault_count"].get<uint64_t>(), 2u);
  EXPECT_EQ(s["fault_before_run_count"].get<uint64_t>(), 2u);
  EXPECT_EQ(s["fault_first_at_us"].get<double>(), 0.0);
  EXPECT_EQ(s["fault_last_reroute_at_us"].get<double>(), 0.0);
  for (const char* zero : {"fault_packets_lost_count", "fault_lost_bytes",
                           "fault_packets_retransmitted_count", "fault_duplicate_packets_count",
                           "fault_retransmit_timeouts_count", "fault_messages_failed_count"}) {
    EXPECT_EQ(s[zero].get<uint64_t>(), 0u) << zero;
  }
  // No fault during the run: nothing to recover from, no "before" to compare goodput with.
  for (const char* absent : {"fault_recovery_us", "fault_goodput_before_bytes_per_s",
                             "fault_goodput_after_bytes_per_s"}) {
    EXPECT_FALSE(s.contains(absent)) << absent;
  }
  const auto r = read_json(out / "network_report.json");
  ASSERT_EQ(r["faults"].size(), 2u);
  EXPECT_EQ(r["faults"][0]["what"], "NIC n0_nic0 down");
  EXPECT_EQ(r["faults"][1]["what"], "link leaf0:spine0 down");
  for (const auto& f : r["faults"]) {
    EXPECT_EQ(f["at_us"].get<double>(), 0.0);
    EXPECT_EQ(f["reroute_us"].get<double>(), 0.0);
    EXPECT_TRUE(f["before_run"].get<bool>());
  }
  // No byte crosses a failed part; the healthy uplinks next to it did carry traffic.
  const auto used = links_with_bytes(out);
  for (const char* failed : {"leaf0->spine0", "spine0->leaf0", "n0_nic0"})
    EXPECT_FALSE(mentions(used, failed)) << failed;
  EXPECT_TRUE(mentions(used, "leaf0->spine1"));
  EXPECT_TRUE(mentions(used, "n0_nic1"));
}

TEST(FaultsBeforeTheRun, AreReportedAtPacketLevel) {
  std::filesystem::path out;
  const auto s = run_cli_yaml(kAllToAll, {}, "static_packet", &out);
  EXPECT_EQ(s["network_fidelity"], "packet");
  expect_reported_before_run(s, out);
}

TEST(FaultsBeforeTheRun, AreReportedAtFlowLevel) {
  std::filesystem::path out;
  const auto s = run_cli_yaml(kAllToAll, {"network.fidelity=flow"}, "static_flow", &out);
  EXPECT_EQ(s["network_fidelity"], "flow");
  expect_reported_before_run(s, out);
}

TEST(FaultsBeforeTheRun, AreCountedAtMessageLevel) {
  // Placeholder links: no fabric, so no network report, but the summary still counts them.
  const std::string yaml = R"(
name: static_message
cluster: {type: ft2, k: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8, nvswitch: true}
network:
  faults: {links: ["leaf0:spine0"], nics: [n0_nic0]}
workload: {type: network_traffic, pattern: all_to_all, bytes: 16KiB}
hardware:
  gpu: {type: roofline}
  memory: {type: fixed_bandwidth}
  nic: {type: fixed_latency}
  switch: {type: fixed_latency}
  nvswitch: {type: fixed_latency}
)";
  const auto s = run_cli_yaml(yaml, {}, "static_message");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["network_fidelity"], "message");
  EXPECT_EQ(s["fault_count"].get<uint64_t>(), 2u);
  EXPECT_EQ(s["fault_before_run_count"].get<uint64_t>(), 2u);
}

TEST(FaultsBeforeTheRun, ComeFirstAndLeaveTheTimingToFaultsDuringTheRun) {
  // One link failed before the run, another at 5 us, during the all-to-all (it ends at about
  // 15.7 us): both listed, the static one first; the first fault and the recovery are those of
  // the one at 5 us, rerouted detection_delay later. (This case once timed its fault at 20 us,
  // after the traffic, and still read recovery figures.)
  std::filesystem::path out;
  const auto s = run_cli_yaml(kAllToAll,
                              {"network.faults.nics=[]", "network.faults.detection_delay=10us",
                               "network.faults.events=[{at: 5us, link: \"leaf1:spine1\"}]"},
                              "static_and_timed", &out);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  EXPECT_EQ(s["fault_count"].get<uint64_t>(), 2u);
  EXPECT_EQ(s["fault_before_run_count"].get<uint64_t>(), 1u);
  EXPECT_DOUBLE_EQ(s["fault_first_at_us"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(s["fault_last_reroute_at_us"].get<double>(), 15.0);
  EXPECT_LT(5.0, s["network_end_us"].get<double>());
  EXPECT_TRUE(s.contains("fault_recovery_us"));
  EXPECT_TRUE(s.contains("fault_goodput_after_bytes_per_s"));
  const auto r = read_json(out / "network_report.json");
  ASSERT_EQ(r["faults"].size(), 2u);
  EXPECT_EQ(r["faults"][0]["what"], "link leaf0:spine0 down");
  EXPECT_TRUE(r["faults"][0]["before_run"].get<bool>());
  EXPECT_EQ(r["faults"][0]["reroute_us"].get<double>(), 0.0);
  EXPECT_EQ(r["faults"][1]["what"], "link leaf1:spine1 down");
  EXPECT_FALSE(r["faults"][1]["before_run"].get<bool>());
  EXPECT_DOUBLE_EQ(r["faults"][1]["at_us"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(r["faults"][1]["reroute_us"].get<double>(), 15.0);
}

}  // namespace
}  // namespace mlasim
