// Fuzz target: the YAML config loader (includes, source locations), a --set override, the YAML
// writer, and the typed params readers of the scenario's own sections (name, seed, sim, network:
// unknown keys, wrong types, units, validate()).
//
// The input is split at the first line starting "--set ": before it, a scenario YAML (relative
// includes resolve against configs/scenarios, so seeds can pull in presets); after it, one
// override. The component sections need the registry, which links every SystemC model; they
// are left to the bad-input tests, so these targets stay free of SystemC.
#include <filesystem>
#include <string>

#include "models/common/network_params.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/scenario.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlasim;
  std::string text(fuzz::as_text(data, size));
  std::string set;
  if (size_t at = text.find("\n--set "); at != std::string::npos) {
    set = text.substr(at + 7);
    text.resize(at);
  }
  try {
    ConfigNode root = load_config_string(text, "fuzz.yaml",
                                         std::filesystem::path(MLASIM_CONFIG_DIR) / "scenarios");
    if (!set.empty()) apply_override(root, set);
    (void)root.to_yaml();
    (void)root.to_flow();
    if (!root.is_map()) return 0;
    const ScenarioParams p = read_params<ScenarioParams>(&root, "", scenario_sections());
    (void)write_params(p).to_yaml();
    (void)write_params(read_params<NetworkParams>(root.find("network"), "network")).to_yaml();
  } catch (const InputError&) {
  } catch (const UnitError&) {
    std::abort();  // a unit error must reach the user as a ConfigError with file and key
  }
  return 0;
}
