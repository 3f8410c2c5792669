// `mlasim kernels --explain`: the dimension flow of one attention layer of a model, stage by
// stage from the hidden states to the output projection, symbolic and with the sizes of the
// chosen step, including what lands in the KV cache and what stays on chip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/kernels/accounting.h"
#include "workloads/kernels/numerics.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {

struct FlowStep {
  std::string stage;          // the module or operation, HF names where there is one
  std::string shape;          // symbolic, e.g. "[b, L, d_c]"
  std::vector<int64_t> dims;  // the same with this step's sizes
  std::string weight;         // weight shape ("[1536, 7168]") or empty
  uint64_t bytes = 0;         // bytes of the result in memory; 0 when it stays on chip
  std::string note;
};

struct DimensionFlow {
  Variant variant;
  std::string title;
  std::vector<FlowStep> steps;
};

// One flow per native variant: MLA models get absorbed and naive, others their own (gqa).
std::vector<DimensionFlow> dimension_flows(const ModelConfig& model, const StepShape& shape,
                                           const Precision& precision);
DimensionFlow dimension_flow(const ModelConfig& model, Variant variant, const StepShape& shape,
                             const Precision& precision);

std::string format_flows(const ModelConfig& model, const std::vector<DimensionFlow>& flows);

}  // namespace mlasim::kernels
