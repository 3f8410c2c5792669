// Peak rates of the GPU presets and a roofline estimate of a kernel step, for `mlasim kernels`'
// `roofline [us]` column, beside the tile GPU model's time. These are the datasheet's peaks, each
// at the clock NVIDIA quotes it at: the tensor rates at 1.83 GHz, the non-tensor FP32 rate at the
// 1.98 GHz boost. The tile model (models/gpu/tile_gpu_params.h) runs everything at one clock,
// 1.83 GHz, so its FP32 CUDA-core peak is 61.8 TF against the 66.9 TF here.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "sim/dtype.h"
#include "sim/units.h"
#include "workloads/kernels/accounting.h"
#include "workloads/kernels/numerics.h"

namespace mlasim::kernels {

// Dense peaks from REFERENCE.md §2 (datasheet figures, SXM parts).
struct GpuPeaks {
  std::string_view name;
  FlopRate fp8;
  FlopRate bf16;
  FlopRate tf32;
  FlopRate fp32;  // non-tensor
  Bandwidth hbm;
};

inline constexpr std::array<GpuPeaks, 3> kGpuPeaks{{
    {"h100", FlopRate::flop_per_s(1979e12), FlopRate::flop_per_s(989e12),
     FlopRate::flop_per_s(495e12), FlopRate::flop_per_s(66.9e12), Bandwidth::bytes_per_s(3.35e12)},
    {"h800", FlopRate::flop_per_s(1979e12), FlopRate::flop_per_s(989e12),
     FlopRate::flop_per_s(495e12), FlopRate::flop_per_s(66.9e12), Bandwidth::bytes_per_s(3.35e12)},
    {"h200", FlopRate::flop_per_s(1979e12), FlopRate::flop_per_s(989e12),
     FlopRate::flop_per_s(495e12), FlopRate::flop_per_s(66.9e12), Bandwidth::bytes_per_s(4.8e12)},
}};

// Throws InputError for an unknown name, listing the known ones.
const GpuPeaks& gpu_peaks(std::string_view name);

// Math rate for products in `dtype`; FP32 uses the non-tensor rate unless `tf32`.
FlopRate peak_rate(const GpuPeaks& gpu, DType dtype, bool tf32);

struct RooflineEstimate {
  Time compute;  // projections at the compute dtype's rate + attention at its own
  Time memory;   // all bytes read and written at HBM peak
  Time time() const { return compute > memory ? compute : memory; }
  bool memory_bound() const { return memory >= compute; }
};

RooflineEstimate roofline(const KernelCost& cost, const Precision& precision, const GpuPeaks& gpu,
                          bool tf32);

}  // namespace mlasim::kernels
