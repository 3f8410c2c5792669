// The memory figures of an inference step (inference_memory, see inference_report.h): KV cache
// per token and per GPU, and the weights one GPU holds.
#include <algorithm>

#include "sim/errors.h"
#include "workloads/inference_report.h"

namespace mlasim {

namespace {

// A byte or element count whose arithmetic refuses to wrap: sizes of absurd deployments become
// an input error instead of a small, wrong figure.
class Count {
 public:
  Count(uint64_t v) : v_(v) {}  // NOLINT: implicit, so formulas read as plain arithmetic
  uint64_t get() const { return v_; }
  friend Count operator+(Count a, Count b) {
    uint64_t r = 0;
    if (__builtin_add_overflow(a.v_, b.v_, &r)) overflow();
    return r;
  }
  friend Count operator*(Count a, Count b) {
    uint64_t r = 0;
    if (__builtin_mul_overflow(a.v_, b.v_, &r)) overflow();
    return r;
  }
  friend Count operator/(Count a, Count b) { return a.v_ / b.v_; }
  friend Count operator%(Count a, Count b) { return a.v_ % b.v_; }

 private:
  [[noreturn]] static void overflow() {
    throw InputError(
        "the deployment's weight or KV-cache bytes per GPU exceed 2^64 (check the "
        "model's sizes, requests_per_gpu, tokens_per_gpu and context_length)");
  }
  uint64_t v_;
};

}  // namespace

InferenceMemory inference_memory(const ModelConfig& m, const DeepSeekInferenceParams& p,
                                 const DeepSeekStepInfo& step) {
  InferenceMemory out;
  const Count tp = p.attention_tp;
  const Count h = static_cast<uint64_t>(m.hidden_size);
  const Count heads = static_cast<uint64_t>(m.num_attention_heads);
  const uint64_t layers = static_cast<uint64_t>(m.num_hidden_layers);
  // A cached row's bytes, FP8 scales included (as the kernels accounting and the attention ops
  // count them).
  const DType kv_dt = p.dtypes.kv_cache;
  auto row = [kv_dt](Count n) { return Count(stored_row_bytes(n.get(), kv_dt)); };
  const Count w_b = dtype_bytes(p.dtypes.gemm);
  const bool mla = m.is_mla() && p.attention == AttentionVariant::Model;
  const Count hd_qk = static_cast<uint64_t>(
      m.qk_head_dim() > 0 ? m.qk_head_dim() : m.hidden_size / m.num_attention_heads);
  const Count hd_v = static_cast<uint64_t>(
      m.value_head_dim() > 0 ? m.value_head_dim() : static_cast<int64_t>(hd_qk.get()));
  // One layer's attention weights on one rank: MLA's W_UK and W_UV (kv_b_proj), and the rest.
  Count attn_rest = 0, kv_b_params = 0;
  if (mla) {
    const Count lora = static_cast<uint64_t>(m.kv_lora_rank);
    const Count rope = static_cast<uint64_t>(m.qk_rope_head_dim);
    out.kv_bytes_per_token = (layers * (row(lora) + row(rope))).get();
    out.kv_bytes_per_token_per_gpu = out.kv_bytes_per_token;  // the latent serves every head
    const Count ql = static_cast<uint64_t>(m.q_lora_rank);
    kv_b_params = lora * heads / tp * (static_cast<uint64_t>(m.qk_nope_head_dim) + hd_v);
    attn_rest = (ql.get() > 0 ? h * ql + ql * heads / tp * hd_qk : h * heads / tp * hd_qk) +
                h * (lora + rope) + heads / tp * hd_v * h;
  } else {
    const Count kv_all = kv_heads_per_rank(m, p.attention, 1);
    const Count kv_rank = kv_heads_per_rank(m, p.attention, p.attention_tp);
    out.kv_bytes_per_token = (layers * kv_all * (row(hd_qk) + row(hd_v))).get();
    out.kv_bytes_per_token_per_gpu = (layers * kv_rank * (row(hd_qk) + row(hd_v))).get();
    attn_rest = h * heads / tp * hd_qk + h * kv_rank * (hd_qk + hd_v) + heads / tp * hd_v * h;
  }
  const bool decode = p.phase == InferencePhase::Decode;
  // One layer's attention weight bytes: decode's absorbed MLA keeps W_UK and W_UV in the absorb
  // dtype (BF16 by default, as its GEMMs read them), the rest in the GEMM dtype.
  const Count attn_bytes =
      attn_rest * w_b + kv_b_params * (decode ? dtype_bytes(p.dtypes.absorb) : w_b.get());
  out.kv_cached_tokens_per_gpu =
      (decode ? Count(p.requests_per_gpu) * tp * p.context_length : Count(p.tokens_per_gpu) * tp)
          .get();
  out.kv_cached_tokens_max = out.kv_cached_tokens_per_gpu;
  uint64_t cached_sum = out.kv_cached_tokens_per_gpu, groups = 1;
  if (step.dp_groups > 0) {  // the step's actual contexts
    cached_sum = step.kv_cached_tokens_sum;
    groups = step.dp_groups;
    out.kv_cached_tokens_per_gpu = cached_sum / groups;
    out.kv_cached_tokens_max = step.kv_cached_tokens_max;
  }
  // Mean over GPUs of the bytes each caches, rounded down.
  auto mean_bytes = [&](Count per_token) {  // cached_sum x per_token / groups
    return (Count(cached_sum / groups) * per_token +
            Count(cached_sum % groups) * per_token / groups)
        .get();
  };
  out.kv_bytes_per_gpu = mean_bytes(out.kv_bytes_per_token_per_gpu);
  out.kv_bytes_per_gpu_max =
      (Count(out.kv_cached_tokens_max) * out.kv_bytes_per_token_per_gpu).get();
  if (decode && p.mtp.depth > 0 && layers > 0) {  // each MTP module caches like one layer
    out.kv_mtp_bytes_per_token = (Count(out.kv_bytes_per_token / layers) * p.mtp.depth).get();
    const Count mtp_per_gpu = Count(out.kv_bytes_per_token_per_gpu / layers) * p.mtp.depth;
    out.kv_mtp_bytes_per_token_per_gpu = mtp_per_gpu.get();
    out.kv_mtp_bytes_per_gpu = mean_bytes(mtp_per_gpu);
  }

  const uint64_t dense_layers =
      m.is_moe() ? std::min<uint64_t>(layers, static_cast<uint64_t>(m.first_k_dense_replace))
                 : layers;
  const uint64_t moe_layers = layers - dense_layers;
  const Count mlp = Count(3) * h * static_cast<uint64_t>(m.intermediate_size) / tp;
  const Count moe_inter = static_cast<uint64_t>(m.moe_intermediate_size);
  const Count moe_block = Count(3) * h * moe_inter *
                          (static_cast<uint64_t>(m.n_shared_experts) + step.max_slots_per_gpu);
  const Count gate_bytes =
      Count(static_cast<uint64_t>(m.n_routed_experts)) * h * dtype_bytes(p.dtypes.gate);
  const Count vocab = static_cast<uint64_t>(m.vocab_size);
  Count bytes =
      layers * attn_bytes + dense_layers * mlp * w_b + moe_layers * (moe_block * w_b + gate_bytes);
  // Embedding (BF16, a table lookup) and LM head (in its GEMM's dtype), both sharded by
  // vocabulary over the TP group; the MTP modules share them with the main model.
  bytes = bytes + vocab / tp * h * 2 + vocab / tp * h * dtype_bytes(p.dtypes.lm_head);
  const uint64_t mtp_modules = decode ? p.mtp.depth : 0;
  bytes = bytes + mtp_modules * (Count(2) * h * h * w_b + attn_bytes +
                                 (m.is_moe() ? moe_block * w_b + gate_bytes : mlp * w_b));
  out.weight_bytes_per_gpu = bytes.get();
  return out;
}

}  // namespace mlasim
