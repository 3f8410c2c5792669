// Helpers for network tests: scenarios from YAML text, a run in this process (SystemC allows
// one per process; gtest_discover_tests gives each test its own), and runs of the CLI.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "models/common/fabric.h"
#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/simulation.h"
#include "tests/sim/cli_runner.h"

namespace mlasim::nettest {

// Hardware with the packet models and no compute to speak of.
inline const char* kPacketHardware = R"(
hardware:
  gpu: {type: roofline}
  memory: {type: fixed_bandwidth}
  nic: {type: rdma}
  switch: {type: infiniband}
  nvswitch: {type: nvswitch}
)";

struct Run {
  std::unique_ptr<Simulation> sim;
  nlohmann::ordered_json summary;
  Fabric& fabric() const { return *sim->fabric(); }
};

inline ConfigNode parse(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  ConfigNode root = load_config_string(yaml, "<test>", std::filesystem::path(MLASIM_CONFIG_DIR));
  for (const auto& s : sets)
    apply_override(root, s);
  return root;
}

// Elaborates and runs in this process. `before_run` sees the simulation after elaboration.
template <class Hook>
Run run_here(const std::string& yaml, const std::vector<std::string>& sets, Hook before_run) {
  Run r;
  static Components comps = make_builtin_components();
  r.sim = std::make_unique<Simulation>(parse(yaml, sets), comps, LogLevel::Quiet);
  before_run(*r.sim);
  r.sim->run(RunControl{});
  r.summary = r.sim->summary();
  return r;
}
inline Run run_here(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  return run_here(yaml, sets, [](Simulation&) {});
}

inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() /
           ("mlasim_net_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

// Runs `mlasim run` on a YAML text; returns summary.json (empty on failure, with a test error).
inline nlohmann::json run_cli_yaml(const std::string& yaml, const std::vector<std::string>& sets,
                                   const std::string& tag,
                                   std::filesystem::path* out_dir = nullptr) {
  const auto dir = temp_dir(tag);
  std::filesystem::create_directories(dir);
  const auto file = dir / "scenario.yaml";
  std::ofstream(file) << yaml;
  std::vector<std::string> args{"run", file.string(), "--no-plots",
                                "-q",  "--out",       (dir / "out").string()};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (out_dir) *out_dir = dir / "out";
  if (r.exit_code != 0) return {};
  std::ifstream in(dir / "out" / "summary.json");
  return nlohmann::json::parse(in);
}

}  // namespace mlasim::nettest
