// Op graph helpers (see op_graph.h); validation is in op_graph_validate.cpp.
#include "workloads/op_graph.h"

#include <numeric>

namespace mlasim {

std::string_view op_kind_name(const OpPayload& p) {
  return std::visit([](const auto& op) { return std::decay_t<decltype(op)>::kind; }, p);
}

bool is_compute(const OpPayload& p) {
  return std::holds_alternative<GemmOp>(p) || std::holds_alternative<GroupedGemmOp>(p) ||
         std::holds_alternative<AttentionOp>(p) || std::holds_alternative<ElementwiseOp>(p);
}

uint64_t GroupedGemmOp::total_m() const {
  uint64_t t = 0;
  for (uint64_t x : m) {
    t += x;
  }
  return t;
}

uint64_t GroupedGemmOp::bytes_read() const {
  uint64_t groups_with_rows = 0;
  for (uint64_t x : m) {
    groups_with_rows += x > 0 ? 1 : 0;
  }
  return (total_m() * k + groups_with_rows * k * n) * dtype_bytes(dtype);
}

double AttentionOp::visible_pairs() const {
  auto per_seq = [&](uint64_t q_tokens, uint64_t kv_tokens) {
    const double q = static_cast<double>(q_tokens), kv = static_cast<double>(kv_tokens);
    // Query i (of q, the last positions) sees kv - q + i + 1 keys.
    return mask == AttentionMask::Causal && q_tokens <= kv_tokens ? q * (kv - q) + q * (q + 1) / 2
                                                                  : q * kv;
  };
  if (kv_lens.empty() && q_lens.empty()) return per_seq(q_len, kv_len) * static_cast<double>(batch);
  double sum = 0;
  for (uint64_t s = 0; s < batch; ++s)
    sum += per_seq(seq_q_len(s), seq_kv_len(s));
  return sum;
}

uint64_t AttentionOp::total_kv_tokens() const {
  if (kv_lens.empty()) return batch * kv_len;
  return std::accumulate(kv_lens.begin(), kv_lens.end(), uint64_t{0});
}

uint64_t AttentionOp::total_q_tokens() const {
  if (q_lens.empty()) return batch * q_len;
  return std::accumulate(q_lens.begin(), q_lens.end(), uint64_t{0});
}

double AttentionOp::flops() const {
  return 2.0 * visible_pairs() * heads_q * (head_dim_qk + head_dim_v);
}

uint64_t AttentionOp::bytes_read() const {
  // (An FP8 cache row carries its scales.)
  const uint64_t cache_per_token =
      kernel == AttentionKernel::MlaDecode
          ? mla_cache_row_bytes()
          : static_cast<uint64_t>(heads_kv) *
                (stored_row_bytes(head_dim_qk, kv_dtype) + stored_row_bytes(head_dim_v, kv_dtype));
  const uint64_t q_bytes = total_q_tokens() * heads_q * head_dim_qk * dtype_bytes(dtype);
  return total_kv_tokens() * cache_per_token + q_bytes;
}

uint64_t AttentionOp::mla_cache_row_bytes() const {
  const uint32_t rope = head_dim_qk > head_dim_v ? head_dim_qk - head_dim_v : 0;
  return stored_row_bytes(head_dim_v, kv_dtype) + stored_row_bytes(rope, kv_dtype);
}

uint64_t AttentionOp::bytes_written() const {
  return total_q_tokens() * heads_q * head_dim_v * dtype_bytes(dtype);
}

uint64_t AllToAllOp::send_bytes(int32_t peer) const {
  const auto r = static_cast<uint32_t>(rank), q = static_cast<uint32_t>(peer);
  return unit_bytes * (transposed ? matrix->at(q, r) : matrix->at(r, q));
}

uint64_t AllToAllOp::recv_bytes(int32_t peer) const {
  const auto r = static_cast<uint32_t>(rank), q = static_cast<uint32_t>(peer);
  return unit_bytes * (transposed ? matrix->at(r, q) : matrix->at(q, r));
}

uint64_t AllToAllOp::bytes_between(int32_t from, int32_t to) const {
  const auto a = static_cast<uint32_t>(from), b = static_cast<uint32_t>(to);
  return unit_bytes * (transposed ? matrix->at(b, a) : matrix->at(a, b));
}

uint64_t AllToAllOp::relay_send_bytes(int32_t peer) const {
  if (!relay) return 0;
  const auto r = static_cast<uint32_t>(rank), q = static_cast<uint32_t>(peer);
  return unit_bytes * (transposed ? relay->at(q, r) : relay->at(r, q));
}

uint64_t AllToAllOp::relay_recv_bytes(int32_t peer) const {
  if (!relay) return 0;
  const auto r = static_cast<uint32_t>(rank), q = static_cast<uint32_t>(peer);
  return unit_bytes * (transposed ? relay->at(r, q) : relay->at(q, r));
}

uint64_t AllToAllOp::total_send_bytes() const {
  const auto r = static_cast<uint32_t>(rank);
  return unit_bytes * (transposed ? matrix->col_sum(r) : matrix->row_sum(r));
}

uint64_t AllToAllOp::total_recv_bytes() const {
  const auto r = static_cast<uint32_t>(rank);
  return unit_bytes * (transposed ? matrix->row_sum(r) : matrix->col_sum(r));
}

std::vector<uint64_t> AllToAllOp::dense_send_bytes() const {
  std::vector<uint64_t> out(static_cast<size_t>(ranks()), 0);
  for_each_send([&](int32_t peer, uint64_t bytes) { out[static_cast<size_t>(peer)] = bytes; });
  return out;
}

std::vector<uint64_t> AllToAllOp::dense_relay_send_bytes() const {
  std::vector<uint64_t> out(static_cast<size_t>(ranks()), 0);
  for_each_relay_send(
      [&](int32_t peer, uint64_t bytes) { out[static_cast<size_t>(peer)] = bytes; });
  return out;
}

std::vector<uint64_t> AllToAllOp::dense_recv_bytes() const {
  std::vector<uint64_t> out(static_cast<size_t>(ranks()), 0);
  for_each_recv([&](int32_t peer, uint64_t bytes) { out[static_cast<size_t>(peer)] = bytes; });
  return out;
}

double op_flops(const OpPayload& p) {
  if (const auto* g = std::get_if<GemmOp>(&p)) return g->flops();
  if (const auto* g = std::get_if<GroupedGemmOp>(&p)) return g->flops();
  if (const auto* a = std::get_if<AttentionOp>(&p)) return a->flops();
  if (const auto* e = std::get_if<ElementwiseOp>(&p)) return e->flops;
  return 0;
}

uint64_t op_bytes_read(const OpPayload& p) {
  if (const auto* g = std::get_if<GemmOp>(&p)) return g->bytes_read();
  if (const auto* g = std::get_if<GroupedGemmOp>(&p)) return g->bytes_read();
  if (const auto* a = std::get_if<AttentionOp>(&p)) return a->bytes_read();
  if (const auto* e = std::get_if<ElementwiseOp>(&p)) return e->bytes_in.count();
  return 0;
}

uint64_t op_bytes_written(const OpPayload& p) {
  if (const auto* g = std::get_if<GemmOp>(&p)) return g->bytes_written();
  if (const auto* g = std::get_if<GroupedGemmOp>(&p)) return g->bytes_written();
  if (const auto* a = std::get_if<AttentionOp>(&p)) return a->bytes_written();
  if (const auto* e = std::get_if<ElementwiseOp>(&p)) return e->bytes_out.count();
  return 0;
}

}  // namespace mlasim
