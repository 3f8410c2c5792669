// RooflineGpu: max(math, memory) per op (see roofline_gpu.h).
#include "models/gpu/roofline_gpu.h"

#include <memory>

namespace mlasim {

FlopRate RooflineGpuParams::rate(DType t) const {
  switch (t) {
    case DType::FP8:
      return fp8;
    case DType::BF16:
    case DType::FP16:
      return bf16;
    default:
      return fp32;
  }
}

RooflineGpu::RooflineGpu(const RooflineGpuParams& params, const ModuleEnv& env)
    : GpuBase(env), params_(params) {}

void RooflineGpu::start_compute(const Op& op, std::function<void()> done) {
  const auto& g = std::get<GemmOp>(op.payload);
  // Both halves must finish; whichever finishes second completes the op.
  auto remaining = std::make_shared<int>(3);
  auto part_done = [remaining, done = std::move(done)] {
    if (--*remaining == 0) done();
  };
  actions().after(params_.rate(g.dtype).compute_time(g.flops()), part_done);
  memory().access(MemRequest{0, Bytes(g.bytes_read()), false}, part_done);
  memory().access(MemRequest{0, Bytes(g.bytes_written()), true}, part_done);
}

}  // namespace mlasim
