// Parameters of the tile/wave GPU model (`type: tile`): SMs and their clock, math rates per
// SM and clock cycle by data type, per-SM resources that set occupancy, the L2 (capacity,
// bandwidth, latency) and the SM<->L2 path, SMs reserved for communication, launch overhead.
//
// Defaults are the H800/H100 SXM5 (REFERENCE.md §2): 132 SMs; dense tensor rates of 8192 FP8,
// 4096 BF16 and 2048 TF32 FLOP per SM per clock, which give the datasheet 1979 / 989 / 495
// TFLOPS at 1.83 GHz (the clock the tensor figures imply); 256 FP32 FLOP/clk/SM on CUDA cores
// (128 FMA lanes; 66.9 TFLOPS is quoted at the 1.98 GHz boost, 61.8 at 1.83 GHz); 16 SFU ops
// per clock per SM (exp2 for softmax). Per-SM resources from the Hopper tuning guide: 228 KB
// shared memory (227 KB per block), 64 K registers, 2048 threads, 32 blocks. The L2 and
// SM<->L2 figures are not published for H100 and are marked (uncertain) below.
#pragma once

#include <cstdint>

#include "sim/dtype.h"
#include "sim/params.h"

namespace mlasim {

struct TileGpuParams {
  static constexpr uint32_t kMaxSms = 4096;
  uint32_t sms = 132;
  Frequency clock = Frequency::hz(1.83e9);
  uint32_t fp8_flops_per_clk = 8192;   // per SM, dense tensor core
  uint32_t bf16_flops_per_clk = 4096;  // per SM, dense tensor core (FP16 alike)
  uint32_t tf32_flops_per_clk = 2048;  // per SM, dense tensor core
  uint32_t fp32_flops_per_clk = 256;   // per SM, CUDA cores (FMA = 2)
  uint32_t sfu_ops_per_clk = 16;       // per SM, special functions (exp2)
  bool fp32_gemm_on_tf32 = true;
  Bytes smem_per_sm = Bytes(228 * 1024);
  Bytes smem_per_block = Bytes(227 * 1024);
  uint32_t registers_per_sm = 65536;
  uint32_t threads_per_sm = 2048;
  uint32_t blocks_per_sm = 32;
  Bytes l2_capacity = Bytes(50ull * 1000 * 1000);
  uint32_t l2_bytes_per_clk = 5120;
  uint32_t sm_l2_bytes_per_clk = 64;
  Time l2_hit_latency = Time::ns(150);
  Time l2_miss_latency = Time::ns(150);
  uint32_t reserved_sms = 0;
  Time launch_overhead = Time::ns(1000);
  template <class V>
  void visit(V& v) {
    v("sms", sms, "count", "streaming multiprocessors (at most 4096)");
    v("clock", clock, "Hz", "SM clock under load (tensor datasheet figures imply 1.83 GHz)");
    v("fp8_flops_per_clk", fp8_flops_per_clk, "FLOP/clk", "dense FP8 tensor rate per SM");
    v("bf16_flops_per_clk", bf16_flops_per_clk, "FLOP/clk", "dense BF16/FP16 tensor rate per SM");
    v("tf32_flops_per_clk", tf32_flops_per_clk, "FLOP/clk", "dense TF32 tensor rate per SM");
    v("fp32_flops_per_clk", fp32_flops_per_clk, "FLOP/clk", "FP32 CUDA-core rate per SM");
    v("sfu_ops_per_clk", sfu_ops_per_clk, "op/clk", "special-function (exp2) rate per SM");
    v("fp32_gemm_on_tf32", fp32_gemm_on_tf32, "-",
      "FP32 matrix products run on the tensor cores as TF32 (else on CUDA cores)");
    v("smem_per_sm", smem_per_sm, "B", "shared memory per SM");
    v("smem_per_block", smem_per_block, "B", "shared memory one thread block may use");
    v("registers_per_sm", registers_per_sm, "count", "32-bit registers per SM");
    v("threads_per_sm", threads_per_sm, "count", "resident threads per SM");
    v("blocks_per_sm", blocks_per_sm, "count", "resident thread blocks per SM");
    v("l2_capacity", l2_capacity, "B", "L2 cache capacity");
    v("l2_bytes_per_clk", l2_bytes_per_clk, "B/clk",
      "L2 bandwidth, all SMs together (uncertain: A100 whitepaper figure, H100 unpublished)");
    v("sm_l2_bytes_per_clk", sm_l2_bytes_per_clk, "B/clk",
      "L2-to-SM bandwidth of one SM (uncertain)");
    v("l2_hit_latency", l2_hit_latency, "s", "load latency of an L2 hit (uncertain: ~270 clk)");
    v("l2_miss_latency", l2_miss_latency, "s",
      "extra latency of an L2 miss besides the memory model's own (fabric; uncertain)");
    v("reserved_sms", reserved_sms, "count",
      "SMs reserved for communication kernels: compute uses the rest");
    v("launch_overhead", launch_overhead, "s",
      "gap before each kernel's first block (launch, back-to-back on a stream; uncertain)");
  }
  void validate(const ParamCheck& c) const;

  uint32_t compute_sms() const { return sms - reserved_sms; }
  double clock_hz() const { return clock.hz(); }
  // Math rate of one SM for matrix products in `t`, FLOP per second.
  double tensor_rate(DType t) const;
  double fp32_rate() const { return fp32_flops_per_clk * clock.hz(); }
  double sfu_rate() const { return sfu_ops_per_clk * clock.hz(); }
  double l2_bandwidth() const { return l2_bytes_per_clk * clock.hz(); }
  double sm_l2_bandwidth() const { return sm_l2_bytes_per_clk * clock.hz(); }
};

}  // namespace mlasim
