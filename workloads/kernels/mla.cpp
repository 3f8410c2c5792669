// Multi-head Latent Attention middle part. New tokens are compressed to the latent c
// (kv_a_proj_with_mqa, then kv_a_layernorm) and a rotary key shared by all heads; both go to
// the cache. Naive mode then up-projects the whole cached latent through kv_b_proj into
// per-head K_nope and V, copies the rotary key to every head (both materialised) and attends
// per head. (DeepSeek's and Hugging Face's "naive" code caches that per-head K and V instead,
// the size of the `mha` variant's cache; this mode keeps MLA's cache and pays with the
// up-projection of the whole cache at every step.)
// absorbed mode multiplies each head's q_nope by its W_UK so scores are taken against the
// cached latent directly, attends with the latent as the value, and applies W_UV afterwards.
#include <algorithm>

#include "workloads/kernels/attention_core.h"
#include "workloads/kernels/kernel_stages.h"
#include "workloads/kernels/linalg.h"

namespace mlasim::kernels::detail {

template <class Real>
Tensor<Real> mla_attend(const StepContext<Real>& ctx, const Tensor<Real>& q, const Real* kv_x,
                        KvCache<Real>& cache) {
  const AttentionSpec& s = ctx.spec;
  const StepShape& sh = ctx.shape;
  const int64_t nh = s.n_heads, dn = s.qk_nope_dim, dr = s.qk_rope_dim, dv = s.v_head_dim;
  const int64_t dc = s.kv_lora_rank, dqk = dn + dr, ml = cache.max_len;
  const int64_t tq = sh.batch * sh.q_len, tkv = sh.batch * sh.kv_new, lk = sh.kv_len();
  const DType cdt = ctx.precision.cache;
  const auto u = [](int64_t x) { return static_cast<uint64_t>(x); };
  const uint64_t latent_bytes = cache_vector_bytes(dc, cdt),
                 rope_bytes = cache_vector_bytes(dr, cdt);

  if (tkv > 0) {
    Tensor<Real> ckv({tkv, dc + dr});
    linear(ctx, kv_x, tkv, s.hidden, ctx.w.kv_a_proj_with_mqa, nullptr, ckv.data(), dc + dr);
    ctx.add_activation_read(u(tkv * s.hidden));
    if (s.latent_norm) {
      rms_norm_rows(ckv.data(), tkv, dc, dc + dr, ctx.w.kv_a_layernorm.data(), s.rms_norm_eps);
      ctx.add_weights(u(dc) * ctx.act_bytes());
    }
    for (int64_t b = 0; b < sh.batch; ++b) {
      for (int64_t j = 0; j < sh.kv_new; ++j) {
        Real* row = ckv.data() + (b * sh.kv_new + j) * (dc + dr);
        const int64_t slot = sh.kv_start + j;
        ctx.rope.rotate(row + dc, 1, dr, slot);
        Real* c = cache.kv.data() + (b * ml + slot) * dc;
        Real* r = cache.rk.data() + (b * ml + slot) * dr;
        std::copy(row, row + dc, c);
        std::copy(row + dc, row + dc + dr, r);
        quantize_rows(cdt, c, 1, dc, dc);
        quantize_rows(cdt, r, 1, dr, dr);
      }
    }
    ctx.add_cache_write(u(tkv) * (latent_bytes + rope_bytes));
  }

  const int64_t q_tok = nh * dqk;
  HeadView<Real> q_rope{q.data() + dn, sh.q_len * q_tok, q_tok, dqk, dr};
  HeadView<Real> k_rope{cache.rk.data(), ml * dr, dr, 0, dr};
  Tensor<Real> heads({sh.batch, sh.q_len, nh, dv});

  if (ctx.mode == MlaMode::Naive) {
    // [b, lk, d_c] -> [b, lk, n_h, d_nope + d_v] every step.
    const int64_t up_tok = nh * (dn + dv);
    Tensor<Real> up({sh.batch, lk, nh, dn + dv});
    linear_batched(ctx, sh.batch, cache.kv.data(), ml * dc, lk, dc, ctx.w.kv_b_proj, up.data(),
                   lk * up_tok, up_tok);
    ctx.add_cache_read(u(sh.batch * lk) * latent_bytes);
    round_to(ctx.precision.activation, up.data(), up.size());
    ctx.add_activation_write(u(up.size()));

    // Per-head K is [K_nope | k_rope]: the cached rotary key is copied to every head (the
    // reference model's concatenation; FlashAttention takes no key shared across heads).
    Tensor<Real> rk({sh.batch, lk, nh, dr});
    for (int64_t b = 0; b < sh.batch; ++b) {
      for (int64_t j = 0; j < lk; ++j) {
        const Real* src = cache.rk.data() + (b * ml + j) * dr;
        for (int64_t h = 0; h < nh; ++h)
          std::copy(src, src + dr, rk.data() + ((b * lk + j) * nh + h) * dr);
      }
    }
    ctx.add_cache_read(u(sh.batch * lk) * rope_bytes);
    round_to(ctx.precision.activation, rk.data(), rk.size());
    ctx.add_activation_write(u(rk.size()));

    CoreShape core{
        sh.batch, sh.q_len, sh.q_start, lk, nh, nh, sh.causal, ctx.scale, ctx.precision.attention};
    HeadView<Real> q_main{q.data(), sh.q_len * q_tok, q_tok, dqk, dn};
    HeadView<Real> k_main{up.data(), lk * up_tok, up_tok, dn + dv, dn};
    HeadView<Real> k_head_rope{rk.data(), lk * nh * dr, nh * dr, dr, dr};
    HeadView<Real> v_view{up.data() + dn, lk * up_tok, up_tok, dn + dv, dv};
    const uint64_t pairs =
        attention_core(core, q_main, q_rope, k_main, k_head_rope, v_view, heads.data());
    ctx.add_attention_flops(2 * pairs * u(nh) * u(dqk + dv));
    ctx.add_activation_read(u(q.size()) + u(up.size()) + u(rk.size()));
    round_to(ctx.precision.activation, heads.data(), heads.size());
    ctx.add_activation_write(u(heads.size()));
    return heads;
  }

  // Absorbed. q_lat[t, h, :] = q_nope[t, h, :] · W_UK^h, W_UK^h = kv_b_proj rows of head h.
  Tensor<Real> q_lat({sh.batch, sh.q_len, nh, dc});
  for (int64_t h = 0; h < nh; ++h) {
    head_product_nn(ctx, tq, dc, dn, q.data() + h * dqk, q_tok,
                    ctx.w.kv_b_proj.data() + h * (dn + dv) * dc, dc, q_lat.data() + h * dc,
                    nh * dc);
  }
  ctx.add_activation_read(u(tq * nh * dn));
  round_to(ctx.precision.activation, q_lat.data(), q_lat.size());
  ctx.add_activation_write(u(q_lat.size()));

  // Attend in the latent: key [c | k_rope], value c, one cache row read for all heads.
  const int64_t lat_tok = nh * dc;
  Tensor<Real> o_lat({sh.batch, sh.q_len, nh, dc});
  CoreShape core{
      sh.batch, sh.q_len, sh.q_start, lk, nh, 1, sh.causal, ctx.scale, ctx.precision.attention};
  HeadView<Real> q_main{q_lat.data(), sh.q_len * lat_tok, lat_tok, dc, dc};
  HeadView<Real> k_main{cache.kv.data(), ml * dc, dc, 0, dc};
  HeadView<Real> v_view{cache.kv.data(), ml * dc, dc, 0, dc};
  const uint64_t pairs = attention_core(core, q_main, q_rope, k_main, k_rope, v_view, o_lat.data());
  ctx.add_attention_flops(2 * pairs * u(nh) * u(dc + dr + dc));
  ctx.add_activation_read(u(tq * nh * (dc + dr)));
  ctx.add_cache_read(u(sh.batch * lk) * (latent_bytes + rope_bytes));
  round_to(ctx.precision.activation, o_lat.data(), o_lat.size());
  ctx.add_activation_write(u(o_lat.size()));

  // heads[t, h, :] = o_lat[t, h, :] · W_UV^h^T.
  for (int64_t h = 0; h < nh; ++h) {
    head_product_nt(ctx, tq, dv, dc, o_lat.data() + h * dc, lat_tok,
                    ctx.w.kv_b_proj.data() + (h * (dn + dv) + dn) * dc, dc, heads.data() + h * dv,
                    nh * dv);
  }
  ctx.add_activation_read(u(o_lat.size()));
  round_to(ctx.precision.activation, heads.data(), heads.size());
  ctx.add_activation_write(u(heads.size()));
  return heads;
}

template Tensor<float> mla_attend<float>(const StepContext<float>&, const Tensor<float>&,
                                         const float*, KvCache<float>&);
template Tensor<double> mla_attend<double>(const StepContext<double>&, const Tensor<double>&,
                                           const double*, KvCache<double>&);

}  // namespace mlasim::kernels::detail
