// RooflineGpu: max(math, memory) per op (see roofline_gpu.h).
#include "models/gpu/roofline_gpu.h"

#include <memory>

namespace mlasim {

FlopRate RooflineGpuParams::rate(DType t) const {
  const FlopRate peak = t == DType::FP8 ? fp8 : t == DType::BF16 || t == DType::FP16 ? bf16 : fp32;
  if (reserved_sms == 0) return peak;  // exactly the peak (no rounding of the scale)
  const double left = static_cast<double>(sms - reserved_sms) / static_cast<double>(sms);
  return FlopRate::flop_per_s(peak.flop_per_s() * left);
}

RooflineGpu::RooflineGpu(const RooflineGpuParams& params, const ModuleEnv& env)
    : GpuBase(env), params_(params) {}

void RooflineGpu::start_compute(const Op& op, std::function<void()> done) {
  // The dtype of the math: GEMMs and attention name theirs; element-wise work is FP32.
  DType dtype = DType::FP32;
  if (const auto* g = std::get_if<GemmOp>(&op.payload)) dtype = g->dtype;
  if (const auto* g = std::get_if<GroupedGemmOp>(&op.payload)) dtype = g->dtype;
  if (const auto* a = std::get_if<AttentionOp>(&op.payload)) dtype = a->dtype;
  // Both halves must finish; whichever finishes second completes the op.
  auto remaining = std::make_shared<int>(3);
  auto part_done = [remaining, done = std::move(done)] {
    if (--*remaining == 0) done();
  };
  actions().after(params_.rate(dtype).compute_time(op_flops(op.payload)), part_done);
  memory().access(MemRequest{0, Bytes(op_bytes_read(op.payload)), false}, part_done);
  memory().access(MemRequest{0, Bytes(op_bytes_written(op.payload)), true}, part_done);
}

}  // namespace mlasim
