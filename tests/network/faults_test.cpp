// Faults at a simulated time (network.faults.events): one scenario per fault type (link down,
// switch down, NIC down, plane down, link degraded), each checking that every byte sent is
// delivered after recovery, that packets are conserved (injected = delivered + lost + copies
// thrown away), and that the message's completion lies within bounds derived from the
// retransmission timeout (or, with NAKs, the reroute) and the line rate. Also: a NAK starts
// the resend without the timer, a loss at a message's tail still waits for it, selective repeat
// resends exactly the lost packets, a plane failure leaves another plane's flow untouched, an
// unreachable destination stops the run with exit 3, so do messages out of retries (saying so
// first), and malformed fault events are input errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_cli_yaml;

constexpr double kMessage = 4.0 * 1024 * 1024;               // B
constexpr double kIbPayloadRate = 50e9 * 4096.0 / 4122;      // B/s of full IB packets
constexpr double kFaultAt = 20.0;                            // us
constexpr double kTimeout = 32.768;                          // us (network.retransmit.timeout)
constexpr double kDetection = 10.0;                          // us (network.faults.detection_delay)
constexpr double kPacketUs = 4096.0 / kIbPayloadRate * 1e6;  // one full packet at the NIC

// 32 single-GPU hosts on a two-tier fat-tree of 8-port switches: host 0 on leaf0, host 4 on
// leaf1, four spines between them.
const std::string kHosts = std::string(R"(
name: fault
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 4, sizes: [4MiB], count: 1}
)") + nettest::kPacketHardware;

// 4 nodes x 8 GPUs, 8 NICs per node, NVLink inside a node: GPU 0 (n0) sends to GPU 8 (n1).
const std::string kNodes = std::string(R"(
name: fault_nodes
cluster: {type: ft2, k: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8, nvswitch: true}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 8, sizes: [4MiB], count: 1}
)") + nettest::kPacketHardware;

std::string events(const std::string& one) {
  return "network.faults.events=[{at: 20us, " + one + "}]";
}

// The spine a healthy run's leaf0 -> spine hop took (ECMP picks one of four): the one that
// carried more than `min_bytes`.
std::string spine_used(const std::string& yaml, uint64_t min_bytes = 1'000'000) {
  std::filesystem::path out;
  auto healthy = run_cli_yaml(yaml, {}, "healthy_spine", &out);
  std::ifstream in(out / "links.csv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("leaf0->spine", 0) != 0) continue;
    std::stringstream row(line);
    std::string cell;
    std::vector<std::string> cells;
    while (std::getline(row, cell, ','))
      cells.push_back(cell);
    if (cells.size() > 7 && std::stoull(cells[7]) > min_bytes) return cells[2];  // `to`
  }
  ADD_FAILURE() << "no leaf0 uplink carried the message";
  return "spine0";
}

// Every byte arrives; packets are conserved; routes were last rebuilt the detection delay after
// the last fault (`last_fault_us`). The resend starts at the timeout without NAKs; with them
// (`nak`), when the receiver NAKs the first packet to come after the gap, which only the rebuilt
// route brings (the lost ones' route is dead until then). Go-back-N takes nothing after the gap
// until the resend, so everything not delivered by the fault (less what was past the dead link
// then: a few microseconds' worth) crosses the NIC after that start; the message ends no later
// than the start plus the whole message plus `slack_us`.
void expect_recovered(const nlohmann::json& s, double slack_us, bool nak,
                      double last_fault_us = kFaultAt) {
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  EXPECT_EQ(s["net_delivered_messages_count"], s["net_injected_messages_count"]);
  EXPECT_EQ(s["fault_messages_failed_count"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["net_credit_violations_count"].get<uint64_t>(), 0u);
  const uint64_t lost = s["fault_packets_lost_count"].get<uint64_t>();
  EXPECT_GT(lost, 0u) << "the fault was meant to hit packets in flight";
  EXPECT_EQ(s["net_injected_packets_count"].get<uint64_t>(),
            s["net_delivered_packets_count"].get<uint64_t>() + lost +
                s["fault_duplicate_packets_count"].get<uint64_t>());
  EXPECT_EQ(s["fault_packets_retransmitted_count"].get<uint64_t>(),
            lost + s["fault_duplicate_packets_count"].get<uint64_t>())
      << "go-back-N: every lost packet once, plus copies of those that got through";
  const double start = nak ? last_fault_us + kDetection : kFaultAt + kTimeout;
  const double fct = s["fct_max_us"].get<double>();
  const double before = s["fault_goodput_before_bytes_per_s"].get<double>() * kFaultAt * 1e-6;
  EXPECT_GT(before, 0.0);
  EXPECT_GE(fct, start + (kMessage - before) / kIbPayloadRate * 1e6 - 3.0)
      << "lost packets wait for the " << (nak ? "reroute" : "timer");
  EXPECT_LE(fct, start + kMessage / kIbPayloadRate * 1e6 + slack_us);
  EXPECT_GT(s["fault_recovery_us"].get<double>(), start - kFaultAt);
  EXPECT_DOUBLE_EQ(s["fault_last_reroute_at_us"].get<double>(), last_fault_us + kDetection);
  if (nak) {
    EXPECT_GE(s["fault_naks_count"].get<uint64_t>(), 1u);
    EXPECT_EQ(s["fault_retransmit_timeouts_count"].get<uint64_t>(), 0u);
  } else {
    EXPECT_EQ(s["fault_naks_count"].get<uint64_t>(), 0u);
    EXPECT_GE(s["fault_retransmit_timeouts_count"].get<uint64_t>(), 1u);
  }
}

// `set` with NAKs on (the default) and off.
std::vector<std::pair<bool, std::vector<std::string>>> with_and_without_nak(
    const std::vector<std::string>& sets) {
  std::vector<std::string> off = sets;
  off.push_back("network.retransmit.nak=false");
  return {{true, sets}, {false, off}};
}

TEST(NetworkFaults, LinkDownUnderLoadIsRecoveredByRetransmission) {
  const std::string spine = spine_used(kHosts);
  for (const auto& [nak, sets] : with_and_without_nak({events("link: \"leaf0:" + spine + "\"")}))
    expect_recovered(run_cli_yaml(kHosts, sets, "link_down"), 5.0, nak);
}

TEST(NetworkFaults, SwitchDownUnderLoadIsRecoveredByRetransmission) {
  const std::string spine = spine_used(kHosts);
  for (const auto& [nak, sets] : with_and_without_nak({events("switch: " + spine)}))
    expect_recovered(run_cli_yaml(kHosts, sets, "switch_down"), 5.0, nak);
}

// The spine goes down, then (in the file) its link to leaf0 a little later, or the link first
// and the spine later: each reroute replays every fault detected so far, and a part an earlier
// fault took down stays down (the run used to stop with "there is no link between ..."). The
// same link named twice is no different.
TEST(NetworkFaults, OverlappingFaultsOnOnePartAreRecovered) {
  const std::string spine = spine_used(kHosts);
  const std::string link = "link: \"leaf0:" + spine + "\"";
  for (const std::string& list : {"[{at: 20us, switch: " + spine + "}, {at: 25us, " + link + "}]",
                                  "[{at: 25us, switch: " + spine + "}, {at: 20us, " + link + "}]",
                                  "[{at: 20us, " + link + "}, {at: 25us, " + link + "}]"}) {
    for (const auto& [nak, sets] : with_and_without_nak({"network.faults.events=" + list}))
      expect_recovered(run_cli_yaml(kHosts, sets, "overlap"), 10.0, nak, 25.0);
  }
}

TEST(NetworkFaults, NicDownSendsOverNvlinkThroughAnotherNic) {
  std::filesystem::path out;
  expect_recovered(run_cli_yaml(kNodes, {events("nic: n0_nic0"), "network.retransmit.nak=false"},
                                "nic_down_timer"),
                   6.0, false);
  auto s = run_cli_yaml(kNodes, {events("nic: n0_nic0")}, "nic_down", &out);
  expect_recovered(s, 6.0, true);
  // After the routes are rebuilt the data leaves node 0 over NVLink and another NIC.
  std::ifstream in(out / "links.csv");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(all.find("n0_gpu0->n0_nvswitch"), std::string::npos);
}

TEST(NetworkFaults, PlaneDownOnAMultiPlaneFatTreeReforwardsOverNvlink) {
  const std::string yaml = std::string(R"(
name: fault_plane
cluster: {type: mpft, k: 8, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 8, sizes: [4MiB], count: 1}
)") + nettest::kPacketHardware;
  for (const auto& [nak, sets] : with_and_without_nak({events("plane: 0")}))
    expect_recovered(run_cli_yaml(yaml, sets, "plane_down"), 6.0, nak);
}

// Go-back-N as an RC receiver does it: packets are taken in sequence only, so those that came
// after the first lost one are thrown away and sent again. The message ends later than under
// selective repeat by those extra packets' serialisation at the NIC (4096 B of payload each at
// kIbPayloadRate). (It used to end at the same time: the receiver kept them.)
TEST(NetworkFaults, GoBackNSendsAgainWhatCameAfterTheGap) {
  const std::string link = events("link: \"leaf0:" + spine_used(kHosts) + "\"");
  auto gbn = run_cli_yaml(kHosts, {link}, "gbn");
  auto sel = run_cli_yaml(kHosts, {link, "network.retransmit.mode=selective"}, "gbn_selective");
  ASSERT_FALSE(gbn.empty());
  ASSERT_FALSE(sel.empty());
  EXPECT_EQ(gbn["fault_packets_lost_count"], sel["fault_packets_lost_count"]);
  const double extra = gbn["fault_packets_retransmitted_count"].get<double>() -
                       sel["fault_packets_retransmitted_count"].get<double>();
  EXPECT_GT(extra, 10.0);
  const double later = gbn["fct_max_us"].get<double>() - sel["fct_max_us"].get<double>();
  const double expected = extra * 4096.0 / kIbPayloadRate * 1e6;
  EXPECT_NEAR(later, expected, 0.1 * expected + 1.0);
}

TEST(NetworkFaults, SelectiveRepeatResendsExactlyTheLostPackets) {
  const std::string spine = spine_used(kHosts);
  auto s = run_cli_yaml(kHosts, {events("switch: " + spine), "network.retransmit.mode=selective"},
                        "selective");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  EXPECT_GT(s["fault_packets_lost_count"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["fault_packets_retransmitted_count"], s["fault_packets_lost_count"]);
  EXPECT_EQ(s["fault_duplicate_packets_count"].get<uint64_t>(), 0u);
  const double fct = s["fct_max_us"].get<double>();
  EXPECT_GE(fct, kFaultAt + kDetection);
  EXPECT_LE(fct, kFaultAt + kDetection + kMessage / kIbPayloadRate * 1e6 + 5.0);
}

// The receiver NAKs the first packet after a gap (one that took the rebuilt route), and the
// sender resends one path latency later: the timer plays no part (a timeout of 1 ms gives the
// same run), and recovery ends sooner than at the timeout. Under go-back-N every packet that
// came after the gap until the resend is thrown away and sent again, so the message ends
// sooner by the packets the receiver no longer throws away, one packet time each at the NIC.
TEST(NetworkFaults, NakStartsTheResendWithoutTheTimer) {
  const std::string link = events("link: \"leaf0:" + spine_used(kHosts) + "\"");
  for (const std::string mode : {"go_back_n", "selective"}) {
    const std::string m = "network.retransmit.mode=" + mode;
    auto nak = run_cli_yaml(kHosts, {link, m}, "nak_" + mode);
    auto nak_slow_timer =
        run_cli_yaml(kHosts, {link, m, "network.retransmit.timeout=1ms"}, "nak_slow_" + mode);
    auto timer = run_cli_yaml(kHosts, {link, m, "network.retransmit.nak=false"}, "timer_" + mode);
    ASSERT_FALSE(nak.empty() || nak_slow_timer.empty() || timer.empty()) << mode;
    EXPECT_EQ(nak["fault_retransmit_timeouts_count"].get<uint64_t>(), 0u) << mode;
    EXPECT_EQ(nak["fault_naks_count"].get<uint64_t>(), 1u) << mode;
    EXPECT_DOUBLE_EQ(nak_slow_timer["fct_max_us"].get<double>(), nak["fct_max_us"].get<double>())
        << mode;
    EXPECT_EQ(nak["fault_packets_lost_count"], timer["fault_packets_lost_count"]) << mode;
    // The NAK comes back within a few microseconds of the reroute, long before the timeout.
    const double recovered = nak["fault_recovery_us"].get<double>();
    EXPECT_LT(recovered, timer["fault_recovery_us"].get<double>() - 10.0) << mode;
    const double earlier = timer["fct_max_us"].get<double>() - nak["fct_max_us"].get<double>();
    const double fewer = timer["fault_duplicate_packets_count"].get<double>() -
                         nak["fault_duplicate_packets_count"].get<double>();
    if (mode == "go_back_n") {
      EXPECT_GT(fewer, 100.0);
      EXPECT_NEAR(earlier, fewer * kPacketUs, 0.02 * fewer * kPacketUs + 0.5);
    } else {
      // Selective repeat throws nothing away: the NIC sends the same packets either way.
      EXPECT_EQ(fewer, 0.0);
      EXPECT_NEAR(earlier, 0.0, 0.5);
    }
  }
}

// A timer armed for a message that a NAK then recovered is void, even once its slot carries the
// next message: a 1 MiB message loses packets at 10 us (routes rebuilt at 11 us) and ends by
// about 36 us; the 4 MiB one after it (an acknowledgement between) is in flight when the first
// one's timer would have fired (42.8 us), and ends as in a healthy run. (It used to take a
// spurious go-back there.)
TEST(NetworkFaults, ATimerOfARecoveredMessageIsVoid) {
  const std::string yaml = std::regex_replace(kHosts, std::regex("\\[4MiB\\]"), "[1MiB, 4MiB]");
  // (The spine the first message takes: the same alone.)
  const std::string spine = spine_used(std::regex_replace(kHosts, std::regex("4MiB"), "1MiB"));
  std::filesystem::path healthy_out, out;
  run_cli_yaml(yaml, {}, "void_timer_healthy", &healthy_out);
  auto s = run_cli_yaml(yaml,
                        {"network.faults.detection_delay=1us",
                         "network.faults.events=[{at: 10us, link: \"leaf0:" + spine + "\"}]"},
                        "void_timer", &out);
  ASSERT_FALSE(s.empty());
  EXPECT_GT(s["fault_packets_lost_count"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["fault_naks_count"].get<uint64_t>(), 1u);
  EXPECT_EQ(s["fault_retransmit_timeouts_count"].get<uint64_t>(), 0u);
  auto fct_of_4mib = [](const std::filesystem::path& dir) {
    std::ifstream in(dir / "messages.csv");
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> c;
      std::stringstream row(line);
      for (std::string cell; std::getline(row, cell, ',');)
        c.push_back(cell);
      if (c.size() > 6 && c[3] == "4194304") return std::stod(c[6]);
    }
    return -1.0;
  };
  const double healthy = fct_of_4mib(healthy_out);
  ASSERT_GT(healthy, 0.0);
  EXPECT_DOUBLE_EQ(fct_of_4mib(out), healthy);
}

// A loss at a message's tail leaves no later packet to show the receiver the gap: the 256 KiB
// message is all on the wire before the routes are rebuilt, so only the timer recovers it, NAKs
// or not.
TEST(NetworkFaults, LossAtTheTailStillWaitsForTheTimer) {
  const std::string yaml = std::regex_replace(kHosts, std::regex("4MiB"), "256KiB");
  const std::string link =
      "network.faults.events=[{at: 2us, link: \"leaf0:" + spine_used(yaml, 200'000) + "\"}]";
  for (const std::string mode : {"go_back_n", "selective"}) {
    auto s = run_cli_yaml(yaml, {link, "network.retransmit.mode=" + mode}, "tail_" + mode);
    ASSERT_FALSE(s.empty()) << mode;
    EXPECT_GT(s["fault_packets_lost_count"].get<uint64_t>(), 0u) << mode;
    EXPECT_EQ(s["fault_naks_count"].get<uint64_t>(), 0u) << mode;
    EXPECT_EQ(s["fault_retransmit_timeouts_count"].get<uint64_t>(), 1u) << mode;
    EXPECT_GE(s["fct_max_us"].get<double>(), 2.0 + kTimeout) << mode;
    EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]) << mode;
  }
}

TEST(NetworkFaults, DegradedLinkSlowsTheRestOfTheMessageToItsNewRate) {
  // From 20 us on, host 0's NIC-leaf cable runs at half rate: the bytes not yet sent by then
  // take twice as long. Closed form: T + 2 (B / r - (T - a)) + b, with a (first byte on that
  // link) and b (last byte to memory) about a microsecond each.
  auto healthy = run_cli_yaml(kHosts, {}, "degrade_healthy");
  auto s =
      run_cli_yaml(kHosts, {events("link: \"n0_nic0:leaf0\", bandwidth_factor: 0.5")}, "degrade");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  EXPECT_EQ(s["fault_packets_lost_count"].get<uint64_t>(), 0u) << "a slow link loses nothing";
  const double full = kMessage / kIbPayloadRate * 1e6;
  const double expected = kFaultAt + 2.0 * (full - kFaultAt);
  EXPECT_NEAR(s["fct_max_us"].get<double>(), expected, 4.0);
  EXPECT_NEAR(healthy["fct_max_us"].get<double>(), full, 4.0);
}

TEST(NetworkFaults, DegradationsAreFractionsOfTheNominalRate) {
  // Two degradations of one link: the second's factor is of the link's nominal rate, not of
  // the rate the first left (0.5 then 0.5 is half rate, not a quarter).
  auto s = run_cli_yaml(kHosts,
                        {"network.faults.events=[{at: 20us, link: \"n0_nic0:leaf0\", "
                         "bandwidth_factor: 0.5}, {at: 20us, link: \"n0_nic0:leaf0\", "
                         "bandwidth_factor: 0.5}]"},
                        "degrade_twice");
  ASSERT_FALSE(s.empty());
  const double full = kMessage / kIbPayloadRate * 1e6;
  EXPECT_NEAR(s["fct_max_us"].get<double>(), kFaultAt + 2.0 * (full - kFaultAt), 4.0);
}

TEST(NetworkFaults, PlaneFailureLeavesOtherPlanesUntouched) {
  // Every GPU sends 4 MiB to the same GPU of the next node (GPU r -> r + 8): on an 8-plane
  // fat-tree, GPU i's flow stays on plane i. Plane 3 fails at 20 us.
  const std::string yaml = std::string(R"(
name: isolation
cluster: {type: mpft, k: 8, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: permutation, shift: 8, bytes: 4MiB}
)") + nettest::kPacketHardware;
  std::filesystem::path healthy_out, fault_out;
  auto healthy = run_cli_yaml(yaml, {}, "iso_healthy", &healthy_out);
  auto s = run_cli_yaml(yaml, {events("plane: 3")}, "iso_fault", &fault_out);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["net_delivered_bytes"], s["net_injected_bytes"]);
  auto fct_of = [](const std::filesystem::path& dir, int src) {
    std::ifstream in(dir / "messages.csv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::stringstream row(line);
      std::vector<std::string> c;
      std::string cell;
      while (std::getline(row, cell, ','))
        c.push_back(cell);
      if (std::stoi(c[1]) == src) return std::stod(c[6]);
    }
    return -1.0;
  };
  // Once the routes are rebuilt, GPU 3's remaining data crosses NVLink to one other GPU of its
  // node and shares that GPU's NIC (and plane); every other plane is untouched.
  int untouched = 0;
  const double full = kMessage / kIbPayloadRate * 1e6;
  for (int plane : {0, 1, 2, 4, 5, 6, 7}) {
    const double h = fct_of(healthy_out, plane), f = fct_of(fault_out, plane);
    if (f == h) {
      ++untouched;
    } else {
      EXPECT_LE(f, h + full + 5.0) << "plane " << plane << " carries GPU 3's data too";
    }
  }
  EXPECT_GE(untouched, 6);
  EXPECT_GT(fct_of(fault_out, 3), fct_of(healthy_out, 3) + kDetection);
}

// The kHosts scenario with `sets`, run in a fresh folder named `name`, and the first line of its
// error output.
CliResult run_hosts(const std::string& name, const std::vector<std::string>& sets,
                    std::string* first) {
  const auto dir = nettest::temp_dir(name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << kHosts;
  std::vector<std::string> args{"run",   (dir / "s.yaml").string(), "--no-plots", "-q",
                                "--out", (dir / "out").string()};
  for (const std::string& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  CliResult r = run_cli(args);
  *first = r.err.substr(0, r.err.find('\n'));
  return r;
}

TEST(NetworkFaults, UnreachableDestinationStopsTheRunWithADiagnosis) {
  // Host 4's only NIC fails: nothing can reach it, so the run stops with exit 3.
  std::string first;
  const CliResult r = run_hosts("unreachable", {events("nic: n4_nic0")}, &first);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // The first line names the cause (not retries, not a deadlock).
  EXPECT_NE(first.find("1 message failed with no route left (destination unreachable)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(first.find("max_retries"), std::string::npos) << r.err;
}

TEST(NetworkFaults, MessagesThatRunOutOfRetriesLeadTheDiagnosis) {
  // No retries: the packets the dying link of the message's route loses are never resent, so
  // the message fails and the run stops with exit 3; the first line names that cause, not a
  // deadlock.
  const std::string spine = spine_used(kHosts);
  std::string first;
  const CliResult r = run_hosts(
      "no_retries", {events("link: \"leaf0:" + spine + "\""), "network.retransmit.max_retries=0"},
      &first);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(first.find("failed after network.retransmit.max_retries resends after a fault"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(first.find("deadlock"), std::string::npos) << r.err;
}

// A message given up on stays failed: resends of it still under way are thrown away at the
// receiver, whichever the mode (under go-back-N one used to complete after all, and the run
// ended with exit 0 and a failed message counted). Four hosts on a k=4 fat-tree, six messages
// of 256 KiB from host 0 to host 2, whose leaf-spine link dies at 3 us with resends every 3 us
// and routes rebuilt only at 23 us.
TEST(NetworkFaults, AFailedMessageNeverCompletes) {
  const auto dir = nettest::temp_dir("failed_stays");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << std::string(R"(
name: failed_stays
cluster: {type: ft2, k: 4, nodes: 4, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
network:
  fidelity: packet
  retransmit: {timeout: 3us}
  faults: {detection_delay: 20us, events: [{at: 3us, link: "leaf0:spine0"}]}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 2, sizes: [256KiB], count: 6}
)") + nettest::kPacketHardware;
  for (const std::string mode : {"go_back_n", "selective"}) {
    const CliResult r =
        run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--out",
                 (dir / "out").string(), "--set", "network.retransmit.mode=" + mode});
    EXPECT_EQ(r.exit_code, 3) << mode << ": " << r.err;
    EXPECT_NE(r.err.find("failed after network.retransmit.max_retries"), std::string::npos)
        << mode << ": " << r.err;
  }
}

// The reroute a dead link schedules (detection_delay later) moves nothing once the message has
// failed: the diagnosis is at the failure (the fault, plus the timeout, plus at most a
// message's transfer), not at the reroute, and a reroute beyond sim.max_time does not pass
// for the time limit.
TEST(NetworkFaults, PendingRerouteNeitherDelaysNorMasksTheDiagnosis) {
  const std::string spine = spine_used(kHosts);
  for (const std::string delay : {"200us", "20s"}) {
    std::string first;
    const CliResult r =
        run_hosts("late_reroute",
                  {events("link: \"leaf0:" + spine + "\""), "network.retransmit.max_retries=0",
                   "network.faults.detection_delay=" + delay, "sim.max_time=1s"},
                  &first);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(first.find("failed after network.retransmit.max_retries resends after a fault"),
              std::string::npos)
        << delay << ": " << r.err;
    const size_t at = first.find("; at ");
    ASSERT_NE(at, std::string::npos) << first;
    const double us = std::stod(first.substr(at + 5));
    ASSERT_NE(first.find("us nothing is left", at), std::string::npos) << first;
    EXPECT_GE(us, kFaultAt + kTimeout) << first;
    EXPECT_LE(us, kFaultAt + kTimeout + kMessage / kIbPayloadRate * 1e6 + 5.0) << first;
  }
}

// A fault after the traffic meets no packet, whether the run reaches it before sim.max_time or
// not: the run succeeds, says so, and reports no recovery figures (unreached, it is listed as
// not applied).
TEST(NetworkFaults, FaultsNoTrafficMeetsAreWarnedAbout) {
  const auto dir = nettest::temp_dir("late_fault");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << kHosts;
  auto run = [&](const std::string& at, const std::string& limit) {
    return run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "--set",
                    "network.faults.events=[{at: " + at + ", switch: spine0}]", "--set",
                    "sim.max_time=" + limit, "--out", (dir / "out").string()});
  };
  const CliResult never = run("50ms", "1ms");
  EXPECT_EQ(never.exit_code, 0) << never.err;
  EXPECT_NE(never.err.find("'switch spine0 down' at 50ms came after the network's last delivery"),
            std::string::npos)
      << never.err;
  {
    std::ifstream in(dir / "out" / "network_report.json");
    const auto report = nlohmann::json::parse(in);
    ASSERT_EQ(report["faults"].size(), 1u);
    EXPECT_FALSE(report["faults"][0]["applied"].get<bool>());
    std::ifstream sin(dir / "out" / "summary.json");
    const auto s = nlohmann::json::parse(sin);
    EXPECT_FALSE(s.contains("fault_recovery_us")) << "no fault happened to recover from";
    EXPECT_EQ(s["fault_count"].get<uint64_t>(), 1u);
  }
  // Reached before sim.max_time, it is applied, but met no traffic all the same: the same
  // warning, and no recovery figures.
  const CliResult after = run("5ms", "1s");
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.err.find("came after the network's last delivery"), std::string::npos)
      << after.err;
  {
    std::ifstream sin(dir / "out" / "summary.json");
    EXPECT_FALSE(nlohmann::json::parse(sin).contains("fault_recovery_us"));
  }
  const CliResult hit = run("20us", "1s");
  EXPECT_EQ(hit.exit_code, 0) << hit.err;
  EXPECT_EQ(hit.err.find("network.faults.events"), std::string::npos) << hit.err;
}

TEST(NetworkFaults, MalformedFaultEventsAreInputErrors) {
  const auto dir = nettest::temp_dir("bad_fault");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << kHosts;
  auto run = [&](const std::string& set) {
    return run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--set", set, "--out",
                    (dir / "out").string()});
  };
  CliResult two = run("network.faults.events=[{at: 1us, nic: n4_nic0, switch: spine0}]");
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_NE(two.err.find("network.faults.events[0]"), std::string::npos) << two.err;
  CliResult unknown = run(events("switch: spine9"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("spine9"), std::string::npos) << unknown.err;
  CliResult slow_switch = run(events("switch: spine0, bandwidth_factor: 0.5"));
  EXPECT_EQ(slow_switch.exit_code, 2);
  EXPECT_NE(slow_switch.err.find("bandwidth_factor"), std::string::npos) << slow_switch.err;
  // A bad entry of a list of parts failed before the run is named by its index.
  CliResult bad_entry = run("network.faults.links=[\"n0_nic0:leaf0\", \"leaf0:spine9\"]");
  EXPECT_EQ(bad_entry.exit_code, 2);
  EXPECT_NE(bad_entry.err.find("network.faults.links[1]: vertex 'spine9'"), std::string::npos)
      << bad_entry.err;
  // Also one that fails only after the entries before it (the same link twice).
  CliResult twice_listed = run("network.faults.links=[\"n0_nic0:leaf0\", \"n0_nic0:leaf0\"]");
  EXPECT_EQ(twice_listed.exit_code, 2);
  EXPECT_NE(twice_listed.err.find("network.faults.links[1]: there is no link"), std::string::npos)
      << twice_listed.err;
  // A fault at a simulated time on a part that failed before the run would change nothing.
  for (const auto& [before, event] :
       {std::pair{"network.faults.nics=[n4_nic0]", "nic: n4_nic0"},
        std::pair{"network.faults.switches=[spine0]", "switch: spine0"},
        std::pair{"network.faults.links=[\"n0_nic0:leaf0\"]", "link: \"leaf0:n0_nic0\""},
        std::pair{"network.faults.switches=[spine0]", "link: \"leaf0:spine0\""}}) {
    CliResult twice = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--set",
                               before, "--set", events(event), "--out", (dir / "out").string()});
    EXPECT_EQ(twice.exit_code, 2) << event;
    EXPECT_NE(twice.err.find("network.faults.events[0]: "), std::string::npos) << twice.err;
    EXPECT_NE(twice.err.find("has failed before the run"), std::string::npos) << twice.err;
  }
  CliResult flow = run("network.fidelity=flow");  // with a fault event below
  EXPECT_EQ(flow.exit_code, 0) << "no events: flow level is fine";
  CliResult flow_fault = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--set",
                                  "network.fidelity=flow", "--set", events("switch: spine0"),
                                  "--out", (dir / "out").string()});
  EXPECT_EQ(flow_fault.exit_code, 2);
  EXPECT_NE(flow_fault.err.find("fidelity packet"), std::string::npos) << flow_fault.err;
}

}  // namespace
}  // namespace mlasim
