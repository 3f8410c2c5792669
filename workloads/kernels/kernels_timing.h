// The GPU kernels of one attention-block step of one layer, as op-graph ops, so that the GPU
// model (models/gpu/kernel_timer.h) can time what `mlasim kernels` accounts for. The ops follow
// the stages of accounting.h one for one, with the same shapes and dtypes: every projection is
// a GEMM (norms, RoPE and cache writes fused into it, as there), the per-head absorption
// products of MLA (q_nope . W_UK, o_latent . W_UV) are grouped GEMMs with one group per head,
// and the attention core is one fused attention op:
//   mla_absorbed  FlashMLA decode kernel over the latent cache [c | k_rope] (any number of new
//                 tokens; masked KV blocks are skipped);
//   mla_naive     the kv_b_proj up-projection of the whole cached latent (a GEMM), then
//                 FlashAttention over per-head K and V of the MLA head dims (decode or prefill
//                 as for MHA);
//   mha/gqa/mqa   K and V projections of the new tokens, then FlashAttention decode (up to 8
//                 new tokens, packed into the row blocks) or prefill (more) with n_kv K/V heads.
//
// Leaves out: the FP8 scale tensors as separate reads (the GEMMs see plain FP8 operands), the
// residual add and the input RMSNorm of the block (outside the accounting too).
#pragma once

#include <vector>

#include "workloads/kernels/accounting.h"
#include "workloads/op_graph.h"

namespace mlasim::kernels {

std::vector<OpPayload> attention_step_ops(const AttentionSpec& spec, const StepShape& shape,
                                          const Precision& precision,
                                          MlaMode mode = MlaMode::Absorbed);

}  // namespace mlasim::kernels
