// The trace format: per-rank op graphs as versioned JSON, written by `mlasim trace` and replayed
// by `mlasim run` through the `type: trace` workload. Schema (version 1):
//
//   {"format": "mlasim-trace", "version": 1, "ranks": [
//     {"rank": 0, "ops": [
//       {"name": "gemm", "op": "gemm", "deps": [], "stream": 0, "micro_batch": 0,
//        "m": 64, "n": 7168, "k": 7168, "dtype": "bf16"},
//       {"name": "send_to_2", "op": "send", "deps": [0], "peer": 2, "bytes": 1048576, "tag": 0}]}]}
//
// `op` names the payload kind; the remaining keys are that kind's fields (see op_graph.h), all
// required. Sizes are integers of bytes (or strings with units such as "1MiB"). Unknown keys,
// missing fields and wrong types are errors naming the file, rank, op and field.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/params.h"
#include "workloads/op_graph.h"
#include "workloads/workload_generator.h"

namespace mlasim {

inline constexpr int kTraceVersion = 1;

nlohmann::ordered_json workload_to_json(const Workload& w);
// `source` names the file in error messages.
Workload workload_from_json(const nlohmann::json& j, const std::string& source);
Workload read_trace_file(const std::filesystem::path& path);

struct TraceWorkloadParams {
  std::string file;
  template <class V>
  void visit(V& v) {
    v.required("file", file, "-", "trace JSON written by `mlasim trace` (path as given)");
  }
};

// `type: trace`: replays a trace file; its rank count must match the cluster's GPUs.
class TraceWorkload : public WorkloadGenerator {
 public:
  explicit TraceWorkload(const TraceWorkloadParams& p) : params_(p) {}
  Workload generate(const ClusterShape& cluster) const override;

 private:
  TraceWorkloadParams params_;
};

}  // namespace mlasim
