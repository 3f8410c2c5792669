// Determinism and surviving a kill, through the real binary: the same config and seed give
// byte-identical result files (summary.json apart from the wall-clock keys, whose names end in
// `_wall_s` or `_cpu_s`), on the DeepSeek teaching scenario and on a packet-level network
// scenario; another seed changes what is sampled (ECMP paths) but not what is conserved; a
// sweep killed with SIGKILL mid-point leaves no partial result and resumes where it stopped
// (the killed point cannot finish before the kill, whatever the host's speed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("mlasim_det_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_wall_clock_key(const std::string& key) {
  auto ends = [&](const std::string& s) {
    return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
  };
  return ends("_wall_s") || ends("_cpu_s");
}

// summary.json's text without the lines of wall-clock keys (one key per line as written).
std::string summary_without_wall_clock(const fs::path& p, int* removed) {
  std::istringstream in(read_file(p));
  std::string line, out;
  while (std::getline(in, line)) {
    const size_t q = line.find('"'), e = line.find("\":");
    if (q != std::string::npos && e != std::string::npos &&
        is_wall_clock_key(line.substr(q + 1, e - q - 1))) {
      ++*removed;
      continue;
    }
    out += line + "\n";
  }
  return out;
}

// Runs `args` twice into two folders; every result file must match byte for byte (run.json
// records the command line and the time, so it is left out).
void expect_identical_runs(const std::string& tag, std::vector<std::string> args) {
  const fs::path a = fresh_dir(tag + "_a"), b = fresh_dir(tag + "_b");
  for (const fs::path& out : {a, b}) {
    std::vector<std::string> full = args;
    full.insert(full.end(), {"-q", "--no-plots", "--out", out.string()});
    const CliResult r = run_cli(full);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  int files = 0;
  for (const auto& entry : fs::directory_iterator(a)) {
    const std::string name = entry.path().filename().string();
    if (name == "run.json") continue;
    ++files;
    ASSERT_TRUE(fs::exists(b / name)) << name;
    if (name == "summary.json") {
      int removed_a = 0, removed_b = 0;
      EXPECT_EQ(summary_without_wall_clock(a / name, &removed_a),
                summary_without_wall_clock(b / name, &removed_b));
      EXPECT_GE(removed_a, 2) << "sim_wall_s and sim_events_per_wall_s at least";
      EXPECT_EQ(removed_a, removed_b);
    } else {
      EXPECT_TRUE(read_file(a / name) == read_file(b / name)) << name << " differs";
    }
  }
  EXPECT_GE(files, 5);  // summary, stats (json and csv), resolved config, timeline
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Determinism, TeachingDeepSeekGivesByteIdenticalResults) {
  expect_identical_runs("teaching",
                        {"run", MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml"});
}

TEST(Determinism, PacketNetworkScenarioGivesByteIdenticalResults) {
  expect_identical_runs("network",
                        {"run", MLASIM_SOURCE_DIR "/configs/scenarios/net-failed-link.yaml"});
}

TEST(Determinism, AnotherSeedChangesSampledPathsButNotConservedFigures) {
  // The seed salts the ECMP hash that picks each flow's spine: with four spines the paths, and
  // so the congestion, change; what was sent and delivered cannot.
  nlohmann::json s[2];
  for (int i = 0; i < 2; ++i) {
    const fs::path out = fresh_dir("seed" + std::to_string(i));
    const CliResult r = run_cli({"run", "-q", "--no-plots",
                                 MLASIM_SOURCE_DIR "/configs/scenarios/net-failed-link.yaml",
                                 "--set", i == 0 ? "seed=1" : "seed=7", "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    s[i] = nlohmann::json::parse(read_file(out / "summary.json"));
    fs::remove_all(out);
  }
  for (const char* key :
       {"gpu_count", "net_injected_bytes", "net_delivered_bytes", "net_injected_messages_count",
        "net_delivered_messages_count", "net_injected_packets_count", "received_message_bytes"}) {
    EXPECT_EQ(s[0][key], s[1][key]) << key;
  }
  EXPECT_EQ(s[0]["net_injected_bytes"], s[0]["net_delivered_bytes"]);
  int changed = 0;
  for (const char* key : {"sim_time_us", "max_link_utilization", "credit_stall_us", "fct_p50_us"})
    changed += s[0][key] != s[1][key] ? 1 : 0;
  EXPECT_GE(changed, 2) << s[0].dump() << "\n" << s[1].dump();
}

// The sweep replays five traces of the net-failed-link all-to-all, point p with (p + 1) x 16 KiB
// per pair. For the killed sweep point 1's trace sends 1 TiB per pair (days of wall time), so the
// kill lands while point 1 runs, whatever the host's speed; before the resume the trace under the
// same name becomes a short one (a point is known by its overrides and base scenario, not by the
// bytes of the files they name, and point 1 has no summary to keep anyway).
TEST(Determinism, SweepKilledMidPointLeavesNoPartialResultAndResumes) {
  const fs::path dir = fresh_dir("kill");
  fs::create_directories(dir);
  const std::string network = MLASIM_SOURCE_DIR "/configs/scenarios/net-failed-link.yaml";
  auto write_trace = [&](int point, const std::string& bytes) {
    const fs::path trace = dir / fmt::format("t{}.json", point);
    const CliResult r =
        run_cli({"-q", "trace", network, "--set", "workload.bytes=" + bytes, "-o", trace.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  auto bytes_of = [](int point) { return std::to_string(16 * (point + 1)) + "KiB"; };
  for (int p = 0; p < 5; ++p)
    write_trace(p, p == 1 ? "1TiB" : bytes_of(p));
  std::ofstream(dir / "base.yaml")
      << "name: killed\nseed: 1\n"
         "cluster: {type: ft2, k: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8, nvswitch: "
         "true}\n"
         "network: {fidelity: packet}\n"
         "hardware: {gpu: {type: roofline}, memory: {type: fixed_bandwidth}, nic: {type: rdma}, "
         "switch: {type: infiniband}, nvswitch: {type: nvswitch}}\n"
         "workload: {type: trace, file: t0.json}\n";
  const fs::path file = dir / "s.yaml";
  std::ofstream(file) << "sweep:\n  name: kill\n  base: base.yaml\n  set: [sim.max_time=3600s]\n"
                         "  axes:\n    - {key: workload.file, values: [t0.json, t1.json, t2.json, "
                         "t3.json, t4.json]}\n";
  const fs::path out = dir / "out";
  // Once point 1's process has started (the sweep opens its stderr.txt as it starts it), the
  // sweep alone is killed outright: the point's run must end with it, not run on as an orphan
  // (its process group, the sweep's, is killed afterwards whatever happened).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDERR_FILENO);
    ::execl(MLASIM_BINARY, MLASIM_BINARY, "sweep", file.c_str(), "--out", out.c_str(), "--no-plots",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  // (Waited for at most 120 s, and only while the sweep runs: it is reaped after the kill.)
  auto sweep_runs = [&] {
    siginfo_t info{};
    return ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool started = false;
  while (!(started = fs::exists(out / "p0001" / "stderr.txt")) &&
         std::chrono::steady_clock::now() < deadline && sweep_runs())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // A process whose command line names point 1's folder: its run, if still alive.
  std::string point_dir = (out / "p0001").string();
  point_dir.push_back(' ');  // an argument of its own
  auto point_runs = [&] {
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
      std::string cmdline = read_file(it->path() / "cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find(point_dir) != std::string::npos) return true;
    }
    return false;
  };
  const auto orphan_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (point_runs() && std::chrono::steady_clock::now() < orphan_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const bool orphan = point_runs();
  ::kill(-pid, SIGKILL);
  EXPECT_FALSE(orphan) << "point 1's run outlived its sweep";
  ASSERT_TRUE(started) << "point 1 did not start within 120 s (or the sweep ended first)";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the sweep ended before it was killed";
  ASSERT_TRUE(fs::exists(out / "p0000" / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "p0001" / "summary.json")) << "killed mid-run";
  EXPECT_FALSE(fs::exists(out / "sweep.csv"));
  const std::string first = read_file(out / "p0000" / "summary.json");
  EXPECT_TRUE(nlohmann::json::accept(first));

  write_trace(1, bytes_of(1));
  const CliResult r = run_cli({"sweep", file.string(), "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 run, 1 already complete, 0 failed"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(out / "p0000" / "summary.json"), first);  // not redone
  // Each point received its own trace's bytes: 32 x 31 pairs of (p + 1) x 16 KiB.
  for (int p = 0; p < 5; ++p) {
    const fs::path summary = out / ("p000" + std::to_string(p)) / "summary.json";
    EXPECT_EQ(nlohmann::json::parse(read_file(summary))["received_message_bytes"],
              uint64_t{32 * 31} * 16384 * (p + 1))
        << summary;
  }
  std::ifstream csv(out / "sweep.csv");
  std::string line;
  int rows = -1;
  while (std::getline(csv, line))
    ++rows;
  EXPECT_EQ(rows, 5);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
