// The `mlasim topology` command: JSON and table output for shipped configs, faults with lost
// bisection, overrides, DOT export, errors, CLI11 wiring, and the built binary's exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/errors.h"
#include "tests/sim/cli_runner.h"
#include "topology/topology_command.h"

namespace mlasim {
namespace {

std::string cluster_config(const std::string& name) {
  return (std::filesystem::path(MLASIM_CONFIG_DIR) / "clusters" / name).string();
}

nlohmann::json run_json(TopologyCommandOptions o) {
  o.json = true;
  std::ostringstream out;
  EXPECT_EQ(run_topology_command(o, out), 0);
  return nlohmann::json::parse(out.str());
}

TEST(TopologyCommand, JsonForTheShippedFt2) {
  TopologyCommandOptions o;
  o.config = cluster_config("ft2-k8.yaml");
  const auto j = run_json(o);
  EXPECT_EQ(j["topology"], "ft2");
  EXPECT_EQ(j["endpoints"], 32);
  EXPECT_EQ(j["switches"], 12);
  EXPECT_EQ(j["links"], 32);
  EXPECT_EQ(j["cables"], 64);
  EXPECT_EQ(j["diameter_hops"], 2);
  EXPECT_DOUBLE_EQ(j["bisection_bandwidth_bytes_per_s"].get<double>(), 16 * 50e9);
  for (const char* key : {"cost_usd", "cost_per_endpoint_usd", "path_diversity_min",
                          "unreachable_gpu_pairs", "routing_table_bytes"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  // Wall-clock timings end in _wall_s, as a run's summary keys do (they are not reproducible).
  for (const char* key : {"build_wall_s", "routing_wall_s", "bisection_wall_s"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GE(j[key].get<double>(), 0.0) << key;
  }
  for (const char* old_key : {"build_s", "routing_s", "bisection_s"})
    EXPECT_FALSE(j.contains(old_key)) << old_key;
}

TEST(TopologyCommand, FailedPlaneReportsLostBisectionAndNoUnreachablePairs) {
  TopologyCommandOptions o;
  o.config = cluster_config("mpft-k4.yaml");
  o.faults.planes = {3};
  const auto j = run_json(o);
  EXPECT_EQ(j["unreachable_gpu_pairs"], 0);
  EXPECT_EQ(j["faults"].size(), 1u);
  EXPECT_DOUBLE_EQ(j["bisection_lost_fraction"].get<double>(), 1.0 / 8);
  EXPECT_EQ(j["switches"], 48 - 6);
  // The failed plane's switches and cables were bought all the same (as `run` prices them).
  TopologyCommandOptions healthy;
  healthy.config = o.config;
  EXPECT_EQ(j["cost_usd"], run_json(healthy)["cost_usd"]);
  EXPECT_GT(j["cost_usd"].get<double>(), 0.0);
}

// A leaf cut off from every spine is a fabric of its own: its pairs with the 7 other leaves
// (14 ordered pairs) are unreachable, although every GPU pair still is reachable (each node's
// GPUs reach the others' NICs over NVLink).
TEST(TopologyCommand, LeafCutOffFromEverySpineCountsAsUnreachable) {
  TopologyCommandOptions o;
  o.config = cluster_config("ft2-k8.yaml");
  for (int s = 0; s < 4; ++s)
    o.faults.links.push_back("leaf0:spine" + std::to_string(s));
  const auto j = run_json(o);
  EXPECT_EQ(j["unreachable_leaf_pairs"], 14);
  EXPECT_EQ(j["unreachable_gpu_pairs"], 0);
  // Healthy, and with one of the four uplinks left: none.
  o.faults.links.pop_back();
  EXPECT_EQ(run_json(o)["unreachable_leaf_pairs"], 0);
}

// A scenario's network.faults given with --set apply as the file's would (not as a cluster key
// 'cluster.network'); a cluster file refuses them, naming the --fail-* options.
TEST(TopologyCommand, NetworkFaultsSetOnAScenarioApply) {
  TopologyCommandOptions o;
  o.config = (std::filesystem::path(MLASIM_CONFIG_DIR) / "teaching" / "planes.yaml").string();
  o.overrides = {"network.faults.planes=[1]"};
  const auto j = run_json(o);
  ASSERT_EQ(j["faults"].size(), 1u);
  // One of planes.yaml's 4 identical planes down: a quarter of the bisection lost.
  EXPECT_DOUBLE_EQ(j["bisection_lost_fraction"].get<double>(), 1.0 / 4);
  TopologyCommandOptions c;
  c.config = cluster_config("ft2-k8.yaml");
  c.overrides = {"network.faults.planes=[1]"};
  try {
    run_json(c);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--fail-plane"), std::string::npos) << e.what();
  }
}

TEST(TopologyCommand, FailedSwitchAndCrossPlaneOptionsApply) {
  TopologyCommandOptions o;
  o.config = cluster_config("ft2-k8.yaml");
  o.faults.switches = {"spine2"};
  o.cross_plane = "receiver";
  const auto j = run_json(o);
  EXPECT_EQ(j["path_diversity_min"], 3);
  EXPECT_EQ(j["cross_plane"], "receiver");
  EXPECT_DOUBLE_EQ(j["bisection_lost_fraction"].get<double>(), 0.25);
}

// Given a scenario, the command applies the faults its network section applies before a run, as
// the same faults given with --fail-* are, and checks the scenario's other sections as `run`
// does.
TEST(TopologyCommand, ScenarioFaultsApplyAndItsKeysAreChecked) {
  const std::string scenario =
      (std::filesystem::path(MLASIM_CONFIG_DIR) / "scenarios" / "net-failed-link.yaml").string();
  TopologyCommandOptions from_file;
  from_file.config = scenario;
  TopologyCommandOptions from_cli;
  from_cli.config = scenario;
  from_cli.overrides = {"network.faults.links=[]"};
  from_cli.faults.links = {"leaf0:spine0"};
  TopologyCommandOptions healthy = from_cli;
  healthy.faults = {};
  const auto f = run_json(from_file), c = run_json(from_cli), h = run_json(healthy);
  EXPECT_EQ(f["faults"], c["faults"]);
  EXPECT_EQ(f["faults"].size(), 1u);
  EXPECT_EQ(f["bisection_bandwidth_bytes_per_s"], c["bisection_bandwidth_bytes_per_s"]);
  EXPECT_LT(f["bisection_bandwidth_bytes_per_s"].get<double>(),
            h["bisection_bandwidth_bytes_per_s"].get<double>());
  EXPECT_EQ(f["bisection_bandwidth_healthy_bytes_per_s"], h["bisection_bandwidth_bytes_per_s"]);
  TopologyCommandOptions typo = healthy;
  typo.overrides = {"workload.bytez=1KiB"};
  std::ostringstream out;
  try {
    run_topology_command(typo, out);
    ADD_FAILURE() << "workload.bytez accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.bytez: unknown key"), std::string::npos)
        << e.what();
  }
}

TEST(TopologyCommand, OverridesAndWholeFileSections) {
  TopologyCommandOptions o;
  o.config = cluster_config("ft2-k8.yaml");
  o.overrides = {"cluster.nodes=2"};
  EXPECT_EQ(run_json(o)["gpus"], 16);
  TopologyCommandOptions sf;
  sf.config = cluster_config("slimfly-k64.yaml");  // top-level `type:`
  const auto j = run_json(sf);
  EXPECT_EQ(j["endpoints"], 32928);
  EXPECT_EQ(j["graph_built"], false);
  // A q too small is q's fault, not k's.
  sf.overrides = {"q=1"};
  try {
    run_json(sf);
    ADD_FAILURE() << "q = 1 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("q: must be at least 3"), std::string::npos) << e.what();
  }
}

// `--set` reaches the cluster keys with or without `cluster.`, whatever shape the file has:
// before, `nodes=2` on a wrapped file was silently ignored, and `cluster.k=8` on a whole-file
// cluster failed with a bogus "cluster.type: required".
TEST(TopologyCommand, OverridesAddressTheClusterInEitherShape) {
  auto gpus = [](const std::string& file, const std::string& assignment) {
    TopologyCommandOptions o;
    o.config = cluster_config(file);
    o.overrides = {assignment};
    o.bisection = false;
    return run_json(o)["gpus"].get<int>();
  };
  EXPECT_EQ(gpus("ft2-k8.yaml", "nodes=2"), 16);           // wrapped, no prefix
  EXPECT_EQ(gpus("ft2-k64.yaml", "nodes=4"), 32);          // whole file, no prefix
  EXPECT_EQ(gpus("ft2-k64.yaml", "cluster.nodes=4"), 32);  // whole file, with the prefix
  TopologyCommandOptions k8;
  k8.config = cluster_config("ft2-k64.yaml");
  k8.overrides = {"cluster.k=8"};
  EXPECT_EQ(run_json(k8)["endpoints"], 32);  // k^2/2 hosts of a k = 8 two-tier fat-tree
  TopologyCommandOptions typo;
  typo.config = cluster_config("ft2-k8.yaml");
  typo.overrides = {"nodez=2"};
  EXPECT_THROW(run_json(typo), InputError);  // an unknown cluster key, not ignored
}

TEST(TopologyCommand, TablePrintsCountsAndCost) {
  TopologyCommandOptions o;
  o.config = cluster_config("mrft-k8.yaml");
  std::ostringstream out;
  run_topology_command(o, out);
  EXPECT_NE(out.str().find("switches"), std::string::npos);
  EXPECT_NE(out.str().find("12 (8 leaf, 4 spine)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("per working endpoint"), std::string::npos);
  // Millions of dollars to the hundredth, with thousands separators: Table 3's dragonfly,
  // 16,352 switches at $40,000, 261,632 electric and 384,272 optical cables.
  TopologyCommandOptions df;
  df.config = cluster_config("dragonfly-k64.yaml");
  std::ostringstream table;
  run_topology_command(df, table);
  EXPECT_NE(table.str().find("$1,541.18M"), std::string::npos) << table.str();
}

// A fabric cut apart has no diameter (not 0), and with every endpoint failed no cost per
// endpoint (not $0): null in JSON, said in the table.
TEST(TopologyCommand, CutFabricHasNoDiameterAndNoEndpointNoCostPerEndpoint) {
  TopologyCommandOptions cut;
  cut.config = cluster_config("ft2-k8.yaml");
  cut.faults.switches = {"spine0", "spine1", "spine2", "spine3"};
  const auto j = run_json(cut);
  EXPECT_TRUE(j["diameter_hops"].is_null()) << j["diameter_hops"];
  EXPECT_GT(j["unreachable_leaf_pairs"].get<int64_t>(), 0);
  std::ostringstream table;
  run_topology_command(cut, table);
  EXPECT_NE(table.str().find("none: no two leaves of a plane are connected"), std::string::npos)
      << table.str();
  // One spine left: every leaf pair still connected, diameter 2.
  cut.faults.switches.pop_back();
  EXPECT_EQ(run_json(cut)["diameter_hops"], 2);

  TopologyCommandOptions dead;
  dead.config = cluster_config("mpft-k4.yaml");
  dead.faults.planes = {0, 1, 2, 3, 4, 5, 6, 7};
  const auto d = run_json(dead);
  EXPECT_EQ(d["endpoints"], 0);
  EXPECT_TRUE(d["cost_per_endpoint_usd"].is_null());
  EXPECT_GT(d["cost_usd"].get<double>(), 0.0);  // the cluster as built
  std::ostringstream none;
  run_topology_command(dead, none);
  EXPECT_NE(none.str().find("(no endpoint works)"), std::string::npos) << none.str();
}

TEST(TopologyCommand, DotGroupsPlanesPodsAndNodes) {
  const auto dir = std::filesystem::temp_directory_path();
  TopologyCommandOptions o;
  o.config = cluster_config("mpft-k4.yaml");
  o.dot_file = (dir / "mlasim_topology_test_mpft.dot").string();
  run_json(o);
  std::ifstream mpft(o.dot_file);
  std::stringstream text;
  text << mpft.rdbuf();
  EXPECT_NE(text.str().find("subgraph cluster_plane7"), std::string::npos);
  EXPECT_NE(text.str().find("subgraph cluster_node0"), std::string::npos);
  EXPECT_NE(text.str().find("\"n0_gpu0\" -- \"n0_nic0\" [kind=pcie"), std::string::npos);
  std::filesystem::remove(o.dot_file);

  o.config = cluster_config("ft3-k4.yaml");
  o.dot_file = (dir / "mlasim_topology_test_ft3.dot").string();
  run_json(o);
  std::ifstream ft3(o.dot_file);
  std::stringstream text3;
  text3 << ft3.rdbuf();
  EXPECT_NE(text3.str().find("subgraph cluster_pod3"), std::string::npos);
  std::filesystem::remove(o.dot_file);
}

TEST(TopologyCommand, InputErrors) {
  const std::string never = (std::filesystem::temp_directory_path() / "mlasim_never.dot").string();
  std::filesystem::remove(never);
  TopologyCommandOptions o;
  o.config = cluster_config("slimfly-k64.yaml");
  o.dot_file = never;
  std::ostringstream out;
  EXPECT_THROW(run_topology_command(o, out), InputError);
  TopologyCommandOptions big;
  big.config = cluster_config("mpft-k64.yaml");
  big.dot_file = never;
  EXPECT_THROW(run_topology_command(big, out), InputError);  // too large to draw
  EXPECT_FALSE(std::filesystem::exists(never));
  TopologyCommandOptions typo;
  typo.config = cluster_config("ft2-k8.yaml");
  typo.faults.switches = {"spine9"};
  EXPECT_THROW(run_topology_command(typo, out), InputError);
}

// A count and cost model has no graph: routing, reachability and bisection options would
// change nothing, and are refused as --dot and --fail-* are, each named.
TEST(TopologyCommand, CountModelsRefuseGraphOptions) {
  auto error = [](const TopologyCommandOptions& o) {
    std::ostringstream out;
    try {
      run_topology_command(o, out);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TopologyCommandOptions base;
  base.config = cluster_config("dragonfly-k64.yaml");
  EXPECT_EQ(error(base), "no error");
  TopologyCommandOptions seed = base;
  seed.seed = 3;
  EXPECT_EQ(error(seed),
            "dragonfly is a count and cost model: no routes, reachability or bisection for --seed");
  TopologyCommandOptions all = base;
  all.seed = 3;
  all.cross_plane = "receiver";
  all.max_pairs = 5;
  all.bisection = false;
  EXPECT_NE(error(all).find("for --seed, --cross-plane, --max-pairs, --no-bisection"),
            std::string::npos)
      << error(all);
  TopologyCommandOptions pairs = base;
  pairs.config = cluster_config("slimfly-k64.yaml");
  pairs.max_pairs_given = true;  // given on the command line, even at its default
  EXPECT_NE(error(pairs).find("slim_fly is a count and cost model"), std::string::npos);
  // Through the binary: exit 2, one line naming the flags.
  const CliResult r = run_cli({"topology", cluster_config("dragonfly-k64.yaml"), "--seed", "3",
                               "--cross-plane", "receiver", "--max-pairs", "5", "--no-bisection"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err,
            "mlasim: error: dragonfly is a count and cost model: no routes, reachability or "
            "bisection for --seed, --cross-plane, --max-pairs, --no-bisection\n");
  // --help shows the default of --max-pairs.
  const CliResult help = run_cli({"topology", "--help"});
  EXPECT_NE(help.out.find("--max-pairs INT=4194304"), std::string::npos) << help.out;
}

TEST(TopologyCommand, RegistersWithCli11) {
  CLI::App app;
  CommandAction action;
  register_topology_command(app, action);
  const std::string config = cluster_config("ft3-k4.yaml");
  std::vector<const char*> argv{
      "mlasim", "topology", config.c_str(), "--json", "--fail-link", "pod0_leaf0:pod0_spine0",
      "--seed", "3"};
  app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  ASSERT_TRUE(action);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(action(), 0);
  const auto j = nlohmann::json::parse(::testing::internal::GetCapturedStdout());
  EXPECT_EQ(j["links"], 31);
  EXPECT_EQ(j["unreachable_gpu_pairs"], 0);
}

TEST(TopologyCommand, BinaryExitCodes) {
  const CliResult ok = run_cli({"topology", cluster_config("ft2-k8.yaml"), "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["endpoints"], 32);
  const CliResult bad =
      run_cli({"topology", cluster_config("ft2-k8.yaml"), "--set", "cluster.nodes=99"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("cluster.nodes"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace mlasim
