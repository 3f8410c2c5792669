// Sweep expansion, sharding, resume, parallel execution and merge (see sweep.h).
#include "sim/sweep.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "sim/builtin_components.h"
#include "sim/commands.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/interrupt.h"
#include "sim/results.h"
#include "sim/simulation.h"
#include "sim/subprocess.h"

namespace mlasim {

namespace fs = std::filesystem;

namespace {

// Prints a swept number without float noise: 4 not 4.000000, 0.35 not 0.34999999.
std::string format_number(double v) {
  if (std::fabs(v - std::llround(v)) < 1e-9 * std::max(1.0, std::fabs(v))) {
    return fmt::format("{}", std::llround(v));
  }
  return fmt::format("{:.6g}", v);
}

fs::path self_executable() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("mlasim") : p;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// For commands printed to be copied: quoted only when the shell would need it.
std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of(
                                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                       "QRSTUVWXYZ0123456789._-+=@/:,") == std::string::npos;
  return plain ? s : shell_quote(s);
}

// FNV-1a over the resolved base scenario and the `set` list: a fingerprint, not a security
// hash (it only tells an edited sweep from the one a folder was run with).
std::string base_digest(const ConfigNode& base, const std::vector<std::string>& sets) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto add = [&h](std::string_view s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;  // separator: ("ab", "c") and ("a", "bc") differ
    h *= 0x100000001b3ULL;
  };
  add(base.to_yaml());
  for (const auto& s : sets)
    add(s);
  return fmt::format("{:016x}", h);
}

}  // namespace

nlohmann::ordered_json point_json(const SweepPoint& p) {
  nlohmann::ordered_json j;
  j["index"] = p.index;
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  for (const auto& [k, v] : p.overrides)
    o[k] = v;
  j["overrides"] = o;
  j["base_digest"] = p.base_digest;
  return j;
}

void SweepAxisParams::validate(const ParamCheck& c) const {
  const int forms =
      (values.empty() ? 0 : 1) + (range.empty() ? 0 : 1) + (log_range.empty() ? 0 : 1);
  c.require(forms == 1, "values", "give exactly one of values, range or log_range");
  if (!range.empty()) {
    c.require(range.size() == 3, "range", "must be [start, stop, step]");
    c.require(range[2] > 0, "range", "step must be > 0");
    c.require(range[1] >= range[0], "range", "stop must be >= start");
    c.require((range[1] - range[0]) / range[2] < 1e6, "range", "more than a million values");
  }
  if (!log_range.empty()) {
    c.require(log_range.size() == 3, "log_range", "must be [start, stop, points]");
    c.require(log_range[0] > 0 && log_range[1] > 0, "log_range", "start and stop must be > 0");
    c.require(log_range[2] >= 2 && log_range[2] == std::floor(log_range[2]) && log_range[2] < 1e6,
              "log_range", "points must be a whole number >= 2");
  }
}

std::vector<std::string> SweepAxisParams::expand() const {
  if (!values.empty()) return values;
  std::vector<std::string> out;
  if (!range.empty()) {
    const double start = range[0], stop = range[1], step = range[2];
    const auto n = static_cast<int64_t>(std::floor((stop - start) / step + 1e-9)) + 1;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(format_number(start + step * i) + unit);
    return out;
  }
  const double a = std::log(log_range[0]), b = std::log(log_range[1]);
  const auto n = static_cast<int>(log_range[2]);
  for (int i = 0; i < n; ++i) {
    out.push_back(format_number(std::exp(a + (b - a) * i / (n - 1))) + unit);
  }
  return out;
}

std::string SweepPoint::dir_name() const {
  return fmt::format("p{:04d}", index);
}

Sweep load_sweep(const fs::path& file) {
  ConfigNode root = load_config_file(file);
  const ConfigNode* section = root.is_map() ? root.find("sweep") : nullptr;
  // Without a `sweep` key the file is most likely a scenario: say so rather than reject its
  // keys one by one.
  if (!section) {
    throw_config_error(SourceLoc{root.loc().file, 0}, "sweep",
                       "not a sweep file (it has no `sweep` key with `base` and `axes`; "
                       "`mlasim run` takes a scenario)");
  }
  {
    ParamReader top(&root, "", {"sweep"});
    top.finish();
  }
  Sweep s;
  s.file = file;
  s.paths_from = fs::absolute(file).parent_path();
  s.params = read_params<SweepParams>(section, "sweep");
  s.base_path = fs::path(s.params.base).is_relative() ? file.parent_path() / s.params.base
                                                      : fs::path(s.params.base);
  if (!fs::exists(s.base_path)) {
    throw_config_error(section->find("base")->loc(), "sweep.base",
                       fmt::format("cannot open file '{}'", s.base_path.string()));
  }

  const std::string digest = base_digest(load_config_file(s.base_path), s.params.set);

  // Dimensions: each zip tag is one dimension, each untagged axis its own; first seen first.
  struct Dim {
    std::vector<size_t> axes;
    size_t size = 0;
  };
  std::vector<Dim> dims;
  std::map<std::string, size_t> tag_dim;
  std::vector<std::vector<std::string>> values;
  std::set<std::string> keys;
  const ConfigNode* axes_node = section->find("axes");
  for (size_t a = 0; a < s.params.axes.size(); ++a) {
    s.axis_locs.push_back(axes_node->items()[a].loc());
  }
  for (size_t a = 0; a < s.params.axes.size(); ++a) {
    const auto& axis = s.params.axes[a];
    const std::string path = fmt::format("sweep.axes[{}]", a);
    if (!keys.insert(axis.key).second) {
      throw_config_error(s.axis_locs[a], path, fmt::format("key '{}' is swept twice", axis.key));
    }
    values.push_back(axis.expand());
    if (axis.zip.empty()) {
      dims.push_back({{a}, values.back().size()});
      continue;
    }
    auto [it, fresh] = tag_dim.emplace(axis.zip, dims.size());
    if (fresh) {
      dims.push_back({{a}, values.back().size()});
    } else {
      Dim& d = dims[it->second];
      if (d.size != values.back().size()) {
        throw_config_error(s.axis_locs[a], path,
                           fmt::format("zip group '{}' has axes of {} and {} values", axis.zip,
                                       d.size, values.back().size()));
      }
      d.axes.push_back(a);
    }
  }
  size_t total = 1;
  for (const auto& d : dims) {
    if (d.size == 0 || total > 1'000'000 / d.size) {
      throw_config_error(section->loc(), "sweep.axes",
                         "more than a million points (the product of the axes' lengths)");
    }
    total *= d.size;
  }
  // The cover set: point 0, then each further value of each dimension with the others at 0.
  s.cover.emplace_back(0, -1);
  size_t stride = total;
  for (const auto& d : dims) {
    stride /= d.size;
    for (size_t v = 1; v < d.size; ++v)
      s.cover.emplace_back(v * stride, static_cast<int>(d.axes.front()));
  }
  // Mixed-radix counting, first dimension slowest.
  for (size_t i = 0; i < total; ++i) {
    SweepPoint p;
    p.index = i;
    p.base_digest = digest;
    size_t rest = i;
    std::vector<size_t> digit(dims.size());
    for (size_t d = dims.size(); d-- > 0;) {
      digit[d] = rest % dims[d].size;
      rest /= dims[d].size;
    }
    for (size_t a = 0; a < s.params.axes.size(); ++a) {
      for (size_t d = 0; d < dims.size(); ++d) {
        for (size_t ax : dims[d].axes) {
          if (ax == a) p.overrides.emplace_back(s.params.axes[a].key, values[a][digit[d]]);
        }
      }
    }
    s.points.push_back(std::move(p));
  }
  return s;
}

void validate_sweep_points(const Sweep& sweep) {
  const Components comps = make_builtin_components();
  for (const auto& [index, axis] : sweep.cover) {
    const SweepPoint& p = sweep.points[index];
    try {
      // The sweep's `set` and the point's axis values are one layer, as on the command line
      // of the run that simulates the point.
      std::vector<std::string> sets = sweep.params.set;
      for (const auto& [k, v] : p.overrides)
        sets.push_back(k + "=" + v);
      ConfigNode root = load_config_file(sweep.base_path);
      apply_overrides(root, sets, sweep.paths_from);
      validate_scenario(root, comps);
    } catch (const InputError& e) {
      std::string label;
      for (const auto& [k, v] : p.overrides)
        label += fmt::format("{}{}={}", label.empty() ? "" : ", ", k, v);
      const std::string what = fmt::format("point {} ({}): {}", p.dir_name(), label, e.what());
      // The first point has every axis at its first value: blame the axis the message names.
      int blamed = axis;
      for (size_t a = 0; blamed < 0 && a < sweep.params.axes.size(); ++a) {
        if (std::string(e.what()).find(sweep.params.axes[a].key) != std::string::npos) {
          blamed = static_cast<int>(a);
        }
      }
      if (blamed < 0) throw ConfigError(fmt::format("{}: {}", sweep.file.string(), what));
      throw_config_error(sweep.axis_locs[blamed], fmt::format("sweep.axes[{}]", blamed), what);
    }
  }
}

std::vector<size_t> shard_points(size_t total, size_t shard, size_t shards) {
  std::vector<size_t> out;
  for (size_t i = shard; i < total; i += shards)
    out.push_back(i);
  return out;
}

namespace {

// The summary of a finished run of exactly this point (its point.json matches, its summary
// parses as a non-empty object); nothing otherwise.
std::optional<nlohmann::ordered_json> finished_summary(const fs::path& dir,
                                                       const SweepPoint& point) {
  try {
    std::ifstream p(dir / "point.json");
    if (!p) return std::nullopt;
    if (nlohmann::ordered_json::parse(p) != point_json(point)) return std::nullopt;
    std::ifstream s(dir / "summary.json");
    if (!s) return std::nullopt;
    nlohmann::ordered_json summary = nlohmann::ordered_json::parse(s);
    if (!summary.is_object() || summary.empty()) return std::nullopt;
    return summary;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

bool point_is_complete(const fs::path& dir, const SweepPoint& point) {
  return finished_summary(dir, point).has_value();
}

size_t merge_sweep(const Sweep& sweep, const fs::path& out_dir,
                   std::vector<std::string>* left_out) {
  std::vector<std::string> columns;
  std::set<std::string> seen;
  std::vector<std::pair<const SweepPoint*, nlohmann::ordered_json>> rows;
  for (const auto& p : sweep.points) {
    const fs::path dir = out_dir / p.dir_name();
    if (!fs::exists(dir / "summary.json")) continue;  // not run (yet)
    // Only a finished run of this very point (not of an edited sweep's) makes a row.
    std::optional<nlohmann::ordered_json> j = finished_summary(dir, p);
    if (!j) {
      if (left_out) left_out->push_back(p.dir_name());
      continue;
    }
    for (const auto& [k, v] : j->items()) {
      if (seen.insert(k).second) columns.push_back(k);
    }
    rows.emplace_back(&p, std::move(*j));
  }
  auto csv = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s)
      q += (c == '"') ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out = "point";
  for (const auto& a : sweep.params.axes)
    out += "," + csv(a.key);
  for (const auto& c : columns)
    out += "," + csv(c);
  out += "\n";
  for (const auto& [p, j] : rows) {
    out += p->dir_name();
    for (const auto& [k, v] : p->overrides) {
      out.push_back(',');
      out.append(csv(v));
    }
    for (const auto& c : columns) {
      out += ",";
      if (!j.contains(c)) continue;
      const auto& v = j[c];
      out += csv(v.is_string() ? v.get<std::string>() : v.dump());
    }
    out += "\n";
  }
  write_file_atomic(out_dir / "sweep.csv", out);
  return rows.size();
}

nlohmann::ordered_json failed_points(const Sweep& sweep, const fs::path& out_dir) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : sweep.points) {
    const fs::path dir = out_dir / p.dir_name();
    std::ifstream f(dir / "failure.json");
    if (!f || point_is_complete(dir, p)) continue;
    nlohmann::ordered_json entry{{"point", p.dir_name()}};
    std::string label;
    for (const auto& [k, v] : p.overrides)
      label += fmt::format("{}{}={}", label.empty() ? "" : " ", k, v);
    entry["overrides"] = label;
    try {
      entry["exit_code"] = nlohmann::json::parse(f).at("exit_code");
    } catch (const nlohmann::json::exception&) {
      entry["exit_code"] = nullptr;
    }
    // The reason: the run's own error line (the first line mlasim wrote for it).
    std::ifstream err(dir / "stderr.txt");
    std::string line, reason;
    while (std::getline(err, line)) {
      if (line.rfind("mlasim: ", 0) == 0) {
        reason = line.substr(8);
        break;
      }
    }
    constexpr size_t kMaxReason = 300;
    if (reason.size() > kMaxReason) reason = reason.substr(0, kMaxReason) + "...";
    entry["reason"] = reason;
    out.push_back(std::move(entry));
  }
  return out;
}

namespace {

struct SweepOptions {
  std::string file;
  int jobs = 1;
  std::string shard;
  bool merge_only = false;
  std::string out;
  bool no_plots = false;
};

int run_sweep(const SweepOptions& o, const GlobalOptions& g) {
  Sweep sweep = load_sweep(o.file);
  const fs::path out_dir =
      o.out.empty() ? fs::path("results") / "sweeps" / sweep.params.name : fs::path(o.out);
  size_t shard = 0, shards = 1;
  if (!o.shard.empty()) {
    char slash = 0;
    long long i = -1, n = 0;
    std::istringstream in(o.shard);
    if (!(in >> i >> slash >> n) || slash != '/' || n <= 0 || i < 0 || i >= n || !in.eof()) {
      throw InputError(fmt::format("--shard '{}': expected i/N with 0 <= i < N", o.shard));
    }
    shard = static_cast<size_t>(i);
    shards = static_cast<size_t>(n);
  }
  if (o.jobs < 1) throw InputError("--jobs must be >= 1");
  if (o.merge_only && !o.shard.empty()) {
    throw InputError("--merge gathers the points of every shard: give it without --shard");
  }
  if (o.merge_only && !fs::is_directory(out_dir)) {
    throw InputError(
        fmt::format("--merge: {} is not a sweep folder (nothing was run there)", out_dir.string()));
  }
  if (fs::exists(out_dir) && !fs::is_directory(out_dir)) {
    throw InputError(fmt::format("{}: exists and is not a folder (--out names the sweep's folder)",
                                 out_dir.string()));
  }
  if (!o.merge_only) validate_sweep_points(sweep);
  fs::create_directories(out_dir);
  write_file_atomic(out_dir / "sweep.resolved.yaml", [&] {
    ConfigNode root = ConfigNode::map();
    root.set("sweep", write_params(sweep.params));
    return root.to_yaml();
  }());

  size_t failed = 0;
  if (!o.merge_only) {
    const std::vector<size_t> mine = shard_points(sweep.points.size(), shard, shards);
    // A misspelt axis key or a bad `set` would fail every point: check this shard's first point
    // in-process (config, cluster and workload, no simulation) and stop with exit 2 instead.
    if (!mine.empty()) {
      const SweepPoint& first = sweep.points[mine.front()];
      std::vector<std::string> sets = sweep.params.set;
      for (const auto& [k, v] : first.overrides)
        sets.push_back(k + "=" + v);
      try {
        validate_scenario(load_scenario(sweep.base_path.string(), sets, sweep.paths_from),
                          make_builtin_components());
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: point {}: {}", o.file, first.dir_name(), e.what()));
      }
    }
    const std::string exe = self_executable().string();
    std::atomic<size_t> next{0};
    std::atomic<size_t> done{0}, skipped{0}, bad{0};
    std::mutex print;
    std::atomic<bool> stop{false};
    if (g.interrupts) {
      g.interrupts->set_handler([&stop](int) {
        stop = true;
        return true;  // the workers see it when their points end (the signal reached them)
      });
    }
    auto worker = [&] {
      for (size_t i = next++; i < mine.size() && !stop.load(); i = next++) {
        const SweepPoint& p = sweep.points[mine[i]];
        const fs::path dir = out_dir / p.dir_name();
        std::string label;
        for (const auto& [k, v] : p.overrides)
          label += fmt::format(" {}={}", k, v);
        if (point_is_complete(dir, p)) {
          ++skipped;
          continue;
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir);
        write_file_atomic(dir / "point.json", point_json(p).dump(2) + "\n");
        std::vector<std::string> argv{
            exe,     "-q",         "run",       sweep.base_path.string(), "--no-plots",
            "--out", dir.string(), "--set-dir", sweep.paths_from.string()};
        for (const auto& s : sweep.params.set) {
          argv.push_back("--set");
          argv.push_back(s);
        }
        for (const auto& [k, v] : p.overrides) {
          argv.push_back("--set");
          argv.push_back(k + "=" + v);
        }
        ChildOptions io;
        io.stdin_path = "/dev/null";
        io.stderr_path = (dir / "stderr.txt").string();
        const auto t0 = std::chrono::steady_clock::now();
        const ChildStatus st = run_child(argv, io, g.interrupts);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        // An interrupted sweep stops here; the points under way are not failures (the next
        // run of the same command redoes them, as they have no summary).
        if (stop.load()) return;
        const int code = st.exit_code;
        // Kept beside stderr.txt so that the report lists the point, whichever shard ran it.
        if (code != 0) {
          nlohmann::ordered_json failure{{"exit_code", code}};
          if (st.signal) failure["signal"] = Interrupts::signal_name(st.signal);
          write_file_atomic(dir / "failure.json", failure.dump() + "\n");
        }
        std::lock_guard<std::mutex> lock(print);
        ++done;
        if (code != 0) ++bad;
        fmt::print(stderr, "[{}/{}] {}{}: {} ({:.1f} s)\n", done.load() + skipped.load(),
                   mine.size(), p.dir_name(), label,
                   code == 0 ? "ok"
                   : st.signal
                       ? fmt::format("failed, killed by {}; see {}/stderr.txt",
                                     Interrupts::signal_name(st.signal), dir.string())
                       : fmt::format("failed, exit {}; see {}/stderr.txt", code, dir.string()),
                   s);
      }
    };
    // No more workers than points; where the system refuses a thread, the ones started do the
    // work (a pool of none is an error).
    const size_t jobs = std::min(static_cast<size_t>(o.jobs), std::max<size_t>(1, mine.size()));
    std::vector<std::thread> pool;
    std::string refused;
    for (size_t j = 0; j < jobs; ++j) {
      try {
        pool.emplace_back(worker);
      } catch (const std::system_error& e) {
        refused = e.what();
        break;
      }
    }
    for (auto& t : pool)
      t.join();
    if (pool.empty())
      throw InputError(fmt::format("--jobs {}: cannot start a thread ({})", o.jobs, refused));
    if (g.interrupts) g.interrupts->set_handler(nullptr);
    if (stop.load()) {
      const int sig = g.interrupts->received();
      fmt::print(stderr,
                 "mlasim: sweep {} interrupted by {}: {} points run, {} already complete; run "
                 "the same command again to resume\n",
                 sweep.params.name, Interrupts::signal_name(sig), done.load(), skipped.load());
      return 128 + sig;
    }
    failed = bad;
    fmt::print(stderr,
               "sweep {}: {} points in this shard, {} run, {} already complete, {} failed\n",
               sweep.params.name, mine.size(), done.load(), skipped.load(), failed);
    if (shards > 1) {
      fmt::print(stderr, "merge all shards with: mlasim sweep {} --merge{}\n", shell_word(o.file),
                 o.out.empty() ? std::string() : " -o " + shell_word(o.out));
      return failed ? kExitSimFailure : kExitOk;
    }
  }
  std::vector<std::string> left_out;
  const size_t rows = merge_sweep(sweep, out_dir, &left_out);
  fmt::print(stderr, "{}/sweep.csv: {} of {} points\n", out_dir.string(), rows,
             sweep.points.size());
  if (!left_out.empty()) {
    std::string names;
    for (size_t i = 0; i < left_out.size() && i < 10; ++i)
      names += (i ? ", " : "") + left_out[i];
    if (left_out.size() > 10) names += fmt::format(" and {} more", left_out.size() - 10);
    fmt::print(stderr,
               "warning: left out of sweep.csv, their summary being unreadable or from other "
               "values: {}\n",
               names);
  }
  if (!o.no_plots) {
    nlohmann::ordered_json axes = nlohmann::ordered_json::array();
    for (const auto& a : sweep.params.axes)
      axes.push_back(a.key);
    nlohmann::ordered_json plots = nlohmann::ordered_json::array();
    for (const auto& p : sweep.params.plots) {
      plots.push_back({{"x", p.x}, {"y", p.y}, {"series", p.series}, {"title", p.title}});
    }
    write_file_atomic(out_dir / "plots.json",
                      nlohmann::ordered_json{{"name", sweep.params.name},
                                             {"axes", axes},
                                             {"plots", plots},
                                             {"points", sweep.points.size()},
                                             {"failed", failed_points(sweep, out_dir)}}
                              .dump(2) +
                          "\n");
    const fs::path script = fs::path(MLASIM_SCRIPTS_DIR) / "plot_sweep.py";
    ChildOptions io;
    io.stdout_to_stderr = true;
    const ChildStatus st = run_child(
        {MLASIM_PYTHON, script.string(), out_dir.string(), (out_dir / "plots.json").string()}, io,
        g.interrupts);
    if (!st.ok()) fmt::print(stderr, "warning: sweep plots failed (exit {})\n", st.exit_code);
  }
  return failed ? kExitSimFailure : kExitOk;
}

}  // namespace

void register_sweep_command(CLI::App& app, CommandAction& action, const GlobalOptions& global) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run a design-space sweep: every point as its own run, resumable and shardable");
  cmd->add_option("file", o->file, "sweep YAML file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-j,--jobs", o->jobs, "points run in parallel (processes)");
  cmd->add_option("--shard", o->shard, "run only shard i of N (i/N), e.g. for a Slurm array");
  cmd->add_flag("--merge", o->merge_only, "only gather finished points into sweep.csv");
  cmd->add_option("-o,--out", o->out, "sweep folder (default results/sweeps/<name>)");
  cmd->add_flag("--no-plots", o->no_plots, "do not draw the sweep's plots");
  cmd->callback([o, &action, &global] { action = [o, &global] { return run_sweep(*o, global); }; });
}

}  // namespace mlasim
