// Determinism and surviving a kill, through the real binary: the same config and seed give
// byte-identical result files (summary.json apart from the wall-clock keys, whose names end in
// `_wall_s` or `_cpu_s`), on the DeepSeek teaching scenario and on a packet-level network
// scenario; another seed changes what is sampled (ECMP paths) but not what is conserved; a
// sweep killed with SIGKILL mid-point leaves no partial result and resumes where it stopped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(Determinism, SweepKilledMidPointLeavesNoPartialResultAndResumes) {
  const fs::path dir = fresh_dir("kill");
  fs::create_directories(dir);
  const fs::path file = dir / "s.yaml";
  std::ofstream(file) << "sweep:\n  name: kill\n  base: " MLASIM_SOURCE_DIR
                         "/configs/scenarios/net-failed-link.yaml\n"
                         "  axes:\n    - {key: seed, range: [1, 5, 1]}\n";
  const fs::path out = dir / "out";
  // The sweep and the point it runs share a process group, killed at once as a batch
  // scheduler would: once point 1 has started, before it can finish.
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
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(out / "p0001" / "point.json") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the sweep finished before it could be killed";
  ASSERT_TRUE(fs::exists(out / "p0000" / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "p0001" / "summary.json")) << "killed mid-run";
  EXPECT_FALSE(fs::exists(out / "sweep.csv"));
  const std::string first = read_file(out / "p0000" / "summary.json");
  EXPECT_TRUE(nlohmann::json::accept(first));

  const CliResult r = run_cli({"sweep", file.string(), "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 run, 1 already complete, 0 failed"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(out / "p0000" / "summary.json"), first);  // not redone
  for (int p = 0; p < 5; ++p) {
    const fs::path summary = out / ("p000" + std::to_string(p)) / "summary.json";
    EXPECT_EQ(nlohmann::json::parse(read_file(summary))["seed"], p + 1);
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
