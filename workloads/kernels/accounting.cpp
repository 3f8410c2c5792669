// The closed forms of accounting.h, written stage by stage in the order the kernels run them.
#include "workloads/kernels/accounting.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/errors.h"

namespace mlasim::kernels {
namespace {

uint64_t u(int64_t x) {
  return static_cast<uint64_t>(x);
}
uint64_t ceil_div(int64_t a, int64_t b) {
  return u((a + b - 1) / b);
}

}  // namespace

std::string_view variant_name(Variant v) {
  switch (v) {
    case Variant::MlaAbsorbed:
      return "mla_absorbed";
    case Variant::MlaNaive:
      return "mla_naive";
    case Variant::Mha:
      return "mha";
    case Variant::Gqa:
      return "gqa";
    case Variant::Mqa:
      return "mqa";
  }
  return "?";
}

void AttentionSpec::validate() const {
  auto fail = [](std::string_view field, std::string_view msg) {
    throw InputError(fmt::format("attention spec: {}: {}", field, msg));
  };
  if (hidden < 1) fail("hidden", "must be at least 1");
  if (n_heads < 1) fail("n_heads", "must be at least 1");
  if (qk_nope_dim < 0 || qk_rope_dim < 0 || qk_head_dim() < 1) {
    fail("qk_nope_dim/qk_rope_dim", "must be non-negative with a positive sum");
  }
  if (qk_rope_dim % 2 != 0) fail("qk_rope_dim", "RoPE rotates pairs; must be even");
  if (v_head_dim < 1) fail("v_head_dim", "must be at least 1");
  if (q_lora_rank < 0 || kv_lora_rank < 0) fail("q_lora_rank/kv_lora_rank", "must be >= 0");
  if (!is_mla()) {
    if (n_kv_heads < 1 || n_heads % n_kv_heads != 0) {
      fail("n_kv_heads", fmt::format("{} must divide n_heads {}", n_kv_heads, n_heads));
    }
  }
}

int64_t gqa_kv_heads(const ModelConfig& model) {
  const int64_t nh = model.num_attention_heads;
  const int64_t native = model.num_key_value_heads;
  if (!model.is_mla() && native > 1 && native < nh) return native;
  for (int64_t g = std::min<int64_t>(8, nh); g >= 1; --g) {
    if (nh % g == 0 && (g < nh || nh == 1)) return g;
  }
  return 1;
}

std::vector<Variant> model_variants(const ModelConfig& model) {
  if (model.is_mla()) {
    return {Variant::MlaAbsorbed, Variant::MlaNaive, Variant::Mha, Variant::Gqa, Variant::Mqa};
  }
  return {Variant::Mha, Variant::Gqa, Variant::Mqa};
}

AttentionSpec attention_spec(const ModelConfig& model, Variant v) {
  AttentionSpec s;
  s.hidden = model.hidden_size;
  s.n_heads = model.num_attention_heads;
  s.rms_norm_eps = model.rms_norm_eps;
  if (model.is_mla()) {
    s.q_lora_rank = model.q_lora_rank;
    s.qk_nope_dim = model.qk_nope_head_dim;
    s.qk_rope_dim = model.qk_rope_head_dim;
    s.v_head_dim = model.v_head_dim;
    s.latent_norm = true;
  } else {
    // Plain models rotate the whole head.
    s.qk_nope_dim = 0;
    s.qk_rope_dim = model.head_dim;
    s.v_head_dim = model.head_dim;
    s.qkv_bias = model.attention_bias;
  }
  switch (v) {
    case Variant::MlaAbsorbed:
    case Variant::MlaNaive:
      if (!model.is_mla()) {
        throw InputError(fmt::format("model '{}' is not MLA (no kv_lora_rank)", model.name));
      }
      s.kv_lora_rank = model.kv_lora_rank;
      s.n_kv_heads = 1;
      break;
    case Variant::Mha:
      s.n_kv_heads = model.num_attention_heads;
      break;
    case Variant::Gqa:
      s.n_kv_heads = gqa_kv_heads(model);
      break;
    case Variant::Mqa:
      s.n_kv_heads = 1;
      break;
  }
  s.validate();
  return s;
}

StepShape StepShape::self_attention(int64_t batch, int64_t start_pos, int64_t new_tokens) {
  StepShape s;
  s.batch = batch;
  s.q_len = new_tokens;
  s.q_start = start_pos;
  s.kv_new = new_tokens;
  s.kv_start = start_pos;
  s.causal = true;
  return s;
}

StepShape StepShape::cross_attention(int64_t batch, int64_t q_len, int64_t memory_len) {
  StepShape s;
  s.batch = batch;
  s.q_len = q_len;
  s.q_start = 0;
  s.kv_new = memory_len;
  s.kv_start = 0;
  s.causal = false;
  return s;
}

uint64_t StepShape::visible_pairs() const {
  const int64_t lk = kv_len();
  if (!causal) return u(batch) * u(q_len) * u(lk);
  // Query i sees min(q_start + i + 1, lk) keys: the first n1 rows grow by one, the rest see all.
  const int64_t n1 = std::clamp<int64_t>(lk - q_start, 0, q_len);
  const uint64_t growing = u(n1) * u(q_start) + u(n1) * u(n1 + 1) / 2;
  return u(batch) * (growing + u(q_len - n1) * u(lk));
}

void StepShape::validate() const {
  if (batch < 1) throw InputError("step: batch must be at least 1");
  if (q_len < 1) throw InputError("step: at least one query token is needed");
  if (q_start < 0 || kv_start < 0 || kv_new < 0) {
    throw InputError("step: positions and counts must be non-negative");
  }
  if (kv_len() < 1) throw InputError("step: attention needs at least one key");
}

MemoryTraffic& MemoryTraffic::operator+=(const MemoryTraffic& o) {
  weight_bytes_read += o.weight_bytes_read;
  kv_cache_bytes_read += o.kv_cache_bytes_read;
  kv_cache_bytes_written += o.kv_cache_bytes_written;
  activation_bytes_read += o.activation_bytes_read;
  activation_bytes_written += o.activation_bytes_written;
  return *this;
}

KernelCost& KernelCost::operator+=(const KernelCost& o) {
  projection_flops += o.projection_flops;
  absorb_flops += o.absorb_flops;
  attention_flops += o.attention_flops;
  traffic += o.traffic;
  return *this;
}

KernelCost KernelCost::scaled(uint64_t k) const {
  KernelCost c;
  c.projection_flops = projection_flops * k;
  c.absorb_flops = absorb_flops * k;
  c.attention_flops = attention_flops * k;
  c.traffic.weight_bytes_read = traffic.weight_bytes_read * k;
  c.traffic.kv_cache_bytes_read = traffic.kv_cache_bytes_read * k;
  c.traffic.kv_cache_bytes_written = traffic.kv_cache_bytes_written * k;
  c.traffic.activation_bytes_read = traffic.activation_bytes_read * k;
  c.traffic.activation_bytes_written = traffic.activation_bytes_written * k;
  return c;
}

uint64_t weight_matrix_bytes(int64_t rows, int64_t cols, DType dtype) {
  uint64_t bytes = u(rows) * u(cols) * dtype_bytes(dtype);
  if (dtype == DType::FP8) {
    bytes += ceil_div(rows, kFp8TileSize) * ceil_div(cols, kFp8TileSize) * kFp8ScaleBytes;
  }
  return bytes;
}

uint64_t cache_vector_bytes(int64_t n, DType dtype) {
  return stored_row_bytes(u(n), dtype);
}

uint64_t kv_cache_bytes_per_token(const AttentionSpec& spec, DType cache_dtype) {
  if (spec.is_mla()) {
    return cache_vector_bytes(spec.kv_lora_rank, cache_dtype) +
           cache_vector_bytes(spec.qk_rope_dim, cache_dtype);
  }
  return u(spec.n_kv_heads) * (cache_vector_bytes(spec.qk_head_dim(), cache_dtype) +
                               cache_vector_bytes(spec.v_head_dim, cache_dtype));
}

uint64_t model_kv_cache_bytes_per_token(const ModelConfig& model, Variant v, DType cache_dtype) {
  return u(model.num_hidden_layers) *
         kv_cache_bytes_per_token(attention_spec(model, v), cache_dtype);
}

KernelCost attention_step_cost(const AttentionSpec& spec, const StepShape& shape,
                               const Precision& precision, MlaMode mode) {
  spec.validate();
  shape.validate();
  const DType w = precision.compute;
  const DType cdt = precision.cache;
  const uint64_t a = dtype_bytes(precision.activation);
  const uint64_t b = u(shape.batch), d = u(spec.hidden), nh = u(spec.n_heads);
  const uint64_t tq = b * u(shape.q_len), tkv = b * u(shape.kv_new), lk = u(shape.kv_len());
  const uint64_t dn = u(spec.qk_nope_dim), dr = u(spec.qk_rope_dim), dv = u(spec.v_head_dim);
  const uint64_t dqk = dn + dr, dq = u(spec.q_lora_rank), dc = u(spec.kv_lora_rank);
  const uint64_t pairs = shape.visible_pairs();
  const uint64_t bias = spec.qkv_bias ? 1 : 0, norm = spec.latent_norm ? 1 : 0;

  KernelCost c;
  MemoryTraffic& t = c.traffic;
  // Query path: x -> q [Tq, nh, dqk], optionally through the d_q latent and its RMSNorm.
  if (dq > 0) {
    c.projection_flops += 2 * tq * d * dq;
    t.weight_bytes_read += weight_matrix_bytes(dq, d, w) + norm * dq * a;
    t.activation_bytes_read += tq * d * a;
    t.activation_bytes_written += tq * dq * a;
    c.projection_flops += 2 * tq * dq * nh * dqk;
    t.weight_bytes_read += weight_matrix_bytes(nh * dqk, dq, w) + bias * nh * dqk * a;
    t.activation_bytes_read += tq * dq * a;
  } else {
    c.projection_flops += 2 * tq * d * nh * dqk;
    t.weight_bytes_read += weight_matrix_bytes(nh * dqk, d, w) + bias * nh * dqk * a;
    t.activation_bytes_read += tq * d * a;
  }
  t.activation_bytes_written += tq * nh * dqk * a;

  uint64_t attn_v = dv;  // width of what the attention core outputs per head
  bool latent_output = false;
  if (spec.is_mla()) {
    const uint64_t latent_token = cache_vector_bytes(dc, cdt),
                   rope_token = cache_vector_bytes(dr, cdt);
    if (tkv > 0) {  // compress new tokens into the cache: [c | k_rope]
      c.projection_flops += 2 * tkv * d * (dc + dr);
      t.weight_bytes_read += weight_matrix_bytes(dc + dr, d, w) + norm * dc * a;
      t.activation_bytes_read += tkv * d * a;
      t.kv_cache_bytes_written += tkv * (latent_token + rope_token);
    }
    if (mode == MlaMode::Naive) {
      // Up-project the whole cached latent to per-head K_nope and V.
      c.projection_flops += 2 * b * lk * dc * nh * (dn + dv);
      t.weight_bytes_read += weight_matrix_bytes(nh * (dn + dv), dc, w);
      t.kv_cache_bytes_read += b * lk * latent_token;
      t.activation_bytes_written += b * lk * nh * (dn + dv) * a;
      // The cached rotary key copied to every head, completing per-head K.
      t.kv_cache_bytes_read += b * lk * rope_token;
      t.activation_bytes_written += b * lk * nh * dr * a;
      // Attention over per-head [K_nope | k_rope] and V.
      c.attention_flops += 2 * pairs * nh * (dqk + dv);
      t.activation_bytes_read += tq * nh * dqk * a + b * lk * nh * (dqk + dv) * a;
    } else {
      // q_nope · W_UK per head -> query in the latent space.
      c.absorb_flops += 2 * tq * nh * dn * dc;
      t.weight_bytes_read += nh * weight_matrix_bytes(dn, dc, precision.activation);
      t.activation_bytes_read += tq * nh * dn * a;
      t.activation_bytes_written += tq * nh * dc * a;
      // Attention in the latent: keys [c | k_rope], values c, one cache read for all heads.
      c.attention_flops += 2 * pairs * nh * (dc + dr + dc);
      t.activation_bytes_read += tq * nh * (dc + dr) * a;
      t.kv_cache_bytes_read += b * lk * (latent_token + rope_token);
      attn_v = dc;
      latent_output = true;
    }
  } else {
    const uint64_t nkv = u(spec.n_kv_heads);
    if (tkv > 0) {
      c.projection_flops += 2 * tkv * d * nkv * dqk;
      t.weight_bytes_read += weight_matrix_bytes(nkv * dqk, d, w) + bias * nkv * dqk * a;
      t.activation_bytes_read += tkv * d * a;
      t.kv_cache_bytes_written += tkv * nkv * cache_vector_bytes(dqk, cdt);
      c.projection_flops += 2 * tkv * d * nkv * dv;
      t.weight_bytes_read += weight_matrix_bytes(nkv * dv, d, w) + bias * nkv * dv * a;
      t.activation_bytes_read += tkv * d * a;
      t.kv_cache_bytes_written += tkv * nkv * cache_vector_bytes(dv, cdt);
    }
    c.attention_flops += 2 * pairs * nh * (dqk + dv);
    t.activation_bytes_read += tq * nh * dqk * a;
    t.kv_cache_bytes_read +=
        b * lk * nkv * (cache_vector_bytes(dqk, cdt) + cache_vector_bytes(dv, cdt));
  }
  t.activation_bytes_written += tq * nh * attn_v * a;
  if (latent_output) {  // absorbed MLA: latent output · W_UV per head
    c.absorb_flops += 2 * tq * nh * dc * dv;
    t.weight_bytes_read += nh * weight_matrix_bytes(dv, dc, precision.activation);
    t.activation_bytes_read += tq * nh * dc * a;
    t.activation_bytes_written += tq * nh * dv * a;
  }
  // Output projection.
  c.projection_flops += 2 * tq * nh * dv * d;
  t.weight_bytes_read += weight_matrix_bytes(d, nh * dv, w);
  t.activation_bytes_read += tq * nh * dv * a;
  t.activation_bytes_written += tq * d * a;
  return c;
}

}  // namespace mlasim::kernels
