// Validation and derived rates of the tile GPU parameters (see tile_gpu_params.h).
#include "models/gpu/tile_gpu_params.h"

#include <fmt/format.h>

namespace mlasim {

void TileGpuParams::validate(const ParamCheck& c) const {
  // Per-SM state is allocated up front: 4e9 SMs exhausted memory.
  c.require(sms > 0 && sms <= kMaxSms, "sms",
            fmt::format("must be in [1, {}] (30x an H100's 132)", kMaxSms));
  c.require(reserved_sms < sms, "reserved_sms", "must leave at least one SM for compute");
  c.require(clock.hz() > 0, "clock", "must be > 0");
  c.require(fp8_flops_per_clk > 0, "fp8_flops_per_clk", "must be > 0");
  c.require(bf16_flops_per_clk > 0, "bf16_flops_per_clk", "must be > 0");
  c.require(tf32_flops_per_clk > 0, "tf32_flops_per_clk", "must be > 0");
  c.require(fp32_flops_per_clk > 0, "fp32_flops_per_clk", "must be > 0");
  c.require(sfu_ops_per_clk > 0, "sfu_ops_per_clk", "must be > 0");
  c.require(smem_per_block <= smem_per_sm && smem_per_block.count() > 0, "smem_per_block",
            "must be in 1..smem_per_sm");
  c.require(registers_per_sm > 0, "registers_per_sm", "must be > 0");
  c.require(threads_per_sm >= 128, "threads_per_sm", "must be >= 128");
  c.require(blocks_per_sm > 0, "blocks_per_sm", "must be > 0");
  c.require(l2_capacity.count() > 0, "l2_capacity", "must be > 0");
  c.require(l2_bytes_per_clk > 0, "l2_bytes_per_clk", "must be > 0");
  c.require(sm_l2_bytes_per_clk > 0, "sm_l2_bytes_per_clk", "must be > 0");
}

double TileGpuParams::tensor_rate(DType t) const {
  switch (t) {
    case DType::FP8:
      return fp8_flops_per_clk * clock.hz();
    case DType::BF16:
    case DType::FP16:
      return bf16_flops_per_clk * clock.hz();
    case DType::FP32:
      return (fp32_gemm_on_tf32 ? tf32_flops_per_clk : fp32_flops_per_clk) * clock.hz();
    case DType::FP64:
      return fp32_flops_per_clk * clock.hz() / 2;
  }
  return bf16_flops_per_clk * clock.hz();
}

}  // namespace mlasim
