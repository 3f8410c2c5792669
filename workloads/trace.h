// The trace format: per-rank op graphs as versioned JSON, written by `mlasim trace` and replayed
// by `mlasim run` through the `type: trace` workload. Schema (version 1, minor 7):
//
//   {"format": "mlasim-trace", "version": 1, "minor": 7,
//    "metadata": {"generator": "deepseek_inference", "phase": "decode", ...},
//    "ranks": [
//     {"rank": 0, "ops": [
//       {"name": "gemm", "op": "gemm", "deps": [], "stream": 0, "micro_batch": 0,
//        "m": 64, "n": 7168, "k": 7168, "dtype": "bf16"},
//       {"name": "send_to_2", "op": "send", "deps": [0], "peer": 2, "bytes": 1048576, "tag": 0}]}]}
//
// `op` names the payload kind; the remaining keys are that kind's fields (see op_graph.h), all
// required except those added by a later minor version (attention `kv_lens`, minor 1; attention
// `q_lens` and the prefill prompt metadata, minor 2; the `vl` of send, all_to_all and
// ring_collective, minor 3; per-layer imbalance metadata, minor 4; the all_to_all's
// `relay_bytes` and `reduce`, minor 5; the metadata's per-routing loads, minor 6; the
// prefill's carried prompts, minor 7), which may be
// left out. Sizes are integers of
// bytes (or strings with units such as "1MiB"). Unknown keys, missing fields and wrong types are
// errors naming the file, rank, op and field.
//
// `metadata` (minor 1, optional) holds what the generator's run report needs besides the
// simulated times (for deepseek_inference: the fields of InferenceFacts), so that replaying the
// trace reports the same summary keys and layers.csv. Version 1 traces without `minor` read as
// minor 0; a minor newer than this build's is an error, and so is a field (or the metadata block)
// newer than the minor the trace declares.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/params.h"
#include "workloads/op_graph.h"
#include "workloads/workload_generator.h"

namespace mlasim {

inline constexpr int kTraceVersion = 1;
inline constexpr int kTraceMinorVersion = 7;

struct InferenceFacts;

// `metadata`: a generator's trace_metadata() (null: none written).
nlohmann::ordered_json workload_to_json(const Workload& w,
                                        const nlohmann::ordered_json& metadata = nullptr);
// `source` names the file in error messages; the metadata block, when there is one, goes to
// `metadata`, and the minor version the trace declares to `minor`.
Workload workload_from_json(const nlohmann::json& j, const std::string& source,
                            nlohmann::json* metadata = nullptr, int* minor = nullptr);
// `label` names the file in messages (empty: `path`).
Workload read_trace_file(const std::filesystem::path& path, nlohmann::json* metadata = nullptr,
                         int* minor = nullptr, const std::string& label = {});

// The metadata block of a deepseek_inference step, and its reading (errors name the field;
// `minor`: the minor version of the trace it came in, which bounds the fields it may have).
nlohmann::ordered_json inference_trace_metadata(const InferenceFacts& facts);
InferenceFacts inference_facts_from_metadata(const nlohmann::json& metadata,
                                             const std::string& source,
                                             int minor = kTraceMinorVersion);

// A trace file as a scenario names it. A relative path is taken from the folder of the file that
// gives it, as `include:` paths are (so a scenario and its trace can move together): a
// scenario's, or a sweep's for its `set` and axis values; from the working directory when it
// comes from --set (or from --set-dir's folder). Messages name the path as given (after the
// scenario line that gives it); the resolved config holds the absolute path, so that it replays
// from any folder.
struct TracePath {
  std::string given;
  std::filesystem::path resolved;
};
template <>
struct ParamTraits<TracePath> {
  static constexpr std::string_view type_name = "path";
  static TracePath parse(const ConfigNode& n, std::string_view path) {
    TracePath p{detail::expect_scalar(n, path, "a path"), {}};
    const std::filesystem::path given(p.given);
    p.resolved =
        given.is_absolute() ? given : std::filesystem::absolute(relative_path_base(n) / given);
    return p;
  }
  static std::string format(const TracePath& v) { return v.resolved.string(); }
};

struct TraceWorkloadParams {
  TracePath file;
  template <class V>
  void visit(V& v) {
    v.required("file", file, "-",
               "trace JSON written by `mlasim trace` (relative: to the folder of the scenario or "
               "sweep file that names it; from --set: to the working folder)");
  }
};

// `type: trace`: replays a trace file; its rank count must match the cluster's GPUs. A trace
// with inference metadata reports like the generator that wrote it.
class TraceWorkload : public WorkloadGenerator {
 public:
  explicit TraceWorkload(const TraceWorkloadParams& p) : params_(p) {}
  Workload generate(const ClusterShape& cluster) const override;
  WorkloadReport report(const WorkloadRun& run) const override;
  nlohmann::ordered_json trace_metadata() const override { return last_metadata_; }

 private:
  TraceWorkloadParams params_;
  mutable nlohmann::ordered_json last_metadata_;         // of the trace generate() read last
  mutable std::shared_ptr<const InferenceFacts> facts_;  // read from it; null without
};

}  // namespace mlasim
