// Interrupting `mlasim run` and `mlasim sweep` (SIGINT, SIGTERM): the process ends with 128 +
// the signal and one line saying what is unfinished, leaves no temporary file and no summary
// that would pass for a finished run; a sweep records none of its interrupted points as failed.
// A later run removes the temporary files a killed one (SIGKILL) left. Results files are never
// written over links or special files. Each signal is sent once the process has its watcher
// (its blocked-signal mask, read from /proc, includes SIGINT), so that the test does not race
// the start of the process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/errors.h"
#include "sim/results.h"
#include "tests/sim/cli_runner.h"
#include "tests/sim/temp_dir_fixture.h"

extern char** environ;

namespace mlasim {
namespace {

namespace fs = std::filesystem;

const std::string kLong = MLASIM_SOURCE_DIR "/configs/scenarios/deepseek-v3-decode-ep144.yaml";
const std::string kQuick = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";

class Interrupted : public TempDirTest {
 protected:
  Interrupted() : TempDirTest("intr") {}

  // Starts the binary with stderr into a file.
  pid_t start(const std::vector<std::string>& args) {
    std::vector<std::string> all{MLASIM_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "err.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }
  // True once `pid` blocks SIGINT (its watcher is running), false if it ended first.
  static bool watching(pid_t pid) {
    for (int i = 0; i < 6000; ++i) {
      std::ifstream status("/proc/" + std::to_string(pid) + "/status");
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("SigBlk:", 0) != 0) continue;
        const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
        if ((mask >> (SIGINT - 1)) & 1) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  static int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  }
  std::string err() const {
    std::ifstream in(dir_ / "err.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::vector<std::string> temporaries(const fs::path& d) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(d)) {
      const std::string f = e.path().filename().string();
      if (f.find(".tmp.") != std::string::npos) out.push_back(e.path().string());
    }
    return out;
  }
};

TEST_F(Interrupted, ARunEndsWith130AndNoSummary) {
  const fs::path out = dir_ / "run";
  const pid_t pid = start(
      {"-q", "run", kLong, "--set", "workload.layers=4", "--no-plots", "--out", out.string()});
  ASSERT_TRUE(watching(pid));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // into the run (it takes several)
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << err();
  const std::string e = err();
  EXPECT_NE(e.find("mlasim: interrupted by SIGINT"), std::string::npos) << e;
  EXPECT_NE(e.find("the run did not finish"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "summary.json"));
  if (fs::exists(out)) {
    EXPECT_TRUE(temporaries(out).empty());
  }
}

TEST_F(Interrupted, ASweepStopsWithoutFailingItsPoints) {
  std::ofstream(dir_ / "s.yaml") << "sweep:\n  name: t\n  base: " << kLong
                                 << "\n  set: [workload.layers=4]\n  axes:\n"
                                    "    - {key: seed, values: [1, 2]}\n";
  const fs::path out = dir_ / "sweep";
  const pid_t pid =
      start({"sweep", (dir_ / "s.yaml").string(), "--no-plots", "--out", out.string()});
  ASSERT_TRUE(watching(pid));
  // Once the first point runs, only the sweep is signalled (as `kill PID` would).
  for (int i = 0; i < 6000 && !fs::exists(out / "p0000" / "point.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 143) << err();
  const std::string e = err();
  EXPECT_NE(e.find("interrupted by SIGTERM"), std::string::npos) << e;
  EXPECT_NE(e.find("run the same command again to resume"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "p0000" / "failure.json"));
  EXPECT_FALSE(fs::exists(out / "p0000" / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "p0001"));
  EXPECT_TRUE(temporaries(out).empty());
}

TEST_F(Interrupted, ALaterRunRemovesAKilledRunsTemporaryFiles) {
  const fs::path out = dir_ / "run";
  fs::create_directories(out);
  std::ofstream(out / ".links.csv.tmp.12345") << "half";
  std::ofstream(out / ".notes.txt.tmp.12345") << "the user's";
  std::ofstream(out / "keep.txt") << "the user's";
  const CliResult r = run_cli({"-q", "run", kQuick, "--no-plots", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out / ".links.csv.tmp.12345"));
  EXPECT_TRUE(fs::exists(out / ".notes.txt.tmp.12345"));  // not a name a run writes
  EXPECT_TRUE(fs::exists(out / "keep.txt"));
  EXPECT_TRUE(fs::exists(out / "summary.json"));
}

TEST_F(Interrupted, ResultsGoThroughLinksAndNeverOverSpecialFiles) {
  std::ofstream(dir_ / "target.json") << "old";
  fs::create_symlink(dir_ / "target.json", dir_ / "link.json");
  write_file_atomic(dir_ / "link.json", "new");
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.json"));
  std::ifstream in(dir_ / "target.json");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "new");
  ASSERT_EQ(::mkfifo((dir_ / "pipe").c_str(), 0644), 0);
  EXPECT_THROW(write_file_atomic(dir_ / "pipe", "x"), InputError);
  EXPECT_EQ(fs::status(dir_ / "pipe").type(), fs::file_type::fifo);
}

}  // namespace
}  // namespace mlasim
