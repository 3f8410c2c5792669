// A layer that changes a component's `type:` (a scenario's own keys over an included preset, or
// --set over the files): the earlier layers' keys for that component are only inherited, so the
// ones the new type lacks are ignored, the ones it shares still apply, and every key the user
// sets in the changing layer or a later one is checked against the new type.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/simulation.h"
#include "tests/sim/cli_runner.h"
#include "tests/sim/input_error.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

const std::string kTeaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
const std::string kH800 = MLASIM_SOURCE_DIR "/configs/hardware/h800.yaml";
const std::string kMpftK4 = MLASIM_SOURCE_DIR "/configs/clusters/mpft-k4.yaml";

// Teaching scenario with the H800 preset (tile GPU, cycle-level HBM) under `hardware:`; the
// roofline GPU keeps validation cheap. `extra` goes under `hardware:`.
std::string h800_scenario(const std::string& extra = "") {
  return "include: " + kTeaching + "\nhardware:\n  include: " + kH800 +
         "\n  gpu: {type: roofline}\n" + extra;
}

ConfigNode load(const std::string& text, const std::vector<std::string>& sets = {}) {
  ConfigNode root = load_config_string(text, "s.yaml", ".");
  apply_overrides(root, sets);
  return root;
}

std::string at(const ConfigNode& root, const std::string& path) {
  const ConfigNode* n = root.at_path(path);
  return n ? n->as_string() : "<absent>";
}

TEST(TypeChange, MergeLayerMarksOldKeysInherited) {
  ConfigNode base = load("comp: {type: a, x: 1, sub: {y: 2}}\nother: {type: k, z: 1}\n");
  base.merge_layer(load("comp: {type: b, w: 3, sub: {q: 4}}\n"));
  const ConfigNode& comp = *base.find("comp");
  EXPECT_EQ(at(comp, "type"), "b");
  EXPECT_FALSE(comp.find("type")->inherited());
  EXPECT_FALSE(comp.find("w")->inherited());
  EXPECT_TRUE(comp.find("x")->inherited());
  // A mapping the new layer writes into is its own; what it did not write stays inherited.
  EXPECT_FALSE(comp.find("sub")->inherited());
  EXPECT_TRUE(comp.at_path("sub.y")->inherited());
  EXPECT_FALSE(comp.at_path("sub.q")->inherited());
  EXPECT_FALSE(base.at_path("other.z")->inherited());
}

TEST(TypeChange, SameTypeOrNoTypeInheritsNothing) {
  ConfigNode same = load("comp: {type: a, x: 1}\n");
  same.merge_layer(load("comp: {type: a, w: 3}\n"));
  EXPECT_FALSE(same.at_path("comp.x")->inherited());
  ConfigNode untyped = load("comp: {x: 1}\n");
  untyped.merge_layer(load("comp: {type: b}\n"));
  EXPECT_FALSE(untyped.at_path("comp.x")->inherited());
}

TEST(TypeChange, OverridesAreOneLayerWhateverTheirOrder) {
  const std::string file = "comp: {type: a, x: 1, sub: {y: 2}}\n";
  for (const auto& sets : {std::vector<std::string>{"comp.w=3", "comp.type=b"},
                           std::vector<std::string>{"comp.type=b", "comp.w=3"},
                           std::vector<std::string>{"comp={type: b, w: 3}"}}) {
    const ConfigNode root = load(file, sets);
    EXPECT_EQ(at(root, "comp.type"), "b") << sets[0];
    EXPECT_EQ(at(root, "comp.w"), "3") << sets[0];
    EXPECT_FALSE(root.at_path("comp.w")->inherited()) << sets[0];
    EXPECT_TRUE(root.at_path("comp.x")->inherited()) << sets[0];
    EXPECT_TRUE(root.at_path("comp.sub.y")->inherited()) << sets[0];
  }
  // Setting the type it already has changes nothing.
  const ConfigNode same = load(file, {"comp.type=a"});
  EXPECT_FALSE(same.at_path("comp.x")->inherited());
  // A type set and set back is the old type again: its keys stay the user's to get right.
  const ConfigNode back = load(file, {"comp.type=b", "comp.type=a"});
  EXPECT_FALSE(back.at_path("comp.x")->inherited());
}

// A key unset in the layer that changes the type stays unset, although the component is
// rebuilt from the earlier layers' keys; given again later in that layer, it is the user's.
TEST(TypeChange, UnsetKeyStaysUnsetWhenTheTypeChanges) {
  const std::string file = "comp: {type: a, x: 1, y: 2}\n";
  for (const auto& sets : {std::vector<std::string>{"comp.type=b", "comp.x=~"},
                           std::vector<std::string>{"comp.x=~", "comp.type=b"}}) {
    const ConfigNode root = load(file, sets);
    EXPECT_EQ(at(root, "comp.type"), "b") << sets[0];
    EXPECT_EQ(root.at_path("comp.x"), nullptr) << sets[0];
    EXPECT_TRUE(root.at_path("comp.y")->inherited()) << sets[0];
  }
  // The type changed by an assignment above the unset key, after it: still unset; and a whole
  // component unset, then given a type: that type's defaults only.
  const ConfigNode above = load(file, {"comp.x=~", "comp={type: b}"});
  EXPECT_EQ(at(above, "comp.type"), "b");
  EXPECT_EQ(above.at_path("comp.x"), nullptr);
  EXPECT_TRUE(above.at_path("comp.y")->inherited());
  const ConfigNode whole = load(file, {"comp=~", "comp.type=b"});
  EXPECT_EQ(at(whole, "comp.type"), "b");
  EXPECT_EQ(whole.at_path("comp.x"), nullptr);
  EXPECT_EQ(whole.at_path("comp.y"), nullptr);
  const ConfigNode again = load(file, {"comp.x=~", "comp.type=b", "comp.x=5"});
  EXPECT_EQ(at(again, "comp.x"), "5");
  EXPECT_FALSE(again.at_path("comp.x")->inherited());
}

// The retyped component resolves exactly as the new type written without the preset would,
// since the H800 preset's tile GPU and cycle-level HBM share no key with roofline/hbm_bandwidth.
TEST(TypeChange, PresetComponentsRetypedInFileAndWithSet) {
  const Components comps = make_builtin_components();
  const ConfigNode plain = validate_scenario(
      load("include: " + kTeaching +
           "\nhardware:\n  gpu: {type: roofline}\n  memory: {type: hbm_bandwidth}\n"),
      comps);
  const ConfigNode in_file =
      validate_scenario(load(h800_scenario("  memory: {type: hbm_bandwidth}\n")), comps);
  const ConfigNode with_set =
      validate_scenario(load(h800_scenario(), {"hardware.memory.type=hbm_bandwidth"}), comps);
  for (const ConfigNode* r : {&in_file, &with_set}) {
    EXPECT_EQ(r->at_path("hardware.gpu")->to_yaml(), plain.at_path("hardware.gpu")->to_yaml());
    EXPECT_EQ(r->at_path("hardware.memory")->to_yaml(),
              plain.at_path("hardware.memory")->to_yaml());
    EXPECT_EQ(r->at_path("hardware.memory.org"), nullptr);
  }
}

TEST(TypeChange, UserKeyWrongForNewTypeStillFails) {
  const Components comps = make_builtin_components();
  for (const auto& sets : {std::vector<std::string>{"hardware.memory.type=hbm_bandwidth",
                                                    "hardware.memory.org.stacks=4"},
                           std::vector<std::string>{"hardware.memory.org.stacks=4",
                                                    "hardware.memory.type=hbm_bandwidth"}}) {
    const std::string e = error_of([&] { validate_scenario(load(h800_scenario(), sets), comps); });
    EXPECT_NE(e.find("--set hardware.memory.org.stacks=4: hardware.memory.org: unknown key"),
              std::string::npos)
        << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  const std::string e = error_of([&] {
    validate_scenario(
        load(h800_scenario("  memory:\n    type: hbm_bandwidth\n    timing: {cl: 20}\n")), comps);
  });
  EXPECT_NE(e.find("s.yaml:7: hardware.memory.timing: unknown key"), std::string::npos) << e;
  // A key the new type has is checked too, wherever it came from.
  const std::string bad_peak = error_of([&] {
    validate_scenario(
        load(h800_scenario(), {"hardware.memory.type=hbm_bandwidth", "hardware.memory.peak=fast"}),
        comps);
  });
  EXPECT_NE(bad_peak.find("hardware.memory.peak"), std::string::npos) << bad_peak;
}

TEST(TypeChange, SameTypeRestatedKeepsPresetKeys) {
  const Components comps = make_builtin_components();
  const ConfigNode preset = load_config_file(kH800);
  const ConfigNode in_file = validate_scenario(
      load(h800_scenario("  memory: {type: hbm, controller: {read_queue: 32}}\n")), comps);
  EXPECT_EQ(at(in_file, "hardware.memory.controller.read_queue"), "32");
  const ConfigNode with_set =
      validate_scenario(load(h800_scenario(), {"hardware.memory.type=hbm"}), comps);
  for (const ConfigNode* r : {&in_file, &with_set}) {
    EXPECT_EQ(at(*r, "hardware.memory.type"), "hbm");
    EXPECT_EQ(at(*r, "hardware.memory.org.stacks"), at(preset, "memory.org.stacks"));
    EXPECT_EQ(at(*r, "hardware.memory.controller.write_queue"),
              at(preset, "memory.controller.write_queue"));
  }
  // A preset key that is wrong for its own (unchanged) type is still an error.
  const std::string e = error_of([&] {
    validate_scenario(load(h800_scenario("  memory: {type: hbm, colour: red}\n")), comps);
  });
  EXPECT_NE(e.find("hardware.memory.colour: unknown key"), std::string::npos) << e;
}

// Keys the old and new type share keep the earlier layer's values (cluster sizes here).
TEST(TypeChange, SharedKeysAreInherited) {
  const Components comps = make_builtin_components();
  const ConfigNode file = load_config_file(kTeaching);
  const ConfigNode r =
      validate_scenario(load("include: " + kTeaching + "\n",
                             {"cluster.type=ft2", "cluster.k=4", "cluster.nics_per_node=2"}),
                        comps);
  EXPECT_EQ(at(r, "cluster.type"), "ft2");
  EXPECT_EQ(at(r, "cluster.nodes"), at(file, "cluster.nodes"));
  EXPECT_EQ(at(r, "cluster.gpus_per_node"), at(file, "cluster.gpus_per_node"));
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("mlasim_typechange_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(TypeChange, CliRunWritesRetypedResolvedConfig) {
  TempDir dir("run");
  std::ofstream(dir.path / "s.yaml") << h800_scenario();
  const CliResult r =
      run_cli({"run", (dir.path / "s.yaml").string(), "-q", "--no-plots", "--out",
               (dir.path / "out").string(), "--set", "hardware.memory.type=hbm_bandwidth"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ConfigNode resolved = load_config_file(dir.path / "out" / "config.resolved.yaml");
  EXPECT_EQ(at(resolved, "hardware.memory.type"), "hbm_bandwidth");
  for (const char* old_key : {"org", "timing", "refresh", "controller"})
    EXPECT_EQ(resolved.at_path(std::string("hardware.memory.") + old_key), nullptr) << old_key;
  EXPECT_EQ(resolved.at_path("hardware.gpu.l2_capacity"), nullptr);

  const CliResult bad =
      run_cli({"validate", (dir.path / "s.yaml").string(), "--set",
               "hardware.memory.type=hbm_bandwidth", "--set", "hardware.memory.org.stacks=4"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("hardware.memory.org: unknown key"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;
}

// An H200 scenario retyped to the bandwidth fidelity takes the H200's HBM: its pin peak (192
// pseudo-channels x 32 B / (2 x 640 ps) = 4.8 TB/s) and the efficiency and latency calibrated
// on it (as `mlasim calibrate hbm` prints them), not the h800 defaults; a value the user sets
// stays.
TEST(TypeChange, RetypedHbmTakesItsOwnBandwidthFigures) {
  TempDir dir("h200");
  std::ofstream(dir.path / "s.yaml")
      << "include: " << kTeaching
      << "\nhardware:\n  include: " << MLASIM_SOURCE_DIR "/configs/hardware/h200.yaml"
      << "\n  gpu: {type: roofline}\n";
  const CliResult cal = run_cli({"calibrate", "hbm", "--json", "--hardware", "h200"});
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  const ConfigNode c = load_config_string(cal.out, "calibration.json", ".");
  const double eff = std::round(std::stod(at(c, "stream_efficiency")) * 1e5) / 1e5;
  const double lat = std::round(std::stod(at(c, "idle_latency_ns")) * 100) / 100;
  for (const bool user_efficiency : {false, true}) {
    std::vector<std::string> args = {
        "run",   (dir.path / "s.yaml").string(), "-q",    "--no-plots",
        "--out", (dir.path / "out").string(),    "--set", "hardware.memory.type=hbm_bandwidth"};
    if (user_efficiency) args.insert(args.end(), {"--set", "hardware.memory.efficiency=0.5"});
    const CliResult r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ConfigNode resolved = load_config_file(dir.path / "out" / "config.resolved.yaml");
    EXPECT_EQ(at(resolved, "hardware.memory.peak"), "4.8TB/s");
    EXPECT_EQ(std::stod(at(resolved, "hardware.memory.efficiency")), user_efficiency ? 0.5 : eff);
    EXPECT_EQ(at(resolved, "hardware.memory.latency"), fmt::format("{}ns", lat));
    EXPECT_EQ(at(resolved, "hardware.memory.capacity"), "141GiB");
  }
  EXPECT_LT(eff, 0.89704);  // the h800 default
}

// A decode scenario switched to prefill from the command line: its decode-only keys are unset.
TEST(TypeChange, CliUnsetSwitchesDecodeToPrefill) {
  const std::string decode_only = "workload.requests_per_gpu";
  const CliResult kept = run_cli(
      {"validate", kTeaching, "--set", "workload.phase=prefill", "--set", "workload.mtp=~"});
  EXPECT_EQ(kept.exit_code, 2);
  EXPECT_NE(kept.err.find(decode_only + ": applies to the decode phase"), std::string::npos)
      << kept.err;
  TempDir dir("unset");
  const CliResult r =
      run_cli({"run", kTeaching, "-q", "--no-plots", "--out", (dir.path / "out").string(), "--set",
               "workload.phase=prefill", "--set", "workload.mtp=~", "--set", decode_only + "=~"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ConfigNode resolved = load_config_file(dir.path / "out" / "config.resolved.yaml");
  EXPECT_EQ(at(resolved, "workload.phase"), "prefill");
  EXPECT_EQ(at(resolved, "workload.mtp.depth"), "0");
  const CliResult typo = run_cli({"validate", kTeaching, "--set", "workload.requests_per_gpus=~"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("workload.requests_per_gpus is not set"), std::string::npos) << typo.err;
}

// A sweep axis over a preset component's type: every point checks and runs.
TEST(TypeChange, CliSweepAxisOverTheType) {
  TempDir dir("sweep");
  std::ofstream(dir.path / "s.yaml") << h800_scenario();
  std::ofstream(dir.path / "w.yaml")
      << "sweep:\n  name: memtype\n  base: s.yaml\n  axes:\n"
         "    - {key: hardware.memory.type, values: [hbm_bandwidth, fixed_bandwidth]}\n";
  const CliResult r =
      run_cli({"sweep", (dir.path / "w.yaml").string(), "--out", (dir.path / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* point : {"p0000", "p0001"}) {
    const ConfigNode resolved = load_config_file(dir.path / "out" / point / "config.resolved.yaml");
    EXPECT_EQ(resolved.at_path("hardware.memory.org"), nullptr) << point;
  }
}

// `mlasim topology --set cluster.type=...`: an 8-plane MPFT preset as a two-tier fat-tree of the
// same k = 4 switches. One node of 8 NICs fills 8 / (k/2) = 4 leaves, whose 4 x k/2 uplinks
// end on 8 / k = 2 spines; a k left at the ft2 default would give other counts.
TEST(TypeChange, CliTopologyRetypesCluster) {
  const CliResult r = run_cli(
      {"topology", kMpftK4, "--json", "--set", "cluster.type=ft2", "--set", "cluster.nodes=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"topology\": \"ft2\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"leaf_switches\": 4,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"spine_switches\": 2,"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mlasim
