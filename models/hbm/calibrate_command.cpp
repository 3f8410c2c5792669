// `mlasim calibrate hbm` (see calibrate_command.h).
#include "models/hbm/calibrate_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/hbm/hbm_calibration.h"
#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/params.h"
#include "sim/scenario_model.h"

namespace mlasim {
namespace {

struct CalibrateOptions {
  std::string hardware;
  std::vector<std::string> sets;
  bool json = false;
  uint64_t stream_mib = 256;
  uint64_t random_requests = 200000;
};

int do_calibrate_hbm(const CalibrateOptions& o) {
  // A preset name (h800) or a file's path.
  const std::filesystem::path presets = std::filesystem::path(MLASIM_CONFIG_DIR) / "hardware";
  std::string path = o.hardware.empty() ? (presets / "h800.yaml").string() : o.hardware;
  if (!o.hardware.empty() && !std::filesystem::exists(path) &&
      std::filesystem::exists(presets / (o.hardware + ".yaml"))) {
    path = (presets / (o.hardware + ".yaml")).string();
  }
  if (!std::filesystem::exists(path)) {
    std::vector<std::string> known;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(presets, ec))
      if (e.path().extension() == ".yaml") known.push_back(e.path().stem().string());
    std::sort(known.begin(), known.end());
    throw InputError(fmt::format("--hardware {}: no such file or preset (presets: {})", o.hardware,
                                 fmt::join(known, ", ")));
  }
  ConfigNode root = load_config_file(path);
  apply_overrides(root, o.sets);
  // A preset has `memory:` at the top; a scenario has it under `hardware:`.
  const bool scenario = !root.find("memory") && root.find("hardware");
  const std::string where = scenario ? "hardware.memory" : "memory";
  const ConfigNode* mem = scenario ? root.find("hardware")->find("memory") : root.find("memory");
  if (!mem || !mem->is_map()) {
    throw InputError(fmt::format("{}: no 'memory' section (or 'hardware.memory')", path));
  }
  const ConfigNode* type = mem->find("type");
  if (!type || type->as_string() != "hbm") {
    throw InputError(
        fmt::format("{}: {}.type must be 'hbm' (the cycle-level model) to calibrate", path, where));
  }
  // Only the memory section is measured: a key set anywhere else would change nothing.
  for (const std::string& set : o.sets) {
    const std::string key = set.substr(0, set.find('='));
    if (key.rfind(where + ".", 0) != 0) {
      throw InputError(
          fmt::format("--set {}: calibrate hbm reads only the keys under {}.", key, where));
    }
  }
  // The rest of the file is checked all the same, as `run` checks it (a preset as a scenario's
  // hardware section, a scenario whole): a misspelt key must not pass unnoticed.
  const Components comps = make_builtin_components();
  if (scenario) {
    check_scenario_keys(root, comps);
  } else {
    check_hardware_keys(&root, "", comps, false);
  }
  const HbmParams params = read_params<HbmParams>(mem, where, {"type"});
  HbmCalibrationOptions co;
  co.stream_bytes = o.stream_mib << 20;
  co.random_requests = o.random_requests;
  const HbmCalibration c = calibrate_hbm(params, co);
  if (o.json) {
    nlohmann::ordered_json j;
    j["hardware"] = path;
    j["peak_bandwidth_bytes_per_s"] = c.peak_bytes_per_s;
    j["stream_efficiency"] = c.stream_efficiency;
    j["random_efficiency"] = c.random_efficiency;
    j["idle_latency_ns"] = c.idle_latency_ns;
    j["calibration_wall_s"] = c.wall_seconds;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("HBM calibration of {} ({})\n", path, where);
    fmt::print("  pin peak            {:.4g} TB/s\n", c.peak_bytes_per_s * 1e-12);
    // Five digits, as the hbm_bandwidth default holds them.
    fmt::print("  stream efficiency   {:.5f} fraction  ({:.4g} TB/s, sequential reads)\n",
               c.stream_efficiency, c.stream_efficiency * c.peak_bytes_per_s * 1e-12);
    fmt::print("  random efficiency   {:.5f} fraction  (random 32 B reads)\n", c.random_efficiency);
    fmt::print("  idle latency        {:.2f} ns\n", c.idle_latency_ns);
    fmt::print("For `type: hbm_bandwidth`: efficiency: {:.5f}, latency: {:.1f}ns\n",
               c.stream_efficiency, c.idle_latency_ns);
  }
  return kExitOk;
}

}  // namespace

void register_calibrate_command(CLI::App& app, CommandAction& action) {
  auto* cmd =
      app.add_subcommand("calibrate", "Measure detailed models to set their fast fidelities");
  cmd->require_subcommand(1);
  auto o = std::make_shared<CalibrateOptions>();
  auto* hbm = cmd->add_subcommand(
      "hbm", "stream/random efficiency and idle latency of the cycle-level HBM model");
  hbm->add_option("--hardware", o->hardware,
                  "hardware preset (h100, h800, h200) or a file with a memory section, such as a "
                  "scenario (default: h800)");
  hbm->add_option(
      "--set", o->sets,
      "override a value: memory.timing.cl=20 (repeatable; null or ~ as the value removes the key)");
  hbm->add_flag("--json", o->json, "print JSON");
  hbm->add_option("--stream-mib", o->stream_mib, "MiB read by the streaming measurement")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  hbm->add_option("--random-requests", o->random_requests, "requests of the random measurement")
      ->capture_default_str()
      ->check(CLI::Range(1000, 100000000));
  hbm->callback([&action, o] { action = [o] { return do_calibrate_hbm(*o); }; });
}

}  // namespace mlasim
