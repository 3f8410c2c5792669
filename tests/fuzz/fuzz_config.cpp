// Fuzz target: the YAML scenario loader, a --set override, and scenario validation.
//
// The input is split at the first line "--set ": before it, a scenario YAML (includes resolve
// against configs/scenarios, so seeds can include presets); after it, one override. The tree is
// loaded, overridden, then validated (params, registry, cluster graph, workload generation).
// Validation only runs on small scenarios (every integer at most 4096) so that the fuzzer
// spends its time on malformed input rather than on building large clusters.
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <string>

#include "sim/builtin_components.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/simulation.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

bool small(const mlasim::ConfigNode& n) {
  if (n.is_scalar()) {
    const std::string& s = n.as_string();
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size()) return v <= 4096;
    return s.size() < 64;
  }
  for (const auto& item : n.items())
    if (!small(item)) return false;
  for (const auto& [k, v] : n.entries())
    if (!small(v)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlasim;
  std::string text(fuzz::as_text(data, size));
  std::string set;
  if (size_t at = text.find("\n--set "); at != std::string::npos) {
    set = text.substr(at + 7);
    text.resize(at);
  }
  try {
    ConfigNode root = load_config_string(
        text, "fuzz.yaml", std::filesystem::path(MLASIM_CONFIG_DIR) / "scenarios");
    if (!set.empty()) apply_override(root, set);
    (void)root.to_yaml();
    if (!small(root)) return 0;
    const Components comps = make_builtin_components();
    (void)validate_scenario(root, comps).to_yaml();
  } catch (const InputError&) {
  }
  return 0;
}
