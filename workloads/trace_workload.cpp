// The `trace` workload generator (declared in trace.h): replays a trace file and, when the file
// carries inference metadata, reports like the generator that wrote it. Kept apart from the
// trace reader and writer (trace.cpp), which the fuzz targets link without the report code.
#include <fmt/format.h>

#include "sim/errors.h"
#include "workloads/inference_report.h"
#include "workloads/trace.h"

namespace mlasim {

Workload TraceWorkload::generate(const ClusterShape& cluster) const {
  nlohmann::json metadata;
  int minor = 0;
  Workload w = read_trace_file(params_.file, &metadata, &minor);
  // Checked here, so that a bad block is bad input before the run rather than after it.
  facts_ = metadata.is_null() ? nullptr
                              : std::make_shared<const InferenceFacts>(
                                    inference_facts_from_metadata(metadata, params_.file, minor));
  last_metadata_ = metadata;
  if (static_cast<int>(w.ranks.size()) != cluster.ranks()) {
    throw InputError(fmt::format("{}: trace has {} ranks but the cluster has {} GPUs", params_.file,
                                 w.ranks.size(), cluster.ranks()));
  }
  if (facts_ && !facts_->prompts_done.empty()) {
    // One count per DP group and pass; the groups split the ranks evenly (TP within a group).
    const size_t groups = facts_->prompts_done.size() / facts_->prefill_passes;
    if (w.ranks.size() % groups != 0) {
      throw InputError(fmt::format(
          "{}: metadata: prompts_done: {} counts over {} passes make {} DP groups, which do not "
          "divide the trace's {} ranks",
          params_.file, facts_->prompts_done.size(), facts_->prefill_passes, groups,
          w.ranks.size()));
    }
  }
  return w;
}

WorkloadReport TraceWorkload::report(const WorkloadRun& run) const {
  if (!facts_) return {};
  return inference_report(*facts_, run);
}

}  // namespace mlasim
