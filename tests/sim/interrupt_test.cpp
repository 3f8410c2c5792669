// Interrupting `mlasim run` and `mlasim sweep` (SIGINT, SIGTERM): the process ends with 128 +
// the signal and one line saying what is unfinished, leaves no temporary file and no summary
// that would pass for a finished run; a sweep records none of its interrupted points as failed.
// A later run removes the temporary files a killed one (SIGKILL) left. Results files are never
// written over links or special files.
//
// The interrupted runs cannot finish on their own, whatever the host's speed: every GPU sends
// 1 TiB to every other at packet level (days of wall time; sim.max_time raised so that the
// simulated-time limit does not end them first). Each signal is sent on an event that the
// process makes once it is where the test wants it (a line it writes, a file it creates), and
// every wait is bounded: a process that outlives it is killed and the test fails.
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
#include <functional>
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

// A scenario cheap to build and, with kEndless, endless to run.
const std::string kNetwork = MLASIM_SOURCE_DIR "/configs/scenarios/net-failed-link.yaml";
const std::vector<std::string> kEndless{"workload.bytes=1TiB", "sim.max_time=3600s"};
const std::string kQuick = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
// How long a test waits for an event before it gives up (far beyond any host's need).
constexpr auto kPatience = std::chrono::seconds(60);

class Interrupted : public TempDirTest {
 protected:
  Interrupted() : TempDirTest("intr") {}

  // Starts the binary in a process group of its own (so that a sweep's points can be killed
  // with it), stdin from /dev/null, stdout to /dev/null, stderr into err.txt.
  pid_t start(const std::vector<std::string>& args) {
    std::vector<std::string> all{MLASIM_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "err.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return pid;
  }
  // Polls `ready` until it holds; false if it did not within kPatience.
  static bool wait_until(const std::function<bool()>& ready) {
    const auto until = std::chrono::steady_clock::now() + kPatience;
    while (!ready()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  // The exit status of `pid` (1000 + the signal that ended it). One still running after
  // kPatience is killed with its process group (its children too) and -1 is returned.
  static int wait_exit(pid_t pid) {
    int status = 0;
    if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; })) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  }
  // Kills a process that did not make the awaited event, with its group, and reaps it.
  static void give_up(pid_t pid) {
    ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
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
  std::vector<std::string> args{"-v", "run", kNetwork, "--no-plots", "--out", out.string()};
  for (const std::string& set : kEndless)
    args.insert(args.end(), {"--set", set});
  const pid_t pid = start(args);
  ASSERT_GT(pid, 0);
  // The verbose line written just before the simulation starts (after the note naming the
  // results folder is set): the signal lands in the simulation.
  const std::string running = "elaborated 32 GPUs; running";
  if (!wait_until([&] { return err().find(running) != std::string::npos; })) {
    give_up(pid);
    FAIL() << "no '" << running << "' line within " << kPatience.count() << " s: " << err();
  }
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << err();
  const std::string e = err();
  EXPECT_NE(e.find("mlasim: interrupted by SIGINT; " + out.string() +
                   " holds no summary.json: the run did not finish"),
            std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(out / "summary.json"));
  if (fs::exists(out)) {
    EXPECT_TRUE(temporaries(out).empty());
  }
}

TEST_F(Interrupted, ASweepStopsWithoutFailingItsPoints) {
  std::ofstream(dir_ / "s.yaml") << "sweep:\n  name: t\n  base: " << kNetwork << "\n  set: ["
                                 << kEndless[0] << ", " << kEndless[1]
                                 << "]\n  axes:\n    - {key: seed, values: [1, 2]}\n";
  const fs::path out = dir_ / "sweep";
  const pid_t pid =
      start({"sweep", (dir_ / "s.yaml").string(), "--no-plots", "--out", out.string()});
  ASSERT_GT(pid, 0);
  // Once the first point's process exists (the sweep opens its stderr.txt as it starts it),
  // only the sweep is signalled (as `kill PID` would); the point cannot have finished.
  if (!wait_until([&] { return fs::exists(out / "p0000" / "stderr.txt"); })) {
    give_up(pid);
    FAIL() << "point 0 did not start within " << kPatience.count() << " s: " << err();
  }
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
