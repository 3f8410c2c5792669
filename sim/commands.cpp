// `mlasim run`, `mlasim validate` and `mlasim list`.
#include "sim/commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "sim/builtin_components.h"
#include "sim/embedded_default.h"
#include "sim/errors.h"
#include "sim/interrupt.h"
#include "sim/results.h"
#include "sim/scenario_model.h"
#include "sim/simulation.h"
#include "sim/subprocess.h"
#include "sim/version.h"
#include "workloads/trace.h"

namespace mlasim {

namespace {

// A trace given where a scenario belongs: said plainly rather than as its JSON's first key being
// unknown to the scenario reader.
void refuse_trace_as_scenario(const std::string& path) {
  // Only a regular file is looked into (reading a named pipe would wait for a writer; the
  // scenario reader refuses anything else with its own message).
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;
  std::ifstream in(path);
  std::string head(512, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const size_t first = head.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || head[first] != '{' ||
      head.find("\"mlasim-trace\"") == std::string::npos) {
    return;
  }
  throw InputError(fmt::format(
      "{}: is a trace, not a scenario: replay it on a scenario's cluster and hardware with "
      "`mlasim run SCENARIO --trace {}`",
      path, path));
}

}  // namespace

ConfigNode load_scenario(const std::string& config_path, const std::vector<std::string>& sets,
                         const std::filesystem::path& paths_from) {
  if (!config_path.empty()) refuse_trace_as_scenario(config_path);
  ConfigNode root = config_path.empty()
                        ? load_config_string(embedded_default_scenario(), "<embedded:default.yaml>",
                                             std::filesystem::path(MLASIM_CONFIG_DIR) / "scenarios")
                        : load_config_file(config_path);
  apply_overrides(root, sets, paths_from);
  derive_retyped_memory(root);
  return root;
}

namespace {

struct RunOptions {
  std::string config;
  std::vector<std::string> sets;
  std::string trace;    // --trace: the workload replaced by this trace
  std::string set_dir;  // folder relative paths in `sets` are taken from (empty: the working one)
  std::string out;
  bool no_plots = false;
  bool full_summary = false;
  bool out_given = false;
};

// --set and --set-dir, as run, validate and trace take them.
void add_set_options(CLI::App* cmd, RunOptions& opts) {
  cmd->add_option(
      "--set", opts.sets,
      "override a key: a.b.c=value (repeatable); a.b.c=null (or ~) removes the key (its default)");
  cmd->add_option("--set-dir", opts.set_dir,
                  "folder that relative paths in --set values are taken from (default: the "
                  "working folder; `mlasim sweep` passes the sweep file's)")
      ->check(CLI::ExistingDirectory);
}

// --trace FILE (run and validate): the scenario's workload replaced by the trace, its cluster and
// hardware kept. The same as --set workload.type=trace --set workload.file=FILE, last.
void add_trace_option(CLI::App* cmd, RunOptions& opts) {
  cmd->add_option("--trace", opts.trace,
                  "replay this trace (mlasim trace) as the workload, on the scenario's cluster "
                  "and hardware")
      ->check(CLI::ExistingFile);
}

// The scenario a command runs: its file (or the embedded default), the --set overrides, then
// --trace's.
ConfigNode scenario_of(const RunOptions& o) {
  std::vector<std::string> sets = o.sets;
  if (!o.trace.empty()) {
    // The two would fight over the same keys; the trace would win without a word.
    for (const std::string& s : o.sets) {
      const std::string key = s.substr(0, s.find('='));
      if (key == "workload" || key == "workload.type" || key == "workload.file") {
        throw ConfigError(fmt::format(
            "--set {}: --trace {} sets the workload (its type and file); give one or the other", s,
            o.trace));
      }
    }
    sets.push_back("workload.type=trace");
    sets.push_back("workload.file=" + o.trace);
  }
  ConfigNode root = load_scenario(o.config, sets, o.set_dir);
  if (!o.trace.empty()) {
    // Errors about these keys name the option the user gave, not a --set they never typed.
    ConfigNode* workload = root.find("workload");
    for (const char* key : {"type", "file"}) {
      if (ConfigNode* n = workload ? workload->find(key) : nullptr)
        n->set_loc(SourceLoc{"--trace " + o.trace, 0});
    }
  }
  return root;
}

void run_plots(const std::filesystem::path& dir, const Logger& log, Interrupts* interrupts) {
  const std::filesystem::path script = std::filesystem::path(MLASIM_SCRIPTS_DIR) / "plot_run.py";
  if (!std::filesystem::exists(script)) {
    log.warn("plots skipped: {} not found", script.string());
    return;
  }
  std::fflush(stdout);  // the table first: the script writes to the same terminal
  ChildOptions io;
  io.stdout_to_stderr = true;
  std::vector<std::string> args{MLASIM_PYTHON, script.string(), dir.string()};
  if (!log.enabled(LogLevel::Info)) args.emplace_back("--quiet");  // mlasim -q: errors only
  const ChildStatus st = run_child(args, io, interrupts);
  if (!st.ok()) {
    log.warn("plot script failed ({}): {} {} {}",
             st.signal ? "killed by " + Interrupts::signal_name(st.signal)
                       : fmt::format("exit {}", st.exit_code),
             MLASIM_PYTHON, script.string(), dir.string());
  }
}

// A scenario read from a results folder (a run's config.resolved.yaml) must not be a file the
// run into `out` replaces.
void refuse_replacing_the_scenario(const RunOptions& o, const std::filesystem::path& out) {
  for (const auto& f : run_output_files()) {
    std::error_code ec;
    if (!o.config.empty() && std::filesystem::equivalent(o.config, out / f, ec)) {
      throw InputError(
          fmt::format("{}: the run would replace its own scenario ({} in {}); give "
                      "--out another folder",
                      o.config, f, out.string()));
    }
  }
}

// A config tree as JSON, for readers without a YAML parser (the plot scripts): scalars that
// read whole as an integer, a finite number, true or false become those, the rest strings.
nlohmann::ordered_json config_json(const ConfigNode& n) {
  if (n.is_map()) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [k, v] : n.entries())
      j[k] = config_json(v);
    return j;
  }
  if (n.is_seq()) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& v : n.items())
      j.push_back(config_json(v));
    return j;
  }
  if (!n.is_scalar()) return nullptr;
  const std::string& s = n.as_string();
  const char* end = s.data() + s.size();
  int64_t i = 0;
  if (!s.empty() && std::from_chars(s.data(), end, i).ptr == end) return i;
  double d = 0;
  if (!s.empty() && std::from_chars(s.data(), end, d).ptr == end && std::isfinite(d)) return d;
  if (s == "true" || s == "false") return s == "true";
  return s;
}

int do_run(const RunOptions& o, const GlobalOptions& g, const std::vector<std::string>& argv) {
  if (o.out_given && o.out.empty()) throw InputError("--out: the results folder name is empty");
  if (!o.out.empty() && std::filesystem::exists(o.out) && !std::filesystem::is_directory(o.out)) {
    throw InputError(fmt::format("--out {}: exists and is not a folder", o.out));
  }
  if (g.interrupts) g.interrupts->set_note("; the run did not finish");
  if (!o.out.empty()) refuse_replacing_the_scenario(o, o.out);  // before the build, when known
  ConfigNode root = scenario_of(o);
  Components comps = make_builtin_components();
  Simulation sim(root, comps, g.level());
  const std::filesystem::path out = o.out.empty()
                                        ? std::filesystem::path("results") / sim.scenario().name
                                        : std::filesystem::path(o.out);
  refuse_replacing_the_scenario(o, out);
  // The folder may hold an earlier run (of another scenario, or one killed half-way): none of
  // its results may stay beside this run's.
  clear_run_outputs(out);
  if (g.interrupts) {
    g.interrupts->set_note(
        fmt::format("; {} holds no summary.json: the run did not finish", out.string()));
  }
  sim.context().log.verbose("elaborated {} GPUs; running", sim.num_gpus());
  sim.run(RunControl{!g.quiet && ::isatty(STDERR_FILENO) != 0});

  std::ostringstream csv;
  write_stats_csv_header(csv);
  sim.context().stats.to_csv(csv);
  const nlohmann::ordered_json summary = sim.summary();
  write_file_atomic(out / "config.resolved.yaml", sim.resolved_config().to_yaml());
  write_file_atomic(out / "stats.json", sim.context().stats.to_json().dump(1) + "\n");
  write_file_atomic(out / "stats.csv", csv.str());
  write_file_atomic(out / "timeline.json", [&](const AtomicSink& put) {
    sim.write_timeline(put);
    put("\n");
  });
  sim.write_extra_results(out);

  // run.json says when the run finished: written once every other result is in place.
  nlohmann::ordered_json meta;
  std::string cmdline;
  for (const auto& a : argv)
    cmdline += (cmdline.empty() ? "" : " ") + a;
  meta["command_line"] = cmdline;
  meta["version"] = version();
  meta["config"] = o.config.empty() ? "<embedded:default.yaml>" : o.config;
  meta["overrides"] = o.sets;
  meta["seed"] = sim.scenario().seed;
  meta["sim_wall_s"] = sim.wall_seconds();
  meta["finished_at_unix_s"] = static_cast<int64_t>(std::time(nullptr));
  meta["resolved_config"] = config_json(sim.resolved_config());  // config.resolved.yaml's tree
  write_file_atomic(out / "run.json", meta.dump(2) + "\n");
  write_file_atomic(out / "summary.json", summary.dump(2) + "\n");  // last: marks completion
  if (g.interrupts) {
    g.interrupts->set_note(
        fmt::format("; the results in {} are complete, the plots are not", out.string()));
  }

  if (!g.quiet) {
    fmt::print("{}", format_summary_table(summary, o.full_summary));
    fmt::print("results: {}/\n", out.string());
  }
  if (!o.no_plots) run_plots(out, sim.context().log, g.interrupts);
  if (g.interrupts) g.interrupts->set_note("");
  return kExitOk;
}

}  // namespace

void register_run_command(CLI::App& app, CommandAction& action, const GlobalOptions& global,
                          const std::vector<std::string>& argv) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run a scenario (the embedded default when no CONFIG is given) and write results");
  cmd->add_option("config", opts->config, "scenario YAML file")->check(CLI::ExistingFile);
  add_set_options(cmd, *opts);
  add_trace_option(cmd, *opts);
  CLI::Option* out =
      cmd->add_option("-o,--out", opts->out, "results folder (default results/<scenario name>)");
  cmd->add_flag("--no-plots", opts->no_plots, "do not draw plots after the run");
  cmd->add_flag("--full", opts->full_summary,
                "print every summary figure, not only the headline ones");
  cmd->callback([opts, out, &action, &global, argv] {
    opts->out_given = out->count() > 0;
    action = [opts, &global, argv] { return do_run(*opts, global, argv); };
  });
}

void register_validate_command(CLI::App& app, CommandAction& action, const GlobalOptions& global) {
  auto opts = std::make_shared<RunOptions>();
  auto print = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("validate", "Check a scenario without running it");
  cmd->add_option("config", opts->config, "scenario YAML file (default: the embedded default)")
      ->check(CLI::ExistingFile);
  add_set_options(cmd, *opts);
  add_trace_option(cmd, *opts);
  cmd->add_flag("--print", *print, "print the resolved config (every default filled in)");
  cmd->callback([opts, print, &action, &global] {
    action = [opts, print, &global] {
      ConfigNode root = scenario_of(*opts);
      Components comps = make_builtin_components();
      // Built as for a run (cluster, models, fabric, op graphs), so that what only building
      // finds (a buffer too small for a packet, models that do not suit the fidelity, a fault
      // naming no link) fails here too; nothing is simulated.
      const Simulation sim(root, comps, global.level());
      if (*print) {
        fmt::print("{}", sim.resolved_config().to_yaml());
        // (Not "ok" when the printed config did not get out.)
        if (std::fflush(stdout) != 0) {
          throw std::system_error(errno, std::generic_category(),
                                  "cannot write to standard output");
        }
      }
      if (!global.quiet) {
        fmt::print(stderr, "{}: ok\n",
                   opts->config.empty() ? "<embedded:default.yaml>" : opts->config);
      }
      return kExitOk;
    };
  });
}

void register_list_command(CLI::App& app, CommandAction& action) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "list",
      "List every registered component with its params (name, type, default, unit, description)");
  cmd->add_flag("--json", *json, "print as JSON");
  cmd->callback([json, &action] {
    action = [json] {
      Components comps = make_builtin_components();
      if (*json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& c : comps.infos()) {
          nlohmann::ordered_json params = nlohmann::ordered_json::array();
          for (const auto& p : c.params) {
            params.push_back({{"name", p.key},
                              {"type", p.type},
                              {"default", p.default_value},
                              {"unit", p.unit},
                              {"description", p.description}});
          }
          out.push_back({{"kind", c.kind},
                         {"type", c.type},
                         {"description", c.description},
                         {"params", params}});
        }
        fmt::print("{}\n", out.dump(2));
        return kExitOk;
      }
      for (const auto& c : comps.infos()) {
        fmt::print("{} / type: {}\n  {}\n", c.kind, c.type, c.description);
        size_t w = 4;
        for (const auto& p : c.params)
          w = std::max(w, p.key.size());
        for (const auto& p : c.params) {
          fmt::print("    {:<{}}  {:<9} {:>14}  {:<7} {}\n", p.key, w, p.type, p.default_value,
                     p.unit, p.description);
        }
      }
      return kExitOk;
    };
  });
}

void register_trace_command(CLI::App& app, CommandAction& action, const GlobalOptions& global) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "trace", "Write the per-rank op graphs of a scenario's workload as a trace JSON file");
  cmd->add_option("config", opts->config, "scenario YAML file (default: the embedded default)")
      ->check(CLI::ExistingFile);
  add_set_options(cmd, *opts);
  cmd->add_option("-o,--out", opts->out, "trace file to write")->required();
  cmd->callback([opts, &action, &global] {
    action = [opts, &global] {
      if (opts->out.empty()) throw InputError("--out: the trace file name is empty");
      std::error_code ec;
      if (!opts->config.empty() && std::filesystem::equivalent(opts->config, opts->out, ec)) {
        throw InputError(
            fmt::format("--out {}: is the scenario itself; name another file", opts->out));
      }
      ConfigNode root = load_scenario(opts->config, opts->sets, opts->set_dir);
      Components comps = make_builtin_components();
      const ScenarioModel model = read_scenario(root, comps);
      const Workload& w = model.workload;
      write_file_atomic(opts->out,
                        workload_to_json(w, model.generator->trace_metadata()).dump(1) + "\n");
      size_t ops = 0;
      for (const auto& r : w.ranks)
        ops += r.ops.size();
      if (!global.quiet)
        fmt::print(stderr, "{}: {} ranks, {} ops\n", opts->out, w.ranks.size(), ops);
      return kExitOk;
    };
  });
}

}  // namespace mlasim
