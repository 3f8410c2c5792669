// Malformed input through the real `mlasim` binary, continued from bad_input_test.cpp: keys and
// options that used to be read as something else, or ignored, without a word. Each case must
// exit 2 with one line naming the file, the line where known and the key path (or the flag).
// Controls: the same inputs, well formed, are accepted.
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

std::vector<BadInput> cases() {
  const std::string model_scenario =
      "include: " + kTeaching + "\nworkload:\n  model: @DIR@/m.json\n";
  return {
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
