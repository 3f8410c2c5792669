// The flow fabric's internals under conditions normal runs never reach: the shadow-link
// shortcut switched off mid-run (its fallback for routes that break the shadows' rule), the
// recomputation epoch wrapping and the update generation carrying past 32 bits (through test
// hooks), a flow too slow to finish within the representable time, and link bandwidths the
// max-min filling cannot use. Results must not change where the shortcuts are exact.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <limits>

#include "models/common/flow_fabric.h"
#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Every NIC joins a PCIe and an IB link (a two-port node: the wider PCIe link is a shadow), and
// the 8-plane fat-tree adds cross-plane forwarding over NVLink. Each rank sends to the next
// kPeers ranks one message after the other, of sizes that differ by rank and peer: flows start
// while others are transferring. The trace is written once per process.
constexpr int kGpus = 32, kPeers = 6;
uint64_t message_bytes(int rank, int i) {
  return 16 * 1024 * static_cast<uint64_t>(1 + (rank * 7 + i * 3) % 5);
}
uint64_t total_bytes() {
  uint64_t sum = 0;
  for (int r = 0; r < kGpus; ++r)
    for (int i = 0; i < kPeers; ++i)
      sum += message_bytes(r, i);
  return sum;
}

const std::string& scenario() {
  static const std::string yaml = [] {
    const fs::path dir = nettest::temp_dir("flow_fabric_trace");
    fs::create_directories(dir);
    nlohmann::json ranks = nlohmann::json::array();
    for (int r = 0; r < kGpus; ++r) {
      nlohmann::json ops = nlohmann::json::array();
      for (int i = 0; i < kPeers; ++i) {
        nlohmann::json deps = nlohmann::json::array();
        if (i > 0) deps.push_back(ops.size() - 2);  // this rank's previous send
        ops.push_back({{"name", "send"},
                       {"op", "send"},
                       {"deps", deps},
                       {"peer", (r + 1 + i) % kGpus},
                       {"bytes", message_bytes(r, i)},
                       {"tag", i}});
        const int from = (r - 1 - i + kGpus) % kGpus;  // the rank whose i-th send comes here
        ops.push_back({{"name", "recv"},
                       {"op", "recv"},
                       {"deps", nlohmann::json::array()},
                       {"peer", from},
                       {"bytes", message_bytes(from, i)},
                       {"tag", i}});
      }
      ranks.push_back({{"rank", r}, {"ops", ops}});
    }
    std::ofstream(dir / "trace.json")
        << nlohmann::json{{"format", "mlasim-trace"}, {"version", 1}, {"ranks", ranks}}.dump();
    return std::string(R"(
name: shadows
cluster: {type: mpft, k: 4, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
)") +
           "workload: {type: trace, file: " + (dir / "trace.json").string() + "}\n" +
           nettest::kPacketHardware;
  }();
  return yaml;
}

// The result files a run writes besides summary and stats.
const std::vector<std::string> kFiles{"messages.csv", "links.csv", "link_timeseries.csv"};

struct HookedRun {
  nlohmann::json summary;
  uint64_t paths_restored = 0, recomputations = 0, marks_cleared = 0;
};

// Runs the scenario in this process at flow level with `hook` applied to the fabric before the
// run; result files go to `dir`.
template <class Hook>
HookedRun run_flow_here(const std::vector<std::string>& sets, const fs::path& dir, Hook hook) {
  std::vector<std::string> all{"network.fidelity=flow"};
  all.insert(all.end(), sets.begin(), sets.end());
  nettest::Run r = nettest::run_here(scenario(), all, [&](Simulation& sim) {
    auto* flow = dynamic_cast<FlowFabric*>(sim.fabric());
    if (flow == nullptr) throw std::runtime_error("not a flow fabric");
    hook(*flow);
  });
  fs::create_directories(dir);
  r.sim->write_extra_results(dir);
  const auto& flow = dynamic_cast<const FlowFabric&>(r.fabric());
  return {r.summary, flow.paths_restored, flow.rate_recomputations, flow.marks_cleared};
}

// The same in a child process (SystemC runs once per process); its summary is returned.
template <class Hook>
nlohmann::json run_flow_in_child(const std::vector<std::string>& sets, const fs::path& dir,
                                 Hook hook) {
  scenario();  // the trace written by this process
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      const HookedRun r = run_flow_here(sets, dir, hook);
      std::ofstream(dir / "summary.json") << r.summary.dump();
      code = 0;
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child run failed";
  return nlohmann::json::parse(read_file(dir / "summary.json"), nullptr, false);
}

void expect_conserved(const nlohmann::json& s, const std::string& what) {
  const uint64_t expected = total_bytes();
  EXPECT_EQ(s["net_injected_bytes"].get<uint64_t>(), expected) << what;
  EXPECT_EQ(s["net_delivered_bytes"].get<uint64_t>(), expected) << what;
  EXPECT_EQ(s["net_injected_messages_count"], s["net_delivered_messages_count"]) << what;
}

void expect_same_files(const fs::path& a, const fs::path& b, const std::string& what) {
  for (const std::string& f : kFiles) {
    ASSERT_TRUE(fs::exists(a / f)) << f;
    EXPECT_TRUE(read_file(a / f) == read_file(b / f)) << what << ": " << f << " differs";
  }
}

// Shadows switched off mid-run (as when a route turns back at a two-port node) reorder the
// stored paths of flows on the links; the run goes on exactly as one without shadows, and as
// one that keeps them throughout.
void fallback_matches_shadows_off(const std::vector<std::string>& sets, const std::string& tag) {
  const fs::path dir = nettest::temp_dir("shadows_" + tag);
  const nlohmann::json off =
      run_flow_in_child(sets, dir / "off", [](FlowFabric& f) { f.test_drop_shadows_at(0); });
  ASSERT_TRUE(off.is_object());
  expect_conserved(off, "shadows off");
  // Switched off halfway through the network's busy time.
  const auto end_ps = static_cast<int64_t>(off["network_end_us"].get<double>() * 1e6);
  ASSERT_GT(end_ps, 0);
  const HookedRun mid =
      run_flow_here(sets, dir / "mid", [&](FlowFabric& f) { f.test_drop_shadows_at(end_ps / 2); });
  expect_conserved(mid.summary, "switched off mid-run");
  EXPECT_GT(mid.paths_restored, 0u) << "no flow held a reordered path when shadows went off";
  expect_same_files(dir / "off", dir / "mid", "switched off mid-run against off");
  // Kept throughout: the same again.
  std::vector<std::string> cli_sets{"network.fidelity=flow"};
  cli_sets.insert(cli_sets.end(), sets.begin(), sets.end());
  fs::path on;
  const auto s = nettest::run_cli_yaml(scenario(), cli_sets, "shadows_on_" + tag, &on);
  ASSERT_FALSE(s.empty());
  expect_conserved(s, "shadows on");
  expect_same_files(dir / "off", on, "shadows on against off");
  fs::remove_all(dir);
}

TEST(FlowFabric, ShadowFallbackMidRunMatchesShadowsOffExactMode) {
  fallback_matches_shadows_off({"network.flow.rate_update=0s"}, "exact");
}

TEST(FlowFabric, ShadowFallbackMidRunMatchesShadowsOffQuantumMode) {
  fallback_matches_shadows_off({"network.flow.rate_update=1us", "network.flow.exact_below=0"},
                               "quantum");
}

// The recomputation epoch wraps (marks are cleared, not mistaken for the new epoch's) and the
// update generation carries from the event's first argument into its second: the run is the
// one that starts both at zero.
TEST(FlowFabric, EpochWrapAndGenerationCarryLeaveResultsUnchanged) {
  const fs::path dir = nettest::temp_dir("counters");
  const std::vector<std::string> sets{"network.flow.rate_update=0s"};
  const HookedRun wrapped = run_flow_here(sets, dir / "wrapped", [](FlowFabric& f) {
    f.test_start_counters(std::numeric_limits<uint32_t>::max() - 60, (uint64_t{1} << 32) - 3);
  });
  expect_conserved(wrapped.summary, "wrapped");
  EXPECT_GT(wrapped.recomputations, 40u) << "the epoch must wrap mid-run";
  // Results alone cannot show a missing clear: marks left from before the wrap lie near the
  // top of the range and would only collide 2^32 epochs later. The wrap must clear them once.
  EXPECT_EQ(wrapped.marks_cleared, 1u) << "the epoch wrapped without clearing the marks";
  fs::path plain;
  const auto s =
      nettest::run_cli_yaml(scenario(), {"network.fidelity=flow", sets[0]}, "plain", &plain);
  ASSERT_FALSE(s.empty());
  expect_same_files(plain, dir / "wrapped", "counters started near their wrap");
  fs::remove_all(dir);
}

// 32 single-GPU hosts, 4 per leaf, on 1 kB/s IB links; 16 senders of 1 GiB each into GPU 0
// share its last link at about 62 B/s: 1.7e19 ps each, beyond int64 ps. The run stops with an
// error naming a message when it reaches the flow model's horizon (sim.max_time raised past
// it), rather than overflowing.
TEST(FlowFabric, FlowTooSlowForTheTimeRangeIsASimulationError) {
  const auto dir = nettest::temp_dir("tooslow");
  fs::create_directories(dir);
  std::ofstream(dir / "s.yaml") << std::string(R"(
name: tooslow
cluster: {type: ft2, k: 8, nodes: 32, gpus_per_node: 1, nics_per_node: 1, nvswitch: false,
          ib: {bandwidth: 1kB/s}, ib_fabric: {bandwidth: 1kB/s}}
workload: {type: network_traffic, pattern: incast, dst: 0, senders: 16, count: 1, bytes: 1GiB}
)") + nettest::kPacketHardware;
  const CliResult r = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--out",
                               (dir / "out").string(), "--set", "network.fidelity=flow", "--set",
                               "sim.max_time=4000000s"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("would still be transferring"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// Link bandwidths must be finite and positive: an overflowing figure is refused where it is
// read, with its key.
TEST(FlowFabric, InfiniteLinkBandwidthIsAnInputError) {
  const auto dir = nettest::temp_dir("infbw");
  fs::create_directories(dir);
  std::ofstream(dir / "s.yaml") << scenario();
  const CliResult r = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "-q", "--out",
                               (dir / "out").string(), "--set", "network.fidelity=flow", "--set",
                               "cluster.ib.bandwidth=1e300TB/s"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cluster.ib.bandwidth"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finite"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
