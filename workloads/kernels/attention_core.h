// The fused attention core shared by every variant: scores, causal mask, FP32 softmax with
// max subtraction and the weighted sum of values, streamed over blocks of keys with an online
// (running max and sum) softmax as FlashAttention does, so scores are never materialised.
//
// Queries and keys come in two parts, [main | rope], read through strided views so that MHA
// heads, GQA groups, naive MLA's up-projected keys with one shared rotary key, and absorbed
// MLA's latent cache (one "KV head" for all query heads) are the same loop.
#pragma once

#include <cstdint>

#include "sim/dtype.h"

namespace mlasim::kernels {

// Element (b, t, h, i) of a [batch, tokens, heads, dim] view lives at
// data[b*batch_stride + t*token_stride + h*head_stride + i]; head_stride 0 shares one vector.
template <class T>
struct HeadView {
  const T* data = nullptr;
  int64_t batch_stride = 0;
  int64_t token_stride = 0;
  int64_t head_stride = 0;
  int64_t dim = 0;
  const T* at(int64_t b, int64_t t, int64_t h) const {
    return data + b * batch_stride + t * token_stride + h * head_stride;
  }
};

struct CoreShape {
  int64_t batch = 1;
  int64_t q_len = 1;
  int64_t q_start = 0;  // position of query 0; keys sit at positions 0..kv_len-1
  int64_t kv_len = 1;
  int64_t n_heads = 1;
  int64_t n_kv_heads = 1;  // query head h reads kv head h / (n_heads / n_kv_heads)
  bool causal = true;
  double scale = 1.0;
  DType operand = DType::FP32;  // BF16: probabilities rounded before the value product
};

// out: [batch, q_len, n_heads, v.dim], contiguous. Returns the (query, key) pairs visited,
// summed over batch and query tokens (once per token, not per head).
template <class T>
uint64_t attention_core(const CoreShape& shape, const HeadView<T>& q_main,
                        const HeadView<T>& q_rope, const HeadView<T>& k_main,
                        const HeadView<T>& k_rope, const HeadView<T>& v, T* out);

}  // namespace mlasim::kernels
