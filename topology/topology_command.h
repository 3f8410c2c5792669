// `mlasim topology CONFIG`: builds the cluster a config describes and prints its metrics
// (metrics.h) as a table or, with --json, as one JSON object; --dot writes Graphviz for small
// fabrics; --fail-* options inject faults (faults.h) and report what they cost. A count and cost
// model (no graph: dragonfly, slim fly) refuses every option that needs one (--dot, --fail-*,
// --seed, --cross-plane, --max-pairs, --no-bisection). Wall-clock timings in the JSON end in
// _wall_s, as a run's summary keys do.
//
// CONFIG is a YAML file whose top-level `cluster:` section (with an optional `routing:` beside
// it) describes the builder, or whose top level is itself that section (has `type:`), as the
// files in configs/clusters/ are. A scenario (a file with other sections too) is checked key by
// key as `mlasim run` checks it, and the faults its `network.faults` applies before a run are
// applied before the --fail-* ones; its faults at a simulated time are not (a warning says so).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sim/command.h"
#include "topology/faults.h"

namespace mlasim {

struct TopologyCommandOptions {
  std::string config;
  std::vector<std::string> overrides;  // "a.b=value", applied to the loaded file
  bool json = false;
  std::string dot_file;
  FaultSpec faults;
  std::string cross_plane;  // "" keeps the config's (sender by default)
  std::optional<uint64_t> seed;
  bool bisection = true;
  int64_t max_pairs = int64_t{1} << 22;
  bool max_pairs_given = false;  // --max-pairs on the command line (a count model refuses it)
};

// Runs the command, printing to `out`; errors are InputError (exit code 2).
int run_topology_command(const TopologyCommandOptions& options, std::ostream& out);

void register_topology_command(CLI::App& app, CommandAction& action);

}  // namespace mlasim
