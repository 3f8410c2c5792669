// GEMM and grouped-GEMM tile plans, and the closed-form GEMM tile model (see
// kernel_builders.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "models/gpu/kernel_builders.h"
#include "models/gpu/tile_executor.h"

namespace mlasim {

uint64_t DeviceAddressSpace::allocate(uint64_t bytes) {
  constexpr uint64_t kAlign = 4096;
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (next_ + bytes > capacity_) next_ = 0;
  const uint64_t at = next_;
  next_ += bytes;
  return at;
}

namespace {

uint64_t cdiv(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

DType out_type(DType t) {
  return t == DType::FP8 ? DType::BF16 : t;
}

TileResources gemm_resources(const GemmTiling& t, DType dtype) {
  TileResources r;
  const uint64_t e = dtype_bytes(dtype);
  // Warp-specialised: one producer warpgroup (TMA) and one consumer warpgroup per 64 rows.
  r.threads = 128 * (1 + std::max<uint32_t>(1, t.bm / 64));
  r.registers_per_thread = t.bn >= 256 ? (t.bm >= 128 ? 168 : 232) : 128;
  r.smem = t.stages * (t.bm + t.bn) * t.bk * e + 8 * 1024;  // + epilogue staging
  r.pipeline_depth = t.stages;
  return r;
}

// One GEMM or a list of expert groups: tile -> (group, split, m-tile, n-tile).
class GemmPlan final : public KernelPlan {
 public:
  struct Group {
    uint64_t m;        // valid rows
    uint64_t m_tiles;  // row tiles allocated (masked layout: for max_m)
    uint64_t a, b, c;  // operand addresses
  };
  GemmPlan(std::vector<Group> groups, uint64_t n, uint64_t k, DType dtype, const GemmTiling& t)
      : groups_(std::move(groups)), n_(n), k_(k), t_(t) {
    this->dtype = dtype;
    e_ = dtype_bytes(dtype);
    out_e_ = t.split_k > 1 ? 4 : dtype_bytes(out_type(dtype));
    tn_ = cdiv(n, t.bn);
    kt_ = cdiv(k, t.bk);
    ksplit_ = cdiv(kt_, t.split_k);
    uint64_t acc = 0;
    for (const Group& g : groups_) {
      first_.push_back(acc);
      acc += g.m_tiles * tn_ * t.split_k;
    }
    tiles_ = static_cast<uint32_t>(acc);
    resources = gemm_resources(t, dtype);
  }
  uint32_t tiles() const override { return tiles_; }
  uint32_t stages(uint32_t tile) const override {
    const Where w = where(tile);
    if (w.mt * t_.bm >= groups_[w.g].m) return 0;  // masked-out rows: the tile exits at once
    const uint64_t k0 = w.split * ksplit_;
    return static_cast<uint32_t>(std::min(ksplit_, kt_ - std::min(kt_, k0)));
  }
  void stage(uint32_t tile, uint32_t s, TileStage& out) const override {
    const Where w = where(tile);
    const Group& g = groups_[w.g];
    const uint64_t kk = w.split * ksplit_ + s;
    const uint64_t rows = std::min<uint64_t>(t_.bm, g.m - w.mt * t_.bm);
    const uint64_t cols = std::min<uint64_t>(t_.bn, n_ - w.nt * t_.bn);
    const uint64_t depth = std::min<uint64_t>(t_.bk, k_ - kk * t_.bk);
    const uint64_t a_block = static_cast<uint64_t>(t_.bm) * t_.bk * e_;
    const uint64_t b_block = static_cast<uint64_t>(t_.bn) * t_.bk * e_;
    // The odd CTA of a cluster pair receives A by multicast from its even peer.
    const bool multicast = t_.cluster_n == 2 && (w.nt & 1) == 1;
    out.load(g.a + (w.mt * kt_ + kk) * a_block, rows * depth * e_, multicast);
    out.load(g.b + (w.nt * kt_ + kk) * b_block, cols * depth * e_);
    // The tensor cores compute the whole tile, padding included.
    out.tensor_flops = 2.0 * t_.bm * t_.bn * static_cast<double>(depth);
  }
  void epilogue(uint32_t tile, TileStage& out) const override {
    const Where w = where(tile);
    const Group& g = groups_[w.g];
    if (w.mt * t_.bm >= g.m) return;
    const uint64_t rows = std::min<uint64_t>(t_.bm, g.m - w.mt * t_.bm);
    const uint64_t cols = std::min<uint64_t>(t_.bn, n_ - w.nt * t_.bn);
    const uint64_t c_block = static_cast<uint64_t>(t_.bm) * t_.bn * out_e_;
    const uint64_t index = (w.split * g.m_tiles + w.mt) * tn_ + w.nt;
    out.store(g.c + index * c_block, rows * cols * out_e_);
  }

 private:
  struct Where {
    uint64_t g, split, mt, nt;
  };
  Where where(uint32_t tile) const {
    // Group by prefix sums, then split-major, then a swizzled raster: row tiles in bands of 8,
    // column-major inside a band, so a band's tiles share their B blocks while in L2.
    const auto it = std::upper_bound(first_.begin(), first_.end(), tile) - 1;
    Where w;
    w.g = static_cast<uint64_t>(it - first_.begin());
    uint64_t local = tile - *it;
    const uint64_t per_split = groups_[w.g].m_tiles * tn_;
    w.split = local / per_split;
    local %= per_split;
    constexpr uint64_t kBand = 8;
    const uint64_t band = local / (kBand * tn_);
    const uint64_t first_m = band * kBand;
    const uint64_t band_rows = std::min(kBand, groups_[w.g].m_tiles - first_m);
    const uint64_t in_band = local - band * kBand * tn_;
    w.mt = first_m + in_band % band_rows;
    w.nt = in_band / band_rows;
    return w;
  }
  std::vector<Group> groups_;
  std::vector<uint64_t> first_;
  uint64_t n_, k_;
  GemmTiling t_;
  uint64_t e_, out_e_, tn_, kt_, ksplit_;
  uint32_t tiles_ = 0;
};

KernelSequence gemm_with_reduce(std::unique_ptr<KernelPlan> main, const GemmTiling& t, uint64_t m,
                                uint64_t n, DType dtype, DeviceAddressSpace& mem) {
  KernelSequence seq;
  seq.push_back(std::move(main));
  if (t.split_k > 1) {
    // Split-K partial sums (FP32) are reduced by a second, streaming kernel.
    seq.push_back(make_streaming_kernel("splitk_reduce", m * n * 4 * t.split_k,
                                        m * n * dtype_bytes(out_type(dtype)),
                                        static_cast<double>(m * n * t.split_k), mem));
  }
  return seq;
}

}  // namespace

GemmEstimate estimate_gemm(uint64_t m, uint64_t n, uint64_t k, DType dtype, const GemmTiling& t,
                           const TileGpuParams& p, double hbm_bytes_per_s) {
  GemmEstimate est;
  const double e = dtype_bytes(dtype);
  const double out_e = t.split_k > 1 ? 4 : dtype_bytes(out_type(dtype));
  const uint64_t tm = cdiv(m, t.bm), tn = cdiv(n, t.bn), kt = cdiv(k, t.bk);
  const uint64_t ksplit = cdiv(kt, t.split_k);
  const uint64_t tiles = tm * tn * t.split_k;
  const uint32_t nsm = p.compute_sms();
  const uint32_t occ = std::max<uint32_t>(1, TileExecutor::occupancy(p, gemm_resources(t, dtype)));
  est.waves = static_cast<uint32_t>(cdiv(tiles, static_cast<uint64_t>(nsm) * occ));
  const double stage_math = 2.0 * t.bm * t.bn * t.bk / p.tensor_rate(dtype);
  // Round-robin dispatch: the busiest SM runs ceil(tiles / SMs) tiles, one after another on
  // its tensor cores whatever the occupancy.
  const double per_sm_tiles = std::ceil(static_cast<double>(tiles) / nsm);
  const double compute = per_sm_tiles * ksplit * stage_math;
  const double stage_bytes = (t.bm + t.bn) * t.bk * e;
  const double port = per_sm_tiles * ksplit * stage_bytes / p.sm_l2_bandwidth();
  const double hbm_bytes = (static_cast<double>(m) * k + static_cast<double>(k) * n) * e +
                           static_cast<double>(m) * n * out_e * t.split_k;
  const double a_share = t.cluster_n == 2 ? 0.5 : 1.0;
  const double l2_bytes = static_cast<double>(tiles) * ksplit * (a_share * t.bm + t.bn) * t.bk * e +
                          static_cast<double>(m) * n * out_e * t.split_k;
  est.memory = Time::seconds(hbm_bytes / hbm_bytes_per_s);
  est.compute = Time::seconds(std::max(compute, port));
  est.l2 = Time::seconds(l2_bytes / p.l2_bandwidth());
  // Pipeline fill: the first stage's operands come from memory before any math; the last
  // tile's store drains after it.
  const double fill = (p.l2_hit_latency + p.l2_miss_latency).to_seconds() + 60e-9 +
                      stage_bytes / p.sm_l2_bandwidth();
  const double drain = t.bm * t.bn * out_e / p.sm_l2_bandwidth() + p.l2_hit_latency.to_seconds();
  double body = std::max({est.compute.to_seconds(), est.memory.to_seconds(), est.l2.to_seconds()});
  double total = p.launch_overhead.to_seconds() + fill + body + drain;
  if (t.split_k > 1) {
    const double red_bytes = static_cast<double>(m) * n * (4.0 * t.split_k + out_e);
    total += p.launch_overhead.to_seconds() + red_bytes / hbm_bytes_per_s +
             (p.l2_hit_latency + p.l2_miss_latency).to_seconds();
  }
  est.total = Time::seconds(total);
  return est;
}

GemmTiling choose_gemm_tiling(uint64_t m, uint64_t n, uint64_t k, DType dtype,
                              const TileGpuParams& p, double hbm_bytes_per_s) {
  const uint32_t e = dtype_bytes(dtype);
  GemmTiling best;
  Time best_time = Time::ps(std::numeric_limits<int64_t>::max());
  for (uint32_t bm : {128u, 64u}) {
    for (uint32_t bn : {256u, 128u, 64u}) {
      GemmTiling t;
      t.bm = bm;
      t.bn = bn;
      t.bk = std::max<uint32_t>(16, 128 / e);  // 128-byte rows of K per stage
      const uint64_t stage = static_cast<uint64_t>(bm + bn) * t.bk * e;
      const uint64_t room = p.smem_per_block.count() - 8 * 1024;
      t.stages = static_cast<uint32_t>(std::min<uint64_t>(8, room / stage));
      if (t.stages < 2) continue;
      const uint64_t kt = cdiv(k, t.bk);
      for (uint32_t split : {1u, 2u, 3u, 4u, 6u, 8u}) {
        if (split > 1 && kt / split < 8) break;
        t.split_k = split;
        const Time time = estimate_gemm(m, n, k, dtype, t, p, hbm_bytes_per_s).total;
        // Prefer bigger tiles and no split unless clearly (2%) faster.
        if (time.to_seconds() < best_time.to_seconds() * 0.98) {
          best = t;
          best_time = time;
        }
      }
    }
  }
  return best;
}

KernelSequence build_gemm(const GemmOp& op, const GemmTiling& t, const TileGpuParams& p,
                          DeviceAddressSpace& mem) {
  (void)p;
  const uint64_t e = dtype_bytes(op.dtype);
  GemmPlan::Group g;
  g.m = op.m;
  g.m_tiles = cdiv(op.m, t.bm);
  g.a = mem.allocate(op.m * op.k * e);
  g.b = mem.allocate(op.k * op.n * e);
  const uint64_t out_e = t.split_k > 1 ? 4 : dtype_bytes(out_type(op.dtype));
  g.c = mem.allocate(g.m_tiles * t.bm * op.n * out_e * t.split_k);
  auto plan = std::make_unique<GemmPlan>(std::vector<GemmPlan::Group>{g}, op.n, op.k, op.dtype, t);
  plan->name = "gemm";
  plan->useful_flops = op.flops();
  return gemm_with_reduce(std::move(plan), t, op.m, op.n, op.dtype, mem);
}

KernelSequence build_grouped_gemm(const GroupedGemmOp& op, const GemmTiling& t,
                                  const TileGpuParams& p, DeviceAddressSpace& mem) {
  (void)p;
  const uint64_t e = dtype_bytes(op.dtype);
  uint64_t max_m = op.max_m;
  for (uint64_t m : op.m)
    max_m = std::max(max_m, op.layout == GroupedLayout::Masked ? m : 0);
  std::vector<GemmPlan::Group> groups;
  const uint64_t out_e = t.split_k > 1 ? 4 : dtype_bytes(out_type(op.dtype));
  for (uint64_t m : op.m) {
    GemmPlan::Group g;
    g.m = m;
    // Contiguous: each group's rows padded to the tile; masked: max_m rows for every group.
    g.m_tiles = op.layout == GroupedLayout::Masked ? cdiv(max_m, t.bm) : cdiv(m, t.bm);
    const uint64_t rows = g.m_tiles * t.bm;
    g.a = mem.allocate(std::max<uint64_t>(1, rows * op.k * e));
    g.b = mem.allocate(op.k * op.n * e);
    g.c = mem.allocate(std::max<uint64_t>(1, rows * op.n * out_e * t.split_k));
    groups.push_back(g);
  }
  auto plan = std::make_unique<GemmPlan>(std::move(groups), op.n, op.k, op.dtype, t);
  plan->name =
      op.layout == GroupedLayout::Masked ? "grouped_gemm_masked" : "grouped_gemm_contiguous";
  plan->useful_flops = op.flops();
  return gemm_with_reduce(std::move(plan), t, op.total_m(), op.n, op.dtype, mem);
}

}  // namespace mlasim
