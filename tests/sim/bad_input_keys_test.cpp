// Malformed input through the real `mlasim` binary, continued from bad_input_test.cpp: keys and
// options that used to be read as something else, or ignored, without a word; errors that used
// to come without their file:line, key or option (found while building the scenario, or by the
// command-line parser); rates too low to simulate; control characters in YAML text. Each case
// must exit 2 with one line naming the file, the line where known and the key path (or the
// flag). Controls: the same inputs, well formed, are accepted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/sim/bad_input_harness.h"

namespace mlasim {
namespace {

const std::string kDefault = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
const std::string kTeaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
const std::string kModel = MLASIM_SOURCE_DIR "/configs/models/deepseek-v2-lite.json";
const std::string kH800 = MLASIM_SOURCE_DIR "/configs/hardware/h800.yaml";
// The default scenario: packet-level NIC, switch and NVSwitch models, hbm_bandwidth memory.
const std::string kPacket = MLASIM_SOURCE_DIR "/configs/scenarios/default.yaml";
const std::string kMpft = MLASIM_SOURCE_DIR "/configs/clusters/mpft-k4.yaml";

// A sweep over the default scenario; its body's first line is the file's line 4.
std::string sweep(const std::string& body) {
  return "sweep:\n  name: bad\n  base: " + kDefault + "\n" + body;
}

// The shipped DeepSeek-V2-Lite config.json with one text replaced.
std::string model_json(const std::string& from, const std::string& to) {
  std::ifstream in(kModel);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return replace_all(text, from, to);
}

// Errors found while building or elaborating a scenario, rates too low to simulate, CLI options
// and control characters: each names its file:line (or --set) and key, or its option.
std::vector<BadInput> located_cases() {
  const std::string packet = "include: " + kPacket + "\n";
  const std::string placeholder = "include: " + kDefault + "\n";
  return {
      // A fault at a simulated time naming no part of the cluster.
      {"TimedFaultUnknownSwitchInFile",
       {{"s.yaml", placeholder + "network:\n  faults:\n    events:\n"
                                 "      - {at: 1us, switch: nope}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:5:", "network.faults.events[0]", "switch 'nope' is not in"}},
      {"TimedFaultUnknownSwitchInSet",
       {},
       {"validate", kDefault, "--set", "network.faults.events=[{at: 1us, switch: nope}]"},
       {"--set network.faults.events=", "network.faults.events[0]", "switch 'nope'"}},
      // Timed faults at flow level, and a fidelity the models cannot run: found at elaboration.
      {"TimedFaultAtFlowFidelity",
       {{"s.yaml", packet + "network:\n  fidelity: flow\n  faults:\n    events:\n"
                            "      - {at: 1us, switch: switch0}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:6:", "network.faults.events", "need network.fidelity packet", "this run is flow"}},
      {"FidelityMismatchInFile",
       {{"s.yaml", packet + "network:\n  fidelity: message\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "network.fidelity: message", "is a packet-level model"}},
      // Shared switch memory: refused where it is read, not by the fabric at elaboration.
      {"SharedBufferTooLargeInSet",
       {},
       {"validate", kPacket, "--set", "hardware.switch.shared_buffer_per_port=100TiB"},
       {"--set hardware.switch.shared_buffer_per_port=100TiB",
        "hardware.switch.shared_buffer_per_port", "at most 1 GiB"}},
      {"SharedBufferTooLargeInFile",
       {{"s.yaml", packet + "hardware:\n  switch:\n    shared_buffer_per_port: 2GiB\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.switch.shared_buffer_per_port", "at most 1 GiB"}},
      // A count and cost model given as a scenario's cluster.
      {"CountModelAsScenarioCluster",
       {{"s.yaml", placeholder + "cluster: {type: dragonfly, k: 8}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:2:", "cluster.type", "dragonfly is a count and cost model"}},
      // Flow level: a link rate too low for the max-min filling, from its line coding.
      {"FlowLinkRateFromLineCoding",
       {},
       {"validate", kPacket, "--set", "network.fidelity=flow", "--set",
        "hardware.nvswitch.encoding=1e-307"},
       {"--set hardware.nvswitch.encoding=1e-307: hardware.nvswitch.encoding: link",
        "cluster.nvlink.bandwidth", "at least 1e-295 B/s"}},
      // Rates below 1 B/s, 1 FLOP/s or 1 Hz: refused when read (runs failed with exit 3 on them).
      {"FlowTinyLinkBandwidth",
       {},
       {"validate", kPacket, "--set", "network.fidelity=flow", "--set",
        "cluster.ib.bandwidth=1e-300B/s"},
       {"--set cluster.ib.bandwidth=1e-300B/s", "cluster.ib.bandwidth",
        "'1e-300B/s' is too low a bandwidth", "at least 1 B/s"}},
      {"MemoryPeakTiny",
       {},
       {"validate", kPacket, "--set", "hardware.memory.peak=1e-300B/s"},
       {"hardware.memory.peak", "at least 1 B/s"}},
      {"MemoryBandwidthBelowOneInFile",
       {{"s.yaml", placeholder + "hardware:\n  memory:\n    bandwidth: 4b/s\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.memory.bandwidth", "'4b/s' is too low a bandwidth"}},
      {"GpuRateBelowOne",
       {},
       {"validate", kDefault, "--set", "hardware.gpu.bf16=0.5FLOP/s"},
       {"hardware.gpu.bf16", "at least 1 FLOP/s"}},
      {"TileGpuClockBelowOneHz",  // ran, with a clock period that is no number
       {},
       {"validate", kDefault, "--set", "hardware.gpu.type=tile", "--set",
        "hardware.gpu.clock=1e-300Hz"},
       {"hardware.gpu.clock", "at least 1 Hz"}},
      {"HbmSustainedRateBelowOne",
       {},
       {"validate", kPacket, "--set", "hardware.memory.efficiency=1e-13"},
       {"hardware.memory.efficiency", "below 1 B/s"}},
      // Command-line options: the fault options name themselves, CLI11's errors get the prefix.
      {"TopologyFailPlaneNotInCluster",
       {},
       {"topology", kMpft, "--fail-plane", "99"},
       {"--fail-plane: no switch or NIC is on plane 99"}},
      {"TopologyFailSwitchUnknown",
       {},
       {"topology", kMpft, "--fail-switch", "nope"},
       {"--fail-switch: switch 'nope' is not in"}},
      {"CliUnknownFlag", {}, {"run", "--bogus"}, {"mlasim: error: ", "--bogus"}},
      {"CliMissingConfigFile",
       {},
       {"run", "@DIR@/nonexist.yaml"},
       {"mlasim: error: ", "nonexist.yaml"}},
      {"CliIntegerOptionAsFloat",
       {},
       {"kernels", "--batch", "1e3"},
       {"mlasim: error: ", "--batch", "1e3"}},
      {"CliUnknownCommand", {}, {"frobnicate"}, {"mlasim: error: unknown command 'frobnicate'"}},
      // Control characters in YAML text (a NUL cut the message short at it).
      {"YamlNulInValue",
       {{"s.yaml", placeholder + "name: \"a\\x00b\"\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:2:", "name: control character U+0000 in a value"}},
      {"YamlEscapeInSet",
       {},
       {"validate", kDefault, "--set", "description=\"a\\x1bb\""},
       {"--set description=", "description: control character U+001B in a value"}},
      {"YamlControlCharacterInKey",
       {{"s.yaml", placeholder + "workload:\n  \"a\\x07\": 1\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload: control character U+0007 in a key"}},
  };
}

std::vector<BadInput> cases() {
  const std::string model_scenario =
      "include: " + kTeaching + "\nworkload:\n  model: @DIR@/m.json\n";
  const std::vector<BadInput> located = located_cases();
  std::vector<BadInput> out = {
      // Plots: a dotted key that is no axis, and a series that is no axis.
      {"SweepPlotXNotAnAxis",
       {{"w.yaml", sweep("  axes:\n    - {key: workload.message, values: [64KiB]}\n  plots:\n"
                         "    - {x: workload.mesage, y: sim_time_us}\n")}},
       {"sweep", "@DIR@/w.yaml", "--out", "@DIR@/out"},
       {"w.yaml:7:", "sweep.plots[0].x", "'workload.mesage' is not an axis",
        "did you mean 'workload.message'"}},
      {"SweepPlotSeriesNotAnAxis",
       {{"w.yaml", sweep("  axes:\n    - {key: workload.message, values: [64KiB]}\n  plots:\n"
                         "    - {x: workload.message, y: sim_time_us, series: seed}\n")}},
       {"sweep", "@DIR@/w.yaml", "--out", "@DIR@/out"},
       {"w.yaml:7:", "sweep.plots[0].series", "'seed' is not an axis"}},
      // Filled in by the workload, not settable (they were listed as if they were).
      {"PlacementEpSize",
       {},
       {"validate", kTeaching, "--set", "workload.placement.ep_size=4"},
       {"workload.placement.ep_size", "not a key here", "workload.ep_size"}},
      {"PlacementGpusPerNode",
       {{"s.yaml", "include: " + kTeaching + "\nworkload:\n  placement: {gpus_per_node: 2}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.placement.gpus_per_node", "not a key here",
        "cluster.gpus_per_node"}},
      // A fixed distribution draws nothing: its seed would be ignored.
      {"FixedContextsWithASeed",
       {{"s.yaml", "include: " + kTeaching +
                       "\nworkload:\n  context_distribution:\n    type: fixed\n    seed: 9\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:5:", "workload.context_distribution.seed", "seed is not read"}},
      // A misspelt MLA or MoE switch turned the model into another one.
      {"ModelMisspeltMlaSwitch",
       {{"s.yaml", model_scenario}, {"m.json", model_json("\"kv_lora_rank\"", "\"kv_lora_rnak\"")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "m.json", "field 'kv_lora_rank'", "missing", "deepseek_v2"}},
      {"ModelMisspeltMoeSwitch",
       {{"s.yaml", model_scenario},
        {"m.json", model_json("\"n_routed_experts\"", "\"n_routed_expert\"")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "m.json", "field 'n_routed_experts'", "missing", "deepseek_v2"}},
      // Without model_type the file is read by its fields: an MLA field names the switch.
      {"KernelsModelMlaFieldWithoutSwitch",
       {{"m.json", replace_all(model_json("\"model_type\": \"deepseek_v2\",", ""),
                               "\"kv_lora_rank\"", "\"kv_lora_rnak\"")}},
       {"kernels", "--model", "@DIR@/m.json"},
       {"m.json", "field 'qk_nope_head_dim'", "kv_lora_rank (which makes a model MLA) is not"}},
      // calibrate hbm checks the whole hardware file, not only its memory section.
      {"CalibrateMisspeltGpuKey",
       {{"h.yaml", "include: " + kH800 + "\ngpu:\n  launch_overhed: 1us\n"}},
       {"calibrate", "hbm", "--hardware", "@DIR@/h.yaml"},
       {"h.yaml:3:", "gpu.launch_overhed", "unknown key", "did you mean 'launch_overhead'"}},
      {"CalibrateUnknownSection",
       {{"h.yaml", "include: " + kH800 + "\ngpux: 1\n"}},
       {"calibrate", "hbm", "--hardware", "@DIR@/h.yaml"},
       {"h.yaml:2:", "gpux", "unknown key", "did you mean 'gpu'"}},
      // YAML merge keys, which yaml-cpp leaves as a key named "<<".
      {"YamlMergeKey",
       {{"s.yaml", "include: " + kDefault +
                       "\nhardware:\n  gpu: {<<: {type: roofline}, bf16: 900TFLOP/s}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "hardware.gpu", "'<<' merge keys are not supported"}},
      {"YamlMergeKeyInSet",
       {},
       {"validate", kDefault, "--set", "hardware.gpu={<<: {type: roofline}}"},
       {"hardware.gpu", "'<<' merge keys are not supported"}},
      // Graph options on a count and cost model.
      {"TopologyCountModelSeed",
       {},
       {"topology", MLASIM_SOURCE_DIR "/configs/clusters/dragonfly-k64.yaml", "--seed", "3"},
       {"dragonfly is a count and cost model", "--seed"}},
      {"TopologyCountModelNoBisection",
       {},
       {"topology", MLASIM_SOURCE_DIR "/configs/clusters/slimfly-k64.yaml", "--no-bisection"},
       {"slim_fly is a count and cost model", "--no-bisection"}},
  };
  out.insert(out.end(), located.begin(), located.end());
  return out;
}

class SilentKeyCase : public ::testing::TestWithParam<BadInput> {};

TEST_P(SilentKeyCase, ExitsTwoWithOneLineNamingFileAndKey) {
  expect_bad_input("badkey", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Refused, SilentKeyCase, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The well-formed twins of the cases above are accepted.
TEST(SilentKeyControls, WellFormedInputsAreAccepted) {
  const std::filesystem::path dir = fresh_case_dir("badkey", "controls");
  std::ofstream(dir / "w.yaml") << sweep(
      "  axes:\n    - {key: workload.message, values: [64KiB]}\n  plots:\n"
      "    - {x: workload.message, y: sim_time_us}\n");
  std::ofstream(dir / "h.yaml") << "include: " << kH800 << "\ngpu:\n  launch_overhead: 2us\n";
  std::ofstream(dir / "s.yaml") << "include: " << kTeaching
                                << "\nworkload:\n  context_distribution: {type: uniform, min: "
                                   "512, max: 1024, seed: 9}\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"sweep", (dir / "w.yaml").string(), "--out", (dir / "out").string(), "--no-plots"},
           {"calibrate", "hbm", "--hardware", (dir / "h.yaml").string(), "--stream-mib", "4",
            "--random-requests", "1000"},
           {"validate", (dir / "s.yaml").string()},
           {"validate", kTeaching, "--set", "workload.placement.redundant_experts=0"},
           {"topology", MLASIM_SOURCE_DIR "/configs/clusters/dragonfly-k64.yaml"}}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args[1] << ": " << r.err;
  }
  std::filesystem::remove_all(dir);
}

// The edges of the limits above are accepted: rates of exactly 1 B/s and 1 FLOP/s, 1 GiB of
// shared switch memory per port, tab and newline in values, a plane the cluster has; --help
// still prints its text and exits 0.
TEST(LocatedErrorControls, EdgesOfTheLimitsAreAccepted) {
  const std::filesystem::path dir = fresh_case_dir("badkey", "located_controls");
  std::ofstream(dir / "s.yaml") << "include: " << kDefault
                                << "\ndescription: |\n  two lines,\n  one\twith a tab\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"validate", kDefault, "--set", "hardware.memory.bandwidth=1B/s"},
           {"validate", kDefault, "--set", "hardware.memory.bandwidth=8b/s", "--set",
            "hardware.gpu.bf16=1FLOP/s", "--set", "cluster.ib.bandwidth=1B/s"},
           {"validate", kPacket, "--set", "hardware.switch.shared_buffer_per_port=1GiB"},
           {"validate", (dir / "s.yaml").string()},
           {"topology", kMpft, "--fail-plane", "1"}}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args.back() << ": " << r.err;
  }
  const CliResult help = run_cli({"run", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("--set"), std::string::npos) << help.out;
  EXPECT_EQ(help.err, "");
  std::filesystem::remove_all(dir);
}

// A setting the workload does not read is said by `validate` as by `run` (once each): the
// warning comes from building the scenario, not from the run's report.
TEST(SilentKeyControls, ValidateWarnsAboutUnusedSettingsAsRunDoes) {
  const std::filesystem::path dir = fresh_case_dir("badkey", "validate_warns");
  const std::string mtp = "workload.mtp={depth: 0, acceptance_rate: 0.5}";
  const std::string line = "workload.mtp.acceptance_rate is not used: mtp.depth is 0";
  const CliResult validate = run_cli({"validate", kTeaching, "--set", mtp});
  EXPECT_EQ(validate.exit_code, 0) << validate.err;
  EXPECT_NE(validate.err.find(line), std::string::npos) << validate.err;
  const CliResult run = run_cli({"run", kTeaching, "--no-plots", "--set", mtp, "--set",
                                 "workload.layers=1", "--out", (dir / "out").string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const size_t first = run.err.find(line);
  ASSERT_NE(first, std::string::npos) << run.err;
  EXPECT_EQ(run.err.find(line, first + 1), std::string::npos) << "said twice: " << run.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
