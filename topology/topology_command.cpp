// The `mlasim topology` command (see topology_command.h).
#include "topology/topology_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/errors.h"
#include "sim/params.h"
#include "sim/registry.h"
#include "sim/scenario_model.h"
#include "topology/cluster_builders.h"
#include "topology/dot_export.h"
#include "topology/metrics.h"

namespace mlasim {
namespace {

RoutingParams routing_params(const ConfigNode& root, const ConfigNode* section,
                             const TopologyCommandOptions& o) {
  RoutingParams r;
  if (section != &root) r = read_params<RoutingParams>(root.find("routing"), "routing");
  if (!o.cross_plane.empty()) {
    r.cross_plane = ParamTraits<CrossPlaneForwarding>::parse(
        ConfigNode::scalar(o.cross_plane, SourceLoc{"--cross-plane", 0}), "--cross-plane");
  }
  if (o.seed) r.seed = *o.seed;
  return r;
}

// A `--set` may name a cluster key with or without the `cluster.` prefix, whichever shape the
// file has (a whole-file cluster has its keys at the top; a scenario or wrapped file has them
// under `cluster:`). Keys of the file's other top-level sections (routing, ...) stay as given;
// a scenario's sections (network...) on a file that is not a scenario are refused.
std::string cluster_override(const ConfigNode& root, bool wrapped, bool scenario,
                             std::string_view assignment) {
  constexpr std::string_view kPrefix = "cluster.";
  const std::string_view key = assignment.substr(0, assignment.find('='));
  const bool prefixed = key.substr(0, kPrefix.size()) == kPrefix;
  constexpr std::array<std::string_view, 5> kSections{"network", "routing", "hardware", "workload",
                                                      "sim"};
  const std::string_view first = key.substr(0, key.find('.'));
  const bool other_section =
      key.find('.') != std::string_view::npos &&
      std::find(kSections.begin(), kSections.end(), first) != kSections.end();
  if (!scenario && other_section && first != "routing") {
    throw InputError(fmt::format(
        "--set {}: a cluster file takes cluster keys only ({} belongs to a scenario); fail "
        "parts with --fail-plane, --fail-switch, --fail-nic or --fail-link",
        assignment, first));
  }
  if (!wrapped) {
    return std::string(prefixed ? assignment.substr(kPrefix.size()) : assignment);
  }
  // A scenario's other sections stay as given, even where its file leaves them out.
  if (prefixed || root.find(first) || other_section) return std::string(assignment);
  return std::string(kPrefix) + std::string(assignment);
}

// The command line's faults (--fail-plane, --fail-switch, --fail-nic, --fail-link, applied in
// that order as apply_faults does); an error names the option of the part it concerns.
std::vector<std::string> apply_fail_options(ClusterGraph& cluster, const FaultSpec& f) {
  std::vector<std::string> applied;
  auto apply = [&](std::string_view option, const FaultSpec& one) {
    try {
      const std::vector<std::string> done = apply_faults(cluster, one);
      applied.insert(applied.end(), done.begin(), done.end());
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", option, e.what()));
    }
  };
  apply("--fail-plane", FaultSpec{f.planes, {}, {}, {}});
  apply("--fail-switch", FaultSpec{{}, f.switches, {}, {}});
  apply("--fail-nic", FaultSpec{{}, {}, f.nics, {}});
  apply("--fail-link", FaultSpec{{}, {}, {}, f.links});
  return applied;
}

// Renders first, so a refused (too large) graph leaves no file behind.
void write_dot_file(const ClusterGraph& cluster, const std::string& path) {
  std::ostringstream text;
  write_dot(cluster, text);
  std::ofstream file(path);
  if (!file || !(file << text.str())) throw InputError(fmt::format("cannot write '{}'", path));
}

}  // namespace

int run_topology_command(const TopologyCommandOptions& o, std::ostream& out) {
  if (o.max_pairs < 1)
    throw InputError(fmt::format("--max-pairs: must be >= 1, got {}", o.max_pairs));
  ConfigNode root = load_config_file(o.config);
  const bool wrapped = root.find("cluster") != nullptr;
  if (!wrapped && !root.find("type")) {
    throw InputError(
        fmt::format("{}: needs a 'cluster:' section or a top-level 'type:'", o.config));
  }
  // A scenario file (more than cluster and routing): every key is checked as `run` checks it,
  // and the faults its network section applies before a run are applied here too, before the
  // command line's.
  bool scenario = false;
  for (const auto& [key, value] : root.entries())
    scenario = scenario || (wrapped && key != "cluster" && key != "routing");
  std::vector<std::string> sets;
  for (const std::string& assignment : o.overrides)
    sets.push_back(cluster_override(root, wrapped, scenario, assignment));
  apply_overrides(root, sets);
  FaultSpec scenario_faults;
  const Components comps = make_builtin_components();
  if (scenario) {
    const NetworkFaultParams nf = check_scenario_keys(root, comps).faults;
    scenario_faults = FaultSpec{nf.planes, nf.switches, nf.nics, nf.links};
    if (!nf.events.empty()) {
      const ConfigNode* events = root.at_path("network.faults.events");
      std::cerr << fmt::format(
          "mlasim: warning: {}\n",
          config_message(events ? events->loc() : root.loc(), "network.faults.events",
                         fmt::format("{} fault(s) at a simulated time not applied (topology "
                                     "measures the cluster before the run; --fail-* applies one)",
                                     nf.events.size())));
    }
  }
  const ConfigNode* section = wrapped ? root.find("cluster") : &root;
  const std::string path = wrapped ? "cluster" : "";
  const RoutingParams routing = routing_params(root, section, o);
  ComponentTable<ClusterBuilder> table("cluster");
  register_cluster_builders(table);
  auto made = table.create(section, path);
  const std::string type = section->find("type")->as_string();

  nlohmann::ordered_json j;
  const bool faulted = !o.faults.empty() || !scenario_faults.empty();
  if (auto counts = made.product->count_model()) {
    if (faulted || !o.dot_file.empty()) {
      throw InputError(
          fmt::format("{} is a count and cost model: no graph for --dot, --fail-* or the "
                      "scenario's network.faults",
                      type));
    }
    // Options that act on routes, reachability or bisection, none of which a count model has:
    // given, they would change nothing.
    std::vector<std::string> unused;
    if (o.seed) unused.emplace_back("--seed");
    if (!o.cross_plane.empty()) unused.emplace_back("--cross-plane");
    if (o.max_pairs_given || o.max_pairs != TopologyCommandOptions{}.max_pairs)
      unused.emplace_back("--max-pairs");
    if (!o.bisection) unused.emplace_back("--no-bisection");
    if (!unused.empty()) {
      throw InputError(
          fmt::format("{} is a count and cost model: no routes, reachability or bisection for {}",
                      type, fmt::join(unused, ", ")));
    }
    j = measure_count_model(type, *counts, made.product->prices()).to_json();
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    ClusterGraph cluster = made.product->build();
    const double build_wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The hardware sections this cluster needs (a NIC section where it has NICs...), as `run`
    // requires them.
    if (scenario) resolve_hardware(root, cluster, comps);
    std::optional<double> healthy;
    std::vector<std::string> applied;
    // Failed parts are still bought: the cost is that of the cluster as built, as `run` reports
    // it, while the counts are of the parts still working.
    const GraphCounts built = count_graph(cluster);
    if (faulted) {
      if (o.bisection) healthy = bisection_bandwidth(cluster);
      if (!scenario_faults.empty()) {
        try {
          applied = apply_faults(cluster, scenario_faults);
        } catch (const InputError& e) {
          const ConfigNode* at = root.at_path("network.faults");
          throw ConfigError(
              config_message(at ? at->loc() : root.loc(), "network.faults", e.what()));
        }
      }
      const std::vector<std::string> given = apply_fail_options(cluster, o.faults);
      applied.insert(applied.end(), given.begin(), given.end());
    }
    if (!o.dot_file.empty()) write_dot_file(cluster, o.dot_file);
    MetricsOptions mo;
    mo.routing = routing;
    mo.bisection = o.bisection;
    mo.max_pairs = o.max_pairs;
    TopologyMetrics m = measure_topology(cluster, made.product->prices(), mo);
    m.cost = price_fabric(built.fabric, made.product->prices());
    j = m.to_json();
    j["build_wall_s"] = build_wall_s;
    j["cross_plane"] = std::string(enum_name(routing.cross_plane));
    if (faulted) {
      j["faults"] = applied;
      if (healthy && m.bisection_bytes_per_s) {
        const double lost = *healthy - *m.bisection_bytes_per_s;
        j["bisection_bandwidth_healthy_bytes_per_s"] = *healthy;
        j["bisection_lost_bytes_per_s"] = lost;
        j["bisection_lost_fraction"] = *healthy > 0 ? lost / *healthy : 0.0;
      }
    }
  }
  if (o.json) {
    out << j.dump(2) << "\n";
  } else {
    out << format_metrics_table(j);
  }
  return kExitOk;
}

void register_topology_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<TopologyCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "topology", "Build a cluster topology and print its counts, cost, routes and bisection");
  cmd->add_option("config", o->config, "cluster YAML (e.g. configs/clusters/mpft-k64.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", o->json, "print one JSON object instead of the table");
  cmd->add_option("--dot", o->dot_file, "write the graph as Graphviz to FILE (small fabrics)");
  cmd->add_option(
      "--set", o->overrides,
      "override a config value, e.g. --set cluster.k=8 (null or ~ as the value removes the key)");
  cmd->add_option("--fail-plane", o->faults.planes, "fail every switch and NIC of a plane (rail)");
  cmd->add_option("--fail-switch", o->faults.switches, "fail a switch by name (e.g. p0_spine3)");
  cmd->add_option("--fail-nic", o->faults.nics, "fail a NIC by name (e.g. n5_nic2)");
  cmd->add_option("--fail-link", o->faults.links, "fail the link A:B between two named vertices");
  cmd->add_option("--cross-plane", o->cross_plane,
                  "forward cross-plane traffic over NVLink at the sender or the receiver")
      ->check(CLI::IsMember({"sender", "receiver"}));
  // Read as text and parsed like routing.seed in a file, so that a negative seed is an error
  // rather than a number wrapped around.
  auto seed = std::make_shared<std::string>();
  cmd->add_option("--seed", *seed, "ECMP hash seed (an integer >= 0)");
  cmd->add_flag("!--no-bisection", o->bisection, "skip the max-flow bisection (large fabrics)");
  CLI::Option* max_pairs =
      cmd->add_option("--max-pairs", o->max_pairs,
                      "GPU pairs (>= 1) to walk for reachability before sampling sources")
          ->capture_default_str();
  cmd->callback([o, seed, max_pairs, &action] {
    o->max_pairs_given = max_pairs->count() > 0;
    action = [o, seed] {
      if (!seed->empty())
        o->seed = ParamTraits<uint64_t>::parse(ConfigNode::scalar(*seed), "--seed");
      return run_topology_command(*o, std::cout);
    };
  });
}

}  // namespace mlasim
