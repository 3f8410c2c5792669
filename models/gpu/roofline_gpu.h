// Placeholder GPU (`type: roofline`): a compute op takes the longer of its math time at the
// dtype's peak rate and its memory time through the memory model, as one block with perfect
// overlap. No SMs, tiles, waves or L2; the tile/wave GPU model replaces it via the registry.
#pragma once

#include "models/gpu/gpu_base.h"
#include "sim/params.h"

namespace mlasim {

struct RooflineGpuParams {
  FlopRate fp8 = FlopRate::parse("1979TFLOP/s");
  FlopRate bf16 = FlopRate::parse("989TFLOP/s");
  FlopRate fp32 = FlopRate::parse("66.9TFLOP/s");
  uint32_t sms = 132;
  uint32_t reserved_sms = 0;
  template <class V>
  void visit(V& v) {
    v("fp8", fp8, "FLOP/s", "dense FP8 tensor-core peak, all SMs");
    v("bf16", bf16, "FLOP/s", "dense BF16 (and FP16) tensor-core peak, all SMs");
    v("fp32", fp32, "FLOP/s", "FP32 peak (CUDA cores), all SMs");
    v("sms", sms, "count", "streaming multiprocessors the peaks are for (H100/H800 SXM: 132)");
    v("reserved_sms", reserved_sms, "count",
      "SMs kept by communication kernels (DeepSeek prefill: 24 of 132): compute runs at "
      "(sms - reserved_sms) / sms of each peak; memory bandwidth is not scaled");
  }
  void validate(const ParamCheck& c) const {
    c.require(fp8.flop_per_s() > 0, "fp8", "must be > 0");
    c.require(bf16.flop_per_s() > 0, "bf16", "must be > 0");
    c.require(fp32.flop_per_s() > 0, "fp32", "must be > 0");
    c.require(sms >= 1 && sms <= 4096, "sms", "must be in [1, 4096]");
    c.require(reserved_sms < sms, "reserved_sms", "must leave at least one SM for compute");
  }
  // The math rate of `t` on the SMs left for compute.
  FlopRate rate(DType t) const;
};

class RooflineGpu : public GpuBase {
 public:
  RooflineGpu(const RooflineGpuParams& params, const ModuleEnv& env);

 protected:
  void start_compute(const Op& op, std::function<void()> done) override;

 private:
  RooflineGpuParams params_;
};

}  // namespace mlasim
