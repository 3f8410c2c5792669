// The controls of the bad-input cases: the same inputs, well formed, are accepted (so a case fails
// for its own mistake, not for a broken base), and relative paths in them resolve as documented.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/sim/bad_input_inputs.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

// The controls: the same inputs, well formed, are accepted (so a case above fails for its own
// mistake, not for a broken base).
TEST(BadInputControls, WellFormedBasesAreAccepted) {
  const fs::path dir = fresh_case_dir("controls", "bad_controls");
  std::ofstream(dir / "t.json") << trace({});
  std::ofstream(dir / "s.yaml") << replace_all(kTraceScenario, "@DIR@", dir.string());
  std::ofstream(dir / "m.json") << model_json("", "");
  std::ofstream(dir / "ms.yaml") << replace_all(model_scenario(), "@DIR@", dir.string());
  std::ofstream(dir / "w.yaml") << sweep(
      "  axes:\n    - {key: workload.message, values: [1MiB, 2MiB]}\n");
  CliResult r = run_cli(
      {"run", "-q", "--no-plots", (dir / "s.yaml").string(), "--out", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"validate", "-q", (dir / "ms.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"sweep", (dir / "w.yaml").string(), "--out", (dir / "sw").string(), "--no-plots"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"kernels", "--model", (dir / "m.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// A relative trace path is taken from the scenario file's folder (as includes are), whatever the
// working folder; the resolved config names it absolutely, so that it loads from anywhere.
TEST(BadInputControls, RelativeTracePathFollowsTheScenario) {
  const fs::path dir = fresh_case_dir("controls", "trace_rel");
  fs::create_directories(dir / "scenarios");
  std::ofstream(dir / "t.json") << trace({});
  std::ofstream(dir / "scenarios" / "s.yaml")
      << replace_all(kTraceScenario, "@DIR@/t.json", "../t.json");
  CliResult r = run_cli({"validate", "--print", (dir / "scenarios" / "s.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(dir / "resolved.yaml") << r.out;
  r = run_cli({"validate", "-q", (dir / "resolved.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// Values written in a sweep file (its `set` and axis values) take a relative trace path from the
// sweep file's folder, as its `base` is, whatever the working folder; a --set on the command
// line takes it from the working folder, or from --set-dir's.
TEST(BadInputControls, RelativeTracePathInASweepFollowsTheSweepFile) {
  const fs::path dir = fresh_case_dir("controls", "sweep_trace_rel");
  fs::create_directories(dir / "sweeps");
  fs::create_directories(dir / "traces");
  ASSERT_NE(fs::current_path(), dir / "sweeps");
  std::ofstream(dir / "traces" / "t.json") << trace({});
  std::ofstream(dir / "s.yaml") << replace_all(kTraceScenario, "@DIR@", dir.string());
  std::ofstream(dir / "sweeps" / "w.yaml")
      << "sweep:\n  name: t\n  base: ../s.yaml\n  set: [workload.file=../traces/t.json]\n"
         "  axes:\n    - {key: seed, values: [1]}\n";
  CliResult r = run_cli({"sweep", (dir / "sweeps" / "w.yaml").string(), "--out",
                         (dir / "out").string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The point ran the trace the sweep names (the resolved config holds its absolute path).
  std::ifstream in(dir / "out" / "p0000" / "config.resolved.yaml");
  const std::string resolved((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_NE(resolved.find((dir / "sweeps" / ".." / "traces" / "t.json").string()),
            std::string::npos)
      << resolved;
  // From the command line: the working folder's t.json (none here), or --set-dir's.
  const std::vector<std::string> given{"validate", "-q", (dir / "s.yaml").string(), "--set",
                                       "workload.file=traces/t.json"};
  r = run_cli(given);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find((fs::current_path() / "traces" / "t.json").string()), std::string::npos)
      << r.err;
  std::vector<std::string> with_dir = given;
  with_dir.insert(with_dir.end(), {"--set-dir", dir.string()});
  r = run_cli(with_dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// Settings of another traffic pattern are refused by comparison with the defaults, so a resolved
// config, which lists every key, still loads.
TEST(BadInputControls, ResolvedTrafficConfigsLoad) {
  const fs::path dir = fresh_case_dir("controls", "traffic_resolved");
  for (const char* name : {"net-p2p-bandwidth.yaml", "net-incast.yaml", "net-a2a-mrft.yaml"}) {
    CliResult r = run_cli(
        {"validate", "--print", MLASIM_SOURCE_DIR "/configs/scenarios/" + std::string(name)});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    std::ofstream(dir / name) << r.out;
    r = run_cli({"validate", "-q", (dir / name).string()});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
