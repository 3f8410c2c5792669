// Closed-form FLOP and memory-traffic accounting of one attention layer step, for every
// variant: MLA (naive and absorbed) and the MHA family (MHA, GQA, MQA share one formula with
// n_kv key/value heads). The functional kernels count the same quantities stage by stage as
// they run; tests hold the two to each other and to formulas written independently.
//
// Traffic model (what "bytes" means here). A step is a sequence of stages, each one GPU
// kernel that reads its operands from HBM and writes its result back; nothing is reused
// across stages (no L2 model). Within a stage:
//  * a projection (GEMM) reads its weight once and its input activation once; elementwise
//    epilogues (bias, RMSNorm, RoPE, cache write) are fused into it;
//  * the attention core is fused flash-style: scores and probabilities stay on chip, each
//    cached key/value row is read once per KV head (shared by the heads of a GQA group and,
//    for absorbed MLA, by all heads) and the output is written once;
//  * naive MLA materialises the up-projected K and V of the whole context as activations, and
//    the cached rotary key copied to every head (per-head K is [K_nope | k_rope], as the
//    reference model concatenates it for FlashAttention, which takes no shared key).
// FLOPs count multiply-adds of matrix products as 2; elementwise work (norms, RoPE, softmax,
// bias) is O(elements) and is left out. The causal mask is honoured: only visible
// (query, key) pairs cost attention FLOPs.
// Bytes per element: weights in the compute dtype (FP8: + one FP32 scale per 128x128 block),
// norm gains and biases and activations in the activation dtype, the cache in the cache dtype
// (FP8: + one FP32 scale per 1x128 tile of each cached vector).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "sim/dtype.h"
#include "workloads/kernels/numerics.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {

enum class Variant { MlaAbsorbed, MlaNaive, Mha, Gqa, Mqa };
std::string_view variant_name(Variant v);  // "mla_absorbed", "mla_naive", "mha", "gqa", "mqa"

// MLA's two ways of running the same weights.
enum class MlaMode {
  Naive,     // up-project the cached latent to per-head K and V every step
  Absorbed,  // W_UK folded into the query, W_UV applied after attention: attend in the latent
};

// Geometry of one attention layer.
struct AttentionSpec {
  int64_t hidden = 0;        // d
  int64_t n_heads = 0;       // n_h query heads
  int64_t n_kv_heads = 0;    // MHA family: key/value heads (n_h MHA, 1 MQA); unused for MLA
  int64_t q_lora_rank = 0;   // d_q; 0: direct query projection
  int64_t kv_lora_rank = 0;  // d_c; 0: not MLA
  int64_t qk_nope_dim = 0;   // per-head query/key dims that carry no position
  int64_t qk_rope_dim = 0;   // per-head rotary dims (MLA: one rotary key shared by all heads)
  int64_t v_head_dim = 0;
  bool qkv_bias = false;    // bias on q/k/v projections (Qwen2)
  bool latent_norm = true;  // RMSNorm after the q and kv compressions, as DeepSeek has
  double rms_norm_eps = 1e-6;

  bool is_mla() const { return kv_lora_rank > 0; }
  int64_t qk_head_dim() const { return qk_nope_dim + qk_rope_dim; }
  // Throws InputError naming the inconsistent field.
  void validate() const;
};

// The variants `mlasim kernels` compares for a model: MLA models get mla_absorbed, mla_naive
// and MHA/GQA/MQA baselines with the same head dims and query path (gqa: 8 KV heads, or the
// largest divisor of n_h below 8); other models get mha, gqa (native n_kv) and mqa.
std::vector<Variant> model_variants(const ModelConfig& model);
AttentionSpec attention_spec(const ModelConfig& model, Variant v);
// KV heads of the gqa baseline of a model.
int64_t gqa_kv_heads(const ModelConfig& model);

// Tokens and positions of one step.
struct StepShape {
  int64_t batch = 1;
  int64_t q_len = 1;     // s: query tokens this step
  int64_t q_start = 0;   // position of the first query token
  int64_t kv_new = 1;    // t: tokens whose K/V (or latent) are computed and cached this step
  int64_t kv_start = 0;  // cache slot (and position) of the first of them
  bool causal = true;    // query at position p sees keys at positions <= p

  int64_t kv_len() const { return kv_start + kv_new; }
  // s new tokens appended at start_pos, attending over [0, start_pos + s).
  static StepShape self_attention(int64_t batch, int64_t start_pos, int64_t new_tokens);
  // q_len queries attending, without mask, over memory_len tokens cached this step.
  static StepShape cross_attention(int64_t batch, int64_t q_len, int64_t memory_len);
  // (query, key) pairs the mask lets through, summed over the batch (per head).
  uint64_t visible_pairs() const;
  void validate() const;
};

struct MemoryTraffic {
  uint64_t weight_bytes_read = 0;
  uint64_t kv_cache_bytes_read = 0;
  uint64_t kv_cache_bytes_written = 0;
  uint64_t activation_bytes_read = 0;
  uint64_t activation_bytes_written = 0;

  uint64_t bytes_read() const {
    return weight_bytes_read + kv_cache_bytes_read + activation_bytes_read;
  }
  uint64_t bytes_written() const { return kv_cache_bytes_written + activation_bytes_written; }
  MemoryTraffic& operator+=(const MemoryTraffic& o);
  bool operator==(const MemoryTraffic&) const = default;
};

struct KernelCost {
  uint64_t projection_flops = 0;  // the GEMMs: q/k/v/latent projections, output
  // Absorbed MLA's per-head products (q_nope . W_UK, o_latent . W_UV): in the activation dtype
  // (BF16 in FP8 runs: DeepSeek's reference code dequantises kv_b_proj for them, and serving
  // engines keep W_UK and W_UV in BF16), their weights read in that dtype too.
  uint64_t absorb_flops = 0;
  uint64_t attention_flops = 0;  // scores and the weighted sum over the cache
  MemoryTraffic traffic;

  uint64_t flops() const { return projection_flops + absorb_flops + attention_flops; }
  KernelCost& operator+=(const KernelCost& o);
  KernelCost scaled(uint64_t k) const;
  bool operator==(const KernelCost&) const = default;
};

// Bytes of a [rows, cols] weight matrix in `dtype` (FP8 adds an FP32 scale per 128x128 block).
uint64_t weight_matrix_bytes(int64_t rows, int64_t cols, DType dtype);
// Bytes of one cached vector of n elements (FP8 adds an FP32 scale per 1x128 tile).
uint64_t cache_vector_bytes(int64_t n, DType dtype);
// KV-cache bytes one token holds in one layer.
uint64_t kv_cache_bytes_per_token(const AttentionSpec& spec, DType cache_dtype);
// Same for all num_hidden_layers of a model, for a variant.
uint64_t model_kv_cache_bytes_per_token(const ModelConfig& model, Variant v, DType cache_dtype);

// The closed form: cost of one layer step. `mode` matters only for MLA.
KernelCost attention_step_cost(const AttentionSpec& spec, const StepShape& shape,
                               const Precision& precision, MlaMode mode = MlaMode::Absorbed);

}  // namespace mlasim::kernels
