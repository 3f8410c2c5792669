// What `mlasim kernels` computes: for one model and step shape, each attention variant's
// KV-cache footprint, FLOPs and bytes (closed forms of accounting.h, summed over all layers)
// and a roofline time on a GPU preset; rendered as a table or as JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workloads/kernels/accounting.h"
#include "workloads/kernels/explain.h"
#include "workloads/kernels/numerics.h"
#include "workloads/kernels/roofline.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {

enum class Phase { Decode, Prefill };

struct KernelsRequest {
  std::string model = "deepseek-v3";
  Phase phase = Phase::Decode;
  int64_t batch = 1;
  int64_t context = 4096;  // decode: tokens already cached; prefill: prompt length
  int64_t new_tokens = 1;  // decode: tokens appended this step (>1: chunked prefill / MTP)
  DType dtype = DType::BF16;
  std::optional<DType> kv_dtype;
  std::string gpu = "h100";
  bool tf32 = false;
};

struct VariantReport {
  Variant variant;
  AttentionSpec spec;
  KernelCost cost;                    // one step, all layers
  uint64_t kv_bytes_per_token = 0;    // all layers
  uint64_t kv_bytes_per_request = 0;  // per sequence at kv_len tokens, all layers
  uint64_t kv_bytes_total = 0;        // the whole batch
  RooflineEstimate estimate;
  double arithmetic_intensity = 0;  // FLOP per byte moved
};

struct KernelsReport {
  ModelConfig model;
  StepShape shape;
  Precision precision;
  GpuPeaks gpu;
  bool tf32 = false;
  std::vector<VariantReport> variants;
};

// Validates the request (InputError) and evaluates every variant of the model.
KernelsReport build_kernels_report(const KernelsRequest& request);

// "decode", "prefill" or "chunked" (several new tokens over a non-empty cache).
std::string phase_label(const StepShape& shape);

std::string format_report_table(const KernelsReport& report);
// With `flows`, adds an "explain" array of the dimension flows.
std::string format_report_json(const KernelsReport& report,
                               const std::vector<DimensionFlow>* flows = nullptr);

}  // namespace mlasim::kernels
