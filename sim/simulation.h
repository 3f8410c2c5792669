// Elaboration and run of one scenario: reads the config tree through the registry, builds the
// cluster graph and the workload, creates one SystemC module per hardware vertex with its
// links, hands each GPU its op graph, then runs the kernel with a progress bar and a watchdog
// that turns lack of progress into a diagnosis (SimulationError, exit 3) instead of a hang.
//
// SystemC allows one elaboration per process, so one Simulation per process.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/scenario.h"
#include "sim/sim_context.h"

namespace mlasim {

class Fabric;

struct RunControl {
  bool progress = false;  // draw a progress bar on stderr
};

struct NetworkParams;
struct RoutingParams;

class Simulation {
 public:
  // Throws ConfigError/InputError for bad input.
  Simulation(const ConfigNode& root, const Components& components, LogLevel log_level);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Runs to completion. Throws SimulationError on deadlock or time limit.
  void run(const RunControl& control);

  const ScenarioParams& scenario() const { return params_; }
  const ConfigNode& resolved_config() const { return resolved_; }
  SimContext& context() { return ctx_; }
  nlohmann::ordered_json summary() const;
  nlohmann::ordered_json timeline() const;
  std::string timeline_text() const;  // timeline() as text, written without building the tree
  // The same text in parts of a few MB (timeline.json; never held whole).
  void write_timeline(const std::function<void(std::string_view)>& put) const;
  // The packet- or flow-level network engine; null with placeholder links.
  Fabric* fabric() const;
  // Result files besides summary, stats and timeline (network: links.csv, messages.csv...).
  void write_extra_results(const std::filesystem::path& dir) const;
  double wall_seconds() const { return wall_s_; }
  // The finished run as the workload sees it (op spans, finish times, memory capacity).
  WorkloadRun workload_run() const;
  size_t num_gpus() const;

 private:
  // Starts the GPUs and runs the kernel in slices until nothing is left to happen or the time
  // limit; returns the simulated time covered.
  Time run_slices(const RunControl& control);
  // The watchdog's diagnosis: one line per finding, each starting with a newline.
  std::string diagnose_stall() const;

  struct Impl;
  // Faults at a simulated time (network.faults.events): handed to the fabric, with the hook
  // that rebuilds routes once they are detected.
  void schedule_faults(const NetworkParams& network, const RoutingParams& routing);
  ScenarioParams params_;
  SimContext ctx_;
  ConfigNode resolved_;
  std::unique_ptr<Impl> impl_;
  double wall_s_ = 0;
};

// Reads and checks a scenario without elaborating SystemC modules (for `mlasim validate`):
// every section's params are parsed, unknown keys rejected, and the resolved tree returned.
ConfigNode validate_scenario(const ConfigNode& root, const Components& components);

// The per-rank op graphs a scenario's workload section produces on its cluster.
Workload scenario_workload(const ConfigNode& root, const Components& components);

}  // namespace mlasim
