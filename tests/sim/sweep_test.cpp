// Sweeps: expansion (count and order, zip groups, ranges), sharding, resume and redo of a
// corrupted point, sweep.csv columns, and the plot scripts on a tiny result fixture.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "sim/errors.h"
#include "sim/sweep.h"
#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

class SweepFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mlasim_sweep_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  fs::path sweep_file(const std::string& axes) {
    return write("s.yaml", "sweep:\n  name: t\n  base: " MLASIM_SOURCE_DIR
                           "/configs/teaching/pairwise-exchange.yaml\n  axes:\n" +
                               axes);
  }
  fs::path dir_;
};

TEST_F(SweepFiles, CartesianProductFirstAxisSlowest) {
  Sweep s =
      load_sweep(sweep_file("    - {key: a.x, values: [1, 2, 3]}\n"
                            "    - {key: a.y, range: [10, 30, 10]}\n"
                            "    - {key: a.z, log_range: [1, 100, 3], unit: GB/s}\n"));
  ASSERT_EQ(s.points.size(), 27u);
  auto val = [&](size_t p, size_t a) { return s.points[p].overrides[a].second; };
  EXPECT_EQ(val(0, 0), "1");
  EXPECT_EQ(val(0, 1), "10");
  EXPECT_EQ(val(0, 2), "1GB/s");
  EXPECT_EQ(val(1, 2), "10GB/s");
  EXPECT_EQ(val(2, 2), "100GB/s");
  EXPECT_EQ(val(3, 1), "20");
  EXPECT_EQ(val(9, 0), "2");
  EXPECT_EQ(val(26, 0), "3");
  EXPECT_EQ(val(26, 1), "30");
  EXPECT_EQ(s.points[7].dir_name(), "p0007");
}

TEST_F(SweepFiles, ZippedAxesAdvanceTogether) {
  Sweep s =
      load_sweep(sweep_file("    - {key: a.x, values: [1, 2], zip: g}\n"
                            "    - {key: a.w, values: [u, v, w]}\n"
                            "    - {key: a.y, values: [8, 9], zip: g}\n"));
  ASSERT_EQ(s.points.size(), 6u);
  for (const auto& p : s.points) {
    // x and y always pair 1-8 and 2-9.
    EXPECT_EQ(std::stoi(p.overrides[2].second) - std::stoi(p.overrides[0].second), 7);
  }
  EXPECT_EQ(s.points[0].overrides[1].second, "u");
  EXPECT_EQ(s.points[1].overrides[1].second, "v");
  EXPECT_EQ(s.points[3].overrides[0].second, "2");
}

TEST_F(SweepFiles, BadSweepFilesAreRejected) {
  auto err = [&](const std::string& axes) {
    try {
      load_sweep(sweep_file(axes));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err("    - {key: a.x, values: [1, 2], zip: g}\n    - {key: a.y, values: [1], zip: g}\n")
                .find("zip group 'g' has axes of 2 and 1 values"),
            std::string::npos);
  EXPECT_NE(err("    - {key: a.x}\n").find("give exactly one of values, range or log_range"),
            std::string::npos);
  EXPECT_NE(err("    - {key: a.x, range: [1, 2]}\n").find("must be [start, stop, step]"),
            std::string::npos);
  EXPECT_NE(err("    - {key: a.x, values: [1], colour: red}\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(
      err("    - {key: a.x, values: [1]}\n    - {key: a.x, values: [2]}\n").find("swept twice"),
      std::string::npos);
}

TEST(Sweep, ShardsCoverEveryPointExactlyOnce) {
  for (size_t total : {1u, 7u, 20u}) {
    for (size_t shards : {1u, 3u, 8u}) {
      std::multiset<size_t> all;
      for (size_t i = 0; i < shards; ++i) {
        for (size_t p : shard_points(total, i, shards))
          all.insert(p);
      }
      ASSERT_EQ(all.size(), total);
      for (size_t p = 0; p < total; ++p)
        EXPECT_EQ(all.count(p), 1u);
    }
  }
}

TEST_F(SweepFiles, RunResumesAndRedoesCorruptedPoints) {
  fs::path f = sweep_file("    - {key: workload.message, values: [64KiB, 128KiB, 256KiB]}\n");
  fs::path out = dir_ / "out";
  CliResult r = run_cli({"sweep", f.string(), "--jobs", "2", "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("3 run, 0 already complete"), std::string::npos) << r.err;

  // Corrupt one point's summary and delete another's: both are redone, the third skipped.
  std::ofstream(out / "p0001" / "summary.json") << "{ \"sim_time_us\": 1";
  fs::remove(out / "p0002" / "summary.json");
  const auto untouched = fs::last_write_time(out / "p0000" / "summary.json");
  r = run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("2 run, 1 already complete"), std::string::npos) << r.err;
  EXPECT_EQ(fs::last_write_time(out / "p0000" / "summary.json"), untouched);
  std::ifstream fixed(out / "p0001" / "summary.json");
  EXPECT_NO_THROW(nlohmann::json::parse(fixed));

  // sweep.csv: point, the axis, then the summary figures.
  std::ifstream csv(out / "sweep.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("point,workload.message,scenario,seed,sim_time_us", 0), 0u) << header;
  int rows = 0;
  while (std::getline(csv, line))
    ++rows;
  EXPECT_EQ(rows, 3);
}

TEST_F(SweepFiles, ShardedRunsThenMergeGatherEverything) {
  fs::path f = sweep_file("    - {key: workload.message, values: [64KiB, 128KiB, 256KiB]}\n");
  fs::path out = dir_ / "out";
  ASSERT_EQ(run_cli({"sweep", f.string(), "--shard", "0/2", "--out", out.string()}).exit_code, 0);
  EXPECT_TRUE(fs::exists(out / "p0000" / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "p0001"));
  EXPECT_TRUE(fs::exists(out / "p0002" / "summary.json"));
  ASSERT_EQ(run_cli({"sweep", f.string(), "--shard", "1/2", "--out", out.string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"sweep", f.string(), "--merge", "--out", out.string()}).exit_code, 0);
  std::ifstream csv(out / "sweep.csv");
  std::string line;
  int rows = -1;
  while (std::getline(csv, line))
    ++rows;
  EXPECT_EQ(rows, 3);
  EXPECT_EQ(run_cli({"sweep", f.string(), "--shard", "2/2"}).exit_code, 2);
}

bool have_matplotlib() {
  return std::system("'" MLASIM_PYTHON "' -c 'import matplotlib' 2>/dev/null") == 0;
}

TEST_F(SweepFiles, PlotScriptsDrawNonEmptyPngsFromAFixture) {
  if (!have_matplotlib()) GTEST_SKIP() << "matplotlib is not installed for " MLASIM_PYTHON;
  // A run fixture written by hand: only the files the script reads.
  fs::create_directories(dir_ / "run");
  std::ofstream(dir_ / "run" / "summary.json")
      << R"({"scenario": "fixture", "sim_time_us": 10.0, "gpu0_busy_us": 4.0, "gpu1_busy_us": 6.0})";
  std::ofstream(dir_ / "run" / "timeline.json")
      << R"({"traceEvents": [{"name": "gemm", "cat": "gemm", "ph": "X", "pid": 0, "tid": 0, "ts": 0, "dur": 4},
                             {"name": "send", "cat": "send", "ph": "X", "pid": 1, "tid": 1, "ts": 4, "dur": 2}]})";
  const std::string py = "'" MLASIM_PYTHON "' '" MLASIM_SOURCE_DIR "/scripts/";
  ASSERT_EQ(
      std::system((py + "plot_run.py' '" + (dir_ / "run").string() + "' 2>/dev/null").c_str()), 0);
  for (const char* png : {"timeline.png", "gpu_busy.png"}) {
    ASSERT_TRUE(fs::exists(dir_ / "run" / png)) << png;
    EXPECT_GT(fs::file_size(dir_ / "run" / png), 1000u) << png;
  }
  EXPECT_TRUE(fs::exists(dir_ / "run" / "report.md"));

  fs::create_directories(dir_ / "sweep");
  std::ofstream(dir_ / "sweep" / "sweep.csv")
      << "point,hardware.nic.bandwidth,sim_time_us\np0000,200Gb/s,20\np0001,400Gb/s,11\n";
  std::ofstream(dir_ / "sweep" / "plots.json")
      << R"({"name": "fx", "plots": [{"x": "hardware.nic.bandwidth", "y": "sim_time_us", "series": ""}]})";
  ASSERT_EQ(std::system((py + "plot_sweep.py' '" + (dir_ / "sweep").string() + "' '" +
                         (dir_ / "sweep" / "plots.json").string() + "' 2>/dev/null")
                            .c_str()),
            0);
  ASSERT_TRUE(fs::exists(dir_ / "sweep" / "plot_0_sim_time_us.png"));
  EXPECT_GT(fs::file_size(dir_ / "sweep" / "plot_0_sim_time_us.png"), 1000u);
}

}  // namespace
}  // namespace mlasim
