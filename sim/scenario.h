// Top-level scenario params (everything outside the component sections) and the list of
// sections a scenario file may hold.
#pragma once

#include <string>

#include "sim/params.h"

namespace mlasim {

struct SimControlParams {
  Time max_time = Time::parse("10s");
  double progress_interval_s = 0.5;
  template <class V>
  void visit(V& v) {
    v("max_time", max_time, "s",
      "simulated-time limit; reaching it with work left is a simulation failure (exit 3)");
    v("progress_interval_s", progress_interval_s, "s",
      "wall time between progress-bar updates on a terminal, >= 0 (0: after every slice of "
      "simulated time, about 0.02-0.2 s of wall time apart)");
  }
  void validate(const ParamCheck& c) const {
    c.require(max_time.ps() > 0, "max_time", "must be > 0");
    c.require(progress_interval_s >= 0, "progress_interval_s", "must be >= 0");
  }
};

struct ScenarioParams {
  std::string name = "scenario";
  std::string description;
  uint64_t seed = 1;
  SimControlParams sim;
  template <class V>
  void visit(V& v) {
    v("name", name, "-", "scenario name; the default results folder is results/<name>");
    v("description", description, "-", "one-line description shown in reports");
    v("seed", seed, "-",
      "salt of each GPU message's flow hash, from which ECMP picks the message's path "
      "(routing.seed salts the switches' side of that choice); workload draws have seeds of "
      "their own (workload.router.seed, workload.context_distribution.seed...); same config "
      "and seed give the same results");
    v.group("sim", sim, "simulation control");
  }
  void validate(const ParamCheck& c) const {
    if (const std::string why = folder_name_problem(name); !why.empty()) c.fail("name", why);
  }
};

// Component sections of a scenario besides the params above.
inline const std::vector<std::string>& scenario_sections() {
  static const std::vector<std::string> kSections{"cluster", "routing", "network", "hardware",
                                                  "workload"};
  return kSections;
}
inline const std::vector<std::string>& hardware_sections() {
  static const std::vector<std::string> kSections{"gpu", "memory", "nic", "switch", "nvswitch"};
  return kSections;
}

}  // namespace mlasim
