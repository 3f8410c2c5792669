// Layer op emitters (see layer_blocks.h).
#include "workloads/layer_blocks.h"

#include <algorithm>
#include <utility>

namespace mlasim {

namespace {

// A ring collective of `bytes` (the whole group's buffer) over the rank's TP group, issued by SMs.
RingCollectiveOp tp_ring_of(const LayerShape& s, RingCollective c, uint64_t bytes, uint32_t rank,
                            int32_t& tag) {
  return RingCollectiveOp{
      c,     Bytes(bytes),  static_cast<int32_t>(rank / s.tp * s.tp), static_cast<int32_t>(s.tp), 1,
      tag++, CommIssuer::Sm};
}

// The same for `tokens` rows of width h per rank (sequence parallelism).
RingCollectiveOp tp_ring(const LayerShape& s, RingCollective c, uint64_t tokens, uint32_t rank,
                         int32_t& tag) {
  return tp_ring_of(s, c, tokens * s.tp * s.h * 2, rank, tag);
}

}  // namespace

uint64_t kv_heads_per_rank(const ModelConfig& m, AttentionVariant v, uint32_t tp) {
  if (m.is_mla() && v == AttentionVariant::Model) return 1;
  const int64_t kv =
      m.is_mla() || m.num_key_value_heads == 0 ? m.num_attention_heads : m.num_key_value_heads;
  return std::max<uint64_t>(1, config_count(kv) / tp);
}

uint32_t RankBuilder::compute(std::string name, OpPayload p, std::vector<uint32_t> deps,
                              int32_t mb) {
  if (last_compute_) deps.push_back(*last_compute_);
  last_compute_ = add(std::move(name), std::move(p), std::move(deps), mb, 0);
  return *last_compute_;
}

uint32_t RankBuilder::comm(std::string name, OpPayload p, std::vector<uint32_t> deps, int32_t mb) {
  // Collectives hold their stream until they complete; one stream per micro-batch lets one
  // micro-batch's dispatch or combine overlap the other's, as two communication streams would.
  return add(std::move(name), std::move(p), std::move(deps), mb, 1 + mb);
}

uint32_t RankBuilder::add(std::string name, OpPayload p, std::vector<uint32_t> deps, int32_t mb,
                          int32_t stream) {
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  prog_.ops.push_back(Op{std::move(name), std::move(p), std::move(deps), stream, mb});
  return static_cast<uint32_t>(prog_.ops.size() - 1);
}

void attention_part(RankBuilder& b, const LayerShape& s, const MicroBatch& mb, int32_t mbi,
                    uint32_t rank, BlockPart part, uint32_t& last, const std::string& pre,
                    int32_t& tag) {
  const uint64_t t = mb.attn_tokens();
  if (part == BlockPart::Pre) {
    last = b.compute(pre + "attn_norm",
                     elementwise_op(ElementwiseFunction::RmsNorm, mb.moe_tokens * s.h * 2,
                                    mb.moe_tokens * s.h * 2, 4.0 * mb.moe_tokens * s.h),
                     {last}, mbi);
    if (s.tp > 1) {
      last = b.comm(pre + "attn_all_gather",
                    tp_ring_of(s, RingCollective::AllGather, t * s.h * 2, rank, tag), {last}, mbi);
    }
    return;
  }
  if (part == BlockPart::Post) {
    last = b.compute(pre + "residual_mlp_norm",
                     elementwise_op(ElementwiseFunction::RmsNorm, 2 * mb.moe_tokens * s.h * 2,
                                    mb.moe_tokens * s.h * 2, 5.0 * mb.moe_tokens * s.h),
                     {last}, mbi);
    return;
  }
  const ModelConfig& m = *s.m;
  const auto& dt = s.p->dtypes;
  const bool decode = s.p->phase == InferencePhase::Decode;
  AttentionOp a;
  a.batch = mb.attn_batch;
  a.q_len = mb.q_len;
  a.kv_len = mb.kv_len;
  a.kv_lens = mb.kv_lens;
  a.q_lens = mb.q_lens;
  a.heads_q = static_cast<uint32_t>(s.heads);
  a.dtype = dt.attention;
  a.kv_dtype = dt.kv_cache;
  a.mask = AttentionMask::Causal;
  uint64_t attn_out_width = 0;  // per-rank width feeding o_proj
  if (m.is_mla() && s.p->attention == AttentionVariant::Model) {
    const uint64_t nope = config_count(m.qk_nope_head_dim), rope = config_count(m.qk_rope_head_dim);
    const uint64_t lora = config_count(m.kv_lora_rank), vdim = config_count(m.v_head_dim);
    if (m.q_lora_rank > 0) {
      last = b.compute(pre + "q_a_proj", gemm_op(t, config_count(m.q_lora_rank), s.h, dt.gemm),
                       {last}, mbi);
      last = b.compute(pre + "q_b_proj",
                       gemm_op(t, s.heads * (nope + rope), config_count(m.q_lora_rank), dt.gemm),
                       {last}, mbi);
    } else {
      last =
          b.compute(pre + "q_proj", gemm_op(t, s.heads * (nope + rope), s.h, dt.gemm), {last}, mbi);
    }
    last = b.compute(pre + "kv_a_proj", gemm_op(t, lora + rope, s.h, dt.gemm), {last}, mbi);
    if (decode) {
      // Absorbed MLA: q_nope x W_UK per head, attention over the latent, then x W_UV per head.
      GroupedGemmOp uk{std::vector<uint64_t>(s.heads, t), lora, nope, dt.absorb,
                       GroupedLayout::Contiguous,         0};
      last = b.compute(pre + "w_uk_absorb", uk, {last}, mbi);
      a.kernel = AttentionKernel::MlaDecode;
      a.heads_kv = 1;
      a.head_dim_qk = static_cast<uint32_t>(lora + rope);
      a.head_dim_v = static_cast<uint32_t>(lora);
      last = b.compute(pre + "attention", a, {last}, mbi);
      GroupedGemmOp uv{std::vector<uint64_t>(s.heads, t), vdim, lora, dt.absorb,
                       GroupedLayout::Contiguous,         0};
      last = b.compute(pre + "w_uv_absorb", uv, {last}, mbi);
    } else {
      // Chunked prefill: the cached latent of the earlier chunks is up-projected too.
      last =
          b.compute(pre + "kv_b_proj",
                    gemm_op(mb.kv_tokens(), s.heads * (nope + vdim), lora, dt.gemm), {last}, mbi);
      // The cached rotary key copied to every head completes per-head K; FlashAttention then
      // reads activations, not the cache (as `mlasim kernels` times naive MLA).
      last = b.compute(
          pre + "k_rope_copy",
          elementwise_op(ElementwiseFunction::Elementwise,
                         mb.kv_tokens() * stored_row_bytes(rope, dt.kv_cache),
                         mb.kv_tokens() * s.heads * rope * dtype_bytes(dt.attention), 0.0),
          {last}, mbi);
      a.kernel = AttentionKernel::MlaPrefill;
      a.kv_dtype = dt.attention;
      a.heads_kv = a.heads_q;
      a.head_dim_qk = static_cast<uint32_t>(nope + rope);
      a.head_dim_v = static_cast<uint32_t>(vdim);
      last = b.compute(pre + "attention", a, {last}, mbi);
    }
    attn_out_width = s.heads * vdim;
  } else {
    // MHA/GQA; an MLA model with `attention: mha` keeps its heads and head dimensions.
    const bool mla_as_mha = m.is_mla();
    const uint64_t hd_qk = mla_as_mha       ? config_count(m.qk_nope_head_dim + m.qk_rope_head_dim)
                           : m.head_dim > 0 ? config_count(m.head_dim)
                                            : s.h / config_count(m.num_attention_heads);
    const uint64_t hd_v = mla_as_mha ? config_count(m.v_head_dim) : hd_qk;
    const uint64_t kv_heads = kv_heads_per_rank(m, s.p->attention, s.tp);
    last = b.compute(pre + "qkv_proj",
                     gemm_op(t, s.heads * hd_qk + kv_heads * (hd_qk + hd_v), s.h, dt.gemm), {last},
                     mbi);
    a.kernel = decode ? AttentionKernel::MhaDecode : AttentionKernel::MhaPrefill;
    a.heads_kv = static_cast<uint32_t>(kv_heads);
    a.head_dim_qk = static_cast<uint32_t>(hd_qk);
    a.head_dim_v = static_cast<uint32_t>(hd_v);
    last = b.compute(pre + "attention", a, {last}, mbi);
    attn_out_width = s.heads * hd_v;
  }
  last = b.compute(pre + "o_proj", gemm_op(t, s.h, attn_out_width, dt.gemm), {last}, mbi);
  if (s.tp > 1) {
    last =
        b.comm(pre + "attn_reduce_scatter",
               tp_ring_of(s, RingCollective::ReduceScatter, t * s.h * 2, rank, tag), {last}, mbi);
  }
}

void dense_mlp_part(RankBuilder& b, const LayerShape& s, uint64_t tokens, int32_t mbi,
                    BlockPart part, uint32_t& last, const std::string& pre, uint32_t rank,
                    int32_t& tag) {
  if (part == BlockPart::Pre) {
    if (s.tp > 1) {
      last = b.comm(pre + "mlp_all_gather",
                    tp_ring(s, RingCollective::AllGather, tokens, rank, tag), {last}, mbi);
    }
    return;
  }
  if (part == BlockPart::Post) {
    last = b.compute(pre + "residual",
                     elementwise_op(ElementwiseFunction::Elementwise, 2 * tokens * s.h * 2,
                                    tokens * s.h * 2, 1.0 * tokens * s.h),
                     {last}, mbi);
    return;
  }
  const uint64_t inter = config_count(s.m->intermediate_size) / s.tp;
  const DType t = s.p->dtypes.gemm;
  const uint64_t rows = tokens * s.tp;
  last = b.compute(pre + "mlp_gate_up", gemm_op(rows, 2 * inter, s.h, t), {last}, mbi);
  last = b.compute(pre + "mlp_act",
                   elementwise_op(ElementwiseFunction::Elementwise, rows * 2 * inter * 2,
                                  rows * inter * 2, 5.0 * rows * inter),
                   {last}, mbi);
  last = b.compute(pre + "mlp_down", gemm_op(rows, s.h, inter, t), {last}, mbi);
  if (s.tp > 1) {
    last = b.comm(pre + "mlp_reduce_scatter",
                  tp_ring(s, RingCollective::ReduceScatter, tokens, rank, tag), {last}, mbi);
  }
}

uint32_t embedding(RankBuilder& b, const LayerShape& s, uint64_t tokens, const std::string& name,
                   int32_t mbi, uint32_t rank, int32_t& tag) {
  // (Sharded: of the group's rows, about this rank's share hits its shard; it writes them all,
  // the others as zeros to sum.)
  const uint64_t row = s.h * 2;
  const uint32_t lookup = b.compute(
      name, elementwise_op(ElementwiseFunction::Elementwise, tokens * row, tokens * s.tp * row, 0),
      {}, mbi);
  if (s.tp == 1) return lookup;
  return b.comm(name + "_reduce_scatter",
                tp_ring(s, RingCollective::ReduceScatter, tokens, rank, tag), {lookup}, mbi);
}

uint32_t lm_head(RankBuilder& b, const LayerShape& s, uint64_t tokens, std::vector<uint32_t> deps,
                 const std::string& name, uint32_t rank, int32_t& tag) {
  uint64_t rows = tokens;
  if (s.tp > 1) {
    deps = {b.comm(name + "_all_gather", tp_ring(s, RingCollective::AllGather, tokens, rank, tag),
                   deps, 0)};
    rows = tokens * s.tp;
  }
  return b.compute(
      name, gemm_op(rows, config_count(s.m->vocab_size) / s.tp, s.h, s.p->dtypes.lm_head), deps, 0);
}

}  // namespace mlasim
