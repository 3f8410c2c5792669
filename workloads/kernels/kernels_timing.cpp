// attention_step_ops: the kernels of one layer step as ops (see kernels_timing.h).
#include "workloads/kernels/kernels_timing.h"

#include <fmt/format.h>

#include "sim/errors.h"

namespace mlasim::kernels {
namespace {

constexpr int64_t kDecodeTokens = 8;

uint64_t u(int64_t x) {
  return static_cast<uint64_t>(x);
}

GemmOp gemm(uint64_t m, uint64_t n, uint64_t k, DType dtype) {
  GemmOp g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.dtype = dtype;
  return g;
}

// One group per head, each [rows, k] x [k, n].
GroupedGemmOp per_head(uint64_t heads, uint64_t rows, uint64_t n, uint64_t k, DType dtype) {
  GroupedGemmOp g;
  g.m.assign(heads, rows);
  g.n = n;
  g.k = k;
  g.dtype = dtype;
  g.layout = GroupedLayout::Contiguous;
  return g;
}

}  // namespace

std::vector<OpPayload> attention_step_ops(const AttentionSpec& spec, const StepShape& shape,
                                          const Precision& precision, MlaMode mode) {
  spec.validate();
  shape.validate();
  // An attention op's queries are the last q_len of its keys (op_graph.h): other shapes have no
  // timing ops.
  if (shape.q_len > shape.kv_len()) {
    throw InputError(
        fmt::format("step: {} queries over {} keys cannot be timed (the attention op "
                    "takes queries that are the last of their keys)",
                    shape.q_len, shape.kv_len()));
  }
  if (shape.causal && shape.q_start + shape.q_len != shape.kv_len()) {
    throw InputError(
        fmt::format("step: causal queries at positions {}..{} over {} keys cannot "
                    "be timed (the attention op takes the last positions)",
                    shape.q_start, shape.q_start + shape.q_len - 1, shape.kv_len()));
  }
  const DType w = precision.compute;
  const uint64_t b = u(shape.batch), d = u(spec.hidden), nh = u(spec.n_heads);
  const uint64_t tq = b * u(shape.q_len), tkv = b * u(shape.kv_new), lk = u(shape.kv_len());
  const uint64_t dn = u(spec.qk_nope_dim), dr = u(spec.qk_rope_dim), dv = u(spec.v_head_dim);
  const uint64_t dqk = dn + dr, dq = u(spec.q_lora_rank), dc = u(spec.kv_lora_rank);
  std::vector<OpPayload> ops;
  // Query path.
  if (dq > 0) {
    ops.emplace_back(gemm(tq, dq, d, w));
    ops.emplace_back(gemm(tq, nh * dqk, dq, w));
  } else {
    ops.emplace_back(gemm(tq, nh * dqk, d, w));
  }
  AttentionOp att;
  att.batch = b;
  att.q_len = u(shape.q_len);
  att.kv_len = lk;
  att.heads_q = static_cast<uint32_t>(nh);
  att.dtype = precision.attention;
  att.kv_dtype = precision.cache;
  att.mask = shape.causal ? AttentionMask::Causal : AttentionMask::None;
  // A few new tokens (MTP, speculative decode) still run the decode kernels, which pack the
  // query tokens into the row blocks; a prefill kernel would re-read K/V per query head.
  const bool one_token = shape.q_len <= kDecodeTokens;
  if (spec.is_mla()) {
    if (tkv > 0) ops.emplace_back(gemm(tkv, dc + dr, d, w));
    if (mode == MlaMode::Naive) {
      ops.emplace_back(gemm(b * lk, nh * (dn + dv), dc, w));
      // The cached rotary key copied to every head (the concatenation that completes per-head
      // K), then FlashAttention over those activations.
      ElementwiseOp rope;
      rope.bytes_in = Bytes(b * lk * stored_row_bytes(dr, precision.cache));
      rope.bytes_out = Bytes(b * lk * nh * dr * dtype_bytes(precision.activation));
      ops.emplace_back(rope);
      att.kv_dtype = precision.activation;
      att.kernel = one_token ? AttentionKernel::MhaDecode : AttentionKernel::MlaPrefill;
      att.heads_kv = static_cast<uint32_t>(nh);
      att.head_dim_qk = static_cast<uint32_t>(dqk);
      att.head_dim_v = static_cast<uint32_t>(dv);
      ops.emplace_back(att);
    } else {
      ops.emplace_back(per_head(nh, tq, dc, dn, precision.activation));
      att.kernel = AttentionKernel::MlaDecode;
      att.heads_kv = 1;
      att.head_dim_qk = static_cast<uint32_t>(dc + dr);
      att.head_dim_v = static_cast<uint32_t>(dc);
      ops.emplace_back(att);
      ops.emplace_back(per_head(nh, tq, dv, dc, precision.activation));
    }
  } else {
    const uint64_t nkv = u(spec.n_kv_heads);
    if (tkv > 0) {
      ops.emplace_back(gemm(tkv, nkv * dqk, d, w));
      ops.emplace_back(gemm(tkv, nkv * dv, d, w));
    }
    att.kernel = one_token ? AttentionKernel::MhaDecode : AttentionKernel::MhaPrefill;
    att.heads_kv = static_cast<uint32_t>(nkv);
    att.head_dim_qk = static_cast<uint32_t>(dqk);
    att.head_dim_v = static_cast<uint32_t>(dv);
    ops.emplace_back(att);
  }
  ops.emplace_back(gemm(tq, d, nh * dv, w));
  return ops;
}

}  // namespace mlasim::kernels
