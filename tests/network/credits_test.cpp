// Lossless credit flow control: conservation of bytes and packets, buffers never over-full
// (an independent sweep over every packet's stay in every input buffer), fair sharing of one
// link by two flows, and incast back-pressure climbing to the upstream switches and senders.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "models/common/packet_fabric.h"
#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_here;

const std::string kMpftAllToAll = std::string(R"(
name: t
cluster: {type: mpft, k: 4, planes: 8, nodes: 2, gpus_per_node: 8, nics_per_node: 8}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: all_to_all, bytes: 64KiB}
)") + nettest::kPacketHardware;

// Tiny buffers (two packets) everywhere: credits run out all the time.
const std::vector<std::string> kTinyBuffers{
    "hardware.switch.buffer=8KiB", "hardware.nic.buffer=9KiB", "hardware.nvswitch.buffer=9KiB",
    "network.gpu_port.buffer=9KiB"};

TEST(Credits, AllToAllConservesBytesAndPacketsWithTinyBuffers) {
  auto run = run_here(kMpftAllToAll, kTinyBuffers);
  const auto& s = run.summary;
  const uint64_t n = 16, bytes = 64 * 1024;
  EXPECT_EQ(s["net_injected_bytes"].get<uint64_t>(), n * (n - 1) * bytes);
  EXPECT_EQ(s["net_delivered_bytes"].get<uint64_t>(), n * (n - 1) * bytes);
  EXPECT_EQ(s["net_injected_messages_count"].get<uint64_t>(), n * (n - 1));
  EXPECT_EQ(s["net_delivered_messages_count"].get<uint64_t>(), n * (n - 1));
  EXPECT_EQ(s["net_injected_packets_count"].get<uint64_t>(),
            s["net_delivered_packets_count"].get<uint64_t>());
  EXPECT_EQ(s["net_injected_packets_count"].get<uint64_t>(), n * (n - 1) * 16);
  EXPECT_EQ(s["received_message_bytes"].get<uint64_t>(), n * (n - 1) * bytes);
  EXPECT_GT(s["credit_stall_fraction"].get<double>(), 0.05) << "buffers were meant to run dry";
  EXPECT_TRUE(run.fabric().describe_in_flight().empty());
  // Every link direction forwards exactly what it took in: per node, bytes in = bytes out,
  // except at GPUs (sources and sinks).
  std::map<uint32_t, int64_t> balance;
  for (const auto& l : run.fabric().links()) {
    balance[l.from] -= static_cast<int64_t>(l.stats.bytes);
    balance[l.to] += static_cast<int64_t>(l.stats.bytes);
  }
  for (const auto& [node, b] : balance) {
    if (run.fabric().node(node).endpoint_rank() < 0) {
      EXPECT_EQ(b, 0) << run.fabric().node(node).name();
    }
  }
}

TEST(Credits, BuffersNeverHoldMoreThanTheirCredits) {
  // Every stay of a packet in an input buffer, swept per (link, VL): the credits held at any
  // instant never exceed the buffer, though the run keeps them nearly full.
  std::vector<std::tuple<uint32_t, uint8_t, int64_t, int64_t>> changes;  // link, vl, t, delta
  PacketFabric* fabric = nullptr;
  auto run = run_here(kMpftAllToAll, kTinyBuffers, [&](Simulation& sim) {
    fabric = dynamic_cast<PacketFabric*>(sim.fabric());
    ASSERT_NE(fabric, nullptr);
    fabric->set_residency_probe(
        [&](uint32_t link, uint8_t vl, uint32_t credits, int64_t from, int64_t to) {
          changes.emplace_back(link, vl, from, static_cast<int64_t>(credits));
          changes.emplace_back(link, vl, to, -static_cast<int64_t>(credits));
        });
  });
  ASSERT_FALSE(changes.empty());
  // At equal times, departures first: a buffer slot freed at t may be refilled from t on.
  std::sort(changes.begin(), changes.end());
  std::map<std::pair<uint32_t, uint8_t>, int64_t> level, peak;
  for (const auto& [link, vl, t, delta] : changes) {
    int64_t& l = level[{link, vl}];
    l += delta;
    peak[{link, vl}] = std::max(peak[{link, vl}], l);
  }
  int full = 0;
  for (const auto& [key, p] : peak) {
    const int64_t total = fabric->credits_total(key.first);
    EXPECT_LE(p, total) << run.fabric().links()[key.first].name;
    if (p > total / 2) ++full;
  }
  for (const auto& [key, l] : level)
    EXPECT_EQ(l, 0);
  EXPECT_GT(full, 10) << "expected many buffers to fill";
  EXPECT_EQ(fabric->credit_violations, 0u);
}

// 32 single-GPU hosts on a two-tier fat-tree: hosts 0-3 on leaf0, 4-7 on leaf1, ...
const std::string kHosts = std::string(R"(
name: t
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
network: {fidelity: packet}
)") + nettest::kPacketHardware;

TEST(Credits, TwoSendersGetEqualSharesOfTheBottleneck) {
  // Hosts 1 and 2 each send 1 MiB to host 0 at once: they share leaf0 -> host 0.
  auto run = run_here(kHosts + R"(
workload: {type: network_traffic, pattern: incast, dst: 0, senders: 2, count: 1, bytes: 1MiB}
)");
  const Fabric& f = run.fabric();
  std::vector<const MessageRecord*> msgs;
  for (const auto& m : f.messages())
    msgs.push_back(&m);
  ASSERT_EQ(msgs.size(), 2u);
  const FabricLink* last_hop = nullptr;
  for (const auto& l : f.links()) {
    if (f.node(l.to).endpoint_rank() == -1 && std::string(f.node(l.to).basename()) == "n0_nic0" &&
        l.timing.kind == "ib") {
      last_hop = &l;
    }
  }
  ASSERT_NE(last_hop, nullptr);
  const double s_ib = (4096.0 + 26.0) / 50e9 * 1e12;  // ps per packet on IB
  const double fct1 = static_cast<double>(msgs[0]->completed_ps - msgs[0]->injected_ps);
  const double fct2 = static_cast<double>(msgs[1]->completed_ps - msgs[1]->injected_ps);
  // Round-robin at leaf0's output: the two finish within a couple of packets of each other...
  EXPECT_LT(std::abs(fct1 - fct2), 3 * s_ib);
  // ...and the shared link carried both at line rate: 512 packets back to back.
  EXPECT_EQ(last_hop->stats.packets, 512u);
  EXPECT_NEAR(static_cast<double>(last_hop->stats.busy_ps), 512 * s_ib, 512.0);
  const double ideal_both = 512 * s_ib;
  EXPECT_LT(std::max(fct1, fct2), ideal_both + 3e6) << "2 MiB over one 50 GB/s link + 3 us";
  EXPECT_GT(std::min(fct1, fct2), ideal_both - 2 * s_ib) << "neither got more than half";
}

TEST(Credits, IncastBackPressureReachesUpstreamSwitchesAndSenders) {
  // 16 senders on leaves 0-4 (hosts 1-16) into host 0, small switch buffers.
  auto run = run_here(kHosts + R"(
workload: {type: network_traffic, pattern: incast, dst: 0, senders: 16, count: 4, bytes: 256KiB}
)",
                      {"hardware.switch.buffer=32KiB"});
  const Fabric& f = run.fabric();
  auto name = [&](uint32_t n) { return std::string(f.node(n).basename()); };
  double spine_to_leaf0 = 0, leaf_to_spine = 0, sender_nic = 0, bottleneck_util = 0;
  for (const auto& l : f.links()) {
    const double stall = static_cast<double>(l.stats.stall_ps);
    if (l.timing.tier == "spine->leaf" && name(l.to) == "leaf0") spine_to_leaf0 += stall;
    if (l.timing.tier == "leaf->spine" && name(l.from) != "leaf0") leaf_to_spine += stall;
    if (l.timing.tier == "nic->leaf" && name(l.from) != "n0_nic0") sender_nic += stall;
    if (name(l.from) == "leaf0" && name(l.to) == "n0_nic0") {
      bottleneck_util = static_cast<double>(l.stats.busy_ps);
    }
  }
  // The full buffer at leaf0 stalls the spines feeding it; theirs stall the senders' leaves;
  // those stall the senders' NICs.
  EXPECT_GT(spine_to_leaf0, 1e6) << "spines waited on leaf0 for > 1 us";
  EXPECT_GT(leaf_to_spine, 1e6) << "sender leaves waited on the spines";
  EXPECT_GT(sender_nic, 1e6) << "sender NICs waited on their leaves";
  // Meanwhile the bottleneck stays busy: 16 MiB through it at line rate.
  const double s_ib = (4096.0 + 26.0) / 50e9 * 1e12;
  EXPECT_NEAR(bottleneck_util, 16 * 4 * 64 * s_ib, 16 * 4 * 64.0);
  const double end = run.summary["network_end_us"].get<double>() * 1e6;
  EXPECT_GT(bottleneck_util / end, 0.95) << "back-pressure must not starve the bottleneck";
  EXPECT_EQ(run.summary["net_delivered_bytes"].get<uint64_t>(), 16u * 4u * 256u * 1024u);
}

// A switch's shared memory: under a 16 -> 1 incast through one switch every packet it pools
// waits for the same output, whose share the dynamic threshold caps. A packet enters while
// that output's pooled bytes q stay within alpha x the memory left free, so with B bytes of
// memory q <= alpha (B - q), i.e. q <= alpha B / (1 + alpha); the incast keeps the memory at
// that cap. Back-pressure then goes on upstream through the input buffers' credits, as
// without shared memory, and nothing is lost or sent ahead of its credits.
// `ports`: the switch's radix (0: as many as it has cables, one per host).
void check_shared_memory_cap(const std::string& alpha, int ports = 0) {
  const std::string yaml = fmt::format(R"(
name: t
cluster: {{type: single_switch, nodes: 17, gpus_per_node: 1, nvswitch: false, k: {}}})",
                                       ports) +
                           std::string(R"(
network: {fidelity: packet}
workload: {type: network_traffic, pattern: incast, dst: 0, senders: 16, count: 4, bytes: 256KiB}
)") + nettest::kPacketHardware;
  PacketFabric* fabric = nullptr;
  // Room taken and given back, as the fabric reports it: (time, bytes), per output.
  std::map<uint32_t, std::vector<std::pair<int64_t, int64_t>>> changes;
  auto run =
      run_here(yaml,
               {"hardware.switch.buffer=32KiB", "hardware.switch.shared_buffer_per_port=64KiB",
                std::string("hardware.switch.shared_alpha=") + alpha},
               [&](Simulation& sim) {
                 fabric = dynamic_cast<PacketFabric*>(sim.fabric());
                 ASSERT_NE(fabric, nullptr);
                 fabric->set_pool_probe([&](uint32_t link, int64_t bytes, int64_t at) {
                   changes[link].push_back({at, bytes});
                 });
               });
  const double a = std::stod(alpha);
  const double memory = (ports > 0 ? ports : 17) * 64 * 1024.0;  // per port, cabled or not
  const double cap = a * memory / (1 + a);
  // What the memory holds over time, from each packet's stay (taken when it queues, free once
  // its tail has left; at one time frees come first): one output (host 0's) holds it all.
  ASSERT_EQ(changes.size(), 1u);
  auto& c = changes.begin()->second;
  std::sort(c.begin(), c.end());
  int64_t held = 0, most = 0;
  double byte_ps = 0;  // integral of what the memory held
  for (size_t i = 0; i < c.size(); ++i) {
    held += c[i].second;
    most = std::max(most, held);
    if (i + 1 < c.size())
      byte_ps += static_cast<double>(held) * static_cast<double>(c[i + 1].first - c[i].first);
  }
  EXPECT_EQ(held, 0);
  EXPECT_LE(static_cast<double>(most), cap);
  EXPECT_GT(static_cast<double>(most), cap - 4122.0)
      << "the incast should fill its share to within a packet";
  EXPECT_EQ(run.summary["net_peak_shared_buffer_bytes"].get<int64_t>(), most);
  EXPECT_EQ(fabric->credit_violations, 0u);
  EXPECT_EQ(run.summary["net_delivered_bytes"].get<uint64_t>(), 16u * 4u * 256u * 1024u);
  double sender_stall = 0, shared_byte_ps = 0;
  const Fabric& f = run.fabric();
  for (const auto& l : f.links()) {
    // The links' shared-memory figures share out that integral by the link each packet came in
    // on; their queue figures are the input buffers' alone, so the mean stays within the peak.
    shared_byte_ps += l.stats.shared_byte_ps;
    const double end_ps = run.summary["sim_time_us"].get<double>() * 1e6;
    EXPECT_LE(l.stats.queue_byte_ps, static_cast<double>(l.stats.peak_queue_bytes) * end_ps)
        << l.name;
    if (l.timing.kind == "ib" && f.node(l.to).endpoint_rank() < 0)  // a NIC into the switch
      sender_stall += static_cast<double>(l.stats.stall_ps);
  }
  EXPECT_GT(sender_stall, 1e6) << "back-pressure still reaches the senders' NICs";
  EXPECT_NEAR(shared_byte_ps, byte_ps, 1e-9 * byte_ps);
  EXPECT_GT(byte_ps, 0.0);
}

TEST(Credits, SharedMemoryHoldsAtMostTheThresholdOfOneOutput) {
  check_shared_memory_cap("1");
}

TEST(Credits, SharedMemoryThresholdScalesWithAlpha) {
  check_shared_memory_cap("3");
}

// A 32-port switch with 17 cables has the memory of 32 ports.
TEST(Credits, SharedMemoryIsSizedByTheSwitchsPortsNotItsCables) {
  check_shared_memory_cap("1", 32);
}

// A traffic class on its own virtual lane has its own credits: a message crossing links that an
// incast has back-pressured waits behind the incast on the incast's lane, not on another one.
TEST(Credits, AnotherVirtualLaneIsNotHeldUpByAnIncastsBackPressure) {
  // Hosts 1-16 send 4 x 256 KiB each to host 0 on VL 0 (as in the test above); host 17 sends
  // 256 KiB to host 1, beside host 0 on leaf0, on lane `victim_vl`. Its packets share the spines'
  // links into leaf0 with the incast's.
  auto victim_fct_us = [](int victim_vl, const std::string& tag) {
    std::vector<std::string> ops(32);
    auto add = [&](int r, const std::string& op) { ops[r] += (ops[r].empty() ? "" : ", ") + op; };
    const std::string common = R"("deps": [], "stream": 0, "micro_batch": 0)";
    for (int s = 1; s <= 16; ++s) {
      for (int j = 0; j < 4; ++j) {
        add(s, fmt::format(R"({{"name": "send", "op": "send", {}, "peer": 0, "bytes": "256KiB", )"
                           R"("tag": {}}})",
                           common, j));
        add(0, fmt::format(R"({{"name": "recv", "op": "recv", {}, "peer": {}, "bytes": "256KiB", )"
                           R"("tag": {}}})",
                           common, s, j));
      }
    }
    add(17, fmt::format(R"({{"name": "victim", "op": "send", {}, "peer": 1, "bytes": "256KiB", )"
                        R"("tag": 9, "vl": {}}})",
                        common, victim_vl));
    add(1, fmt::format(R"({{"name": "victim", "op": "recv", {}, "peer": 17, "bytes": "256KiB", )"
                       R"("tag": 9}})",
                       common));
    std::string ranks;
    for (int r = 0; r < 32; ++r)
      ranks += fmt::format(R"({}{{"rank": {}, "ops": [{}]}})", r ? ", " : "", r, ops[r]);
    const auto dir = nettest::temp_dir("vl_trace_" + tag);
    std::filesystem::create_directories(dir);
    const auto file = dir / "trace.json";
    std::ofstream(file) << R"({"format": "mlasim-trace", "version": 1, "minor": 3, "ranks": [)"
                        << ranks << "]}";
    std::filesystem::path out;
    const auto summary =
        nettest::run_cli_yaml(kHosts + "workload: {type: trace, file: '" + file.string() + "'}\n",
                              {"hardware.switch.buffer=32KiB", "network.vls=2",
                               // input buffers alone: the shared memory is one for all lanes
                               "hardware.switch.shared_buffer_per_port=0"},
                              "vl_" + tag, &out);
    EXPECT_EQ(summary.value("net_delivered_bytes", uint64_t{0}), (16u * 4u + 1u) * 256u * 1024u);
    std::ifstream in(out / "messages.csv");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("id,src,dst,bytes,injected_us,completed_us,fct_us", 0), 0u) << line;
    while (std::getline(in, line)) {
      std::stringstream row(line);
      std::vector<std::string> cells;
      for (std::string cell; std::getline(row, cell, ',');)
        cells.push_back(cell);
      if (cells.size() > 6 && cells[1] == "17" && cells[2] == "1") return std::stod(cells[6]);
    }
    ADD_FAILURE() << "no message from host 17 to host 1";
    return 0.0;
  };
  const double shared = victim_fct_us(0, "shared"), own = victim_fct_us(1, "own");
  // 256 KiB at 50 GB/s is 5.4 us; on the incast's lane the message waits for credits the incast
  // holds, for most of the incast's 16 MiB through host 0's link (over 300 us).
  EXPECT_GT(shared, 50.0) << "on VL 0 the victim should wait behind the incast";
  EXPECT_LT(own, 0.25 * shared) << "on its own lane it should not";
  // Not faster than its own serialisation: 64 packets of 4096 + 26 wire bytes at 50 GB/s.
  EXPECT_GT(own, 64 * (4096.0 + 26.0) / 50e9 * 1e6);
  // (Still slower than alone, about 6 us: the incast's lane commits its packets' wire time when
  // its credits come back, and a packet on another lane cannot use a gap before one committed
  // earlier; see packet_fabric.h.)
}

}  // namespace
}  // namespace mlasim
