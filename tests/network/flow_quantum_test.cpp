// The flow fidelity's rate quantum (network.flow.rate_update): a quantum of one ps reproduces
// exact max-min message for message; with a real quantum, closed forms of max-min sharing on
// one bottleneck (simultaneous incast N -> 1: N S / C; a staggered pair: the late flow waits
// for the next recomputation) hold as the approximation predicts them; the recomputation
// counters in the summary count what the closed form says.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_cli_yaml;

struct MessageRow {
  int src = 0, dst = 0;
  uint64_t bytes = 0;
  int64_t injected_ps = 0, completed_ps = 0;
};

// messages.csv of a run (times are printed in us with 6 decimals: whole ps).
std::vector<MessageRow> read_messages(const std::filesystem::path& out) {
  std::ifstream in(out / "messages.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("id,src,dst,bytes,injected_us,completed_us", 0), 0u) << line;
  std::vector<MessageRow> rows;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string id, src, dst, bytes, inj, done;
    std::getline(ss, id, ',');
    std::getline(ss, src, ',');
    std::getline(ss, dst, ',');
    std::getline(ss, bytes, ',');
    std::getline(ss, inj, ',');
    std::getline(ss, done, ',');
    rows.push_back({std::stoi(src), std::stoi(dst), std::stoull(bytes),
                    std::llround(std::stod(inj) * 1e6), std::llround(std::stod(done) * 1e6)});
  }
  return rows;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs a scenario at flow level with a rate quantum, applied whatever the number of flows
// (exact_below 0) unless `small_exact`; its messages (empty on failure).
std::vector<MessageRow> run_flow(const std::string& yaml, const std::string& quantum,
                                 const std::string& tag, std::filesystem::path* out = nullptr,
                                 bool small_exact = false) {
  std::filesystem::path dir;
  std::vector<std::string> sets{"network.fidelity=flow", "network.flow.rate_update=" + quantum};
  if (!small_exact) sets.push_back("network.flow.exact_below=0");
  auto s = run_cli_yaml(yaml, sets, tag, &dir);
  if (s.empty()) return {};
  EXPECT_EQ(s["network_fidelity"], "flow");
  if (out) *out = dir;
  return read_messages(dir);
}

// 32 single-GPU hosts, 4 per leaf: every host reaches the others through its NIC and one
// 400 Gb/s IB link per hop, so a flow alone runs at the IB payload rate of full packets.
const std::string kHosts = std::string(R"(
name: q
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false}
)") + nettest::kPacketHardware;
// IB payload rate: 4096 B of payload per 4096 + 26 B on the wire at 50 GB/s, in B/ps.
const double kIbBytesPerPs = 50e9 * 4096.0 / (4096.0 + 26.0) * 1e-12;

TEST(FlowQuantum, OnePicosecondQuantumReproducesExactMaxMin) {
  // The all-to-alls of the flow-versus-packet tests: NVLink and IB in one switch, and the
  // 8-plane fat-tree with cross-plane forwarding.
  const std::vector<std::pair<std::string, std::string>> scenarios{
      {"single", "cluster: {type: single_switch, nodes: 2, gpus_per_node: 8, nvswitch: true}"},
      {"mpft",
       "cluster: {type: mpft, k: 4, planes: 8, nodes: 4, gpus_per_node: 8, "
       "nics_per_node: 8}"}};
  for (const auto& [tag, cluster] : scenarios) {
    const std::string yaml = "name: q1\n" + cluster +
                             "\nworkload: {type: network_traffic, pattern: all_to_all, bytes: "
                             "256KiB}\n" +
                             nettest::kPacketHardware;
    std::filesystem::path exact_dir, tiny_dir, coarse_dir;
    const auto exact = run_flow(yaml, "0s", tag + "_exact", &exact_dir);
    const auto tiny = run_flow(yaml, "1ps", tag + "_1ps", &tiny_dir);
    const auto coarse = run_flow(yaml, "20us", tag + "_20us", &coarse_dir);
    ASSERT_FALSE(exact.empty());
    ASSERT_EQ(tiny.size(), exact.size());
    // Every message completes at the same ps: the reports are identical.
    EXPECT_TRUE(read_file(tiny_dir / "messages.csv") == read_file(exact_dir / "messages.csv"))
        << tag;
    EXPECT_TRUE(read_file(tiny_dir / "links.csv") == read_file(exact_dir / "links.csv")) << tag;
    // On the fat-tree, where flows end at many different times, a coarse quantum does change
    // them (the comparison can tell the modes apart).
    if (tag == "mpft") {
      EXPECT_FALSE(read_file(coarse_dir / "messages.csv") == read_file(exact_dir / "messages.csv"));
    }
  }
}

TEST(FlowQuantum, SimultaneousIncastTakesNTimesSOverCAtAnyQuantum) {
  // N senders on GPU 0's leaf (equal latencies) start together into GPU 0: one recomputation gives
  // each C/N, they end together, N S / C after the start. Against one sender alone, the makespan
  // grows by (N - 1) S / C.
  const uint64_t s = 1 << 20;
  auto yaml = [&](int senders) {
    return kHosts + "workload: {type: network_traffic, pattern: incast, dst: 0, senders: " +
           std::to_string(senders) + ", count: 1, bytes: 1MiB}\n";
  };
  auto makespan = [](const std::vector<MessageRow>& m) {
    int64_t first = INT64_MAX, last = 0;
    for (const auto& r : m) {
      first = std::min(first, r.injected_ps);
      last = std::max(last, r.completed_ps);
    }
    return static_cast<double>(last - first);
  };
  for (const std::string q : {"0s", "1us", "20us"}) {
    const auto one = run_flow(yaml(1), q, "inc1_" + q);
    for (int n : {2, 3}) {
      const auto many = run_flow(yaml(n), q, "inc" + std::to_string(n) + "_" + q);
      ASSERT_EQ(one.size(), 1u);
      ASSERT_EQ(many.size(), static_cast<size_t>(n));
      const double expected = (n - 1) * static_cast<double>(s) / kIbBytesPerPs;
      EXPECT_NEAR(makespan(many) - makespan(one), expected, 2.0) << n << " senders, quantum " << q;
      // Equal shares: all end within a ps of each other.
      for (const auto& r : many)
        EXPECT_NEAR(static_cast<double>(r.completed_ps), static_cast<double>(many[0].completed_ps),
                    1.0)
            << "quantum " << q;
    }
  }
}

TEST(FlowQuantum, RecomputationCountersFollowTheFlowsRateChanges) {
  // N senders into GPU 0 that start and end together (as above): exact max-min gives each flow
  // one rate for its whole life, set by one recomputation at the start; one more, at the end,
  // only takes them off their links. A staggered start would re-rate the earlier flow.
  for (int n : {1, 2, 3}) {
    const std::string yaml = kHosts +
                             "workload: {type: network_traffic, pattern: incast, dst: 0, "
                             "senders: " +
                             std::to_string(n) + ", count: 1, bytes: 1MiB}\n";
    const auto s = run_cli_yaml(yaml, {"network.fidelity=flow", "network.flow.rate_update=0s"},
                                "counters" + std::to_string(n));
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s["net_flow_rerated_flows_count"], n);
    EXPECT_EQ(s["net_flow_rate_recomputations_count"], 2);
    // The packet model computes no rates.
    const auto p = run_cli_yaml(yaml, {"network.fidelity=packet"}, "counters_packet");
    ASSERT_FALSE(p.empty());
    EXPECT_EQ(p["net_flow_rerated_flows_count"], 0);
    EXPECT_EQ(p["net_flow_rate_recomputations_count"], 0);
    EXPECT_GT(p["packet_hops"].get<uint64_t>(), 0u);
  }
}

TEST(FlowQuantum, StaggeredArrivalWaitsForTheNextRecomputation) {
  // Flow A (GPU 1 -> 0, S bytes) starts at a0; flow B (GPU 2 -> 0, S bytes) is sent once an
  // 8 B message from GPU 3 reaches GPU 2, d later. Both cross leaf0 -> NIC 0 (rate C).
  // Exact max-min: A alone until a0 + d, then C/2 each; A ends at a0 + 2 S/C - d, B at
  // a0 + 2 S/C (the link never idles). With a quantum Q > d, B waits for the recomputation
  // at a0 + Q: A ends at a0 + 2 S/C - Q, B still at a0 + 2 S/C (A's end may recompute at
  // once, as the last recomputation is more than Q before it). So B is unchanged and A ends
  // Q - d earlier: completion moves by less than Q.
  const std::string dir = nettest::temp_dir("stagger_trace").string();
  std::filesystem::create_directories(dir);
  nlohmann::json ranks = nlohmann::json::array();
  for (int r = 0; r < 32; ++r) {
    nlohmann::json ops = nlohmann::json::array();
    auto send = [](int peer, uint64_t bytes, int tag, std::vector<int> deps) {
      return nlohmann::json{{"name", "send"}, {"op", "send"},   {"deps", deps},
                            {"peer", peer},   {"bytes", bytes}, {"tag", tag}};
    };
    auto recv = [](int peer, uint64_t bytes, int tag) {
      return nlohmann::json{{"name", "recv"}, {"op", "recv"},   {"deps", nlohmann::json::array()},
                            {"peer", peer},   {"bytes", bytes}, {"tag", tag}};
    };
    if (r == 0) ops = {recv(1, 1 << 20, 0), recv(2, 1 << 20, 2)};
    if (r == 1) ops = {send(0, 1 << 20, 0, {})};
    if (r == 2) ops = {recv(3, 8, 1), send(0, 1 << 20, 2, {0})};
    if (r == 3) ops = {send(2, 8, 1, {})};
    ranks.push_back({{"rank", r}, {"ops", ops}});
  }
  std::ofstream(dir + "/trace.json")
      << nlohmann::json{{"format", "mlasim-trace"}, {"version", 1}, {"ranks", ranks}}.dump();
  const std::string yaml = kHosts + "workload: {type: trace, file: " + dir + "/trace.json}\n";
  const int64_t q_ps = 5'000'000;
  const auto exact = run_flow(yaml, "0s", "stagger_exact");
  const auto quant = run_flow(yaml, "5us", "stagger_5us");
  ASSERT_EQ(exact.size(), 3u);
  ASSERT_EQ(quant.size(), 3u);
  auto find = [](const std::vector<MessageRow>& m, int src) {
    for (const auto& r : m)
      if (r.src == src && r.dst == 0) return r;
    ADD_FAILURE() << "no message from " << src;
    return MessageRow{};
  };
  const MessageRow ea = find(exact, 1), eb = find(exact, 2);
  const MessageRow qa = find(quant, 1), qb = find(quant, 2);
  // Same setup latency for both senders: the stagger of the fluid starts is that of injection.
  const int64_t d = eb.injected_ps - ea.injected_ps;
  ASSERT_EQ(qb.injected_ps - qa.injected_ps, d) << "the 8 B message is not delayed";
  ASSERT_GT(d, 0);
  ASSERT_LT(d, q_ps) << "B must start within one quantum of A for the test to bite";
  const double tau = static_cast<double>(1 << 20) / kIbBytesPerPs;
  ASSERT_GT(tau, 1.5 * static_cast<double>(q_ps));
  // Exact: B ends d after A, and 2 S/C after A's start (the same latencies around both).
  EXPECT_NEAR(static_cast<double>(eb.completed_ps - ea.completed_ps), static_cast<double>(d), 2);
  // Quantum: B ends as in the exact run, A (Q - d) earlier.
  EXPECT_NEAR(static_cast<double>(qb.completed_ps), static_cast<double>(eb.completed_ps), 2);
  EXPECT_NEAR(static_cast<double>(ea.completed_ps - qa.completed_ps), static_cast<double>(q_ps - d),
              2);
  // With a handful of flows (below network.flow.exact_below, as by default) the quantum does
  // not apply: the run is the exact one.
  const auto few = run_flow(yaml, "5us", "stagger_few", nullptr, true);
  ASSERT_EQ(few.size(), 3u);
  EXPECT_EQ(find(few, 1).completed_ps, ea.completed_ps);
  EXPECT_EQ(find(few, 2).completed_ps, eb.completed_ps);
  // And against a flow alone: A alone would take S/C; the pair together 2 S/C.
  const auto alone = run_flow(kHosts +
                                  "workload: {type: network_traffic, pattern: incast, dst: 0, "
                                  "senders: 1, count: 1, bytes: 1MiB}\n",
                              "5us", "stagger_alone");
  ASSERT_EQ(alone.size(), 1u);
  const double alone_fct = static_cast<double>(alone[0].completed_ps - alone[0].injected_ps);
  EXPECT_NEAR(static_cast<double>(qb.completed_ps - qa.injected_ps), alone_fct + tau, 2);
}

// An ended flow keeps its share of its links until the next recomputation, but moves no bytes:
// each link's utilisation series adds up to its busy time (links.csv), as in exact mode, not
// to the time until that recomputation. Host 1 sends 1 MiB to host 0 (about 21 us) while
// host 2 sends 4 MiB to host 3, on other links, which keeps the quantum (50 us) in force.
TEST(FlowQuantum, LinkSeriesEndWithTheFlowsNotAtTheNextRecomputation) {
  const auto dir = nettest::temp_dir("series_end_trace");
  std::filesystem::create_directories(dir);
  std::string ranks;
  auto op = [](const char* kind, int peer, const char* bytes) {
    return fmt::format(R"({{"name": "{}", "op": "{}", "deps": [], "peer": {}, "bytes": "{}", )"
                       R"("tag": 0}})",
                       kind, kind, peer, bytes);
  };
  for (int r = 0; r < 32; ++r) {
    std::string ops;
    if (r == 0) ops = op("recv", 1, "1MiB");
    if (r == 1) ops = op("send", 0, "1MiB");
    if (r == 2) ops = op("send", 3, "4MiB");
    if (r == 3) ops = op("recv", 2, "4MiB");
    ranks += fmt::format(R"({}{{"rank": {}, "ops": [{}]}})", r ? ", " : "", r, ops);
  }
  std::ofstream(dir / "trace.json")
      << R"({"format": "mlasim-trace", "version": 1, "ranks": [)" << ranks << "]}";
  std::filesystem::path out;
  const auto rows =
      run_flow(kHosts + "workload: {type: trace, file: '" + (dir / "trace.json").string() + "'}\n",
               "50us", "series_end", &out);
  ASSERT_EQ(rows.size(), 2u);
  auto column = [](const std::string& header, const std::string& name) {
    std::stringstream ss(header);
    int i = 0;
    for (std::string cell; std::getline(ss, cell, ','); ++i)
      if (cell == name) return i;
    return -1;
  };
  auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');)
      out.push_back(cell);
    return out;
  };
  std::map<std::string, double> busy_us, series_us;
  {
    std::ifstream in(out / "links.csv");
    std::string line;
    std::getline(in, line);
    const int busy = column(line, "busy_us");
    ASSERT_GE(busy, 0) << line;
    while (std::getline(in, line)) {
      const auto c = cells(line);
      busy_us[c[0]] = std::stod(c[static_cast<size_t>(busy)]);
    }
  }
  {
    std::ifstream in(out / "link_timeseries.csv");
    std::string line;
    std::getline(in, line);
    const int util = column(line, "utilization"), width = column(line, "bin_width_us");
    ASSERT_GE(util, 0) << line;
    ASSERT_GE(width, 0) << line;
    while (std::getline(in, line)) {
      const auto c = cells(line);
      series_us[c[0]] +=
          std::stod(c[static_cast<size_t>(util)]) * std::stod(c[static_cast<size_t>(width)]);
    }
  }
  int busy_links = 0;
  for (const auto& [link, busy] : busy_us) {
    if (busy <= 0) continue;
    ++busy_links;
    EXPECT_NEAR(series_us[link], busy, 1e-4 * busy + 1e-4) << link;
  }
  EXPECT_GE(busy_links, 8);  // each flow's GPU, NIC and switch links
}

// GPU 1 sends three 1 MiB messages to GPU 0 on one queue pair while GPU 2 sends it 3 MiB on
// another: the two share NIC 0's link at C/2 each, so GPU 1's messages end 2 S/C apart, the
// link never idling. As each of GPU 1's messages ends, the next takes over its share at once
// (same flows on every link, so max-min gives the same rates), also between recomputations:
// with a quantum the run is the exact one. Waiting for the next recomputation instead would
// open a gap of up to Q before each.
TEST(FlowQuantum, NextMessageOfAQueuePairTakesOverItsShareBetweenRecomputations) {
  const auto dir = nettest::temp_dir("hand_over_trace");
  std::filesystem::create_directories(dir);
  std::string ranks;
  auto op = [](const char* kind, int peer, const char* bytes, int tag) {
    return fmt::format(R"({{"name": "{}", "op": "{}", "deps": [], "peer": {}, "bytes": "{}", )"
                       R"("tag": {}}})",
                       kind, kind, peer, bytes, tag);
  };
  for (int r = 0; r < 32; ++r) {
    std::vector<std::string> ops;
    if (r == 0) {
      ops.assign(3, op("recv", 1, "1MiB", 0));
      ops.push_back(op("recv", 2, "3MiB", 1));
    }
    if (r == 1) ops.assign(3, op("send", 0, "1MiB", 0));
    if (r == 2) ops = {op("send", 0, "3MiB", 1)};
    ranks +=
        fmt::format(R"({}{{"rank": {}, "ops": [{}]}})", r ? ", " : "", r, fmt::join(ops, ", "));
  }
  std::ofstream(dir / "trace.json")
      << R"({"format": "mlasim-trace", "version": 1, "ranks": [)" << ranks << "]}";
  const std::string yaml =
      kHosts + "workload: {type: trace, file: '" + (dir / "trace.json").string() + "'}\n";
  std::filesystem::path out;
  const auto quant = run_flow(yaml, "5us", "hand_over_5us", &out);
  const auto exact = run_flow(yaml, "0s", "hand_over_exact");
  ASSERT_EQ(quant.size(), 4u);
  ASSERT_EQ(exact.size(), 4u);
  std::vector<int64_t> ends;
  for (size_t i = 0; i < quant.size(); ++i) {
    EXPECT_EQ(quant[i].completed_ps, exact[i].completed_ps) << "message " << i;
    if (quant[i].src == 1) ends.push_back(quant[i].completed_ps);
  }
  ASSERT_EQ(ends.size(), 3u);
  const double tau = static_cast<double>(1 << 20) / kIbBytesPerPs;
  ASSERT_GT(tau, 5e6) << "a message must outlast a quantum for the test to bite";
  for (size_t k = 1; k < 3; ++k)
    EXPECT_NEAR(static_cast<double>(ends[k] - ends[k - 1]), 2 * tau, 2) << "message " << k;
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(summary["net_flow_handed_over_flows_count"], 2);
}

TEST(FlowQuantum, NegativeQuantumIsAnInputError) {
  const auto dir = nettest::temp_dir("negq");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml")
      << kHosts + "workload: {type: network_traffic, pattern: incast, dst: 0, senders: 1}\n";
  CliResult r = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--set",
                         "network.fidelity=flow", "--set", "network.flow.rate_update=-1us"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("network.flow.rate_update"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mlasim
