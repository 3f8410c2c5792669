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
  const std::string& file = params_.file.given;
  Workload w = read_trace_file(params_.file.resolved, &metadata, &minor, file);
  // Checked here, so that a bad block is bad input before the run rather than after it.
  facts_ = metadata.is_null() ? nullptr
                              : std::make_shared<const InferenceFacts>(
                                    inference_facts_from_metadata(metadata, file, minor));
  // Written again as the generator writes it (its field order), so that re-tracing a trace
  // reproduces the file.
  last_metadata_ = facts_ ? inference_trace_metadata(*facts_) : nlohmann::ordered_json();
  if (facts_) {
    // layers.csv files an op under the layer its name gives: one beyond the model's would
    // land on an MTP module's row, or on none.
    for (size_t r = 0; r < w.ranks.size(); ++r) {
      for (size_t i = 0; i < w.ranks[r].ops.size(); ++i) {
        const std::string& name = w.ranks[r].ops[i].name;
        uint64_t n = 0;
        bool mtp = false;
        if (!named_layer(name, n, mtp)) continue;
        if (n >= (mtp ? static_cast<uint64_t>(kMaxModelLayers) : facts_->model_layers)) {
          throw InputError(
              fmt::format("{}: rank {}, op {} '{}', field 'name': {} {} is beyond {}", file, r, i,
                          name, mtp ? "MTP module" : "layer", n,
                          mtp ? fmt::format("the {} modules a trace may have", kMaxModelLayers)
                              : fmt::format("metadata.model_layers ({}: layers 0..{})",
                                            facts_->model_layers, facts_->model_layers - 1)));
        }
      }
    }
  }
  if (static_cast<int>(w.ranks.size()) != cluster.ranks()) {
    throw InputError(fmt::format("{}: trace has {} ranks but the cluster has {} GPUs", file,
                                 w.ranks.size(), cluster.ranks()));
  }
  // An all_to_all's node size orders its sends and places DeepEP forwarding: one written for
  // another cluster shape would replay with the wrong nodes, silently. 0 stands for the node
  // size only where the rank exchanges data with ranks of its own node alone (an EP group
  // within a node, where the generators write it).
  const auto gpn = static_cast<size_t>(std::max(1, cluster.gpus_per_node));
  auto within_node = [&](size_t r, const AllToAllOp& a) {
    bool inside = true;
    auto check = [&](int32_t peer, uint64_t bytes) {
      inside = inside && (bytes == 0 || static_cast<size_t>(peer) / gpn == r / gpn);
    };
    a.for_each_send(check);
    a.for_each_recv(check);
    return inside;
  };
  for (size_t r = 0; r < w.ranks.size(); ++r) {
    const std::vector<Op>& ops = w.ranks[r].ops;
    for (size_t i = 0; i < ops.size(); ++i) {
      const auto* a = std::get_if<AllToAllOp>(&ops[i].payload);
      if (!a || a->gpus_per_node == cluster.gpus_per_node ||
          (a->gpus_per_node == 0 && (cluster.nodes == 1 || within_node(r, *a)))) {
        continue;
      }
      throw InputError(fmt::format(
          "{}: rank {}, op {} '{}', field 'gpus_per_node': {}, but the cluster has {} GPUs per "
          "node{}",
          file, r, i, ops[i].name, a->gpus_per_node, cluster.gpus_per_node,
          a->gpus_per_node == 0 ? " (0 stands for it only where the rank exchanges data within "
                                  "its node)"
                                : " (the trace was written for another cluster shape)"));
    }
  }
  if (facts_ && !facts_->prompts_done.empty()) {
    // One count per DP group and pass; the groups split the ranks evenly (TP within a group).
    const size_t groups = facts_->prompts_done.size() / facts_->prefill_passes;
    if (w.ranks.size() % groups != 0) {
      throw InputError(fmt::format(
          "{}: metadata: prompts_done: {} counts over {} passes make {} DP groups, which do not "
          "divide the trace's {} ranks",
          file, facts_->prompts_done.size(), facts_->prefill_passes, groups, w.ranks.size()));
    }
  }
  return w;
}

WorkloadReport TraceWorkload::report(const WorkloadRun& run) const {
  if (!facts_) return {};
  return inference_report(*facts_, run);
}

}  // namespace mlasim
