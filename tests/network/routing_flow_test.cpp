// Routing and fidelity: adaptive routing against static ECMP on a permutation, a failed link
// under load, and the flow-level model against the packet-level one on all-to-all.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_cli_yaml;

// 32 single-GPU hosts, 4 per leaf, 4 spines: every host sends 1 MiB to the host 4 places on,
// i.e. on the next leaf, so each leaf sends 4 flows over 4 uplinks. ECMP hashes several flows
// onto one spine; adaptive routing spreads packets over the least loaded uplinks.
const std::string kPermutation = std::string(R"(
name: perm
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: permutation, shift: 4, bytes: 1MiB}
)") + nettest::kPacketHardware;

TEST(Routing, AdaptiveWorstFctNoWorseThanEcmpOnAPermutation) {
  auto ecmp = run_cli_yaml(kPermutation, {"routing.mode=ecmp"}, "ecmp");
  auto adaptive = run_cli_yaml(kPermutation, {"routing.mode=adaptive"}, "adaptive");
  ASSERT_FALSE(ecmp.empty());
  ASSERT_FALSE(adaptive.empty());
  const double e = ecmp["fct_max_us"].get<double>(), a = adaptive["fct_max_us"].get<double>();
  // The permutation collides under ECMP (some uplink carries two flows or more)...
  EXPECT_GT(ecmp["max_fct_slowdown"].get<double>(), 1.5);
  // ...and adaptive routing does at least as well on the worst flow.
  EXPECT_LE(a, e * 1.0001) << "adaptive " << a << " us, ecmp " << e << " us";
  EXPECT_EQ(adaptive["net_delivered_bytes"], ecmp["net_delivered_bytes"]);
}

TEST(Routing, FailedLinkUnderLoadReroutesAndConserves) {
  const std::string yaml = std::string(R"(
name: failed
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: all_to_all, bytes: 32KiB}
)") + nettest::kPacketHardware;
  std::filesystem::path out;
  auto healthy = run_cli_yaml(yaml, {}, "healthy");
  auto failed = run_cli_yaml(yaml, {"network.faults.links=[leaf0:spine0]"}, "failed", &out);
  ASSERT_FALSE(healthy.empty());
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed["net_delivered_bytes"], healthy["net_delivered_bytes"]);
  EXPECT_EQ(failed["net_delivered_bytes"].get<uint64_t>(), 32u * 31u * 32u * 1024u);
  // leaf0 lost a quarter of its uplink capacity: the all-to-all takes longer.
  EXPECT_GT(failed["network_end_us"].get<double>(), healthy["network_end_us"].get<double>());
  // The failed link is gone from the report.
  std::ifstream links(out / "links.csv");
  std::string all((std::istreambuf_iterator<char>(links)), {});
  EXPECT_EQ(all.find("leaf0->spine0"), std::string::npos);
  EXPECT_NE(all.find("leaf0->spine1"), std::string::npos);
}

// Payload bytes on each InfiniBand uplink of NIC `nic`, by the leaf it goes to (links.csv).
std::map<std::string, uint64_t> uplink_bytes(const std::filesystem::path& out,
                                             const std::string& nic) {
  std::ifstream in(out / "links.csv");
  std::string line;
  std::getline(in, line);
  std::map<std::string, uint64_t> bytes;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::vector<std::string> f;
    for (std::string cell; std::getline(ss, cell, ',');)
      f.push_back(cell);
    if (f.size() < 8 || f[1] != nic || f[3] != "ib") continue;
    bytes[f[2]] = std::stoull(f[7]);
  }
  return bytes;
}

// Spraying across planes (ConnectX-8 style NICs with a port on each of 4 planes, each port a
// quarter of the NIC's 400 Gb/s): one 1 MiB message between two nodes. ECMP keeps it on one
// port, so it takes about 4x its serialisation at the NIC's rate; sprayed, every port carries a
// share and it takes about 1x. Bytes are conserved either way.
TEST(Routing, MultiPlaneNicSpraysOneMessageOverItsPlanes) {
  const std::string yaml = std::string(R"(
name: spray
cluster: {type: mpft, k: 4, planes: 4, nic_planes: 4, nodes: 2, gpus_per_node: 4, nics_per_node: 4}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 4, sizes: [1MiB], count: 1}
)") + nettest::kPacketHardware;
  double fct[2] = {0, 0};
  for (const bool spray : {false, true}) {
    std::filesystem::path out;
    const auto s = run_cli_yaml(yaml, {spray ? "network.spray=true" : "network.spray=false"},
                                spray ? "spray" : "nospray", &out);
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
    fct[spray] = s["fct_max_us"].get<double>();
    // The ideal takes the ports a message may use: one at a time under ECMP, all four together
    // sprayed (at one port's rate the sprayed message would seem 3x faster than ideal).
    EXPECT_GE(s["p50_fct_slowdown"].get<double>(), 1.0);
    // Bytes on n0_nic0's four uplinks: one port (ECMP) or all four (spraying), 1 MiB in all.
    const auto bytes = uplink_bytes(out, "n0_nic0");
    int used = 0;
    uint64_t total = 0;
    for (const auto& [to, b] : bytes) {
      used += b > 0 ? 1 : 0;
      total += b;
    }
    EXPECT_EQ(bytes.size(), 4u);
    EXPECT_EQ(used, spray ? 4 : 1);
    EXPECT_EQ(total, uint64_t{1} << 20);
  }
  const double at_nic_rate_us = (1 << 20) / 50e9 * 1e6;  // 21 us at 400 Gb/s
  EXPECT_GT(fct[0], 3.5 * at_nic_rate_us);
  EXPECT_LT(fct[1], 1.5 * at_nic_rate_us);
}

// The same message with the receiving NIC's port on plane 1 down (a gap among the sender's four
// ports): sprayed, it crosses the three planes left (planes 0, 2 and 3 carry a third of it each,
// plane 1 nothing), in about 4/3 of its serialisation at the NIC's rate.
TEST(Routing, MultiPlaneNicSpraysOverThePlanesThatStillReach) {
  const std::string yaml = std::string(R"(
name: spray_gap
cluster: {type: mpft, k: 4, planes: 4, nic_planes: 4, nodes: 2, gpus_per_node: 4, nics_per_node: 4}
network: {fidelity: packet, spray: true, faults: {links: [n1_nic0:p1_leaf0]}}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 4, sizes: [1MiB], count: 1}
)") + nettest::kPacketHardware;
  std::filesystem::path out;
  const auto s = run_cli_yaml(yaml, {}, "spray_gap", &out);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  const auto bytes = uplink_bytes(out, "n0_nic0");
  ASSERT_EQ(bytes.size(), 4u);
  uint64_t total = 0;
  for (const auto& [to, b] : bytes) {
    total += b;
    if (to.rfind("p1_", 0) == 0) {
      EXPECT_EQ(b, 0u) << to;
    } else {
      EXPECT_NEAR(static_cast<double>(b), (1 << 20) / 3.0, 0.05 * (1 << 20)) << to;
    }
  }
  EXPECT_EQ(total, uint64_t{1} << 20);
  const double at_nic_rate_us = (1 << 20) / 50e9 * 1e6;
  EXPECT_LT(s["fct_max_us"].get<double>(), 1.8 * at_nic_rate_us);
}

// Settings only the packet model reads are named on stderr when another fidelity runs.
TEST(FlowLevel, WarnsAboutSettingsOnlyThePacketModelReads) {
  const auto dir = nettest::temp_dir("packet_only");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << kPermutation;
  auto run = [&](const std::string& fidelity) {
    return run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "--out",
                    (dir / fidelity).string(), "--set", "network.fidelity=" + fidelity, "--set",
                    "routing.mode=adaptive", "--set", "network.spray=true", "--set",
                    "network.vls=2", "--set", "hardware.switch.buffer=64KiB", "--set",
                    "network.flow.rate_update=5us"});
  };
  const CliResult flow = run("flow");
  EXPECT_EQ(flow.exit_code, 0) << flow.err;
  for (const std::string line : {"network.spray is not used at network.fidelity flow",
                                 "network.vls is not used at network.fidelity flow",
                                 "hardware.switch.buffer is not used at network.fidelity flow"}) {
    EXPECT_NE(flow.err.find(line), std::string::npos) << flow.err;
  }
  // Adaptive routing works at flow level too (per flow, as it starts).
  EXPECT_EQ(flow.err.find("routing.mode"), std::string::npos) << flow.err;
  const CliResult packet = run("packet");
  EXPECT_EQ(packet.exit_code, 0) << packet.err;
  // At packet level only the flow level's own setting is unused.
  EXPECT_NE(packet.err.find("network.flow is not used at network.fidelity packet"),
            std::string::npos)
      << packet.err;
  EXPECT_EQ(packet.err.find("spray is not used"), std::string::npos) << packet.err;
  EXPECT_EQ(packet.err.find("buffer is not used"), std::string::npos) << packet.err;
  std::filesystem::remove_all(dir);
}

// Other settings that a run does not read are named too: the flow level's at message level,
// retransmission with no fault at a simulated time, NVLink in a cluster without NVSwitches, the
// cross-plane policy on one plane with nothing failed.
// Only values other than the defaults count: a run of the resolved config (every key written
// out) warns about nothing the original run did not.
TEST(FlowLevel, WarnsAboutUnreadSettingsButNotAboutDefaults) {
  const auto dir = nettest::temp_dir("unread");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << kPermutation;
  auto run = [&](const std::string& scenario, const std::string& out,
                 const std::vector<std::string>& sets) {
    std::vector<std::string> args{"run", scenario, "--no-plots", "--out", (dir / out).string()};
    for (const auto& s : sets)
      args.insert(args.end(), {"--set", s});
    return run_cli(args);
  };
  const std::string scenario = (dir / "s.yaml").string();
  const CliResult plain = run(scenario, "plain", {"network.fidelity=flow"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.err.find("warning"), std::string::npos) << plain.err;
  const CliResult again = run((dir / "plain" / "config.resolved.yaml").string(), "again", {});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("warning"), std::string::npos) << again.err;

  const CliResult unread =
      run(scenario, "unread",
          {"network.fidelity=flow", "network.retransmit.timeout=1ms", "cluster.nvswitch=false",
           "cluster.nvlink.bandwidth=100GB/s", "routing.cross_plane=receiver"});
  ASSERT_EQ(unread.exit_code, 0) << unread.err;
  for (const std::string line :
       {"network.retransmit is not used: no fault happens at a simulated time",
        "cluster.nvlink is not used: the cluster has no NVSwitch",
        "routing.cross_plane is not used: the cluster has one network plane"}) {
    EXPECT_NE(unread.err.find(line), std::string::npos) << unread.err;
  }
  // On several planes the policy is read (validate builds all a run builds, then stops).
  const CliResult planes =
      run_cli({"validate", MLASIM_SOURCE_DIR "/configs/scenarios/net-a2a-mpft.yaml", "--set",
               "routing.cross_plane=receiver"});
  ASSERT_EQ(planes.exit_code, 0) << planes.err;
  EXPECT_EQ(planes.err.find("cross_plane"), std::string::npos) << planes.err;
  const CliResult message =
      run(MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml", "message",
          {"network.flow.rate_update=1us", "network.gpu_port.forward_latency=10us",
           "network.gpu_port.issue_latency=1us", "network.report.bin=5us"});
  ASSERT_EQ(message.exit_code, 0) << message.err;
  for (const std::string line : {"network.flow is not used at network.fidelity message",
                                 "network.gpu_port.forward_latency is not used at network.fidelity "
                                 "message: the placeholder models take their own latencies",
                                 "network.gpu_port.issue_latency is not used",
                                 "network.report is not used at network.fidelity message"}) {
    EXPECT_NE(message.err.find(line), std::string::npos) << message.err;
  }
  std::filesystem::remove_all(dir);
}

// 2,000 messages of 64 B from one GPU: each is one packet whose headers take about a third of
// its wire time. The flow level charges them (the fluid carries the payload that would take the
// last packet's wire time), so it ends with the packet level and no link is over 100% busy.
// (It used to end 28% early with the NIC's link 134% busy.)
TEST(FlowLevel, SmallMessagesPayTheirHeaders) {
  const auto dir = nettest::temp_dir("small_messages");
  std::map<std::string, nlohmann::json> s;
  for (const std::string fidelity : {"packet", "flow"}) {
    const CliResult r = run_cli({"run", MLASIM_SOURCE_DIR "/configs/scenarios/net-incast.yaml",
                                 "--no-plots", "-q", "--out", (dir / fidelity).string(), "--set",
                                 "workload.senders=1", "--set", "workload.count=2000", "--set",
                                 "workload.bytes=64B", "--set", "network.fidelity=" + fidelity});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(dir / fidelity / "summary.json");
    s[fidelity] = nlohmann::json::parse(in);
  }
  EXPECT_LE(s["flow"]["max_link_utilization"].get<double>(), 1.0);
  EXPECT_NEAR(s["flow"]["sim_time_us"].get<double>() / s["packet"]["sim_time_us"].get<double>(),
              1.0, 0.03);
  std::filesystem::remove_all(dir);
}

TEST(FlowLevel, AgreesWithPacketLevelOnAllToAllCompletion) {
  // 16 GPUs in 2 nodes on one switch: NVLink inside a node, IB between them.
  const std::string yaml = std::string(R"(
name: agree
cluster: {type: single_switch, nodes: 2, gpus_per_node: 8, nvswitch: true}
workload: {type: network_traffic, pattern: all_to_all, bytes: 256KiB}
)") + nettest::kPacketHardware;
  auto packet = run_cli_yaml(yaml, {"network.fidelity=packet"}, "packet");
  auto flow = run_cli_yaml(yaml, {"network.fidelity=flow"}, "flow");
  ASSERT_FALSE(packet.empty());
  ASSERT_FALSE(flow.empty());
  EXPECT_EQ(flow["network_fidelity"], "flow");
  EXPECT_EQ(flow["net_delivered_bytes"], packet["net_delivered_bytes"]);
  const double p = packet["network_end_us"].get<double>();
  const double f = flow["network_end_us"].get<double>();
  EXPECT_NEAR(f, p, 0.10 * p) << "flow " << f << " us, packet " << p << " us";
  // (How much cheaper the flow model is, in events and wall time, is a cost figure: bench's.)
}

// A two-tier fat-tree whose spine links ECMP loads unevenly (32 hosts, k = 8): the busiest
// spine link sets the completion time at both fidelities, as long as the packets queued for
// it wait in the switches' shared memory. With input buffers alone (128 KiB credit windows)
// they fill up behind that link and hold up the senders' traffic to everyone else (congestion
// spreading, which the flow model leaves out): packet level then ends more than 10% later.
TEST(FlowLevel, AgreesOnATwoTierFatTreeWithSpines) {
  const std::string yaml = std::string(R"(
name: agree_ft2
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
workload: {type: network_traffic, pattern: all_to_all, bytes: 256KiB}
)") + nettest::kPacketHardware;
  auto packet = run_cli_yaml(yaml, {"network.fidelity=packet"}, "packet_ft2");
  auto flow = run_cli_yaml(yaml, {"network.fidelity=flow"}, "flow_ft2");
  auto input_only = run_cli_yaml(
      yaml, {"network.fidelity=packet", "hardware.switch.shared_buffer_per_port=0"}, "input_ft2");
  ASSERT_FALSE(packet.empty());
  ASSERT_FALSE(flow.empty());
  ASSERT_FALSE(input_only.empty());
  const double p = packet["network_end_us"].get<double>();
  const double f = flow["network_end_us"].get<double>();
  const double i = input_only["network_end_us"].get<double>();
  EXPECT_NEAR(f, p, 0.10 * p) << "flow " << f << " us, packet " << p << " us";
  EXPECT_GT(packet["net_peak_shared_buffer_bytes"].get<double>(), 0.0);
  EXPECT_GT(i, 1.10 * f) << "input buffers only: " << i << " us, flow " << f << " us";
  EXPECT_EQ(input_only["net_peak_shared_buffer_bytes"].get<double>(), 0.0);
}

// Adaptive routing at flow level: each flow takes the equal-cost outputs whose way on carries
// the least unfinished payload. On a multi-rail fat-tree whose spines ECMP loads unevenly it
// ends the all-to-all sooner than ECMP, within 10% of adaptive routing at packet level (which
// picks per packet by queue length).
TEST(FlowLevel, AdaptiveRoutingAgreesWithPacketLevel) {
  const std::string yaml = std::string(R"(
name: agree_adaptive
cluster: {type: mrft, k: 16, nodes: 8, gpus_per_node: 8, nics_per_node: 8}
workload: {type: network_traffic, pattern: all_to_all, bytes: 256KiB}
)") + nettest::kPacketHardware;
  auto packet =
      run_cli_yaml(yaml, {"network.fidelity=packet", "routing.mode=adaptive"}, "packet_adaptive");
  auto flow =
      run_cli_yaml(yaml, {"network.fidelity=flow", "routing.mode=adaptive"}, "flow_adaptive");
  auto flow_ecmp = run_cli_yaml(yaml, {"network.fidelity=flow"}, "flow_ecmp");
  ASSERT_FALSE(packet.empty());
  ASSERT_FALSE(flow.empty());
  ASSERT_FALSE(flow_ecmp.empty());
  const double p = packet["network_end_us"].get<double>();
  const double f = flow["network_end_us"].get<double>();
  const double e = flow_ecmp["network_end_us"].get<double>();
  EXPECT_NEAR(f, p, 0.10 * p) << "flow " << f << " us, packet " << p << " us";
  EXPECT_LT(f, 0.9 * e) << "adaptive " << f << " us, ECMP " << e << " us at flow level";
  EXPECT_EQ(flow["net_delivered_bytes"], flow_ecmp["net_delivered_bytes"]);
}

TEST(FlowLevel, AgreesOnAMultiPlaneAllToAll) {
  const std::string yaml = std::string(R"(
name: agree_mpft
cluster: {type: mpft, k: 4, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
workload: {type: network_traffic, pattern: all_to_all, bytes: 256KiB}
)") + nettest::kPacketHardware;
  auto packet = run_cli_yaml(yaml, {"network.fidelity=packet"}, "packet_mpft");
  auto flow = run_cli_yaml(yaml, {"network.fidelity=flow"}, "flow_mpft");
  ASSERT_FALSE(packet.empty());
  ASSERT_FALSE(flow.empty());
  const double p = packet["network_end_us"].get<double>();
  const double f = flow["network_end_us"].get<double>();
  EXPECT_NEAR(f, p, 0.10 * p) << "flow " << f << " us, packet " << p << " us";
}

}  // namespace
}  // namespace mlasim
