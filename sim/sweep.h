// Design-space sweeps: a base scenario plus axes (value lists, linear ranges, log ranges) over
// any config key, combined as a cartesian product, with axes sharing a `zip` tag advancing
// together. Each point runs as its own `mlasim run` process (SystemC elaborates once per
// process), in parallel, into its own folder; a finished point has a valid summary.json, so a
// rerun skips it (resume) and redoes a point whose summary is missing or corrupt or that was run
// with other values (an edited axis, `set` list or base scenario). `--shard i/N` runs every N-th
// point for job arrays; `--merge` gathers the summaries into sweep.csv. An interrupt (SIGINT,
// SIGTERM, SIGHUP) stops the points under way, records none of them as failed and exits 128 +
// the signal; the same command resumes.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sim/command.h"
#include "sim/params.h"

namespace mlasim {

struct SweepAxisParams {
  std::string key;
  std::vector<std::string> values;
  std::vector<double> range;      // [start, stop, step], stop included
  std::vector<double> log_range;  // [start, stop, points], geometric, both ends included
  std::string unit;               // appended to range / log_range values, e.g. "TB/s"
  std::string zip;                // axes with the same tag advance together
  template <class V>
  void visit(V& v) {
    v.required("key", key, "-", "dotted config key the axis sets, e.g. hardware.memory.bandwidth");
    v("values", values, "-", "explicit list of values");
    v("range", range, "-", "[start, stop, step]: linear values, stop included");
    v("log_range", log_range, "-", "[start, stop, points]: geometric values, both ends included");
    v("unit", unit, "-", "unit appended to range and log_range values (e.g. GB/s)");
    v("zip", zip, "-", "axes with the same tag advance together instead of multiplying");
  }
  void validate(const ParamCheck& c) const;
  std::vector<std::string> expand() const;
};

// A plot's keys are sweep.csv columns. A dotted key names a config value, which only an axis
// puts in the table, so it must be one of the sweep's axes (checked when the file is read); a
// plain key is a summary figure, whose presence only the runs tell (checked after them).
struct SweepPlotParams {
  std::string x;
  std::string y;
  std::string series;  // optional axis key: one curve per value
  std::string title;   // optional; default "<sweep>: y against x"
  template <class V>
  void visit(V& v) {
    v.required("x", x, "-",
               "axis key (or summary key) on the horizontal axis; a dotted key must be an axis");
    v.required("y", y, "-",
               "summary key (or axis key) on the vertical axis; a dotted key must be an axis, a "
               "summary key that no point reports is warned about after the runs");
    v("series", series, "-", "axis key drawing one curve per value (optional; one of the axes)");
    v("title", title, "-", "plot title (optional)");
  }
};

struct SweepParams {
  std::string name = "sweep";
  std::string base;
  std::vector<std::string> set;
  std::vector<SweepAxisParams> axes;
  std::vector<SweepPlotParams> plots;
  template <class V>
  void visit(V& v) {
    v("name", name, "-", "sweep name; results go to results/sweeps/<name>/");
    v.required("base", base, "-", "base scenario file, relative to the sweep file");
    v("set", set, "-", "overrides applied to every point, as KEY=VALUE strings");
    v.list("axes", axes, "the swept keys");
    v.list("plots", plots, "trade-off curves drawn from sweep.csv into the sweep's report.md");
  }
  void validate(const ParamCheck& c) const {
    c.require(!axes.empty(), "axes", "a sweep needs at least one axis");
    if (const std::string why = folder_name_problem(name); !why.empty()) c.fail("name", why);
  }
};

struct SweepPoint {
  size_t index = 0;
  std::vector<std::pair<std::string, std::string>> overrides;  // axis key -> value
  // What the point shares with every other: a digest of the base scenario (includes resolved)
  // and of the sweep's `set` list. A finished point whose folder records another was run from
  // an edited base or `set`, and is redone.
  std::string base_digest;
  std::string dir_name() const;  // "p0007"
};

struct Sweep {
  SweepParams params;
  std::filesystem::path file;       // the sweep file
  std::filesystem::path base_path;  // resolved base scenario
  // The sweep file's folder (absolute): relative paths in the `set` and axis values, written in
  // the sweep file, are taken from it, as its `base` is.
  std::filesystem::path paths_from;
  std::vector<SweepPoint> points;
  std::vector<SourceLoc> axis_locs;  // where each axis is written
  std::vector<SourceLoc> set_locs;   // where each `set` entry is written
  // Where each plot's x and y are written (the keys checked once the points have run).
  std::vector<std::pair<SourceLoc, SourceLoc>> plot_locs;
  // Points that between them use every value of every axis once (the first point, then one
  // per further value of each dimension), with the axis each one tests (-1: the first point).
  std::vector<std::pair<size_t, int>> cover;
};

// Reads a sweep file and expands its points. Throws ConfigError on bad input, among it a plot
// whose `series` is not an axis, or whose `x` or `y` is a dotted (config) key that is not one.
Sweep load_sweep(const std::filesystem::path& file);

// Checks the base scenario with the sweep's overrides at every point of `sweep.cover`, so that a
// bad axis key or value is an input error (exit 2) before any point runs. Throws ConfigError.
void validate_sweep_points(const Sweep& sweep);

// Indices of the points of shard `i` of `n` (every n-th point starting at i).
std::vector<size_t> shard_points(size_t total, size_t shard, size_t shards);

// What a point's folder records of it (point.json): index, axis values, base digest.
nlohmann::ordered_json point_json(const SweepPoint& p);

// True when `dir` holds a finished, parseable run of exactly this point (its axis values and
// base digest, and a summary.json that is a non-empty object).
bool point_is_complete(const std::filesystem::path& dir, const SweepPoint& point);

// Writes sweep.csv (one row per point with a summary: axis values then every summary figure,
// in first-seen order) into `out_dir`; returns the number of rows.
// Points with a summary that is unreadable or from other values (point_is_complete() false)
// are left out, and named in `left_out` when given. `summary_columns`, when given, receives the
// summary figures' columns (those after the axes).
size_t merge_sweep(const Sweep& sweep, const std::filesystem::path& out_dir,
                   std::vector<std::string>* left_out = nullptr,
                   std::vector<std::string>* summary_columns = nullptr);

// One warning line per plot key (x or y) that is neither an axis nor among `summary_columns`
// (what the points reported): a misspelt summary key, whose plot would come out empty. Each
// names the sweep file, the line and the key path (sweep.plots[i].y) and the nearest column.
std::vector<std::string> unreported_plot_keys(const Sweep& sweep,
                                              const std::vector<std::string>& summary_columns);

// The points of `out_dir` whose run failed (a failure.json and no finished run): point, axis
// values, exit code and the run's error line, for the sweep's report.
nlohmann::ordered_json failed_points(const Sweep& sweep, const std::filesystem::path& out_dir);

struct GlobalOptions;
void register_sweep_command(CLI::App& app, CommandAction& action, const GlobalOptions& global);

}  // namespace mlasim
