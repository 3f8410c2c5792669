// Op graph validation: shapes and size limits, dependencies, message pairing, all-to-all and
// ring-collective agreement across ranks (see op_graph.h, validate_workload).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>

#include "sim/errors.h"
#include "workloads/a2a_relay.h"
#include "workloads/op_graph.h"

namespace mlasim {

namespace {

// All-to-all rows and columns agree (what rank a sends to b, b expects from a, per tag), and
// ring groups name real ranks.
void validate_collectives(const Workload& w) {
  const int ranks = static_cast<int>(w.ranks.size());
  std::map<int32_t, std::vector<const AllToAllOp*>> a2a;  // tag -> op per rank
  std::map<int32_t, std::vector<size_t>> a2a_index;       // tag -> its index per rank
  for (int r = 0; r < ranks; ++r) {
    const auto& ops = w.ranks[r].ops;
    for (size_t i = 0; i < ops.size(); ++i) {
      auto check_vl = [&](uint8_t vl) {
        if (vl <= kMaxVl) return;
        throw InputError(fmt::format(
            "rank {} op {} '{}': field 'vl': {} is not a data virtual lane (0..{}, InfiniBand's "
            "VL0-VL14)",
            r, i, ops[i].name, vl, kMaxVl));
      };
      if (const auto* s = std::get_if<SendOp>(&ops[i].payload)) check_vl(s->vl);
      if (const auto* g = std::get_if<RingCollectiveOp>(&ops[i].payload)) check_vl(g->vl);
      if (const auto* a = std::get_if<AllToAllOp>(&ops[i].payload)) {
        check_vl(a->vl);
        if (a->ranks() != ranks) {
          throw InputError(fmt::format(
              "rank {} op {} '{}': all_to_all needs send_bytes and recv_bytes with {} entries", r,
              i, ops[i].name, ranks));
        }
        if (a->rank != r) {
          throw InputError(fmt::format("rank {} op {} '{}': all_to_all built for rank {}", r, i,
                                       ops[i].name, a->rank));
        }
        if (a->gpus_per_node < 0) {
          throw InputError(fmt::format(
              "rank {} op {} '{}': all_to_all field 'gpus_per_node': {} is negative (the "
              "cluster's GPUs per node; 0 in a single-node cluster)",
              r, i, ops[i].name, a->gpus_per_node));
        }
        check_relay_fields(*a, r, i, ops[i].name, ranks);
        auto& per_rank = a2a[a->tag];
        per_rank.resize(ranks, nullptr);
        if (per_rank[r]) {
          throw InputError(fmt::format("rank {} op {} '{}': a second all_to_all with tag {}", r, i,
                                       ops[i].name, a->tag));
        }
        per_rank[r] = a;
        auto& index = a2a_index[a->tag];
        index.resize(ranks, 0);
        index[r] = i;
      } else if (const auto* g = std::get_if<RingCollectiveOp>(&ops[i].payload)) {
        // 64-bit arithmetic: the fields come from trace files and may be anything.
        const int64_t last =
            int64_t{g->start} + (int64_t{g->size} - 1) * int64_t{std::max(g->stride, 1)};
        const int64_t offset = int64_t{r} - g->start;
        const bool member = g->stride >= 1 && offset >= 0 && offset % g->stride == 0 &&
                            offset / g->stride < g->size;
        if (g->size < 2 || g->stride < 1 || g->start < 0 || last >= ranks || !member) {
          throw InputError(fmt::format(
              "rank {} op {} '{}': ring group (start {}, size {}, stride {}) must hold >= 2 "
              "ranks including this one",
              r, i, ops[i].name, g->start, g->size, g->stride));
        }
      }
    }
  }
  for (const auto& [tag, per_rank] : a2a) {
    check_relay_amounts(w, tag, per_rank, a2a_index.at(tag));
    // Every rank reading one shared matrix the same way agrees by construction.
    const AllToAllOp* first = per_rank[0];
    const bool shared = std::all_of(per_rank.begin(), per_rank.end(), [&](const AllToAllOp* o) {
      return o && o->matrix == first->matrix && o->transposed == first->transposed &&
             o->unit_bytes == first->unit_bytes;
    });
    if (shared) continue;
    for (int a = 0; a < ranks; ++a) {
      for (int b = 0; b < ranks; ++b) {
        if (a == b) continue;
        const uint64_t sent = per_rank[a] ? per_rank[a]->send_bytes(b) : 0;
        const uint64_t expected = per_rank[b] ? per_rank[b]->recv_bytes(a) : 0;
        if (sent != expected) {
          // Each side's op, where it has one (a rank without the op sends and expects nothing).
          // (The structured bindings are passed in: Clang before 16 cannot capture them.)
          auto side = [&w](const std::vector<const AllToAllOp*>& ops,
                           const std::vector<size_t>& index, int r, std::string_view field) {
            if (!ops[r]) return fmt::format("rank {} (no all_to_all with this tag)", r);
            const size_t i = index[r];
            return fmt::format("rank {} op {} '{}' (field '{}')", r, i, w.ranks[r].ops[i].name,
                               field);
          };
          throw InputError(
              fmt::format("all_to_all tag {}: {} sends {} B to rank {}, but {} expects "
                          "{} B",
                          tag, side(per_rank, a2a_index.at(tag), a, "send_bytes"), sent, b,
                          side(per_rank, a2a_index.at(tag), b, "recv_bytes"), expected));
        }
      }
    }
  }
}

// A rank's ring ops of one tag in the order they run: each must depend, directly or through
// others, on the one before (a tag is reused only once the earlier collective is over; two
// with no dependency path between them may run at once, or in either order, and would share
// the tag's ring state). `topo`: the rank's ops' positions in a topological order.
void order_ring_uses(int r, const std::vector<Op>& ops, const std::vector<uint32_t>& topo,
                     int32_t tag, std::vector<size_t>& uses) {
  std::sort(uses.begin(), uses.end(), [&](size_t a, size_t b) { return topo[a] < topo[b]; });
  std::vector<uint8_t> seen(ops.size(), 0);
  for (size_t k = 1; k < uses.size(); ++k) {
    const size_t from = uses[k - 1], to = uses[k];
    // Back from `to` along dependencies, never below `from` in the order: does it reach `from`?
    std::fill(seen.begin(), seen.end(), 0);
    std::vector<size_t> stack{to};
    bool reached = false;
    while (!stack.empty() && !reached) {
      const size_t at = stack.back();
      stack.pop_back();
      for (uint32_t d : ops[at].deps) {
        if (d == from) reached = true;
        if (seen[d] || topo[d] < topo[from]) continue;
        seen[d] = 1;
        stack.push_back(d);
      }
    }
    if (!reached) {
      const size_t a = std::min(from, to), b = std::max(from, to);  // named in file order
      throw InputError(fmt::format(
          "rank {} op {} '{}' and op {} '{}': ring_collectives with tag {} and no dependency "
          "path between them (they may run at once or in either order, sharing the tag's ring); "
          "make one depend on the other, or give them different tags",
          r, a, ops[a].name, b, ops[b].name, tag));
    }
  }
}

// Ring collectives pair up by tag: on every rank of a ring group, the k-th ring_collective
// with a tag (in the order they run, see order_ring_uses) must be the same collective over the
// same group and bytes, or the ring waits for a step that never comes (or moves other bytes
// than its peers expect). `topo`: per rank, its ops' positions in a topological order.
void validate_rings(const Workload& w, const std::vector<std::vector<uint32_t>>& topo) {
  const int ranks = static_cast<int>(w.ranks.size());
  // tag -> per rank, its ring ops with that tag (op indices, in the order they run)
  std::map<int32_t, std::vector<std::vector<size_t>>> rings;
  for (int r = 0; r < ranks; ++r) {
    const auto& ops = w.ranks[r].ops;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (const auto* g = std::get_if<RingCollectiveOp>(&ops[i].payload)) {
        auto& per_rank = rings[g->tag];
        per_rank.resize(static_cast<size_t>(ranks));
        per_rank[static_cast<size_t>(r)].push_back(i);
      }
    }
  }
  for (auto& [tag, per_rank] : rings) {
    for (int r = 0; r < ranks; ++r) {
      auto& uses = per_rank[static_cast<size_t>(r)];
      if (uses.size() > 1) order_ring_uses(r, w.ranks[r].ops, topo[r], tag, uses);
    }
  }
  for (const auto& [tag, per_rank] : rings) {
    for (int r = 0; r < ranks; ++r) {
      const auto& mine = per_rank[static_cast<size_t>(r)];
      for (size_t k = 0; k < mine.size(); ++k) {
        const Op& op = w.ranks[r].ops[mine[k]];
        const auto& g = std::get<RingCollectiveOp>(op.payload);
        auto where = [&](int rank, size_t index) {
          return fmt::format("rank {} op {} '{}'", rank, index, w.ranks[rank].ops[index].name);
        };
        for (int32_t j = 0; j < g.size; ++j) {
          const int m = g.start + j * g.stride;  // checked: a rank of the workload
          if (m == r) continue;
          const auto& theirs = per_rank[static_cast<size_t>(m)];
          if (theirs.size() <= k) {
            throw InputError(fmt::format(
                "{}: ring_collective tag {} (number {} with this tag on its rank): ring member "
                "rank {} has no such ring_collective",
                where(r, mine[k]), tag, k + 1, m));
          }
          const auto& h = std::get<RingCollectiveOp>(w.ranks[m].ops[theirs[k]].payload);
          std::string_view field;
          if (h.collective != g.collective) field = "collective";
          if (h.bytes.count() != g.bytes.count()) field = "bytes";
          if (h.stride != g.stride) field = "stride";
          if (h.size != g.size) field = "size";
          if (h.start != g.start) field = "start";
          if (!field.empty()) {
            throw InputError(fmt::format(
                "{}: ring_collective tag {} field '{}' differs from {} ({} {} B over ranks "
                "{}+{}x{} against {} {} B over {}+{}x{})",
                where(r, mine[k]), tag, field, where(m, theirs[k]), enum_name(g.collective),
                g.bytes.count(), g.start, g.stride, g.size, enum_name(h.collective),
                h.bytes.count(), h.start, h.stride, h.size));
          }
        }
      }
    }
  }
}

// Kahn's algorithm left `indegree` > 0 on every op on or behind a cycle. Walking backwards
// along unfinished dependencies from any of them must revisit an op: that loop is the cycle.
std::string describe_cycle(int rank, const std::vector<Op>& ops, const std::vector<int>& indegree) {
  size_t at = 0;
  while (indegree[at] == 0)
    ++at;
  std::vector<int> visited_at(ops.size(), -1);
  std::vector<uint32_t> walk;
  while (visited_at[at] < 0) {
    visited_at[at] = static_cast<int>(walk.size());
    walk.push_back(static_cast<uint32_t>(at));
    for (uint32_t d : ops[at].deps) {
      if (indegree[d] > 0) {
        at = d;
        break;
      }
    }
  }
  // walk[visited_at[at]..] is the cycle, each op depending on the next; print it in run order,
  // back to its first op. A long one keeps its first and last few ops, so that the message
  // stays one readable line.
  constexpr size_t kHead = 4, kTail = 2;
  const size_t first = static_cast<size_t>(visited_at[at]);
  const size_t length = walk.size() - first;
  auto op_name = [&](uint32_t op) { return fmt::format("op {} '{}'", op, ops[op].name); };
  std::string names;
  for (size_t k = 0; k < length; ++k) {
    if (length > kHead + kTail + 1 && k == kHead) {
      names += fmt::format("... ({} more) -> ", length - kHead - kTail);
      k = length - kTail - 1;
      continue;
    }
    names += op_name(walk[walk.size() - 1 - k]) + " -> ";
  }
  names += op_name(walk.back());
  return fmt::format(
      "rank {}: dependency cycle of {} ops: {} (each op must wait for the one before it)", rank,
      length, names);
}

// a x b, or nullopt when it exceeds `limit` (or 64 bits).
std::optional<uint64_t> product_within(std::initializer_list<uint64_t> factors, uint64_t limit) {
  uint64_t p = 1;
  for (uint64_t f : factors) {
    if (__builtin_mul_overflow(p, f, &p) || p > limit) return std::nullopt;
  }
  return p;
}

// The size limits of op_graph.h; a breach names the op and the quantity.
void check_sizes(int r, size_t i, const Op& op) {
  auto fail = [&](std::string_view what, std::string_view limit) {
    throw InputError(
        fmt::format("rank {} op {} '{}': {} exceeds the limit of {}", r, i, op.name, what, limit));
  };
  auto dim = [&](std::string_view field, uint64_t v) {
    if (v > kMaxOpDim) fail(fmt::format("{} = {}", field, v), "2^32");
  };
  auto bytes = [&](std::string_view what, std::initializer_list<uint64_t> factors) {
    if (!product_within(factors, kMaxOpBytes)) fail(what, "2^48 bytes");
  };
  constexpr uint64_t kWide = 4;  // operands counted at FP32 width
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, GemmOp>) {
          dim("m", p.m);
          dim("n", p.n);
          dim("k", p.k);
          bytes("operand A (m x k)", {p.m, p.k, kWide});
          bytes("operand B (k x n)", {p.k, p.n, kWide});
          bytes("result C (m x n)", {p.m, p.n, kWide});
          if (!product_within({p.m, p.n, p.k}, kMaxOpFlops / 2)) fail("the FLOPs", "2^57");
        } else if constexpr (std::is_same_v<T, GroupedGemmOp>) {
          dim("the number of groups", p.m.size());
          uint64_t rows = 0;
          for (uint64_t m : p.m) {
            dim("a group's m", m);
            rows += m;  // at most 2^32 groups of 2^32 rows: no wrap
          }
          dim("the total m", rows);
          dim("max_m", p.max_m);
          dim("n", p.n);
          dim("k", p.k);
          const uint64_t alloc_rows = std::max(rows, p.max_m * p.m.size());
          bytes("the inputs (rows x k)", {alloc_rows, p.k, kWide});
          bytes("the outputs (rows x n)", {alloc_rows, p.n, kWide});
          bytes("the weights (groups x k x n)", {p.m.size(), p.k, p.n, kWide});
          if (!product_within({rows, p.n, p.k}, kMaxOpFlops / 2)) fail("the FLOPs", "2^57");
        } else if constexpr (std::is_same_v<T, AttentionOp>) {
          dim("batch", p.batch);
          dim("q_len", p.q_len);
          dim("kv_len", p.kv_len);
          // Tokens over the batch: per-sequence lengths (each within the limit) or batch x len.
          auto tokens = [&](const std::vector<uint64_t>& lens, uint64_t len,
                            std::string_view what) {
            if (lens.empty())
              return product_within({p.batch, len}, kMaxOpBytes).value_or(~uint64_t{0});
            uint64_t sum = 0;
            for (uint64_t l : lens) {
              dim(what, l);
              if (__builtin_add_overflow(sum, l, &sum)) fail(what, "2^64 in total");
            }
            return sum;
          };
          const uint64_t kv = tokens(p.kv_lens, p.kv_len, "a sequence's kv length");
          const uint64_t q = tokens(p.q_lens, p.q_len, "a sequence's q length");
          const uint64_t width = uint64_t{p.head_dim_qk} + p.head_dim_v;
          bytes("the KV cache (tokens x heads_kv x head dims)", {kv, p.heads_kv, width, kWide});
          bytes("the queries and outputs (tokens x heads_q x head dims)",
                {q, p.heads_q, width, kWide});
          if (!(p.flops() <= static_cast<double>(kMaxOpFlops))) fail("the FLOPs", "2^57");
        } else if constexpr (std::is_same_v<T, ElementwiseOp>) {
          bytes("bytes_in", {p.bytes_in.count()});
          bytes("bytes_out", {p.bytes_out.count()});
          if (!(p.flops >= 0 && p.flops <= static_cast<double>(kMaxOpFlops))) {
            throw InputError(
                fmt::format("rank {} op {} '{}', field 'flops': {} is not in [0, 2^57]", r, i,
                            op.name, p.flops));
          }
        } else if constexpr (std::is_same_v<T, AllToAllOp>) {
          if (!p.matrix) return;
          const auto me = static_cast<uint32_t>(p.rank);
          for (const bool row : {true, false}) {
            uint64_t sum = 0;
            bool over = false;
            auto add = [&](uint32_t, uint64_t v) {
              over = over || __builtin_add_overflow(sum, v, &sum);
            };
            if (row) {
              p.matrix->for_each_in_row(me, add);
            } else {
              p.matrix->for_each_in_col(me, add);
            }
            if (over || !product_within({sum, p.unit_bytes}, kMaxOpBytes))
              fail(row != p.transposed ? "the bytes sent" : "the bytes received", "2^48 bytes");
          }
        } else {  // send, recv, ring collective
          bytes("bytes", {p.bytes.count()});
        }
      },
      op.payload);
}

// Shapes that pass the size limits but describe no kernel: a GEMM without columns or inner
// dimension, a grouped GEMM without groups. (A GEMM may have m = 0: a rank with no rows in a
// pass, as chunked prefill over attention_tp gives; it still reads its weight.)
void check_gemm(int r, size_t i, const std::string& name, const OpPayload& p) {
  auto bad = [&](std::string_view kind, std::string_view field, const std::string& why) {
    throw InputError(
        fmt::format("rank {} op {} '{}': {} field '{}': {}", r, i, name, kind, field, why));
  };
  if (const auto* g = std::get_if<GemmOp>(&p)) {
    if (g->n == 0) bad("gemm", "n", "is 0; a GEMM needs n >= 1 and k >= 1");
    if (g->k == 0) bad("gemm", "k", "is 0; a GEMM needs n >= 1 and k >= 1");
  } else if (const auto* g = std::get_if<GroupedGemmOp>(&p)) {
    if (g->m.empty()) bad("grouped_gemm", "m", "is empty; it needs one row count per group");
    if (g->n == 0) bad("grouped_gemm", "n", "is 0; a grouped GEMM needs n >= 1 and k >= 1");
    if (g->k == 0) bad("grouped_gemm", "k", "is 0; a grouped GEMM needs n >= 1 and k >= 1");
    const uint64_t largest = *std::max_element(g->m.begin(), g->m.end());
    if (g->layout == GroupedLayout::Contiguous && g->max_m != 0) {
      bad("grouped_gemm", "max_m", "applies to the masked layout only (contiguous: 0)");
    }
    if (g->max_m != 0 && g->max_m < largest) {
      bad("grouped_gemm", "max_m",
          fmt::format("{} rows per group are fewer than the largest group's m ({})", g->max_m,
                      largest));
    }
  }
}

// Every count >= 1 and whole groups of query heads per K/V head; per-sequence lengths: one per
// sequence, each >= 1, the longest equal to the op's; a sequence's queries fit in its keys
// (they are the last of them), in the uniform form (q_len, kv_len) as in the per-sequence one.
void check_attention(int r, size_t i, const std::string& name, const AttentionOp& a) {
  auto bad = [&](std::string_view field, const std::string& why) {
    throw InputError(
        fmt::format("rank {} op {} '{}': attention field '{}': {}", r, i, name, field, why));
  };
  for (const auto& [field, value] : {std::pair<std::string_view, uint64_t>{"batch", a.batch},
                                     {"q_len", a.q_len},
                                     {"kv_len", a.kv_len},
                                     {"heads_q", a.heads_q},
                                     {"heads_kv", a.heads_kv},
                                     {"head_dim_qk", a.head_dim_qk},
                                     {"head_dim_v", a.head_dim_v},
                                     {"page_block", a.page_block}}) {
    if (value == 0) bad(field, "is 0; must be >= 1");
  }
  if (a.heads_q % a.heads_kv != 0) {
    bad("heads_kv", fmt::format("{} does not divide heads_q {} (each K/V head serves a whole "
                                "group of query heads)",
                                a.heads_kv, a.heads_q));
  }
  if (a.kernel == AttentionKernel::MlaDecode && a.heads_kv != 1) {
    bad("heads_kv",
        fmt::format("{}, but mla_decode attends one latent cache shared by all heads: must be 1",
                    a.heads_kv));
  }
  auto check = [&](const std::vector<uint64_t>& lens, std::string_view field, uint64_t longest) {
    if (lens.empty()) return;
    const auto [lo, hi] = std::minmax_element(lens.begin(), lens.end());
    if (lens.size() != a.batch || *lo == 0 || *hi != longest) {
      throw InputError(fmt::format(
          "rank {} op {} '{}': {} needs one length >= 1 per sequence ({}), the longest equal to "
          "{} ({})",
          r, i, name, field, a.batch, field.substr(0, field.size() - 1), longest));
    }
  };
  check(a.kv_lens, "kv_lens", a.kv_len);
  check(a.q_lens, "q_lens", a.q_len);
  if (a.q_lens.empty() && a.kv_lens.empty()) {
    if (a.q_len > a.kv_len) {
      bad("q_len", fmt::format("{} queries but kv_len {} keys (queries are the last of the keys: "
                               "q_len <= kv_len)",
                               a.q_len, a.kv_len));
    }
    return;
  }
  // The lists hold one entry per sequence (checked above), so this loop is as long as they are.
  for (uint64_t s = 0; s < a.batch; ++s) {
    if (a.seq_q_len(s) > a.seq_kv_len(s)) {
      throw InputError(fmt::format(
          "rank {} op {} '{}': {}: sequence {} has {} queries but {} keys (queries are the "
          "last of its keys)",
          r, i, name, a.q_lens.empty() ? "q_len" : "q_lens", s, a.seq_q_len(s), a.seq_kv_len(s)));
    }
  }
}

}  // namespace

void validate_workload(const Workload& w) {
  validate_collectives(w);
  const int ranks = static_cast<int>(w.ranks.size());
  std::vector<std::vector<uint32_t>> topo(static_cast<size_t>(ranks));  // per rank, per op
  // (src, dst, tag) -> bytes, counted +1 per send and -1 per receive.
  // By (sender, receiver, tag): counts and bytes of the sends and receives, and the last op of
  // each kind (to name in an error).
  struct Pair {
    int sends = 0, recvs = 0;
    uint64_t sent = 0, received = 0;
    size_t send_op = 0, recv_op = 0;
  };
  std::map<std::tuple<int, int, int>, Pair> pairs;
  for (int r = 0; r < ranks; ++r) {
    const auto& ops = w.ranks[r].ops;
    // Kahn's algorithm over the rank's dependency graph finds cycles.
    std::vector<int> indegree(ops.size(), 0);
    std::vector<std::vector<uint32_t>> succ(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      for (uint32_t d : ops[i].deps) {
        if (d >= ops.size()) {
          throw InputError(
              fmt::format("rank {} op {} '{}', field 'deps': dependency {} does not "
                          "exist",
                          r, i, ops[i].name, d));
        }
        if (d == i) {
          throw InputError(fmt::format("rank {} op {} '{}', field 'deps': depends on itself", r, i,
                                       ops[i].name));
        }
        ++indegree[i];
        succ[d].push_back(static_cast<uint32_t>(i));
      }
      auto check_peer = [&](int32_t peer) {
        if (peer < 0 || peer >= ranks || peer == r) {
          throw InputError(
              fmt::format("rank {} op {} '{}', field 'peer': {} is not another rank "
                          "(0..{})",
                          r, i, ops[i].name, peer, ranks - 1));
        }
      };
      if (const auto* a = std::get_if<AttentionOp>(&ops[i].payload))
        check_attention(r, i, ops[i].name, *a);
      check_gemm(r, i, ops[i].name, ops[i].payload);
      check_sizes(r, i, ops[i]);
      if (auto* s = std::get_if<SendOp>(&ops[i].payload)) {
        check_peer(s->peer);
        Pair& e = pairs[{r, s->peer, s->tag}];
        ++e.sends;
        e.sent += s->bytes.count();
        e.send_op = i;
      } else if (auto* v = std::get_if<RecvOp>(&ops[i].payload)) {
        check_peer(v->peer);
        Pair& e = pairs[{v->peer, r, v->tag}];
        ++e.recvs;
        e.received += v->bytes.count();
        e.recv_op = i;
      }
    }
    std::vector<uint32_t> ready;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (indegree[i] == 0) ready.push_back(static_cast<uint32_t>(i));
    }
    size_t seen = 0;
    topo[r].assign(ops.size(), 0);
    while (!ready.empty()) {
      uint32_t i = ready.back();
      ready.pop_back();
      topo[r][i] = static_cast<uint32_t>(seen);
      ++seen;
      for (uint32_t s : succ[i]) {
        if (--indegree[s] == 0) ready.push_back(s);
      }
    }
    if (seen != ops.size()) throw InputError(describe_cycle(r, ops, indegree));
  }
  validate_rings(w, topo);
  for (const auto& [key, e] : pairs) {
    const auto& [src, dst, tag] = key;
    if (e.sends == e.recvs && e.sent == e.received) continue;
    // Named: the last receive (or, with none, the last send) of the pair and tag.
    const bool at_recv = e.recvs > 0;
    const int rank = at_recv ? dst : src;
    const size_t op = at_recv ? e.recv_op : e.send_op;
    const std::string what =
        e.sends != e.recvs ? fmt::format("{} sends against {} receives", e.sends, e.recvs)
                           : fmt::format("{} B sent against {} B received", e.sent, e.received);
    throw InputError(fmt::format(
        "rank {} op {} '{}', field '{}': messages from rank {} to rank {} with tag {} do not "
        "match: {} (sizes are matched in total per pair and tag)",
        rank, op, w.ranks[static_cast<size_t>(rank)].ops[op].name,
        e.sends != e.recvs ? "tag" : "bytes", src, dst, tag, what));
  }
}

}  // namespace mlasim
