// Attention tile plans: FlashMLA decode, FlashAttention-style MHA/GQA decode and prefill, MLA
// prefill in MHA form (see kernel_builders.h).
//
// Shapes follow the libraries: FlashMLA packs heads x query tokens into 64-row blocks, walks
// 64-token KV pages, keeps Q and two KV pages in shared memory (one block per SM) and splits
// the whole batch's KV blocks evenly over SMs / row-blocks "parts" (each sequence also costs 5
// blocks of fixed overhead in that split), then a combine kernel merges split sequences.
// Decode MHA/GQA splits each (sequence, KV head) over enough CTAs to fill the SMs; prefill tiles
// are 128 queries of one head walking 128-key blocks up to the causal diagonal, longest first.
//
// With several query tokens per sequence under the causal mask, KV blocks no row of a row block
// may see are skipped (no load, no math).
//
// Sequences may have KV lengths of their own (AttentionOp::kv_lens): FlashMLA's split then
// follows the total of KV blocks, each sequence with its own run of units; the FlashAttention
// tiles of a short sequence walk fewer blocks. With query lengths of their own
// (AttentionOp::q_lens, prefill prompts or token-stream chunks) FlashAttention works varlen:
// each sequence has its own row blocks; FlashMLA pads every sequence to the longest (row blocks
// holding none of a sequence's queries skip it).
//
// Leaves out: FP8 KV dequantisation cost, the page-table reads.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/gpu/kernel_builders.h"

namespace mlasim {
namespace {

uint64_t cdiv(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

// Scatters the KV pages of a batch over a pool, as a paged allocator leaves them.
class PagePool {
 public:
  PagePool(uint64_t pages, uint64_t page_bytes, DeviceAddressSpace& mem)
      : pages_(pages), page_bytes_(page_bytes), base_(mem.allocate(pages * page_bytes)) {
    // A multiplier coprime with the page count permutes the pages.
    mult_ = 1;
    for (uint64_t c : {1000003ull, 999983ull, 7919ull, 131ull}) {
      if (std::gcd(c, pages_) == 1) {
        mult_ = c;
        break;
      }
    }
  }
  uint64_t address(uint64_t logical) const {
    return base_ + (logical * mult_ % pages_) * page_bytes_;
  }

 private:
  uint64_t pages_, page_bytes_, base_, mult_;
};

class MlaDecodePlan final : public KernelPlan {
 public:
  MlaDecodePlan(const AttentionOp& op, const TileGpuParams& p, DeviceAddressSpace& mem)
      : op_(op),
        m_blocks_(cdiv(static_cast<uint64_t>(op.heads_q) * op.q_len, kRows)),
        first_block_(block_starts(op)),
        page_bytes_(static_cast<uint64_t>(op.page_block) * op.mla_cache_row_bytes()),
        pool_(first_block_.back(), page_bytes_, mem) {
    dtype = op.dtype;
    const uint64_t parts = std::max<uint64_t>(1, p.compute_sms() / m_blocks_);
    // FlashMLA's split: sequence i spans work units [U_i, U_i + nblk_i + 5), its blocks first,
    // U_i the units of the sequences before it; parts take equal runs of units.
    std::vector<uint64_t> first_unit{0};
    for (uint64_t seq = 0; seq < op.batch; ++seq)
      first_unit.push_back(first_unit.back() + blocks(seq) + kFixedOverhead);
    const uint64_t total = first_unit.back();
    const uint64_t per = cdiv(total, parts);
    splits_.assign(op.batch, 0);
    for (uint64_t part = 0; part < parts; ++part) {
      const uint64_t u0 = part * per, u1 = std::min(total, u0 + per);
      Part pr;
      for (uint64_t u = u0; u < u1;) {
        const uint64_t seq = static_cast<uint64_t>(
            std::upper_bound(first_unit.begin(), first_unit.end(), u) - first_unit.begin() - 1);
        const uint64_t off = u - first_unit[seq], nblk = blocks(seq);
        const uint64_t end = std::min(u1, first_unit[seq + 1]);
        if (off < nblk) {
          const uint64_t blocks = std::min(nblk, end - first_unit[seq]) - off;
          if (pr.count == 0) pr.first = first_block_[seq] + off;
          pr.count += blocks;
          pr.seqs.push_back(seq);
          ++splits_[seq];
        }
        u = end;
      }
      if (pr.count > 0) parts_.push_back(pr);
    }
    const uint64_t e = dtype_bytes(op.dtype);
    q_base_ = mem.allocate(op.batch * m_blocks_ * kRows * op.head_dim_qk * e);
    o_base_ = mem.allocate(parts_.size() * m_blocks_ * 4 * kRows * op.head_dim_v * 4);
    resources.smem = (kRows * op.head_dim_qk * e) + 2 * page_bytes_;
    resources.threads = 256;
    resources.registers_per_thread = 224;
    resources.pipeline_depth = 2;
    useful_flops = op.flops();
    name = "flash_mla_decode";
  }
  uint32_t tiles() const override { return static_cast<uint32_t>(parts_.size() * m_blocks_); }
  uint32_t stages(uint32_t tile) const override {
    return static_cast<uint32_t>(parts_[tile / m_blocks_].count);
  }
  void stage(uint32_t tile, uint32_t s, TileStage& out) const override {
    const Part& pr = parts_[tile / m_blocks_];
    const uint64_t mb = tile % m_blocks_;
    const uint64_t g = pr.first + s;
    const uint64_t seq = static_cast<uint64_t>(
        std::upper_bound(first_block_.begin(), first_block_.end(), g) - first_block_.begin() - 1);
    const uint64_t blk = g - first_block_[seq], kv = op_.seq_kv_len(seq);
    const uint64_t tokens = std::min<uint64_t>(op_.page_block, kv - blk * op_.page_block);
    const uint64_t e = dtype_bytes(op_.dtype);
    if (blk * op_.page_block >= visible_keys(mb, seq, kv)) return;  // masked for every row
    if (s == 0 || blk == 0) {
      // A new sequence: its query rows for this row block.
      const uint64_t rows = std::min<uint64_t>(kRows, seq_rows(seq) - mb * kRows);
      out.load(q_base_ + (seq * m_blocks_ + mb) * kRows * op_.head_dim_qk * e,
               rows * op_.head_dim_qk * e);
    }
    out.load(pool_.address(g), tokens * op_.mla_cache_row_bytes());
    // 64 padded rows x 64 keys: QK^T over 576 dims, PV over 512; softmax on the scores.
    const double scores = static_cast<double>(kRows) * op_.page_block;
    out.tensor_flops = 2.0 * scores * (op_.head_dim_qk + op_.head_dim_v);
    out.sfu_ops = scores;
    out.cuda_flops = 4.0 * scores;
  }
  void epilogue(uint32_t tile, TileStage& out) const override {
    const Part& pr = parts_[tile / m_blocks_];
    const uint64_t mb = tile % m_blocks_;
    // A sequence this part holds whole gets its final output (BF16); a split one a partial
    // (FP32 + log-sum-exp) for the combine kernel.
    uint64_t bytes = 0;
    for (uint64_t seq : pr.seqs) {
      if (mb * kRows >= seq_rows(seq)) continue;  // padding rows: nothing to write
      const uint64_t rows = std::min<uint64_t>(kRows, seq_rows(seq) - mb * kRows);
      bytes += splits_[seq] > 1 ? rows * (op_.head_dim_v * 4 + 4)
                                : rows * op_.head_dim_v * dtype_bytes(op_.dtype);
    }
    out.store(o_base_ + static_cast<uint64_t>(tile) * 4 * kRows * op_.head_dim_v * 4, bytes);
  }
  // Keys the rows of row block `mb` may see in sequence `seq`. Rows are query tokens x heads,
  // heads fastest (FlashMLA's packing); with several query tokens (MTP, chunks) the block's last
  // token sees the most, kv - q + token + 1 under the causal mask. A row block past the
  // sequence's own queries (padding up to the longest) sees nothing.
  uint64_t visible_keys(uint64_t mb, uint64_t seq, uint64_t kv) const {
    if (mb * kRows >= seq_rows(seq)) return 0;
    const uint64_t q = op_.seq_q_len(seq);
    if (op_.mask == AttentionMask::None || q <= 1) return kv;
    const uint64_t last_row = std::min(seq_rows(seq), (mb + 1) * kRows) - 1;
    const uint64_t token = last_row / op_.heads_q;
    return std::min<uint64_t>(kv, kv - std::min(kv, q) + token + 1);
  }
  uint64_t seq_rows(uint64_t seq) const {
    return static_cast<uint64_t>(op_.heads_q) * op_.seq_q_len(seq);
  }
  uint64_t blocks(uint64_t seq) const { return first_block_[seq + 1] - first_block_[seq]; }
  // Index of each sequence's first KV block in the batch's block list, and the total last.
  static std::vector<uint64_t> block_starts(const AttentionOp& op) {
    std::vector<uint64_t> out{0};
    for (uint64_t seq = 0; seq < op.batch; ++seq)
      out.push_back(out.back() + cdiv(op.seq_kv_len(seq), op.page_block));
    return out;
  }
  // Bytes the combine kernel reads and writes.
  uint64_t combine_in() const {
    uint64_t rows = 0;  // partial rows: each split sequence's rows once per part holding it
    for (uint64_t seq = 0; seq < splits_.size(); ++seq)
      rows += splits_[seq] > 1 ? splits_[seq] * seq_rows(seq) : 0;
    return rows * (op_.head_dim_v * 4 + 4);
  }
  uint64_t combine_out() const {
    uint64_t rows = 0;
    for (uint64_t seq = 0; seq < splits_.size(); ++seq)
      rows += splits_[seq] > 1 ? seq_rows(seq) : 0;
    return rows * op_.head_dim_v * dtype_bytes(op_.dtype);
  }

 private:
  static constexpr uint64_t kRows = 64;
  static constexpr uint64_t kFixedOverhead = 5;
  struct Part {
    uint64_t first = 0, count = 0;
    std::vector<uint64_t> seqs;  // sequences it touches
  };
  AttentionOp op_;
  uint64_t m_blocks_;
  std::vector<uint64_t> first_block_;
  uint64_t page_bytes_;
  PagePool pool_;
  std::vector<Part> parts_;
  std::vector<uint64_t> splits_;
  uint64_t q_base_ = 0, o_base_ = 0;
};

// FlashAttention-style tiles over contiguous per-(sequence, KV head) K and V.
class FlashPlan final : public KernelPlan {
 public:
  FlashPlan(const AttentionOp& op, bool decode, const TileGpuParams& p, DeviceAddressSpace& mem)
      : op_(op), decode_(decode) {
    dtype = op.dtype;
    const uint64_t e = dtype_bytes(op.dtype);
    k_row_ = stored_row_bytes(op.head_dim_qk, op.kv_dtype);  // FP8: with its scales
    v_row_ = stored_row_bytes(op.head_dim_v, op.kv_dtype);
    group_ = std::max<uint32_t>(1, op.heads_q / std::max<uint32_t>(1, op.heads_kv));
    heads_kv_ = op.heads_q / group_;
    if (decode) {
      // Decode: the query rows of a GQA group (x query tokens) share each K/V block.
      bm_ = 64;
      bn_ = 128;
      m_blocks_ = cdiv(static_cast<uint64_t>(group_) * op.q_len, bm_);
      nblk_ = cdiv(op.kv_len, bn_);
      const uint64_t items = heads_kv_ * total_m_blocks();
      splits_ =
          std::clamp<uint64_t>(cdiv(p.compute_sms(), items), 1, std::min<uint64_t>(nblk_, 128));
      per_split_ = cdiv(nblk_, splits_);
      resources.threads = 128;
      resources.registers_per_thread = 255;
      name = op.kernel == AttentionKernel::MlaPrefill ? "mla_decode_mha" : "flash_decode";
    } else {
      bm_ = 128;
      bn_ = op.head_dim_qk <= 128 ? 128 : 64;
      m_blocks_ = cdiv(op.q_len, bm_);
      nblk_ = cdiv(op.kv_len, bn_);
      splits_ = 1;
      per_split_ = nblk_;
      resources.threads = 384;
      resources.registers_per_thread = 168;
      name = op.kernel == AttentionKernel::MlaPrefill ? "mla_prefill" : "flash_prefill";
    }
    k_base_ = mem.allocate(op.batch * heads_kv_ * op.kv_len * k_row_);
    v_base_ = mem.allocate(op.batch * heads_kv_ * op.kv_len * v_row_);
    q_base_ = mem.allocate(op.batch * op.heads_q * op.q_len * op.head_dim_qk * e +
                           bm_ * op.head_dim_qk * e);
    o_base_ = mem.allocate(op.batch * op.heads_q * std::max<uint64_t>(op.q_len, bm_) *
                           op.head_dim_v * 4 * splits_);
    resources.smem = bm_ * op.head_dim_qk * e + 2 * bn_ * (k_row_ + v_row_);
    resources.pipeline_depth = 2;
    useful_flops = op.flops();
    // Tiles of each sequence: its heads x row blocks x splits, sequences one after another.
    const uint64_t heads = decode_ ? heads_kv_ : op_.heads_q;
    first_tile_.assign(1, 0);
    for (uint64_t seq = 0; seq < op.batch; ++seq)
      first_tile_.push_back(first_tile_.back() + heads * seq_m_blocks(seq) * splits_);
  }
  uint32_t tiles() const override { return static_cast<uint32_t>(first_tile_.back()); }
  uint32_t stages(uint32_t tile) const override {
    const Where w = where(tile);
    const uint64_t b0 = w.split * per_split_;
    return static_cast<uint32_t>(std::min(per_split_, kv_blocks(w) - std::min(kv_blocks(w), b0)));
  }
  void stage(uint32_t tile, uint32_t s, TileStage& out) const override {
    const Where w = where(tile);
    const uint64_t blk = w.split * per_split_ + s;
    const uint64_t tokens = std::min<uint64_t>(bn_, op_.seq_kv_len(w.seq) - blk * bn_);
    const uint64_t e = dtype_bytes(op_.dtype);
    const uint64_t kv = w.seq * heads_kv_ + w.kv_head;
    if (s == 0) {
      const uint64_t rows = std::min<uint64_t>(bm_, seq_rows(w.seq) - w.mb * bm_);
      out.load(
          q_base_ + ((w.seq * op_.heads_q + w.head) * m_blocks_ + w.mb) * bm_ * op_.head_dim_qk * e,
          rows * op_.head_dim_qk * e);
    }
    out.load(k_base_ + (kv * op_.kv_len + blk * bn_) * k_row_, tokens * k_row_);
    out.load(v_base_ + (kv * op_.kv_len + blk * bn_) * v_row_, tokens * v_row_);
    const double scores = static_cast<double>(bm_) * bn_;
    out.tensor_flops = 2.0 * scores * (op_.head_dim_qk + op_.head_dim_v);
    out.sfu_ops = scores;
    out.cuda_flops = 4.0 * scores;
  }
  void epilogue(uint32_t tile, TileStage& out) const override {
    const Where w = where(tile);
    const uint64_t rows = std::min<uint64_t>(bm_, seq_rows(w.seq) - w.mb * bm_);
    const uint64_t bytes = splits_ > 1 ? rows * (op_.head_dim_v * 4 + 4)
                                       : rows * op_.head_dim_v * dtype_bytes(op_.dtype);
    out.store(o_base_ + static_cast<uint64_t>(tile) * bm_ * op_.head_dim_v * 4, bytes);
  }
  uint64_t splits() const { return splits_; }
  // What the splits' epilogues stored: each tile's own rows (a sequence's last row block may
  // be short).
  uint64_t combine_in() const {
    uint64_t rows = 0;
    for (uint32_t tile = 0; tile < tiles(); ++tile) {
      const Where w = where(tile);
      rows += std::min<uint64_t>(bm_, seq_rows(w.seq) - w.mb * bm_);
    }
    return rows * (op_.head_dim_v * 4 + 4);
  }
  uint64_t combine_out() const {
    return op_.total_q_tokens() * op_.heads_q * op_.head_dim_v * dtype_bytes(op_.dtype);
  }

 private:
  struct Where {
    uint64_t seq, head, kv_head, mb, split;
  };
  Where where(uint32_t tile) const {
    Where w;
    w.seq = static_cast<uint64_t>(
        std::upper_bound(first_tile_.begin(), first_tile_.end(), uint64_t{tile}) -
        first_tile_.begin() - 1);
    uint64_t t = tile - first_tile_[w.seq];
    w.split = t % splits_;
    t /= splits_;
    // Prefill: row blocks of one head are neighbours (they share K/V in L2), longest first.
    const uint64_t m_blocks = seq_m_blocks(w.seq);
    const uint64_t mb = t % m_blocks;
    w.mb = decode_ ? mb : m_blocks - 1 - mb;
    w.head = t / m_blocks;
    w.kv_head = decode_ ? w.head : w.head / group_;
    if (decode_) w.head = w.kv_head * group_;
    return w;
  }
  // KV blocks a tile's rows may see (the sequence's own; K and V are laid out with kv_len, the
  // longest, per sequence): prefill queries are the last q_len positions.
  uint64_t kv_blocks(const Where& w) const {
    const uint64_t kv = op_.seq_kv_len(w.seq);
    if (decode_ || op_.mask == AttentionMask::None) return cdiv(kv, bn_);
    const uint64_t last_q = kv - std::min(kv, op_.seq_q_len(w.seq)) +
                            std::min<uint64_t>(seq_rows(w.seq), (w.mb + 1) * bm_);
    return cdiv(std::min<uint64_t>(kv, last_q), bn_);
  }
  // Query rows of a sequence (decode: a GQA group's heads x its query tokens) and their blocks.
  uint64_t seq_rows(uint64_t seq) const {
    return (decode_ ? uint64_t{group_} : 1) * op_.seq_q_len(seq);
  }
  uint64_t seq_m_blocks(uint64_t seq) const {
    return op_.q_lens.empty() ? m_blocks_ : cdiv(seq_rows(seq), bm_);
  }
  uint64_t total_m_blocks() const {
    if (op_.q_lens.empty()) return op_.batch * m_blocks_;
    uint64_t n = 0;
    for (uint64_t seq = 0; seq < op_.batch; ++seq)
      n += seq_m_blocks(seq);
    return n;
  }
  AttentionOp op_;
  bool decode_;
  uint32_t group_ = 1, heads_kv_ = 1;
  uint64_t bm_ = 64, bn_ = 128, m_blocks_ = 1, nblk_ = 1, splits_ = 1, per_split_ = 1;
  uint64_t k_row_ = 0, v_row_ = 0;  // bytes of one token's K (V) row of one KV head
  uint64_t k_base_ = 0, v_base_ = 0, q_base_ = 0, o_base_ = 0;
  std::vector<uint64_t> first_tile_;  // [sequence]: its first tile; the total last
};

}  // namespace

KernelSequence build_attention(const AttentionOp& op, const TileGpuParams& p,
                               DeviceAddressSpace& mem) {
  KernelSequence seq;
  if (op.kernel == AttentionKernel::MlaDecode) {
    auto plan = std::make_unique<MlaDecodePlan>(op, p, mem);
    const uint64_t in = plan->combine_in(), out = plan->combine_out();
    seq.push_back(std::move(plan));
    if (in > 0) {
      seq.push_back(make_streaming_kernel("flash_mla_combine", in, out,
                                          static_cast<double>(in) / 4 * 3, mem));
    }
    return seq;
  }
  const bool decode = op.kernel == AttentionKernel::MhaDecode;
  auto plan = std::make_unique<FlashPlan>(op, decode, p, mem);
  const uint64_t splits = plan->splits();
  const uint64_t in = plan->combine_in(), out = plan->combine_out();
  seq.push_back(std::move(plan));
  if (splits > 1) {
    seq.push_back(make_streaming_kernel("flash_decode_combine", in, out,
                                        static_cast<double>(in) / 4 * 3, mem));
  }
  return seq;
}

}  // namespace mlasim
