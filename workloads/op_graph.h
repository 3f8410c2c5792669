// Per-rank op graphs: what each GPU executes, as typed ops with explicit dependencies and
// optional stream / micro-batch tags. Generators build them; the GPU model replays them; the
// trace format writes and reads the same structure.
//
// Every op payload has a `kind` (its name in traces) and a visit() listing its fields, like a
// params struct: the trace reader and writer (workloads/trace.h) are generated from it, so a
// new op type needs only its struct, its place in OpPayload, and its handling in the GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/dtype.h"
#include "sim/units.h"
#include "workloads/a2a_matrix.h"

namespace mlasim {

// Marks a payload field that a later minor version of the trace schema added: the writer leaves
// it out while it is empty, the reader keeps the default when it is missing and rejects it in a
// trace that declares an older minor version.
struct OptionalField {
  int since_minor;
};
constexpr OptionalField since_minor(int minor) {
  return OptionalField{minor};
}

// Highest virtual lane a communication op may name (InfiniBand's data lanes are VL0-14). The
// packet fabric puts a message on lane vl mod network.vls.
inline constexpr uint8_t kMaxVl = 14;
inline constexpr std::string_view kVlRange =
    "must be in [0, 14] (InfiniBand's data lanes VL0-VL14)";

// C[m, n] = A[m, k] x B[k, n]; B is the weight, read from memory. n and k are >= 1; m may be 0
// (a rank without rows in a pass, as chunked prefill over attention_tp gives): no kernel, so
// nothing is read, not even the weight.
struct GemmOp {
  static constexpr std::string_view kind = "gemm";
  uint64_t m = 0, n = 0, k = 0;
  DType dtype = DType::BF16;
  template <class V>
  void visit(V& v) {
    v("m", m);
    v("n", n);
    v("k", k);
    v("dtype", dtype);
  }
  double flops() const { return 2.0 * static_cast<double>(m) * n * k; }
  // Bytes moved through memory: A and B read, C written (an FP8 GEMM writes BF16, as the
  // grouped GEMM and the tile GPU's kernels do).
  uint64_t bytes_read() const { return m == 0 ? 0 : (m * k + k * n) * dtype_bytes(dtype); }
  uint64_t bytes_written() const { return m * n * dtype_bytes(out_dtype()); }
  DType out_dtype() const { return dtype == DType::FP8 ? DType::BF16 : dtype; }
};

// Sends `bytes` to GPU `peer`; completes when the last byte has left this GPU.
struct SendOp {
  static constexpr std::string_view kind = "send";
  int32_t peer = -1;
  Bytes bytes;
  int32_t tag = 0;
  uint8_t vl = 0;  // virtual lane (traffic class; see kMaxVl)
  template <class V>
  void visit(V& v) {
    v("peer", peer);
    v("bytes", bytes);
    v("tag", tag);
    v("vl", vl, since_minor(3));
  }
};

// Waits for the message with `tag` from GPU `peer`; completes when it has fully arrived.
struct RecvOp {
  static constexpr std::string_view kind = "recv";
  int32_t peer = -1;
  Bytes bytes;
  int32_t tag = 0;
  template <class V>
  void visit(V& v) {
    v("peer", peer);
    v("bytes", bytes);
    v("tag", tag);
  }
};

// Who starts a collective's transfers: SMs (adds the GPU's issue latency) or the NIC alone
// (work requests posted ahead; only the NIC's doorbell latency).
enum class CommIssuer : uint8_t { Sm, Nic };
template <>
struct EnumNames<CommIssuer> {
  static constexpr std::array<std::pair<CommIssuer, std::string_view>, 2> values{
      {{CommIssuer::Sm, "sm"}, {CommIssuer::Nic, "nic"}}};
};

// One row of an all-to-all as a trace writes and reads it: bytes to (send) or from (receive)
// every rank, dense. In memory the op refers to the collective's shared matrix instead.
struct AllToAllOp;
struct A2ARowField {
  const AllToAllOp* op = nullptr;
  bool send = true;
};

// The deduplicated network bytes of an all_to_all as a trace writes and reads them: one dense
// row per rank (`relay_bytes`), present only with AllToAllOp::relay.
struct A2ARelayRowField {
  const AllToAllOp* op = nullptr;
  bool empty() const;
};

// All-to-all among all ranks (EP dispatch / combine). Every rank's op refers to one shared
// matrix of the collective (a2a_matrix.h): this rank sends row `rank` (times `unit_bytes`) and
// receives column `rank`; with `transposed` the other way round, so that a combine reuses its
// dispatch's matrix of token copies. Completes when its sends have left and its expected bytes
// have arrived. `gpus_per_node` (the cluster's; 0 where all ranks share one node, which means
// the same) orders the sends so that GPUs never all start on the same receiver; with
// `nvlink_forwarding`, data for another node goes over the network to the GPU with this GPU's
// local index there, which forwards each part over NVLink (DeepEP). A replayed trace must give
// the replaying cluster's value (TraceWorkload checks it).
// With forwarding, `relay` (a matrix in the same orientation as `matrix`) makes it DeepEP's
// normal kernels, which send each token over the network once per node rather than once per
// GPU: without `reduce` (dispatch), the message to another node's relay carries
// relay_send_bytes(relay) bytes (its tokens once each), and the relay forwards every GPU's part
// over NVLink as before; with `reduce` (combine), a part for a GPU on another node goes over
// NVLink to the GPU on this node with the destination's local index, which sums the parts for
// each destination and sends relay_send_bytes(destination) bytes over the network.
// Runs in models/common/comm_ops.h. In traces the matrix appears as the dense rows
// `send_bytes` and `recv_bytes` of each rank (own entry ignored by the simulation).
struct AllToAllOp {
  static constexpr std::string_view kind = "all_to_all";
  std::shared_ptr<const A2AMatrix> matrix;  // [src][dst] units; null only while a trace is read
  int32_t rank = 0;                         // this rank's index in the matrix
  bool transposed = false;                  // sends along column `rank`
  uint64_t unit_bytes = 1;                  // bytes per matrix unit
  int32_t tag = 0;
  int32_t gpus_per_node = 0;
  bool nvlink_forwarding = false;
  CommIssuer issuer = CommIssuer::Sm;
  uint8_t vl = 0;  // virtual lane of its messages (forwarded parts included)
  // Per-node deduplication (see above): units sent over the network per (sender, receiver),
  // read along row `rank` (column with `transposed`) as `matrix` is; null: none.
  std::shared_ptr<const A2AMatrix> relay;
  bool reduce = false;  // combine: parts go over NVLink to a relay that sums them (see above)
  template <class V>
  void visit(V& v) {
    A2ARowField send{this, true}, recv{this, false};
    A2ARelayRowField relay_row{this};
    v("send_bytes", send);
    v("recv_bytes", recv);
    v("tag", tag);
    v("gpus_per_node", gpus_per_node);
    v("nvlink_forwarding", nvlink_forwarding);
    v("issuer", issuer);
    v("vl", vl, since_minor(3));
    v("relay_bytes", relay_row, since_minor(5));
    v("reduce", reduce, since_minor(5));
  }
  int32_t ranks() const { return matrix ? static_cast<int32_t>(matrix->ranks()) : 0; }
  uint64_t send_bytes(int32_t peer) const;
  uint64_t recv_bytes(int32_t peer) const;
  // Bytes rank `from` sends rank `to` in this collective (any pair, as this op reads the matrix).
  uint64_t bytes_between(int32_t from, int32_t to) const;
  // Deduplicated network bytes this rank sends to (receives from) `peer`; 0 without `relay`.
  uint64_t relay_send_bytes(int32_t peer) const;
  uint64_t relay_recv_bytes(int32_t peer) const;
  // Sums over all ranks, this rank's own entry included.
  uint64_t total_send_bytes() const;
  uint64_t total_recv_bytes() const;
  // Calls f(peer, bytes) for every rank this one sends to (own entry included), in rank order;
  // for_each_recv likewise for the ranks it receives from; for_each_send_of for the ranks that
  // rank `from` sends to. for_each_relay_send and _recv: the non-zero deduplicated bytes.
  template <class F>
  void for_each_send(F&& f) const {
    along(*matrix, rank, transposed, f);
  }
  template <class F>
  void for_each_recv(F&& f) const {
    along(*matrix, rank, !transposed, f);
  }
  template <class F>
  void for_each_send_of(int32_t from, F&& f) const {
    along(*matrix, from, transposed, f);
  }
  template <class F>
  void for_each_relay_send(F&& f) const {
    if (relay) along(*relay, rank, transposed, f);
  }
  template <class F>
  void for_each_relay_recv(F&& f) const {
    if (relay) along(*relay, rank, !transposed, f);
  }
  // f(peer, bytes) along row `line` of `m` (its column with `column`), units times unit_bytes.
  template <class F>
  void along(const A2AMatrix& m, int32_t line, bool column, F& f) const {
    auto g = [&](uint32_t peer, uint64_t units) {
      f(static_cast<int32_t>(peer), units * unit_bytes);
    };
    const auto r = static_cast<uint32_t>(line);
    column ? m.for_each_in_col(r, g) : m.for_each_in_row(r, g);
  }
  // Dense bytes to (from) every rank, as a trace writes them.
  std::vector<uint64_t> dense_send_bytes() const;
  std::vector<uint64_t> dense_recv_bytes() const;
  std::vector<uint64_t> dense_relay_send_bytes() const;
};

inline bool A2ARelayRowField::empty() const {
  return !op->relay;
}

enum class RingCollective : uint8_t { AllGather, ReduceScatter, AllReduce };
template <>
struct EnumNames<RingCollective> {
  static constexpr std::array<std::pair<RingCollective, std::string_view>, 3> values{
      {{RingCollective::AllGather, "all_gather"},
       {RingCollective::ReduceScatter, "reduce_scatter"},
       {RingCollective::AllReduce, "all_reduce"}}};
};

// Ring collective over ranks start, start + stride, ... (size of them; this rank among them):
// `bytes` is the whole buffer, each step moves bytes / size to the next rank.
struct RingCollectiveOp {
  static constexpr std::string_view kind = "ring_collective";
  RingCollective collective = RingCollective::AllReduce;
  Bytes bytes;
  int32_t start = 0, size = 0, stride = 1;
  int32_t tag = 0;
  CommIssuer issuer = CommIssuer::Sm;
  uint8_t vl = 0;  // virtual lane of its messages
  template <class V>
  void visit(V& v) {
    v("collective", collective);
    v("bytes", bytes);
    v("start", start);
    v("size", size);
    v("stride", stride);
    v("tag", tag);
    v("issuer", issuer);
    v("vl", vl, since_minor(3));
  }
};

// Expert-grouped GEMM (MoE): for each group g, C_g[m_g, n] = A_g[m_g, k] x B_g[k, n], B_g the
// expert's weight. Contiguous layout: the groups' rows follow each other (each group padded to
// the kernel's tile); masked layout: every group has `max_m` rows allocated and only the first
// m_g are valid (DeepGEMM's two layouts for prefill and decode).
enum class GroupedLayout : uint8_t { Contiguous, Masked };
template <>
struct EnumNames<GroupedLayout> {
  static constexpr std::array<std::pair<GroupedLayout, std::string_view>, 2> values{
      {{GroupedLayout::Contiguous, "contiguous"}, {GroupedLayout::Masked, "masked"}}};
};
struct GroupedGemmOp {
  static constexpr std::string_view kind = "grouped_gemm";
  std::vector<uint64_t> m;  // rows (tokens) of each group
  uint64_t n = 0, k = 0;
  DType dtype = DType::FP8;
  GroupedLayout layout = GroupedLayout::Contiguous;
  uint64_t max_m = 0;  // masked layout: rows allocated per group (0: the largest m)
  template <class V>
  void visit(V& v) {
    v("m", m);
    v("n", n);
    v("k", k);
    v("dtype", dtype);
    v("layout", layout);
    v("max_m", max_m);
  }
  uint64_t total_m() const;
  double flops() const { return 2.0 * static_cast<double>(total_m()) * n * k; }
  // Activations read and written once; each group with rows reads its weight once.
  uint64_t bytes_read() const;
  uint64_t bytes_written() const { return total_m() * n * dtype_bytes(out_dtype()); }
  DType out_dtype() const { return dtype == DType::FP8 ? DType::BF16 : dtype; }
};

// Fused attention over a KV cache, one kernel family per `kernel`:
//  mla_decode   FlashMLA-style absorbed MLA: all query heads attend one shared latent cache
//               (heads_kv = 1, head_dim_qk = d_c + d_r = 576, head_dim_v = d_c = 512), KV split
//               across SMs, paged KV in blocks of `page_block` tokens;
//  mla_prefill  MLA prefill in MHA form (K/V up-projected per head: qk 192, v 128);
//  mha_decode   FlashAttention/FlashDecoding MHA or GQA decode (heads_kv <= heads_q);
//  mha_prefill  FlashAttention MHA or GQA prefill.
// q_len query tokens per sequence attend kv_len keys (the context, this step's included); with
// `kv_lens` (trace schema 1.1; empty: none) each sequence has its own KV length, kv_len being
// their maximum (decode batches whose requests have different contexts); with `q_lens` (schema
// 1.2) each has its own query length, q_len being their maximum (prefill prompts of different
// lengths, chunks of a token stream). A sequence's queries are the last q of its kv keys: it
// starts at position kv - q.
enum class AttentionKernel : uint8_t { MlaDecode, MlaPrefill, MhaDecode, MhaPrefill };
template <>
struct EnumNames<AttentionKernel> {
  static constexpr std::array<std::pair<AttentionKernel, std::string_view>, 4> values{
      {{AttentionKernel::MlaDecode, "mla_decode"},
       {AttentionKernel::MlaPrefill, "mla_prefill"},
       {AttentionKernel::MhaDecode, "mha_decode"},
       {AttentionKernel::MhaPrefill, "mha_prefill"}}};
};
enum class AttentionMask : uint8_t { Causal, None };
template <>
struct EnumNames<AttentionMask> {
  static constexpr std::array<std::pair<AttentionMask, std::string_view>, 2> values{
      {{AttentionMask::Causal, "causal"}, {AttentionMask::None, "none"}}};
};
struct AttentionOp {
  static constexpr std::string_view kind = "attention";
  AttentionKernel kernel = AttentionKernel::MlaDecode;
  uint64_t batch = 1;
  uint64_t q_len = 1;
  uint64_t kv_len = 1;
  uint32_t heads_q = 128;
  uint32_t heads_kv = 1;
  uint32_t head_dim_qk = 576;
  uint32_t head_dim_v = 512;
  DType dtype = DType::BF16;     // math (Q, K, V in the tensor cores)
  DType kv_dtype = DType::BF16;  // cache storage
  AttentionMask mask = AttentionMask::Causal;
  uint32_t page_block = 64;       // paged KV block, tokens
  std::vector<uint64_t> kv_lens;  // [sequence]: its KV length; empty: every one has kv_len
  std::vector<uint64_t> q_lens;   // [sequence]: its query tokens; empty: every one has q_len
  template <class V>
  void visit(V& v) {
    v("kernel", kernel);
    v("batch", batch);
    v("q_len", q_len);
    v("kv_len", kv_len);
    v("heads_q", heads_q);
    v("heads_kv", heads_kv);
    v("head_dim_qk", head_dim_qk);
    v("head_dim_v", head_dim_v);
    v("dtype", dtype);
    v("kv_dtype", kv_dtype);
    v("mask", mask);
    v("page_block", page_block);
    v("kv_lens", kv_lens, since_minor(1));
    v("q_lens", q_lens, since_minor(2));
  }
  uint64_t seq_kv_len(uint64_t seq) const { return kv_lens.empty() ? kv_len : kv_lens[seq]; }
  uint64_t seq_q_len(uint64_t seq) const { return q_lens.empty() ? q_len : q_lens[seq]; }
  // Keys cached over the whole batch.
  uint64_t total_kv_tokens() const;
  // Query tokens over the whole batch.
  uint64_t total_q_tokens() const;
  bool is_mla_decode() const { return kernel == AttentionKernel::MlaDecode; }
  // (query, key) pairs per head the mask lets through, summed over the batch; each sequence's
  // queries are the last q of its kv positions (causal: q (kv - q) + q (q + 1) / 2 pairs).
  double visible_pairs() const;
  // Useful FLOPs: QK^T and PV over the visible pairs, all query heads.
  double flops() const;
  // Cache read once per KV head (MLA: one latent of head_dim_qk per token; FP8 rows with their
  // scales, see stored_row_bytes), Q read, O written.
  uint64_t bytes_read() const;
  uint64_t bytes_written() const;
  // mla_decode: one cached token, the latent (head_dim_v) and the rotary key (the rest of
  // head_dim_qk) stored as two rows (cache_kv and cache_rk), each with its FP8 scales.
  uint64_t mla_cache_row_bytes() const;
};

// Memory-bound element-wise work (activation, RMSNorm, RoPE, residual add...) sized by its
// bytes: the kernel streams `bytes_read` in and `bytes_written` out doing `flops` of FP32 math.
enum class ElementwiseFunction : uint8_t { Elementwise, RmsNorm, Rope };
template <>
struct EnumNames<ElementwiseFunction> {
  static constexpr std::array<std::pair<ElementwiseFunction, std::string_view>, 3> values{
      {{ElementwiseFunction::Elementwise, "elementwise"},
       {ElementwiseFunction::RmsNorm, "rms_norm"},
       {ElementwiseFunction::Rope, "rope"}}};
};
struct ElementwiseOp {
  static constexpr std::string_view kind = "elementwise";
  ElementwiseFunction function = ElementwiseFunction::Elementwise;
  Bytes bytes_in;
  Bytes bytes_out;
  double flops = 0;
  template <class V>
  void visit(V& v) {
    v("function", function);
    v("bytes_in", bytes_in);
    v("bytes_out", bytes_out);
    v("flops", flops);
  }
};

using OpPayload = std::variant<GemmOp, SendOp, RecvOp, AllToAllOp, RingCollectiveOp, GroupedGemmOp,
                               AttentionOp, ElementwiseOp>;

struct Op {
  std::string name;
  OpPayload payload;
  std::vector<uint32_t> deps;  // indices of ops of the same rank that must finish first
  int32_t stream = 0;          // compute ops and collectives of one stream run one at a time; sends
                               // and receives are not ordered by stream
  int32_t micro_batch = 0;
};

std::string_view op_kind_name(const OpPayload& p);
bool is_compute(const OpPayload& p);
// Useful floating-point work and memory traffic of a compute op (0 for communication ops), for
// rooflines and statistics.
double op_flops(const OpPayload& p);
uint64_t op_bytes_read(const OpPayload& p);
uint64_t op_bytes_written(const OpPayload& p);

struct RankProgram {
  std::vector<Op> ops;
};

struct Workload {
  std::vector<RankProgram> ranks;
};

// Size limits of one op, far beyond any real step and low enough that the element, byte and
// FLOP counts built from them are exact in 64-bit arithmetic: a GEMM's m, n and k, a grouped
// GEMM's rows and groups, an attention op's batch and lengths at most kMaxOpDim; every operand,
// message, collective buffer and element-wise stream at most kMaxOpBytes (256 TiB, FP32 operands
// counted at 4 bytes per element); every compute op's FLOPs at most kMaxOpFlops (so that its time
// in picoseconds stays far inside 64 bits even on slow hardware).
inline constexpr uint64_t kMaxOpDim = uint64_t{1} << 32;
inline constexpr uint64_t kMaxOpBytes = uint64_t{1} << 48;
inline constexpr uint64_t kMaxOpFlops = uint64_t{1} << 57;

// Checks dependencies (in range, acyclic), that every send has a matching receive of the same
// size, and the size limits above. Throws InputError naming the rank and op.
void validate_workload(const Workload& w);

}  // namespace mlasim
