// Tile decompositions of the ops the GPU runs, in the style of the libraries that run them:
//  GEMM          CUTLASS/cuBLAS Hopper style: bm x bn output tiles, bk-deep k-steps, a
//                multi-stage TMA pipeline, 2-CTA clusters multicasting A, swizzled raster,
//                split-K when there are too few tiles to fill the SMs;
//  grouped GEMM  DeepGEMM's m-grouped contiguous and masked layouts (MoE experts);
//  attention     FlashMLA decode (KV split across SMs, 64-row head blocks, 64-token pages,
//                a combine kernel), FlashAttention-style MHA/GQA decode (split-KV +
//                combine) and prefill (128 x 128 blocks, causal), MLA prefill in MHA form;
//  elementwise   streaming kernels sized by their bytes (norms, RoPE, activations).
// Operands get addresses from a DeviceAddressSpace, so L2 sees which blocks are shared.
//
// Also the closed-form tile model of a GEMM (estimate_gemm), used to choose tilings and as the
// independent reference in tests.
#pragma once

#include <cstdint>

#include "models/gpu/kernel_plan.h"
#include "models/gpu/tile_gpu_params.h"
#include "workloads/op_graph.h"

namespace mlasim {

// Hands out operand addresses in one GPU's memory (4 KiB aligned, wrapping at the capacity).
class DeviceAddressSpace {
 public:
  explicit DeviceAddressSpace(uint64_t capacity = 80ull << 30) : capacity_(capacity) {}
  uint64_t allocate(uint64_t bytes);

 private:
  uint64_t capacity_;
  uint64_t next_ = 0;
};

struct GemmTiling {
  uint32_t bm = 128, bn = 256, bk = 64;
  uint32_t stages = 4;  // pipeline depth (shared-memory buffers)
  uint32_t split_k = 1;
  uint32_t cluster_n = 2;  // CTAs along N sharing each A block by multicast
};

// What the closed-form tile model predicts for a GEMM.
struct GemmEstimate {
  Time total;
  Time compute;  // waves x (tiles per SM x k-steps x tile math)
  Time memory;   // unique HBM bytes at the sustained bandwidth
  Time l2;       // L2 traffic at the L2 bandwidth
  uint32_t waves = 0;
  bool memory_bound() const { return memory > compute; }
};

// `hbm_bytes_per_s`: sustained memory bandwidth (peak x calibrated efficiency).
GemmEstimate estimate_gemm(uint64_t m, uint64_t n, uint64_t k, DType dtype, const GemmTiling& t,
                           const TileGpuParams& p, double hbm_bytes_per_s);
// The tiling a library heuristic would pick: the fastest by estimate_gemm among common shapes.
GemmTiling choose_gemm_tiling(uint64_t m, uint64_t n, uint64_t k, DType dtype,
                              const TileGpuParams& p, double hbm_bytes_per_s);

KernelSequence build_gemm(const GemmOp& op, const GemmTiling& t, const TileGpuParams& p,
                          DeviceAddressSpace& mem);
KernelSequence build_grouped_gemm(const GroupedGemmOp& op, const GemmTiling& t,
                                  const TileGpuParams& p, DeviceAddressSpace& mem);
KernelSequence build_attention(const AttentionOp& op, const TileGpuParams& p,
                               DeviceAddressSpace& mem);
KernelSequence build_elementwise(const ElementwiseOp& op, const TileGpuParams& p,
                                 DeviceAddressSpace& mem);
// Any compute op with the default tilings; empty for communication ops.
KernelSequence build_kernels(const OpPayload& op, const TileGpuParams& p, DeviceAddressSpace& mem,
                             double hbm_bytes_per_s);

// Shared by the builders: a memory-bound streaming kernel (also the combine step of split
// kernels) moving bytes_in -> bytes_out with FP32 work.
std::unique_ptr<KernelPlan> make_streaming_kernel(std::string name, uint64_t bytes_in,
                                                  uint64_t bytes_out, double flops,
                                                  DeviceAddressSpace& mem);

}  // namespace mlasim
