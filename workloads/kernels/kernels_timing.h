// The GPU kernels of one attention-block step of one layer, as op-graph ops, so that the GPU
// model (models/gpu/kernel_timer.h) can time what `mlasim kernels` accounts for. The ops follow
// the stages of accounting.h one for one, with the same shapes and dtypes: every projection is
// a GEMM (norms, RoPE and cache writes fused into it, as there), the per-head absorption
// products of MLA (q_nope . W_UK, o_latent . W_UV) are grouped GEMMs with one group per head,
// and the attention core is one fused attention op:
//   mla_absorbed  FlashMLA decode kernel over the latent cache [c | k_rope] (any number of new
//                 tokens; masked KV blocks are skipped);
//   mla_naive     the kv_b_proj up-projection of the whole cached latent (a GEMM), the copy
//                 of the cached rotary key to every head (elementwise), then FlashAttention
//                 over those per-head K and V activations (decode or prefill as for MHA);
//   mha/gqa/mqa   K and V projections of the new tokens, then FlashAttention decode (up to 8
//                 new tokens, packed into the row blocks) or prefill (more) with n_kv K/V heads.
//
// The attention ops read FP8 cache rows with their scales, as the accounting does. Leaves out
// (against the accounting): the GEMMs' FP8 scale tensors (they see plain FP8 operands, and an
// FP8 GEMM reads its activation input as FP8 where the accounting reads the activation dtype);
// cache writes, which the projection GEMMs make in their output dtype rather than the cache
// dtype; naive MLA's kv_b_proj GEMM reading the cached latent in its compute dtype (the
// accounting reads the cache's bytes, FP8 scales included); the latent RMSNorm gains and QKV biases
// (kilobytes); the residual add and the input RMSNorm of the block (outside the accounting too).
#pragma once

#include <vector>

#include "workloads/kernels/accounting.h"
#include "workloads/op_graph.h"

namespace mlasim::kernels {

std::vector<OpPayload> attention_step_ops(const AttentionSpec& spec, const StepShape& shape,
                                          const Precision& precision,
                                          MlaMode mode = MlaMode::Absorbed);

}  // namespace mlasim::kernels
