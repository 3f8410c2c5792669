// The pairwise-exchange teaching scenario (the first default) end to end: its time against the
// closed form of the placeholder models, conservation of message bytes, exit codes, watchdog;
// the default scenario's result files and determinism.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "sim/builtin_components.h"
#include "sim/commands.h"
#include "sim/errors.h"
#include "sim/results.h"
#include "sim/simulation.h"
#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

// Placeholder models with closed-form timing (configs/teaching/pairwise-exchange.yaml).
const std::string kPairwise = MLASIM_CONFIG_DIR "/teaching/pairwise-exchange.yaml";

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("mlasim_e2e_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Closed form of the pairwise-exchange scenario, from the numbers in its file:
// every GPU computes max(math, memory) for its GEMM, then its 1 MiB message is stored and
// forwarded whole over 4 links (PCIe, IB, IB, PCIe) and through 2 NICs and 1 switch.
TEST(EndToEnd, PairwiseExchangeMatchesClosedForm) {
  ConfigNode root = load_scenario(kPairwise, {});
  Components comps = make_builtin_components();
  Simulation sim(root, comps, LogLevel::Quiet);
  sim.run(RunControl{});
  auto s = sim.summary();

  const double m = 1024, n = 7168, k = 7168;
  const double math_s = 2 * m * n * k / 989e12;
  const double mem_s = (m * k + k * n + m * n) * 2 / 3.35e12 + 500e-9;
  const double gemm_s = std::max(math_s, mem_s);
  const double bytes = 1 << 20;
  const double pcie = bytes / 64e9 + 100e-9, ib = bytes / 50e9 + 50e-9;
  const double path_s = 2 * pcie + 2 * ib + 2 * 500e-9 + 300e-9;
  const double expected_us = (gemm_s + path_s) * 1e6;
  EXPECT_NEAR(s["sim_time_us"].get<double>(), expected_us, 1e-5) << "expected " << expected_us;
  EXPECT_NEAR(s["gpu_busy_mean_us"].get<double>(), gemm_s * 1e6, 1e-5);
  EXPECT_EQ(s["gpu_count"], 4);
  // Conservation: every GPU's message arrives whole, and each crosses exactly 4 links.
  EXPECT_EQ(s["received_message_bytes"].get<uint64_t>(), 4u << 20);
  EXPECT_EQ(s["link_bytes"].get<uint64_t>(), 4u * 4u * (1u << 20));
  EXPECT_GT(s["sim_events"].get<uint64_t>(), 0u);
  EXPECT_TRUE(s.contains("sim_wall_s"));
  for (int r = 0; r < 4; ++r)
    EXPECT_TRUE(s.contains("gpu" + std::to_string(r) + "_busy_us"));
}

// Three GPUs send 1 MiB each to GPU 0 on the same cluster and placeholder models (message
// level: every message stored and forwarded whole, one at a time per link). The three arrive
// at the switch together and leave it one after another over GPU 0's IB link, the bottleneck
// (PCIe is faster), so the last ends two IB serialisations after a lone message would.
TEST(EndToEnd, ContentionOnASharedLinkSerialises) {
  // (One simulation per process: each runs as its own `mlasim run`.)
  auto run = [](const std::string& senders) {
    const fs::path out = temp_dir("incast" + senders);
    std::vector<std::string> args{"run", kPairwise, "--no-plots", "-q", "--out", out.string()};
    for (std::string set :
         {"workload.gemm=null", "workload.message=null", "workload.type=network_traffic",
          "workload.pattern=incast", "workload.bytes=1MiB", "workload.dst=0"})
      args.insert(args.end(), {"--set", set});
    args.insert(args.end(), {"--set", "workload.senders=" + senders});
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? read_json(out / "summary.json") : nlohmann::json{};
  };
  const double bytes = 1 << 20;
  const double pcie = bytes / 64e9 + 100e-9, ib = bytes / 50e9 + 50e-9;
  const double alone_s = 2 * pcie + 2 * ib + 2 * 500e-9 + 300e-9;
  const auto one = run("1");
  EXPECT_NEAR(one["sim_time_us"].get<double>(), alone_s * 1e6, 1e-5);
  const auto three = run("3");
  EXPECT_NEAR(three["sim_time_us"].get<double>(), (alone_s + 2 * bytes / 50e9) * 1e6, 1e-5);
  EXPECT_EQ(three["received_message_bytes"].get<uint64_t>(), 3u << 20);
  EXPECT_EQ(three["link_bytes"].get<uint64_t>(), 3u * 4u * (1u << 20));
}

TEST(EndToEnd, RunWritesResultFilesAtomically) {
  fs::path out = temp_dir("files");
  CliResult r = run_cli({"run", "--no-plots", "-q", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"summary.json", "stats.json", "stats.csv", "config.resolved.yaml",
                        "run.json", "timeline.json", "layers.csv"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  auto meta = read_json(out / "run.json");
  EXPECT_EQ(meta["seed"], 1);
  EXPECT_NE(meta["command_line"].get<std::string>().find("--no-plots"), std::string::npos);
  auto stats = read_json(out / "stats.json");
  int gpu_groups = 0;
  for (const auto& [name, group] : stats["groups"].items()) {
    if (group["stats"].contains("busy_time") && group["stats"].contains("ops_completed"))
      ++gpu_groups;
  }
  EXPECT_EQ(gpu_groups, 8);  // the default scenario: 2 nodes x 4 GPUs
  auto timeline = read_json(out / "timeline.json");
  EXPECT_GT(timeline["traceEvents"].size(), 8u);
  fs::remove_all(out);
}

// An error in the trace given with --trace names that option, not the --set it becomes.
TEST(EndToEnd, TraceOptionErrorsNameTheOption) {
  const fs::path dir = temp_dir("trace_opt");
  fs::create_directories(dir);
  std::ofstream(dir / "bad.json") << "{";
  const CliResult r =
      run_cli({"run", MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml", "--trace",
               (dir / "bad.json").string(), "--out", (dir / "out").string()});
  fs::remove_all(dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("mlasim: error: --trace " + (dir / "bad.json").string() + ": ", 0), 0u)
      << r.err;
  EXPECT_EQ(r.err.find("--set"), std::string::npos) << r.err;
}

// A workload error names its key once, where it was set (the generator's own prefix once
// doubled the reader's `workload:`; this one then named no key at all).
TEST(EndToEnd, WorkloadErrorNamesTheSectionOnce) {
  const std::string teaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
  const CliResult r = run_cli({"validate", teaching, "--set", "workload.requests_per_gpu=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "mlasim: error: --set workload.requests_per_gpu=1: workload.requests_per_gpu: 1 per "
            "GPU cannot fill two micro-batches (dual_micro_batch: true needs at least 2)\n");
}

// --trace and a --set of the workload's type or file would fight over the same keys (the trace
// used to win without a word, and run.json listed the dropped override as applied).
TEST(EndToEnd, TraceOptionAndWorkloadOverrideAreRefusedTogether) {
  const std::string pairwise = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
  for (const char* set : {"workload.type=network_traffic", "workload.file=x.json"}) {
    const CliResult r = run_cli({"validate", pairwise, "--trace", pairwise, "--set", set});
    EXPECT_EQ(r.exit_code, 2) << set;
    EXPECT_EQ(r.err, fmt::format("mlasim: error: --set {}: --trace {} sets the workload (its type "
                                 "and file); give one or the other\n",
                                 set, pairwise))
        << set;
  }
}

// -q prints errors only: neither the simulator nor the plot script it runs says anything on a
// run that succeeds (without -q the script names its report).
TEST(EndToEnd, QuietRunWithPlotsPrintsNothing) {
  const fs::path out = temp_dir("quiet");
  const std::string pairwise = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
  const CliResult quiet = run_cli({"-q", "run", pairwise, "--out", out.string()});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(quiet.out, "");
  EXPECT_TRUE(fs::exists(out / "report.md"));
  const CliResult told = run_cli({"run", pairwise, "--out", out.string()});
  ASSERT_EQ(told.exit_code, 0) << told.err;
  EXPECT_NE(told.err.find("report.md"), std::string::npos) << told.err;
  fs::remove_all(out);
}

// Every file a run and its plots write is one a later run clears: a file missing from
// run_output_files() would outlive a rerun into the same folder.
TEST(EndToEnd, ClearingKnowsEveryFileARunWrites) {
  fs::path out = temp_dir("known");
  CliResult r = run_cli({"run", "-q", "--out", out.string()});  // plots too
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string>& known = run_output_files();
  EXPECT_EQ(known.front(), "summary.json");
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
  }
  // So is every plot the scripts can draw (most need a network or an inference run).
  for (const char* script : {"plot_run.py", "plot_network.py"}) {
    std::ifstream in(fs::path(MLASIM_SOURCE_DIR) / "scripts" / script);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t pngs = 0;
    for (size_t at = text.find(".png\""); at != std::string::npos;
         at = text.find(".png\"", at + 1)) {
      const size_t open = text.rfind('"', at);
      const std::string name = text.substr(open + 1, at + 4 - open - 1);
      // Not a literal file name (".png" of a suffix test, a formatted name).
      if (name.size() <= 4 || name[0] == '.' || name.find_first_of(" {}/") != std::string::npos)
        continue;
      ++pngs;
      EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << script << ": " << name;
    }
    EXPECT_GT(pngs, 0u) << script;
  }
  fs::remove_all(out);
}

// A rerun into a folder that holds another scenario's results leaves none of them, and a rerun
// that fails leaves no summary.json (a folder with one holds a finished run, and only that).
// Files that are not mlasim's stay.
TEST(EndToEnd, ARerunClearsTheEarlierRunsResultsOnly) {
  fs::path out = temp_dir("rerun");
  CliResult r = run_cli({"run", "-q", "--out", out.string()});  // the default, with plots
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "layers.csv"));
  ASSERT_TRUE(fs::exists(out / "links.csv"));
  ASSERT_TRUE(fs::exists(out / "report.md"));
  std::ofstream(out / "notes.txt") << "mine\n";
  std::ofstream(out / "my_plot.png") << "mine\n";
  r = run_cli({"run", kPairwise, "-q", "--no-plots", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* stale : {"layers.csv", "links.csv", "messages.csv", "throughput.csv",
                            "network_report.json", "report.md", "timeline.png"}) {
    EXPECT_FALSE(fs::exists(out / stale)) << stale;
  }
  EXPECT_EQ(read_json(out / "summary.json")["scenario"], "pairwise-exchange");
  r = run_cli(
      {"run", kPairwise, "-q", "--no-plots", "--out", out.string(), "--set", "sim.max_time=1ns"});
  ASSERT_EQ(r.exit_code, 3) << r.err;
  EXPECT_FALSE(fs::exists(out / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "config.resolved.yaml"));
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  EXPECT_TRUE(fs::exists(out / "my_plot.png"));
  fs::remove_all(out);
}

TEST(EndToEnd, SameSeedGivesIdenticalSummaryApartFromWallClock) {
  fs::path a = temp_dir("det_a"), b = temp_dir("det_b");
  ASSERT_EQ(run_cli({"run", "--no-plots", "-q", "--out", a.string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"run", "--no-plots", "-q", "--out", b.string()}).exit_code, 0);
  auto strip = [](nlohmann::json j) {
    for (auto it = j.begin(); it != j.end();) {
      const std::string& k = it.key();
      // Wall-clock and process-CPU figures (sim_wall_s, net_cpu_s, ..._per_cpu_s) vary.
      const bool clock = k.ends_with("_wall_s") || k.ends_with("_cpu_s");
      it = clock ? j.erase(it) : ++it;
    }
    return j;
  };
  EXPECT_EQ(strip(read_json(a / "summary.json")), strip(read_json(b / "summary.json")));
  EXPECT_EQ(read_json(a / "stats.json"), read_json(b / "stats.json"));
  auto text = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(text(a / "layers.csv"), text(b / "layers.csv"));
  EXPECT_EQ(text(a / "timeline.json"), text(b / "timeline.json"));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(EndToEnd, UnknownOverrideKeyExitsTwoNamingTheKey) {
  CliResult r = run_cli({"run", kPairwise, "--no-plots", "--set", "no.such.key=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no.such.key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown key"), std::string::npos) << r.err;
}

TEST(EndToEnd, BadCommandLineExitsTwo) {
  EXPECT_EQ(run_cli({"run", "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(run_cli({"run", "/no/such/file.yaml"}).exit_code, 2);
  EXPECT_EQ(run_cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_cli({"validate"}).exit_code, 0);
  EXPECT_EQ(run_cli({"validate", kPairwise, "--set", "hardware.memory.bandwidth=slow"}).exit_code,
            2);
}

TEST(EndToEnd, DeadlockIsDiagnosedWithExitThree) {
  CliResult r =
      run_cli({"run", kPairwise, "--no-plots", "--set", "workload.recv_before_send=true"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("deadlock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wait-for cycle"), std::string::npos) << r.err;
}

// 256 TiB over a 1 B/s IB link would take 2.8e14 s, far past the int64 picosecond range: exit 3
// naming the transfer, never a wrapped (negative) time. With the placeholder (message-level)
// models the message first crosses PCIe (4,398 s at 64 GB/s), hence the raised time limit; the
// packet and flow fabrics refuse it when they compute its ideal completion time.
TEST(EndToEnd, TransferBeyondTheTimeRangeIsASimulationFailure) {
  const std::vector<std::string> slow = {"--set", "cluster.ib.bandwidth=1B/s",
                                         "--set", "workload.message=256TiB",
                                         "--set", "sim.max_time=10000s"};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"run",        kPairwise, "-q",
                                     "--no-plots", "--out",   temp_dir("too_slow").string()};
    args.insert(args.end(), slow.begin(), slow.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  CliResult r = run({});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("moving 256TiB at 1B/s takes 2.81e+14 s"), std::string::npos) << r.err;
  for (const char* fidelity : {"packet", "flow"}) {
    r = run({"--set", "hardware.nic.type=rdma", "--set", "hardware.switch.type=infiniband", "--set",
             std::string("network.fidelity=") + fidelity});
    EXPECT_EQ(r.exit_code, 3) << fidelity << ": " << r.err;
    EXPECT_NE(r.err.find("a message of 281474976710656 B over a path whose narrowest link"),
              std::string::npos)
        << fidelity << ": " << r.err;
  }
  fs::remove_all(temp_dir("too_slow"));
}

TEST(EndToEnd, TimeLimitIsASimulationFailure) {
  CliResult r = run_cli({"run", kPairwise, "--no-plots", "--set", "sim.max_time=10us"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("sim.max_time"), std::string::npos) << r.err;
}

// A scenario and the model config.json beside it run from any working folder (the model path
// was taken from the working folder, unlike trace paths).
TEST(EndToEnd, ModelFileBesideTheScenarioIsFoundFromAnyFolder) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_model_beside_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fs::path(MLASIM_CONFIG_DIR) / "models" / "deepseek-v2-lite.json",
                dir / "my-model.json", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "s.yaml") << "include: " << MLASIM_CONFIG_DIR
                                << "/scenarios/teaching-deepseek.yaml\n"
                                << "workload: {model: my-model.json}\n";
  ASSERT_NE(fs::current_path(), dir);
  CliResult r = run_cli({"validate", "-q", (dir / "s.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
