// Well-formed inputs beyond what the simulator can do in reasonable time or memory, through the
// real `mlasim` binary: each must fail fast with exit 2 and one line naming the key (and the file
// and line where there is one), instead of hanging, running for minutes or exhausting memory.
// Also: inputs that are not regular files (a named pipe would block forever), values whose
// range differed between commands, and `mlasim list` covering every key a scenario has.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/config.h"
#include "tests/sim/bad_input_harness.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

const std::string kPairwise = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
const std::string kTeaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
const std::string kClusters = MLASIM_SOURCE_DIR "/configs/clusters/";
const std::string kDefaultScenario = MLASIM_SOURCE_DIR "/configs/scenarios/default.yaml";
const std::string kPrefill = MLASIM_SOURCE_DIR "/configs/scenarios/deepseek-v3-prefill-ep32.yaml";

// Nine levels of anchors, each a list of ten aliases of the one before: 10^9 values expanded.
std::string alias_bomb() {
  std::string out = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 8; ++i) {
    // Appended piece by piece: "a" + std::to_string(i) trips GCC 12's -Wrestrict.
    const std::string n = std::to_string(i), prev = std::to_string(i - 1);
    out.append("a").append(n).append(": &a").append(n).append(" [");
    for (int j = 0; j < 10; ++j)
      out.append(j ? ", *a" : "*a").append(prev);
    out.append("]\n");
  }
  return out;
}

std::vector<BadInput> cases() {
  const std::string teaching = "include: " + kTeaching + "\n";
  const std::string pairwise = "include: " + kPairwise + "\n";
  return {
      {"RouterWarmupStepsOverLimit",
       {},
       {"validate", kTeaching, "--set", "workload.router_warmup_steps=100000000"},
       {"workload.router_warmup_steps", "must be at most 10000"}},
      // 4 GPUs x 2^16 requests through 4 routed layers: about 10^6 routings per step, 10^9 in all.
      {"RouterWarmupOverBudget",
       {{"s.yaml",
         teaching + "workload:\n  requests_per_gpu: 65536\n  router_warmup_steps: 1000\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "workload.router_warmup_steps", "(2^28) token routings", "steps fit"}},
      // 32 GPUs x 158,275 requests x 2 tokens through 26 routed layers and the MTP module's:
      // 268,434,400 token routings, 1,056 under the budget. EPLB's history step routes a sample
      // (16,384 tokens per layer: 512 per rank x 32 ranks x 27 layers), which no longer fits; it
      // was once charged as a whole micro-batch (134 M), refusing steps far below the budget.
      {"EplbHistorySampleOverBudget",
       {},
       {"validate", kTeaching, "--set", "workload.layers=27", "--set", "cluster.nodes=16", "--set",
        "workload.requests_per_gpu=158275"},
       {"workload.placement.layout", "a sample of 442368 token routings", "268434400", "(2^28)"}},
      // 8 GPUs x 2^20 requests through 26 routed layers and an MTP module: some 4 x 10^8
      // routings in the step alone (each within the batch limit of 2^20 requests).
      {"RequestsPerGpuOverRoutingBudget",
       {},
       {"validate", kDefaultScenario, "--set", "workload.requests_per_gpu=1048576"},
       {"workload.requests_per_gpu", "token routings in the step", "(2^28", "fit this scenario"}},
      // 32 GPUs x 2^20 prompt tokens through 58 routed layers: some 2 x 10^9 routings.
      {"TokensPerGpuOverRoutingBudget",
       {{"s.yaml", "include: " + kPrefill + "\nworkload:\n  tokens_per_gpu: 1048576\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.tokens_per_gpu", "token routings in the step", "(2^28"}},
      // Each drafted token is an MTP module: 10^5 of them fit the model's positions but took
      // minutes and gigabytes to build.
      {"MtpDepthOverLimit",
       {},
       {"validate", kTeaching, "--set", "workload.mtp.depth=100000"},
       {"workload.mtp.depth", "must be at most 4096"}},
      // Chunked prefill repeats the layers per pass: 8192 prompt tokens per micro-batch in
      // chunks of 1 are 8192 passes; in chunks of 16, 512 passes of 61 layers (both used to
      // exhaust memory).
      {"PrefillChunkPassesOverLimit",
       {},
       {"validate", kPrefill, "--set", "workload.chunk_size=1"},
       {"workload.chunk_size", "8192 passes, more than 4096"}},
      {"PrefillChunkLayersOverLimit",
       {},
       {"validate", kPrefill, "--set", "workload.chunk_size=16"},
       {"workload.chunk_size", "512 passes of 61 layers make 31232 layers", "more than 4096"}},
      // It sized the router's per-token tables: 4e9 took 24 GB before the kernel killed it.
      {"RouterMaxNodesOverLimit",
       {},
       {"validate", kTeaching, "--set", "workload.router.max_nodes_per_token=4000000000"},
       {"workload.router.max_nodes_per_token", "must be at most 64"}},
      // Hardware sizes allocated up front: 4e9 SMs or HBM channels ended in std::bad_alloc
      // (exit 1) or the kernel's OOM kill at run time, after validate had accepted them.
      {"TileGpuSmsOverLimit",
       {},
       {"validate", kTeaching, "--set", "hardware.gpu.type=tile", "--set",
        "hardware.gpu.sms=4000000000"},
       {"hardware.gpu.sms", "must be in [1, 4096]"}},
      {"HbmPseudoChannelsOverLimit",
       {},
       {"validate", kTeaching, "--set", "hardware.memory.type=hbm", "--set",
        "hardware.memory.org.channels=4000000000"},
       {"hardware.memory.org.channels", "40000000000", "exceeds 4096 pseudo-channels"}},
      // 65536 x 65536 x 1 banks wrapped to 0 in 32 bits and passed the 64-bank check.
      {"HbmBanksWrapAround",
       {},
       {"validate", kTeaching, "--set", "hardware.memory.type=hbm", "--set",
        "hardware.memory.org={sids: 65536, bank_groups: 65536, banks: 1}"},
       {"hardware.memory.org.banks", "4294967296 exceeds the 64 banks"}},
      {"TrafficIterationsOverLimit",
       {},
       {"validate", kPairwise, "--set", "workload={type: network_traffic, iterations: 100000000}"},
       {"workload.iterations", "between 1 and 1048576"}},
      {"TrafficCountOverLimit",
       {},
       {"validate", kPairwise, "--set",
        "workload={type: network_traffic, pattern: p2p, count: 100000000}"},
       {"workload.count", "between 1 and 1048576"}},
      {"TrafficOpsOverBudget",  // each count within its limit, the pattern over its op budget
       {{"s.yaml", pairwise +
                       "workload:\n  type: network_traffic\n  pattern: p2p\n  count: 1000000\n"
                       "  sizes: [1KiB, 2KiB]\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:5:", "workload.count", "4000002 ops", "(2^21)"}},
      {"ProbeEventsOverLimit",
       {{"s.yaml", pairwise + "network:\n  probe_events: 99999999999\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "network.probe_events", "at most 100000000"}},
      {"KernelsHugeBatch",
       {},
       {"kernels", "--batch", "99999999999"},
       {"--batch", "between 1 and 65536"}},
      {"TopologyRadixOverLimit",
       {},
       {"topology", kClusters + "ft2-k64.yaml", "--set", "k=100000", "--no-bisection"},
       {"--set k=100000", "k:", "between 2 and 65536"}},
      {"TopologyFilledFabricOverLimit",  // k = 2048 filled: 2^21 NICs and GPUs
       {},
       {"topology", kClusters + "ft2-k64.yaml", "--set", "k=2048", "--no-bisection"},
       {"k:", "2097152 GPUs", "(2^18)"}},
      {"TopologySpinesOverLimit",  // 131,080 GPUs, but 8 planes of 16,384 spines (k = 32768)
       {},
       {"topology", kClusters + "mpft-k64.yaml", "--set", "k=32768", "--set", "nodes=16385",
        "--no-bisection"},
       {"nodes:", "131088 network switches", "(2^16)"}},
      {"ScenarioClusterOverLimit",
       {},
       {"validate", kPairwise, "--set", "cluster.nodes=65536", "--set", "cluster.gpus_per_node=8"},
       {"cluster.nodes", "524288 GPUs", "(2^18)"}},
      {"TopologyNegativeSeed",
       {},
       {"topology", kClusters + "mpft-k4.yaml", "--seed", "-1"},
       {"--seed", "-1 is out of range"}},
      {"TopologyZeroMaxPairs",
       {},
       {"topology", kClusters + "mpft-k4.yaml", "--max-pairs", "0"},
       {"--max-pairs", ">= 1"}},
      {"YamlAliasBomb",
       {{"s.yaml", alias_bomb()}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:", "expands to more than 200000 values"}},
      // An alias inside its own anchor (it crashed the reader, stack overflow, before the
      // depth limit), and deep nesting built of aliases, which the parser's own limit misses.
      {"YamlSelfAlias",
       {{"s.yaml", "a: &x [*x]\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:1:", "nests deeper than 64 levels"}},
      {"SetSelfAlias",
       {},
       {"validate", kPairwise, "--set", "description=&x [*x]"},
       {"--set description=", "nests deeper than 64 levels"}},
      {"YamlAliasNesting",
       {{"s.yaml",
         "a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
         "b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:1:", "b[0][0]", "nests deeper than 64 levels"}},
      // A second document would be dropped unread.
      {"YamlSecondDocument",
       {{"s.yaml", "name: a\n---\nname: b\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:2:", "a second YAML document"}},
      {"SetAliasBomb",
       {},
       {"validate", kPairwise, "--set",
        "description={a: &a [x, x, x, x, x, x, x, x, x, x], b: &b [*a, *a, *a, *a, *a, *a, *a, "
        "*a, *a, *a], c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], d: &d [*c, *c, *c, *c, *c, "
        "*c, *c, *c, *c, *c], e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], f: [*e, *e, *e, *e, "
        "*e, *e, *e, *e, *e, *e]}"},
       {"--set description=", "expands to more than 200000 values"}},
      // Decode at 163840 cached tokens with MTP depth 1 computes tokens 163841 and 163842:
      // beyond DeepSeek-V2-Lite's positions, as `mlasim kernels --context 163840` says.
      {"ContextBeyondModelPositions",
       {{"s.yaml", teaching + "workload:\n  context_length: 163840\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.context_length", "163842 tokens (163840 cached + 2",
        "max_position_embeddings 163840"}},
      {"ContextDistributionMaxBeyondModelPositions",
       {{"s.yaml", teaching + "workload:\n  context_distribution: {type: uniform, min: 1, max: "
                              "200000}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.context_distribution.max", "max_position_embeddings 163840"}},
      // A key path deeper than any config nests (one of 50,000 parts took 30 s to refuse).
      {"SetKeyPathTooLong",
       {},
       {"validate", kPairwise, "--set",
        [] {
          std::string key;
          for (int i = 0; i < 50000; ++i)
            key += "a.";
          return key + "b=1";
        }()},
       {"--set 'a.a.a.", "a key path of 50001 parts; at most 64"}},
      // A control character in a key: the error stays one line, the newline escaped.
      {"SetKeyWithNewline",
       {},
       {"validate", kPairwise, "--set", "workload.la\nyers=3"},
       {"workload.la\\nyers", "unknown key"}},
      // Results record names and values as JSON text: bytes that are no UTF-8 are refused before
      // the run, not found when run.json is written (exit 1 after the whole run).
      {"ArgumentNotUtf8",
       {},
       {"validate", kPairwise, "--set", "description=\xff\xfe"},
       {"argument 4", "\\xff\\xfe", "not valid UTF-8"}},
      // A path the system refuses (a name over 255 bytes) is bad input, not an internal error.
      // A run of a results folder's config.resolved.yaml into that folder would clear its own
      // scenario first; a trace written over its scenario replaced it.
      {"RunReplacingItsOwnScenario",
       {{"config.resolved.yaml", "include: " + kPairwise + "\n"}},
       {"run", "@DIR@/config.resolved.yaml", "-q", "--no-plots", "--out", "@DIR@"},
       {"would replace its own scenario (config.resolved.yaml in @DIR@)"}},
      {"TraceOverItsScenario",
       {{"s.yaml", "include: " + kPairwise + "\n"}},
       {"trace", "@DIR@/s.yaml", "-q", "-o", "@DIR@/s.yaml"},
       {"--out @DIR@/s.yaml: is the scenario itself"}},
      {"OutPathNameTooLong",
       {},
       {"run", kPairwise, "-q", "--no-plots", "--out", "@DIR@/" + std::string(300, 'a')},
       {std::string(300, 'a'), "File name too long"}},
      {"KernelsContextBeyondModelPositions",  // the same range through `mlasim kernels`
       {},
       {"kernels", "--model", "deepseek-v2-lite", "--context", "163840"},
       {"163841 tokens", "max_position_embeddings 163840"}},
      // Counts whose sum overflowed 64 bits once passed the position check (exit 0, negative
      // kv_len).
      {"KernelsContextOverflowingItsSum",
       {},
       {"kernels", "--context", "9223372036854775807"},
       {"--context 9223372036854775807", "at most 2^40 tokens"}},
      {"KernelsNewTokensOverflowingTheSum",
       {},
       {"kernels", "--new-tokens", "9223372036854775807"},
       {"--new-tokens 9223372036854775807", "at most 2^40 tokens"}},
  };
}

class InputLimitCase : public ::testing::TestWithParam<BadInput> {};

TEST_P(InputLimitCase, FailsFastWithExitTwoAndOneLine) {
  expect_bad_input("limits", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Limits, InputLimitCase, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The same inputs within their limits are accepted, so each case above fails for its own value.
TEST(InputLimitControls, ValuesWithinTheLimitsAreAccepted) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"validate", "-q", kTeaching, "--set", "workload.router_warmup_steps=20"},
           {"validate", "-q", kTeaching, "--set", "workload.requests_per_gpu=65536"},
           {"validate", "-q", kTeaching, "--set", "sim.progress_interval_s=0"},
           {"validate", "-q", kTeaching, "--set", "workload.mtp.depth=64"},
           {"validate", "-q", kTeaching, "--set", "workload.router.max_nodes_per_token=64"},
           {"validate", "-q", kTeaching, "--set", "workload.context_length=163838"},
           {"validate", "-q", kPairwise, "--set",
            "workload={type: network_traffic, pattern: p2p, count: 1000}"},
           {"validate", "-q", kPairwise, "--set", "network.probe_events=100000000"},
           {"topology", kClusters + "ft3-k64.yaml", "--set", "k=8", "--seed", "7"},
           {"kernels", "--model", "teaching", "--batch", "4096", "--context", "16"},
       }) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args.back() << ": " << r.err;
  }
}

// A named pipe as the scenario, an included file, a model config.json or a trace: refused with
// one line before anything opens it (opening a pipe for reading blocks until a writer comes).
TEST(InputLimitFiles, NamedPipesAreRefusedNotOpened) {
  const fs::path dir = fresh_case_dir("limits", "fifo");
  for (const char* name : {"p.yaml", "p.json"})
    ASSERT_EQ(::mkfifo((dir / name).c_str(), 0600), 0) << name;
  std::ofstream(dir / "inc.yaml") << "include: p.yaml\n";
  std::ofstream(dir / "model.yaml")
      << "include: " << kTeaching << "\nworkload:\n  model: " << (dir / "p.json").string() << "\n";
  std::ofstream(dir / "trace.yaml")
      << "include: " << kPairwise
      << "\nworkload:\n  type: trace\n  file: " << (dir / "p.json").string() << "\n";
  expect_input_error(dir, {"validate", "@DIR@/p.yaml"}, {"@DIR@/p.yaml", "named pipe"});
  expect_input_error(dir, {"validate", "@DIR@/inc.yaml"},
                     {"inc.yaml:1:", "include", "p.yaml", "named pipe"});
  expect_input_error(dir, {"validate", "@DIR@/model.yaml"},
                     {"workload.model", "p.json", "named pipe"});
  expect_input_error(dir, {"validate", "@DIR@/trace.yaml"},
                     {"workload.file", "p.json", "named pipe"});
  expect_input_error(dir, {"kernels", "--model", "@DIR@/p.json"}, {"p.json", "named pipe"});
  fs::remove_all(dir);
}

// Leaf keys under `node` as dotted paths (items of a list of mappings as "key[].sub"; a list of
// scalars is one value).
void leaf_keys(const ConfigNode& node, const std::string& path, std::vector<std::string>& out) {
  if (node.is_map()) {
    for (const auto& [k, v] : node.entries())
      leaf_keys(v, path.empty() ? k : path + "." + k, out);
  } else if (node.is_seq() && !node.items().empty() && node.items().front().is_map()) {
    for (const auto& item : node.items())
      leaf_keys(item, path + "[]", out);
  } else {
    out.push_back(path);
  }
}

// Every key of a resolved scenario (`validate --print`: each default filled in) is listed by
// `mlasim list` under its component type or section, with a default, a unit and a description.
TEST(InputLimitList, EveryResolvedKeyIsListed) {
  const CliResult listed = run_cli({"list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> params;  // (kind, type)
  for (const auto& c : nlohmann::json::parse(listed.out)) {
    auto& keys = params[{c["kind"].get<std::string>(), c["type"].get<std::string>()}];
    for (const auto& p : c["params"]) {
      EXPECT_FALSE(p["default"].get<std::string>().empty()) << p["name"];
      EXPECT_FALSE(p["unit"].get<std::string>().empty()) << p["name"];
      EXPECT_FALSE(p["description"].get<std::string>().empty()) << p["name"];
      keys.insert(p["name"].get<std::string>());
    }
  }
  const std::pair<std::string, std::string> scenario_keys{"section", "scenario"};
  ASSERT_TRUE(params.count(scenario_keys));
  for (const std::string& scenario :
       {kTeaching, kPairwise,
        std::string(MLASIM_SOURCE_DIR "/configs/scenarios/deepseek-v3-decode-ep144.yaml"),
        std::string(MLASIM_SOURCE_DIR "/configs/scenarios/net-p2p-bandwidth.yaml")}) {
    const CliResult r = run_cli({"validate", "-q", "--print", scenario});
    ASSERT_EQ(r.exit_code, 0) << scenario << ": " << r.err;
    const ConfigNode root = load_config_string(r.out, "resolved", fs::current_path());
    size_t checked = 0;
    for (const auto& [section, node] : root.entries()) {
      // (component or section, the node whose keys it owns)
      std::vector<std::pair<std::pair<std::string, std::string>, const ConfigNode*>> owners;
      if (section == "hardware") {
        for (const auto& [kind, part] : node.entries())
          owners.push_back({{kind, part.find("type")->as_string()}, &part});
      } else if (section == "cluster" || section == "workload") {
        owners.push_back({{section, node.find("type")->as_string()}, &node});
      } else if (section == "network" || section == "routing") {
        owners.push_back({{"section", section}, &node});
      } else {  // a top-level key of the scenario itself
        ConfigNode top = ConfigNode::map();
        top.set(section, node);
        std::vector<std::string> keys;
        leaf_keys(top, "", keys);
        for (const std::string& k : keys) {
          EXPECT_TRUE(params[scenario_keys].count(k))
              << scenario << ": top-level " << k << " is not in `mlasim list`";
          ++checked;
        }
        continue;
      }
      for (const auto& [owner, n] : owners) {
        std::vector<std::string> keys;
        leaf_keys(*n, "", keys);
        for (const std::string& k : keys) {
          if (k == "type") continue;  // names the component
          EXPECT_TRUE(params[owner].count(k))
              << scenario << ": " << section << " " << owner.first << "/" << owner.second << " key "
              << k << " is not in `mlasim list`";
          ++checked;
        }
      }
    }
    EXPECT_GT(checked, 50u) << scenario;
  }
}

// Output that cannot be written (stdout on a full device) fails the command with one line;
// it once exited 0 having printed nothing, or called it an internal error.
TEST(OutputErrors, StandardOutputThatCannotBeWrittenFailsTheCommand) {
  namespace fs = std::filesystem;
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path err = fs::temp_directory_path() / ("mlasim_full_" + std::to_string(::getpid()));
  for (const std::string& args :
       {std::string("list"), std::string("kernels --json"),
        "validate --print '" + std::string(kPairwise) + "'",
        std::string("topology --json '" MLASIM_CONFIG_DIR "/clusters/ft2-k8.yaml'")}) {
    const std::string cmd = std::string("'") + MLASIM_BINARY + "' " + args + " >/dev/full 2>'" +
                            err.string() + "' </dev/null";
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << args << ": " << status;
    std::ifstream in(err);
    std::string line, rest;
    std::getline(in, line);
    EXPECT_NE(line.find("mlasim: error:"), std::string::npos) << args << ": " << line;
    EXPECT_NE(line.find("write"), std::string::npos) << args << ": " << line;
    EXPECT_FALSE(std::getline(in, rest)) << args << ": more than one line";
  }
  fs::remove(err);
}

}  // namespace
}  // namespace mlasim
