// Sweeps: expansion (count and order, zip groups, ranges), sharding, resume and redo of a
// corrupted or changed point, sweep.csv columns, and the shipped sweep files. The plot scripts
// are tested on result fixtures by tests/scripts/test_plots.py.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>

#include "sim/config.h"
#include "sim/errors.h"
#include "sim/sweep.h"
#include "tests/sim/cli_runner.h"
#include "tests/sim/temp_dir_fixture.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

class SweepFiles : public TempDirTest {
 protected:
  SweepFiles() : TempDirTest("sweep") {}
  // The error loading a sweep with these axes gives, or "no error".
  std::string load_error(const std::string& axes) {
    try {
      load_sweep(sweep_file(axes));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }
  fs::path sweep_file(const std::string& axes) {
    return write("s.yaml", "sweep:\n  name: t\n  base: " MLASIM_SOURCE_DIR
                           "/configs/teaching/pairwise-exchange.yaml\n  axes:\n" +
                               axes);
  }
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

// Values keep the digits they were asked with (a range's float noise aside), and an axis whose
// values repeat is refused: those would be one point run twice under two names.
TEST_F(SweepFiles, ValuesKeepTheirDigitsAndNeverRepeat) {
  Sweep s =
      load_sweep(sweep_file("    - {key: a.x, range: [0.8500001, 0.8500003, 0.0000001]}\n"
                            "    - {key: a.y, values: [1]}\n"
                            "    - {key: a.z, range: [0.05, 0.35, 0.1]}\n"));
  ASSERT_EQ(s.points.size(), 12u);
  EXPECT_EQ(s.points[0].overrides[0].second, "0.8500001");
  EXPECT_EQ(s.points[4].overrides[0].second, "0.8500002");
  EXPECT_EQ(s.points[8].overrides[0].second, "0.8500003");
  EXPECT_EQ(s.points[3].overrides[2].second, "0.35");  // 0.05 + 3 x 0.1, without the noise
  Sweep big = load_sweep(sweep_file("    - {key: a.x, range: [1234567.5, 1234568.5, 1]}\n"));
  EXPECT_EQ(big.points[0].overrides[0].second, "1234567.5");
  auto err = [&](const std::string& axes) { return load_error(axes); };
  // Float noise is dropped where fewer digits give the value back exactly.
  Sweep tiny = load_sweep(sweep_file("    - {key: a.x, log_range: [1e-6, 1e-3, 4]}\n"));
  EXPECT_EQ(tiny.points[2].overrides[0].second, "0.0001");
  for (const std::string axis :
       {"{key: a.x, values: [1, 2, 1]}", "{key: a.x, values: [1, 1.0, 1e0]}",
        "{key: a.x, range: [1, 1.0000000000000002, 1e-16]}",
        "{key: a.x, log_range: [1, 1.0000000000000002, 3]}"}) {
    const std::string e = err("    - " + axis + "\n");
    EXPECT_NE(e.find("comes twice (each value makes one point)"), std::string::npos) << e;
    EXPECT_NE(e.find("s.yaml:"), std::string::npos) << e;
  }
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
  auto err = [&](const std::string& axes) { return load_error(axes); };
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
  // An axis inside another's key, either way round (a point would run with other values than
  // its label); keys that merely share a prefix are fine.
  EXPECT_NE(err("    - {key: a.x.y, values: [1]}\n    - {key: a.x, values: [\"~\"]}\n")
                .find("overlaps axis 0 ('a.x.y')"),
            std::string::npos);
  EXPECT_NE(err("    - {key: a.x, values: [1]}\n    - {key: a.x.y, values: [2]}\n")
                .find("overlaps axis 0"),
            std::string::npos);
  EXPECT_EQ(err("    - {key: a.x, values: [1]}\n    - {key: a.xy, values: [2]}\n"), "no error");
}

// A plot's series must be an axis, and so must an x or y written as a dotted config key: the
// file is refused when read (it used to run every point, then draw nothing).
TEST_F(SweepFiles, PlotKeysThatCanOnlyBeAxesAreChecked) {
  const std::string axes =
      "    - {key: workload.message, values: [64KiB]}\n    - {key: seed, values: [1, 2]}\n"
      "  plots:\n";
  auto err = [&](const std::string& plot) {
    try {
      load_sweep(sweep_file(axes + "    - " + plot + "\n"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string file = (dir_ / "s.yaml").string();
  // The plot is on line 8 of the file (sweep, name, base, axes, two axes, plots).
  EXPECT_EQ(err("{x: workload.mesage, y: sim_time_us}"),
            file +
                ":8: sweep.plots[0].x: 'workload.mesage' is not an axis of this sweep (did "
                "you mean 'workload.message'?) (axes: workload.message, seed); a dotted key "
                "names a config value, which only an axis puts in sweep.csv (summary keys "
                "have no dots)");
  EXPECT_NE(err("{x: seed, y: workload.gemm.m}")
                .find(":8: sweep.plots[0].y: 'workload.gemm.m' is not an axis of this sweep"),
            std::string::npos);
  EXPECT_NE(err("{x: seed, y: sim_time_us, series: workload.mesage}")
                .find(":8: sweep.plots[0].series: 'workload.mesage' is not an axis of this "
                      "sweep (did you mean 'workload.message'?)"),
            std::string::npos);
  // A summary key as series is no axis either (one curve per value of a swept key).
  EXPECT_NE(err("{x: seed, y: sim_time_us, series: gpu_count}").find("sweep.plots[0].series"),
            std::string::npos);
  // Axis keys anywhere, and summary keys as x or y (checked once the points have run).
  EXPECT_EQ(err("{x: workload.message, y: sim_time_us, series: seed}"), "no error");
  EXPECT_EQ(err("{x: link_bytes, y: workload.message}"), "no error");
  EXPECT_EQ(err("{x: seed, y: no_such_figure}"), "no error");
}

// A summary key that no point reported (misspelt) is warned about after the runs, naming the
// sweep file, the line and the key path, with the nearest key the points did report.
TEST_F(SweepFiles, APlotKeyNoPointReportedIsWarnedAbout) {
  const fs::path f = sweep_file(
      "    - {key: workload.message, values: [64KiB]}\n  plots:\n"
      "    - {x: workload.message, y: sim_time_us}\n"
      "    - {x: workload.message, y: sim_time_uss}\n");
  CliResult r = run_cli({"sweep", f.string(), "--out", (dir_ / "out").string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + f.string() +
                       ":8: sweep.plots[1].y: no point reported 'sim_time_uss' (did you mean "
                       "'sim_time_us'?), so its plot is empty"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("sweep.plots[0]"), std::string::npos) << r.err;
  // The same from the merge, and straight from the function.
  r = run_cli({"sweep", f.string(), "--merge", "--out", (dir_ / "out").string(), "--no-plots"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sweep.plots[1].y: no point reported 'sim_time_uss'"), std::string::npos)
      << r.err;
  const Sweep s = load_sweep(f);
  EXPECT_EQ(unreported_plot_keys(s, {"sim_time_us", "sim_time_uss"}).size(), 0u);
  const std::vector<std::string> w = unreported_plot_keys(s, {"sim_time_us"});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind(f.string() + ":8: sweep.plots[1].y: ", 0), 0u) << w[0];
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
  const CliResult first = run_cli({"sweep", f.string(), "--shard", "0/2", "--out", out.string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // The hint names the same results folder, or the merge would look in the default one.
  EXPECT_NE(first.err.find("merge all shards with: mlasim sweep " + f.string() + " --merge -o " +
                           out.string() + "\n"),
            std::string::npos)
      << first.err;
  EXPECT_TRUE(fs::exists(out / "p0000" / "summary.json"));
  EXPECT_FALSE(fs::exists(out / "p0001"));
  EXPECT_TRUE(fs::exists(out / "p0002" / "summary.json"));
  // Merged before the second shard ran: the point it lacks is named, not only counted.
  // An incomplete merge exits 3, saying so even under -q (a job chain must not go on).
  const CliResult early = run_cli({"sweep", f.string(), "--merge", "--out", out.string()});
  ASSERT_EQ(early.exit_code, 3) << early.err;
  const CliResult quiet = run_cli({"-q", "sweep", f.string(), "--merge", "--out", out.string()});
  EXPECT_EQ(quiet.exit_code, 3) << quiet.err;
  EXPECT_NE(quiet.err.find("incomplete"), std::string::npos) << quiet.err;
  EXPECT_NE(early.err.find("sweep.csv: 2 of 3 points"), std::string::npos) << early.err;
  EXPECT_NE(early.err.find("with no result yet (not run, or stopped): p0001\n"), std::string::npos)
      << early.err;
  ASSERT_EQ(run_cli({"sweep", f.string(), "--shard", "1/2", "--out", out.string()}).exit_code, 0);
  const CliResult merged = run_cli({"sweep", f.string(), "--merge", "--out", out.string()});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(merged.err.find("no result yet"), std::string::npos) << merged.err;
  std::ifstream csv(out / "sweep.csv");
  std::string line;
  int rows = -1;
  while (std::getline(csv, line))
    ++rows;
  EXPECT_EQ(rows, 3);
  // A summary made unreadable leaves its point out: that merge is incomplete too (exit 3, said
  // under -q).
  std::ofstream(out / "p0001" / "summary.json") << "{";
  const CliResult stale = run_cli({"-q", "sweep", f.string(), "--merge", "--out", out.string()});
  EXPECT_EQ(stale.exit_code, 3) << stale.err;
  EXPECT_NE(stale.err.find("incomplete: left out of sweep.csv, their summary being unreadable"),
            std::string::npos)
      << stale.err;
  EXPECT_EQ(run_cli({"sweep", f.string(), "--shard", "2/2"}).exit_code, 2);
}

// An earlier sweep's report and plots in the folder go when another sweep starts there: with
// --no-plots none would replace them beside the new sweep.csv.
TEST_F(SweepFiles, AnEarlierSweepsReportAndPlotsAreCleared) {
  fs::path f = sweep_file("    - {key: workload.message, values: [64KiB]}\n");
  fs::path out = dir_ / "out";
  fs::create_directories(out);
  for (const char* old : {"report.md", "plots.json", "plot_0_sim_time_us.png", "sweep.csv"})
    std::ofstream(out / old) << "old";
  std::ofstream(out / "notes.txt") << "mine";
  const CliResult r = run_cli({"sweep", f.string(), "--no-plots", "-q", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* old : {"report.md", "plots.json", "plot_0_sim_time_us.png"})
    EXPECT_FALSE(fs::exists(out / old)) << old;
  std::ifstream csv(out / "sweep.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("point,workload.message,", 0), 0u) << header;
  EXPECT_TRUE(fs::exists(out / "notes.txt"));  // not the sweep's
}

TEST_F(SweepFiles, MergeWritesTheUnionOfSummaryColumnsInFirstSeenOrder) {
  Sweep s = load_sweep(
      sweep_file("    - {key: cluster.ib.bandwidth, values: [200Gb/s, 400Gb/s, 800Gb/s]}\n"
                 "    - {key: workload.note, values: [\"a,b\"]}\n"));
  ASSERT_EQ(s.points.size(), 3u);
  fs::path out = dir_ / "merge";
  // p0000 and p0002 finished (with different figures), p0001 has no summary: left out.
  fs::create_directories(out / "p0000");
  fs::create_directories(out / "p0001");
  fs::create_directories(out / "p0002");
  std::ofstream(out / "p0000" / "summary.json") << R"({"scenario": "x", "sim_time_us": 2.5})";
  std::ofstream(out / "p0002" / "summary.json")
      << R"({"scenario": "x", "tpot_ms": 0.5, "sim_time_us": 1})";
  for (const size_t i : {0, 1, 2})
    std::ofstream(out / s.points[i].dir_name() / "point.json") << point_json(s.points[i]).dump();
  std::vector<std::string> left_out;
  EXPECT_EQ(merge_sweep(s, out, &left_out), 2u);
  EXPECT_TRUE(left_out.empty());
  std::ifstream csv(out / "sweep.csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "point,cluster.ib.bandwidth,workload.note,scenario,sim_time_us,tpot_ms");
  EXPECT_EQ(lines[1], "p0000,200Gb/s,\"a,b\",x,2.5,");
  EXPECT_EQ(lines[2], "p0002,800Gb/s,\"a,b\",x,1,0.5");
}

TEST_F(SweepFiles, TheReportListsFailedPoints) {
  // The second point cannot finish within its time limit (exit 3): it has no row in the table,
  // so the report says which point failed, how and why.
  fs::path f = sweep_file("    - {key: sim.max_time, values: [1s, 1ns]}\n");
  fs::path out = dir_ / "out";
  const CliResult r = run_cli({"sweep", f.string(), "--out", out.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  std::ifstream in(out / "report.md");
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("1 of 2 points (1 failed"), std::string::npos) << report;
  EXPECT_NE(report.find("## Failed points"), std::string::npos) << report;
  EXPECT_NE(report.find("| p0001 | sim.max_time=1ns | 3 | simulation failed: simulated-time limit"),
            std::string::npos)
      << report;
  EXPECT_EQ(report.find("| p0000 | sim.max_time=1s | 0"), std::string::npos) << report;
  const nlohmann::json failed = failed_points(load_sweep(f), out);
  ASSERT_EQ(failed.size(), 1u) << failed.dump();
  EXPECT_EQ(failed[0]["point"], "p0001");
  EXPECT_EQ(failed[0]["exit_code"], 3);
  // Merging says so too, with a failing exit (a job chain waiting on the merge must see it).
  const CliResult merge =
      run_cli({"sweep", f.string(), "--merge", "-q", "--no-plots", "--out", out.string()});
  EXPECT_EQ(merge.exit_code, 3) << merge.err;
  EXPECT_NE(merge.err.find("1 of 2 points failed (p0001;"), std::string::npos) << merge.err;
  // Another sweep reusing the folder does not inherit p0001's failure: its point.json differs.
  fs::path other = sweep_file("    - {key: sim.max_time, values: [2s, 3s]}\n");
  EXPECT_TRUE(failed_points(load_sweep(other), out).empty());
}

TEST_F(SweepFiles, APointRunWithOtherValuesIsRedone) {
  // Editing a sweep file changes what p0000 means; its old results must not be reused.
  fs::path f = sweep_file("    - {key: workload.message, values: [64KiB]}\n");
  fs::path out = dir_ / "out";
  ASSERT_EQ(run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"}).exit_code, 0);
  Sweep before = load_sweep(f);
  EXPECT_TRUE(point_is_complete(out / "p0000", before.points[0]));
  f = sweep_file("    - {key: workload.message, values: [128KiB]}\n");
  Sweep after = load_sweep(f);
  EXPECT_FALSE(point_is_complete(out / "p0000", after.points[0]));
  CliResult r = run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 run, 0 already complete"), std::string::npos) << r.err;
  EXPECT_TRUE(point_is_complete(out / "p0000", after.points[0]));
  std::ifstream point(out / "p0000" / "point.json");
  EXPECT_EQ(nlohmann::json::parse(point)["overrides"]["workload.message"], "128KiB");
}

TEST_F(SweepFiles, EditingTheSetListOrTheBaseRedoesFinishedPoints) {
  // The axis values stay; what every point shares changes. Old results must not be reused,
  // and a merge must not mix them in.
  const std::string axes = "  axes:\n    - {key: workload.message, values: [64KiB]}\n";
  const fs::path base = write(
      "base.yaml", "include: " MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml\n");
  fs::path f = write("s.yaml", "sweep:\n  name: t\n  base: base.yaml\n  set: [seed=1]\n" + axes);
  fs::path out = dir_ / "out";
  ASSERT_EQ(run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"}).exit_code, 0);
  const Sweep first = load_sweep(f);
  EXPECT_TRUE(point_is_complete(out / "p0000", first.points[0]));

  f = write("s.yaml", "sweep:\n  name: t\n  base: base.yaml\n  set: [seed=2]\n" + axes);
  const Sweep reseeded = load_sweep(f);
  EXPECT_NE(reseeded.points[0].base_digest, first.points[0].base_digest);
  EXPECT_FALSE(point_is_complete(out / "p0000", reseeded.points[0]));
  std::vector<std::string> left_out;
  EXPECT_EQ(merge_sweep(reseeded, out, &left_out), 0u);
  EXPECT_EQ(left_out, std::vector<std::string>{"p0000"});
  const CliResult r = run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 run, 0 already complete"), std::string::npos) << r.err;

  // The base scenario edited (through its include, the same file name): redone again.
  write("base.yaml", "include: " MLASIM_SOURCE_DIR
                     "/configs/teaching/pairwise-exchange.yaml\ndescription: edited\n");
  const Sweep edited = load_sweep(f);
  EXPECT_NE(edited.points[0].base_digest, reseeded.points[0].base_digest);
  EXPECT_FALSE(point_is_complete(out / "p0000", edited.points[0]));
}

TEST_F(SweepFiles, AnEmptySummaryIsNotAFinishedPoint) {
  Sweep s = load_sweep(sweep_file("    - {key: workload.message, values: [64KiB]}\n"));
  const fs::path dir = dir_ / "out" / "p0000";
  fs::create_directories(dir);
  std::ofstream(dir / "point.json") << point_json(s.points[0]).dump();
  std::ofstream(dir / "summary.json") << "{}";
  EXPECT_FALSE(point_is_complete(dir, s.points[0]));
  std::ofstream(dir / "summary.json") << R"({"sim_time_us": 1})";
  EXPECT_TRUE(point_is_complete(dir, s.points[0]));
}

TEST_F(SweepFiles, MergeAndShardArgumentsAreChecked) {
  fs::path f = sweep_file("    - {key: workload.message, values: [64KiB, 128KiB]}\n");
  // A shard count that would wrap as unsigned, a merge of a folder never run, a merge of one
  // shard, and an --out that is a file: each an input error, nothing run.
  CliResult r = run_cli({"sweep", f.string(), "--shard", "1/-2", "--out", (dir_ / "a").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"sweep", f.string(), "--merge", "--out", (dir_ / "never").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "never"));
  r = run_cli({"sweep", f.string(), "--merge", "--shard", "0/2", "--out", (dir_ / "a").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const fs::path file = write("file.txt", "x");
  r = run_cli({"sweep", f.string(), "--out", file.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not a folder"), std::string::npos) << r.err;
  // More jobs than points: the extra workers are never started.
  r = run_cli(
      {"sweep", f.string(), "--jobs", "100000", "--no-plots", "--out", (dir_ / "jobs").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Sweep, HelpShowsTheJobsDefault) {
  const CliResult r = run_cli({"sweep", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--jobs INT=1"), std::string::npos) << r.out;
}

TEST_F(SweepFiles, ShardsOfASweepFilePartitionItsPoints) {
  Sweep s =
      load_sweep(sweep_file("    - {key: a.x, range: [1, 7, 1]}\n"
                            "    - {key: a.y, values: [p, q, r]}\n"));
  ASSERT_EQ(s.points.size(), 21u);
  // Shard 1 of 4 holds points 1, 5, 9, 13, 17: every 4th from 1.
  EXPECT_EQ(shard_points(s.points.size(), 1, 4), (std::vector<size_t>{1, 5, 9, 13, 17}));
  EXPECT_TRUE(shard_points(3, 5, 8).empty());
}

TEST_F(SweepFiles, AMisspeltAxisKeyStopsTheSweepBeforeAnyRun) {
  fs::path f = sweep_file("    - {key: workload.mesage, values: [64KiB, 128KiB]}\n");
  fs::path out = dir_ / "out";
  CliResult r = run_cli({"sweep", f.string(), "--out", out.string(), "--no-plots"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("point p0000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'message'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "p0000"));
}

// The values an axis of a sweep file gives, counted from the file's YAML as its reader should:
// a list's length, floor((stop - start) / step) + 1 for a range (stop included; the 1e-9
// absorbs a decimal step such as 0.05 that binary floating point cannot hold), the point count
// of a log range. 0 (and a failure) for anything else.
size_t values_in_yaml(const ConfigNode& axis) {
  if (const ConfigNode* v = axis.find("values")) return v->items().size();
  auto number = [](const ConfigNode& n) { return std::stod(n.as_string()); };
  if (const ConfigNode* r = axis.find("range")) {
    const double start = number(r->items().at(0)), stop = number(r->items().at(1)),
                 step = number(r->items().at(2));
    return static_cast<size_t>(std::floor((stop - start) / step + 1e-9)) + 1;
  }
  if (const ConfigNode* l = axis.find("log_range")) {
    return static_cast<size_t>(number(l->items().at(2)));
  }
  ADD_FAILURE() << "an axis with none of values, range, log_range";
  return 0;
}

TEST_F(SweepFiles, ShippedSweepFilesLoad) {
  // Every sweep in configs/sweeps expands to the product of its axes' value counts (none has
  // zip groups), as many points as its header's "# N points" says where it says so.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(MLASIM_SOURCE_DIR "/configs/sweeps")) {
    if (e.path().extension() != ".yaml") continue;
    ++files;
    const ConfigNode root = load_config_file(e.path());
    const ConfigNode* axes = root.at_path("sweep.axes");
    ASSERT_NE(axes, nullptr) << e.path();
    size_t expected = 1;
    for (const ConfigNode& axis : axes->items()) {
      EXPECT_EQ(axis.find("zip"), nullptr) << e.path();
      expected *= values_in_yaml(axis);
    }
    const Sweep s = load_sweep(e.path());
    EXPECT_EQ(s.points.size(), expected) << e.path();
    std::ifstream in(e.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch said;
    if (std::regex_search(text, said, std::regex(R"(# (\d+) points)"))) {
      EXPECT_EQ(s.points.size(), std::stoul(said[1].str())) << e.path();
    }
    EXPECT_FALSE(s.params.plots.empty()) << e.path() << ": no trade-off plots";
  }
  EXPECT_GE(files, 6u);
}

TEST_F(SweepFiles, ShippedSweepsRunEveryPoint) {
  for (const auto& e : fs::directory_iterator(MLASIM_SOURCE_DIR "/configs/sweeps")) {
    if (e.path().extension() != ".yaml") continue;
    const fs::path out = dir_ / e.path().stem();
    CliResult r =
        run_cli({"sweep", e.path().string(), "--jobs", "2", "--out", out.string(), "--no-plots"});
    ASSERT_EQ(r.exit_code, 0) << e.path() << "\n" << r.err;
    // Every plot's keys were reported by the points (no warning of an empty plot).
    EXPECT_EQ(r.err.find("sweep.plots"), std::string::npos) << e.path() << "\n" << r.err;
    const Sweep s = load_sweep(e.path());
    for (const auto& p : s.points)
      EXPECT_TRUE(point_is_complete(out / p.dir_name(), p)) << e.path() << " " << p.dir_name();
  }
}

// Every key the shipped sweep files use is in `mlasim list` (kind "file", type "sweep"), with
// list items as `axes[].key`; and the list names no key the sweep reader does not take.
TEST(Sweep, ShippedSweepKeysAreListed) {
  const CliResult listed = run_cli({"list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::set<std::string> keys;
  for (const auto& c : nlohmann::json::parse(listed.out)) {
    if (c["kind"] == "file" && c["type"] == "sweep") {
      for (const auto& p : c["params"])
        keys.insert(p["name"].get<std::string>());
    }
  }
  ASSERT_TRUE(keys.count("axes[].key"));
  size_t files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(MLASIM_SOURCE_DIR "/configs/sweeps")) {
    const ConfigNode root = load_config_file(entry.path());
    const ConfigNode* sweep = root.find("sweep");
    ASSERT_NE(sweep, nullptr) << entry.path();
    for (const auto& [key, value] : sweep->entries()) {
      EXPECT_TRUE(keys.count(key)) << entry.path() << ": " << key;
      if (!value.is_seq()) continue;
      for (const ConfigNode& item : value.items()) {
        if (!item.is_map()) continue;
        for (const auto& [sub, unused] : item.entries())
          EXPECT_TRUE(keys.count(key + "[]." + sub)) << entry.path() << ": " << key << "[]." << sub;
      }
    }
    ++files;
  }
  EXPECT_GT(files, 5u);
  // A key the list names but the reader refuses would be a lie: each listed top-level key is
  // taken by a sweep file that gives it.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mlasim_sweep_keys_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s.yaml") << "sweep:\n  name: k\n  base: " MLASIM_SOURCE_DIR
                                   "/configs/scenarios/teaching-deepseek.yaml\n  set: "
                                   "[workload.layers=2]\n  axes:\n    - {key: seed, values: [1, "
                                   "2], zip: a}\n    - {key: workload.router.seed, range: [1, 2, "
                                   "1], zip: a}\n  plots:\n    - {x: seed, y: step_time_ms, "
                                   "series: seed, title: t}\n";
  EXPECT_NO_THROW(load_sweep(dir / "s.yaml"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
