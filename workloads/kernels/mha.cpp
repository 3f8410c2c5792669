// MHA / GQA / MQA middle part: K and V projections of the new tokens into the per-KV-head
// cache, then the fused attention core with each KV head shared by its group of query heads.
#include <algorithm>

#include "workloads/kernels/attention_core.h"
#include "workloads/kernels/kernel_stages.h"

namespace mlasim::kernels::detail {

template <class Real>
Tensor<Real> mha_attend(const StepContext<Real>& ctx, const Tensor<Real>& q, const Real* kv_x,
                        KvCache<Real>& cache) {
  const AttentionSpec& s = ctx.spec;
  const StepShape& sh = ctx.shape;
  const int64_t dqk = s.qk_head_dim(), dv = s.v_head_dim, nkv = s.n_kv_heads;
  const int64_t tkv = sh.batch * sh.kv_new;
  const DType cdt = ctx.precision.cache;
  const auto u = [](int64_t x) { return static_cast<uint64_t>(x); };

  if (tkv > 0) {
    Tensor<Real> k({tkv, nkv * dqk}), v({tkv, nkv * dv});
    linear(ctx, kv_x, tkv, s.hidden, ctx.w.k_proj, s.qkv_bias ? &ctx.w.k_bias : nullptr, k.data(),
           nkv * dqk);
    ctx.add_activation_read(u(tkv * s.hidden));
    linear(ctx, kv_x, tkv, s.hidden, ctx.w.v_proj, s.qkv_bias ? &ctx.w.v_bias : nullptr, v.data(),
           nkv * dv);
    ctx.add_activation_read(u(tkv * s.hidden));
    // Epilogue: RoPE on each key's rotary tail, then store into the cache in its dtype.
    for (int64_t b = 0; b < sh.batch; ++b) {
      for (int64_t j = 0; j < sh.kv_new; ++j) {
        const int64_t row = b * sh.kv_new + j, slot = sh.kv_start + j;
        Real* kr = k.data() + row * nkv * dqk;
        ctx.rope.rotate(kr + s.qk_nope_dim, nkv, dqk, slot);
        Real* kc = cache.k.data() + (b * cache.max_len + slot) * nkv * dqk;
        Real* vc = cache.v.data() + (b * cache.max_len + slot) * nkv * dv;
        std::copy(kr, kr + nkv * dqk, kc);
        std::copy(v.data() + row * nkv * dv, v.data() + (row + 1) * nkv * dv, vc);
        quantize_rows(cdt, kc, nkv, dqk, dqk);
        quantize_rows(cdt, vc, nkv, dv, dv);
      }
    }
    ctx.add_cache_write(u(tkv * nkv) *
                        (cache_vector_bytes(dqk, cdt) + cache_vector_bytes(dv, cdt)));
  }

  const int64_t lk = sh.kv_len();
  CoreShape core{sh.batch,  sh.q_len,  sh.q_start,
                 lk,        s.n_heads, nkv,
                 sh.causal, ctx.scale, ctx.precision.attention};
  const int64_t q_tok = s.n_heads * dqk, k_tok = nkv * dqk, v_tok = nkv * dv;
  HeadView<Real> q_main{q.data(), sh.q_len * q_tok, q_tok, dqk, s.qk_nope_dim};
  HeadView<Real> q_rope{q.data() + s.qk_nope_dim, sh.q_len * q_tok, q_tok, dqk, s.qk_rope_dim};
  HeadView<Real> k_main{cache.k.data(), cache.max_len * k_tok, k_tok, dqk, s.qk_nope_dim};
  HeadView<Real> k_rope{cache.k.data() + s.qk_nope_dim, cache.max_len * k_tok, k_tok, dqk,
                        s.qk_rope_dim};
  HeadView<Real> v_view{cache.v.data(), cache.max_len * v_tok, v_tok, dv, dv};
  Tensor<Real> heads({sh.batch, sh.q_len, s.n_heads, dv});
  const uint64_t pairs = attention_core(core, q_main, q_rope, k_main, k_rope, v_view, heads.data());
  ctx.add_attention_flops(2 * pairs * u(s.n_heads) * u(dqk + dv));
  ctx.add_activation_read(u(q.size()));
  ctx.add_cache_read(u(sh.batch * lk * nkv) *
                     (cache_vector_bytes(dqk, cdt) + cache_vector_bytes(dv, cdt)));
  round_to(ctx.precision.activation, heads.data(), heads.size());
  ctx.add_activation_write(u(heads.size()));
  return heads;
}

template Tensor<float> mha_attend<float>(const StepContext<float>&, const Tensor<float>&,
                                         const float*, KvCache<float>&);
template Tensor<double> mha_attend<double>(const StepContext<double>&, const Tensor<double>&,
                                           const double*, KvCache<double>&);

}  // namespace mlasim::kernels::detail
