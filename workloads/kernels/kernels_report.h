// What `mlasim kernels` computes: for one model and step shape, each attention variant's
// KV-cache footprint, FLOPs and bytes (closed forms of accounting.h, summed over all layers),
// a roofline time on a GPU preset's datasheet peaks and, given a timer (the `mlasim kernels`
// command passes the tile GPU model), the time of the same kernels on a GPU model with the
// bandwidth and FLOP rate they achieve; rendered as a table or as JSON.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "workloads/kernels/accounting.h"
#include "workloads/kernels/explain.h"
#include "workloads/kernels/numerics.h"
#include "workloads/kernels/roofline.h"
#include "workloads/model_config.h"
#include "workloads/op_graph.h"

namespace mlasim::kernels {

enum class Phase { Decode, Prefill };

// What a GPU model says about the kernels of one layer step (attention_step_ops).
struct GpuStepTime {
  double time_us = 0;
  uint64_t hbm_bytes = 0;  // bytes the model's memory moved (reads + writes)
};
// Times one layer's ops; empty when the GPU model cannot run them (a tile that does not fit).
using StepTimer = std::function<std::optional<GpuStepTime>(const std::vector<OpPayload>&)>;

// Sequences in a batch: a hundred times a real serving batch; with them the tile GPU model
// times a small model at a short context in seconds (its time grows with the batch).
inline constexpr int64_t kMaxKernelsBatch = int64_t{1} << 16;

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
  // When set, time_us comes from it (all layers: one layer's time x layers); else the roofline.
  StepTimer timer;
  std::string timer_label;  // what the timer models, for the table's header
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
  // From the GPU model, all layers (empty without a timer, or where the model cannot run it).
  std::optional<GpuStepTime> gpu_time;
  // Why a timed report has no gpu_time for this variant (a tile that does not fit an SM, or
  // more tile stages than the model runs); empty otherwise.
  std::string untimed_reason;
  double time_us() const { return gpu_time ? gpu_time->time_us : estimate.time().to_us(); }
  // Model HBM bytes per model second, TB/s; accounted FLOPs per model second, TFLOP/s.
  double achieved_tb_per_s() const;
  double achieved_tflops() const;
};

struct KernelsReport {
  ModelConfig model;
  StepShape shape;
  Precision precision;
  GpuPeaks gpu;
  bool tf32 = false;
  bool timed = false;  // a GPU model timed the variants
  std::string timer_label;
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
