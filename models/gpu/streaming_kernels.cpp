// Streaming (element-wise) kernels and the op -> kernels dispatch (see kernel_builders.h).
#include <algorithm>

#include "models/gpu/kernel_builders.h"

namespace mlasim {
namespace {

uint64_t cdiv(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

// Each block streams one chunk in, does its share of the math and streams its share out: a
// grid-stride kernel with 8 blocks of 256 threads per SM keeps ~256 KB per SM in flight.
class StreamingPlan final : public KernelPlan {
 public:
  StreamingPlan(uint64_t bytes_in, uint64_t bytes_out, double flops, DeviceAddressSpace& mem)
      : in_(bytes_in), out_(bytes_out), flops_(flops) {
    tiles_ =
        static_cast<uint32_t>(std::max<uint64_t>(1, cdiv(std::max(bytes_in, bytes_out), kChunk)));
    in_base_ = mem.allocate(std::max<uint64_t>(1, bytes_in));
    out_base_ = mem.allocate(std::max<uint64_t>(1, bytes_out));
    dtype = DType::FP32;
    resources.smem = 0;
    resources.threads = 256;
    resources.registers_per_thread = 32;
    resources.pipeline_depth = 1;
  }
  uint32_t tiles() const override { return tiles_; }
  uint32_t stages(uint32_t) const override { return 1; }
  void stage(uint32_t tile, uint32_t, TileStage& out) const override {
    const auto [off, bytes] = share(in_, tile);
    out.load(in_base_ + off, bytes);
    out.cuda_flops = flops_ / tiles_;
  }
  void epilogue(uint32_t tile, TileStage& out) const override {
    const auto [off, bytes] = share(out_, tile);
    out.store(out_base_ + off, bytes);
  }

 private:
  static constexpr uint64_t kChunk = 32 * 1024;
  std::pair<uint64_t, uint64_t> share(uint64_t total, uint32_t tile) const {
    const uint64_t per = cdiv(total, tiles_);
    const uint64_t off = std::min(total, per * tile);
    return {off, std::min(per, total - off)};
  }
  uint64_t in_, out_;
  double flops_;
  uint32_t tiles_;
  uint64_t in_base_ = 0, out_base_ = 0;
};

}  // namespace

std::unique_ptr<KernelPlan> make_streaming_kernel(std::string name, uint64_t bytes_in,
                                                  uint64_t bytes_out, double flops,
                                                  DeviceAddressSpace& mem) {
  auto plan = std::make_unique<StreamingPlan>(bytes_in, bytes_out, flops, mem);
  plan->name = std::move(name);
  plan->useful_flops = flops;
  return plan;
}

KernelSequence build_elementwise(const ElementwiseOp& op, const TileGpuParams&,
                                 DeviceAddressSpace& mem) {
  KernelSequence seq;
  seq.push_back(make_streaming_kernel(std::string(enum_name(op.function)), op.bytes_in.count(),
                                      op.bytes_out.count(), op.flops, mem));
  return seq;
}

KernelSequence build_kernels(const OpPayload& op, const TileGpuParams& p, DeviceAddressSpace& mem,
                             double hbm_bytes_per_s) {
  if (const auto* g = std::get_if<GemmOp>(&op)) {
    return build_gemm(*g, choose_gemm_tiling(g->m, g->n, g->k, g->dtype, p, hbm_bytes_per_s), p,
                      mem);
  }
  if (const auto* g = std::get_if<GroupedGemmOp>(&op)) {
    // DeepGEMM-like: the groups give the parallelism, so no split-K; the row tile follows the
    // rows per group.
    uint64_t groups = 0, rows = 0;
    for (uint64_t m : g->m) {
      groups += m > 0 ? 1 : 0;
      rows = std::max(rows, m);
    }
    const uint64_t mean = groups ? g->total_m() / groups : 0;
    GemmTiling t =
        choose_gemm_tiling(std::max<uint64_t>(1, mean), g->n, g->k, g->dtype, p, hbm_bytes_per_s);
    t.split_k = 1;
    if (t.bn > 128) t.bn = 128;
    return build_grouped_gemm(*g, t, p, mem);
  }
  if (const auto* a = std::get_if<AttentionOp>(&op)) return build_attention(*a, p, mem);
  if (const auto* e = std::get_if<ElementwiseOp>(&op)) return build_elementwise(*e, p, mem);
  return {};
}

}  // namespace mlasim
