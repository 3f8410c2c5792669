// What the DeepSeekInference op-graph tests share: a 2 x 2 cluster, DeepSeek-V2-Lite params, and
// the ops of a rank whose names end in a suffix.
#pragma once

#include <string>
#include <vector>

#include "workloads/deepseek_inference.h"

namespace mlasim::deepseek_test {

inline const ClusterShape kCluster{2, 2};

inline DeepSeekInferenceParams lite(bool dual, uint32_t depth) {
  DeepSeekInferenceParams p;
  p.model = "deepseek-v2-lite";
  p.layers = 4;
  p.requests_per_gpu = 16;
  p.context_length = 1024;
  p.dual_micro_batch = dual;
  p.mtp.depth = depth;
  return p;
}

inline std::vector<const Op*> ops_named(const RankProgram& prog, const std::string& suffix) {
  std::vector<const Op*> out;
  for (const Op& op : prog.ops) {
    if (op.name.size() >= suffix.size() &&
        op.name.compare(op.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(&op);
    }
  }
  return out;
}

}  // namespace mlasim::deepseek_test
