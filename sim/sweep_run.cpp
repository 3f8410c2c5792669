// The `mlasim sweep` command: runs a sweep's points as child processes, in parallel, resuming
// finished ones, then merges their results (see sweep.h).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
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
#include "sim/sweep.h"

namespace mlasim {

namespace fs = std::filesystem;

namespace {

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

struct SweepOptions {
  std::string file;
  int jobs = 1;
  std::string shard;
  bool shard_given = false;  // --shard on the command line (an empty value is an error)
  bool merge_only = false;
  std::string out;
  bool no_plots = false;
};

int run_sweep(const SweepOptions& o, const GlobalOptions& g) {
  Sweep sweep = load_sweep(o.file);
  const fs::path out_dir =
      o.out.empty() ? fs::path("results") / "sweeps" / sweep.params.name : fs::path(o.out);
  size_t shard = 0, shards = 1;
  if (o.shard_given) {
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
  if (o.merge_only && o.shard_given) {
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
  // What an earlier sweep gathered here (its table, report and plots) goes: this one's are
  // written once its points are in, and none may be taken for them meanwhile or with
  // --no-plots.
  std::vector<fs::path> earlier;  // (gathered first: not removed while the folder is read)
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string f = e.path().filename().string();
    if (f == "sweep.csv" || f == "report.md" || f == "plots.json" ||
        (f.starts_with("plot_") && f.ends_with(".png"))) {
      earlier.push_back(e.path());
    }
  }
  for (const fs::path& f : earlier)
    fs::remove(f);
  write_file_atomic(out_dir / "sweep.resolved.yaml", [&] {
    ConfigNode root = ConfigNode::map();
    root.set("sweep", write_params(sweep.params));
    return root.to_yaml();
  }());

  size_t failed = 0;
  if (!o.merge_only) {
    const std::vector<size_t> mine = shard_points(sweep.points.size(), shard, shards);
    // (A misspelt axis key or a bad `set`, which would fail every point, was refused above by
    // validate_sweep_points; a point whose combination of values is bad fails on its own, in
    // every shard as without shards.)
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
        io.die_with_parent = true;  // a sweep killed outright leaves no point running
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
        if (g.quiet && code == 0) continue;  // -q: failures only
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
    if (!g.quiet || failed > 0) {
      fmt::print(stderr, "sweep {}: {} point{}{}, {} run, {} already complete, {} failed\n",
                 sweep.params.name, mine.size(), mine.size() == 1 ? "" : "s",
                 shards > 1 ? " in this shard" : "", done.load(), skipped.load(), failed);
    }
    if (shards > 1) {
      fmt::print(stderr, "merge all shards with: mlasim sweep {} --merge{}\n", shell_word(o.file),
                 o.out.empty() ? std::string() : " -o " + shell_word(o.out));
      return failed ? kExitSimFailure : kExitOk;
    }
  }
  std::vector<std::string> left_out, reported;
  const size_t rows = merge_sweep(sweep, out_dir, &left_out, &reported);
  const nlohmann::ordered_json failures = failed_points(sweep, out_dir);
  // The first ten point names, then how many more.
  auto name_list = [](const std::vector<std::string>& points) {
    std::string names;
    for (size_t i = 0; i < points.size() && i < 10; ++i)
      names += (i ? ", " : "") + points[i];
    if (points.size() > 10) names += fmt::format(" and {} more", points.size() - 10);
    return names;
  };
  std::vector<std::string> failed_names;
  for (const auto& f : failures)
    failed_names.push_back(f["point"].get<std::string>());
  if (o.merge_only && !failures.empty()) {
    // Every shard's failures, gathered: the merge fails too (a job chain must see it).
    failed = failures.size();
    fmt::print(stderr, "sweep {}: {} of {} points failed ({}; each has a stderr.txt)\n",
               sweep.params.name, failed, sweep.points.size(), name_list(failed_names));
  }
  if (!g.quiet) {
    fmt::print(stderr, "{}/sweep.csv: {} of {} points\n", out_dir.string(), rows,
               sweep.points.size());
  }
  if (!left_out.empty()) {
    // Also an incomplete sweep.csv: said under -q too, and a merge exits 3.
    fmt::print(stderr,
               "{}left out of sweep.csv, their summary being unreadable or from other values: {}\n",
               o.merge_only ? fmt::format("sweep {}: incomplete: ", sweep.params.name)
                            : std::string("warning: "),
               name_list(left_out));
    if (o.merge_only) failed += left_out.size();
  }
  if (o.merge_only) {
    // Points with no result and no failure: not run by any shard yet, or stopped before the end.
    // The merge is incomplete: said even under -q, and it exits 3 (a job chain must see it).
    std::vector<std::string> unfinished;
    for (const auto& p : sweep.points) {
      const std::string name = p.dir_name();
      if (!fs::exists(out_dir / name / "summary.json") &&
          std::find(failed_names.begin(), failed_names.end(), name) == failed_names.end()) {
        unfinished.push_back(name);
      }
    }
    if (!unfinished.empty()) {
      fmt::print(stderr,
                 "sweep {}: incomplete: left out of sweep.csv, with no result yet (not run, or "
                 "stopped): {}\n",
                 sweep.params.name, name_list(unfinished));
      failed += unfinished.size();
    }
  }
  // A plot key no point reported is most likely misspelt (the report would only say the plot
  // is empty). Without any point there is nothing to tell by.
  if (rows > 0 && !g.quiet) {
    for (const std::string& line : unreported_plot_keys(sweep, reported))
      fmt::print(stderr, "warning: {}\n", line);
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
                                             {"failed", failures}}
                              .dump(2) +
                          "\n");
    const fs::path script = fs::path(MLASIM_SCRIPTS_DIR) / "plot_sweep.py";
    ChildOptions io;
    io.stdout_to_stderr = true;
    std::vector<std::string> args{MLASIM_PYTHON, script.string(), out_dir.string(),
                                  (out_dir / "plots.json").string()};
    if (g.quiet) args.emplace_back("--quiet");  // errors only
    const ChildStatus st = run_child(args, io, g.interrupts);
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
  cmd->add_option("-j,--jobs", o->jobs, "points run in parallel (processes)")
      ->capture_default_str();
  CLI::Option* shard =
      cmd->add_option("--shard", o->shard, "run only shard i of N (i/N), e.g. for a Slurm array");
  cmd->add_flag("--merge", o->merge_only, "only gather finished points into sweep.csv");
  cmd->add_option("-o,--out", o->out, "sweep folder (default results/sweeps/<name>)");
  cmd->add_flag("--no-plots", o->no_plots, "do not draw the sweep's plots");
  cmd->callback([o, shard, &action, &global] {
    o->shard_given = shard->count() > 0;
    action = [o, &global] { return run_sweep(*o, global); };
  });
}

}  // namespace mlasim
