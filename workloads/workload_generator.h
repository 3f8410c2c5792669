// Interface of workload generators (YAML kind `workload`): from the cluster's shape they build
// every rank's op graph; after the run they may turn the simulated op times into summary keys
// and result files of their own (report), knowing nothing of the models that produced them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sim/units.h"
#include "workloads/op_graph.h"

namespace mlasim {

struct ClusterShape {
  int nodes = 0;
  int gpus_per_node = 0;
  int ranks() const { return nodes * gpus_per_node; }
};

// When one op of a rank ran: compute ops from their start on the engine to their end;
// communication ops from the moment their inputs were ready to their completion.
struct OpSpan {
  const std::string* name = nullptr;
  bool compute = false;
  Time start, end;
};

// A finished run as a workload sees it.
struct WorkloadRun {
  ClusterShape cluster;
  std::vector<Time> finish;       // [rank]: when its last op finished
  std::vector<uint64_t> busy_ps;  // [rank]: compute-engine busy time
  Bytes memory_capacity;          // one GPU's memory (0: the memory model does not say)
  std::function<std::vector<OpSpan>(int rank)> spans;  // the rank's ops in completion order
};

struct WorkloadReport {
  nlohmann::ordered_json summary = nlohmann::ordered_json::object();  // flat keys, unit suffixes
  std::map<std::string, std::string> files;                           // result file name -> content
  std::vector<std::string> warnings;  // one line each, shown on stderr after the run
};

class WorkloadGenerator {
 public:
  virtual ~WorkloadGenerator() = default;
  virtual Workload generate(const ClusterShape& cluster) const = 0;
  // Keys and files describing the run of the workload generate() built last.
  virtual WorkloadReport report(const WorkloadRun& /*run*/) const { return {}; }
  // Settings that the workload generate() built last does not read (one line each): shown when
  // the scenario is built, so `validate` says them as `run` does.
  virtual std::vector<std::string> setting_warnings() const { return {}; }
  // What report() needs besides the run, written into a trace's `metadata` block so that a
  // replay reports the same keys (null: nothing).
  virtual nlohmann::ordered_json trace_metadata() const { return nullptr; }
};

}  // namespace mlasim
