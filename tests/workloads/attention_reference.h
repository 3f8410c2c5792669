// An independent, deliberately plain float64 attention for the kernel tests: whole sequences,
// no cache, no blocking, one token and one head at a time, written straight from the
// formulas (DeepSeek-V2 paper §2.1 for MLA). It shares only the weight layout with the
// kernels, so a bug in the kernels' caching, masking, RoPE positions or absorption shows up
// as a mismatch.
#pragma once

#include <cmath>
#include <vector>

#include "workloads/kernels/attention_kernel.h"

namespace mlasim::kernels::reference {

using Vec = std::vector<double>;

// y = W x for W [rows, cols] row-major, starting at row `row0`, `rows` rows.
inline Vec matvec(const Tensor<double>& w, const Vec& x, int64_t row0 = 0, int64_t rows = -1) {
  const int64_t cols = w.dim(1);
  if (rows < 0) rows = w.dim(0);
  Vec y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      y[r] += w[(row0 + r) * cols + c] * x[c];
  }
  return y;
}

inline Vec rms_norm(const Vec& x, const Tensor<double>& gain, double eps) {
  double ms = 0;
  for (double v : x)
    ms += v * v;
  ms /= static_cast<double>(x.size());
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = x[i] / std::sqrt(ms + eps) * gain[i];
  return y;
}

// How positions are encoded: pair i of a rotary part turns by pos * inv_freq[i], and cos/sin
// are multiplied by `magnitude` (YaRN's mscale ratio; 1 otherwise).
struct Rotary {
  std::vector<double> inv_freq;
  double magnitude = 1.0;
};

// Plain RoPE frequencies theta^(-2i/dim).
inline Rotary plain_rotary(int64_t dim, double theta) {
  Rotary r;
  for (int64_t i = 0; i < dim / 2; ++i)
    r.inv_freq.push_back(std::pow(theta, -2.0 * i / dim));
  return r;
}

// Rotates the interleaved pairs of x[offset, offset + 2 * inv_freq.size()).
inline void rope(Vec& x, int64_t offset, int64_t pos, const Rotary& r) {
  for (size_t i = 0; i < r.inv_freq.size(); ++i) {
    const double a = static_cast<double>(pos) * r.inv_freq[i];
    const double c = std::cos(a) * r.magnitude, s = std::sin(a) * r.magnitude;
    const double x0 = x[offset + 2 * i], x1 = x[offset + 2 * i + 1];
    x[offset + 2 * i] = x0 * c - x1 * s;
    x[offset + 2 * i + 1] = x0 * s + x1 * c;
  }
}

inline Vec token(const Tensor<double>& x, int64_t b, int64_t t) {
  const int64_t n = x.dim(1), d = x.dim(2);
  return Vec(x.data() + (b * n + t) * d, x.data() + (b * n + t + 1) * d);
}

// Query of one token: [n_h * d_qk], RoPE on each head's last d_r dims.
inline Vec query(const AttentionSpec& s, const AttentionWeights<double>& w, const Vec& x,
                 int64_t pos, const Rotary& rot) {
  Vec q;
  if (s.q_lora_rank > 0) {
    Vec c = matvec(w.q_a_proj, x);
    if (s.latent_norm) c = rms_norm(c, w.q_a_layernorm, s.rms_norm_eps);
    q = matvec(w.q_b_proj, c);
  } else {
    q = matvec(w.q_proj, x);
  }
  if (s.qkv_bias) {
    for (size_t i = 0; i < q.size(); ++i)
      q[i] += w.q_bias[static_cast<int64_t>(i)];
  }
  for (int64_t h = 0; h < s.n_heads; ++h) {
    rope(q, h * s.qk_head_dim() + s.qk_nope_dim, pos, rot);
  }
  return q;
}

// Attention of queries xq (positions q_pos0 + i) over keys/values from xkv (positions j).
// Returns [b, sq, d]. MLA when spec.is_mla(), else MHA/GQA/MQA.
inline Tensor<double> reference_attention(const AttentionSpec& s, const AttentionWeights<double>& w,
                                          const Tensor<double>& xq, int64_t q_pos0,
                                          const Tensor<double>& xkv, bool causal, const Rotary& rot,
                                          double scale) {
  const int64_t B = xq.dim(0), sq = xq.dim(1), skv = xkv.dim(1), d = s.hidden;
  const int64_t nh = s.n_heads, dn = s.qk_nope_dim, dr = s.qk_rope_dim, dv = s.v_head_dim;
  const int64_t dqk = dn + dr;
  Tensor<double> out({B, sq, d});
  for (int64_t b = 0; b < B; ++b) {
    // Per key token: per-head keys [nh][dqk] and values [nh][dv].
    std::vector<std::vector<Vec>> keys(skv), values(skv);
    for (int64_t j = 0; j < skv; ++j) {
      const Vec x = token(xkv, b, j);
      keys[j].assign(nh, Vec(dqk));
      values[j].assign(nh, Vec(dv));
      if (s.is_mla()) {
        Vec ckr = matvec(w.kv_a_proj_with_mqa, x);
        Vec c(ckr.begin(), ckr.begin() + s.kv_lora_rank);
        Vec kr(ckr.begin() + s.kv_lora_rank, ckr.end());
        if (s.latent_norm) c = rms_norm(c, w.kv_a_layernorm, s.rms_norm_eps);
        rope(kr, 0, j, rot);
        for (int64_t h = 0; h < nh; ++h) {
          const Vec kn = matvec(w.kv_b_proj, c, h * (dn + dv), dn);
          const Vec v = matvec(w.kv_b_proj, c, h * (dn + dv) + dn, dv);
          for (int64_t e = 0; e < dn; ++e)
            keys[j][h][e] = kn[e];
          for (int64_t e = 0; e < dr; ++e)
            keys[j][h][dn + e] = kr[e];
          values[j][h] = v;
        }
      } else {
        const int64_t group = nh / s.n_kv_heads;
        Vec k = matvec(w.k_proj, x), v = matvec(w.v_proj, x);
        if (s.qkv_bias) {
          for (size_t i = 0; i < k.size(); ++i)
            k[i] += w.k_bias[static_cast<int64_t>(i)];
          for (size_t i = 0; i < v.size(); ++i)
            v[i] += w.v_bias[static_cast<int64_t>(i)];
        }
        for (int64_t g = 0; g < s.n_kv_heads; ++g)
          rope(k, g * dqk + dn, j, rot);
        for (int64_t h = 0; h < nh; ++h) {
          const int64_t g = h / group;
          keys[j][h] = Vec(k.begin() + g * dqk, k.begin() + (g + 1) * dqk);
          values[j][h] = Vec(v.begin() + g * dv, v.begin() + (g + 1) * dv);
        }
      }
    }
    for (int64_t i = 0; i < sq; ++i) {
      const int64_t pos = q_pos0 + i;
      const Vec q = query(s, w, token(xq, b, i), pos, rot);
      Vec heads(static_cast<size_t>(nh * dv), 0.0);
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t visible = causal ? std::min(skv, pos + 1) : skv;
        Vec score(static_cast<size_t>(visible));
        double mx = -1e300;
        for (int64_t j = 0; j < visible; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < dqk; ++e)
            dot += q[h * dqk + e] * keys[j][h][e];
          score[j] = dot * scale;
          mx = std::max(mx, score[j]);
        }
        double sum = 0;
        for (double& sc : score)
          sum += (sc = std::exp(sc - mx));
        for (int64_t j = 0; j < visible; ++j) {
          for (int64_t e = 0; e < dv; ++e)
            heads[h * dv + e] += score[j] / sum * values[j][h][e];
        }
      }
      const Vec y = matvec(w.o_proj, heads);
      for (int64_t e = 0; e < d; ++e)
        out[(b * sq + i) * d + e] = y[e];
    }
  }
  return out;
}

// ||a - b|| / ||b|| over all elements.
template <class A>
double relative_error(const Tensor<A>& a, const Tensor<double>& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.size(); ++i) {
    const double diff = static_cast<double>(a[i]) - b[i];
    num += diff * diff;
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace mlasim::kernels::reference
