// NetworkTraffic: synthetic op graphs for network scenarios (see net_traffic.h).
#include "models/common/net_traffic.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "sim/errors.h"

namespace mlasim {

namespace {

void check_rank(int32_t r, int n, const char* key) {
  if (r < 0 || r >= n) {
    throw InputError(fmt::format("workload.{}: GPU {} is not in 0..{}", key, r, n - 1));
  }
}

uint32_t add(RankProgram& p, Op op) {
  p.ops.push_back(std::move(op));
  return static_cast<uint32_t>(p.ops.size() - 1);
}

// Ops the pattern builds on `n` GPUs (with the bounds validate() puts on count and iterations,
// no product here overflows 64 bits).
uint64_t pattern_ops(const NetworkTrafficParams& p, uint64_t n) {
  const auto count = static_cast<uint64_t>(p.count);
  const auto rounds = static_cast<uint64_t>(p.iterations);
  switch (p.pattern) {
    case TrafficPattern::P2p: {  // per size: the sends, the receives; between sizes an ack
      const uint64_t sizes = std::max<uint64_t>(p.sizes.size(), 1);
      return sizes * 2 * count + (sizes - 1) * 2;
    }
    case TrafficPattern::Incast: {
      const uint64_t senders = p.senders > 0 ? static_cast<uint64_t>(p.senders) : n - 1;
      return 2 * senders * count;
    }
    case TrafficPattern::Permutation:
      return 2 * n;
    case TrafficPattern::AllToAll:
      return p.op == TrafficOps::Collective ? rounds * n : rounds * n * (n - 1) * 2;
    case TrafficPattern::Ring:
      return n;
  }
  return 0;
}

}  // namespace

Workload NetworkTraffic::generate(const ClusterShape& cluster) const {
  const int n = cluster.ranks();
  if (n < 2) throw InputError("workload: network_traffic needs at least 2 GPUs");
  const NetworkTrafficParams& p = params_;
  if (const uint64_t ops = pattern_ops(p, static_cast<uint64_t>(n)); ops > kMaxTrafficOps) {
    // Only the repeated patterns can get here (one op per GPU and round, or per message).
    throw InputError(fmt::format(
        "workload.{}: the {} pattern on {} GPUs builds {} ops, more than the {} (2^21) a "
        "network_traffic workload may have",
        p.pattern == TrafficPattern::AllToAll ? "iterations" : "count", enum_name(p.pattern), n,
        ops, kMaxTrafficOps));
  }
  Workload w;
  w.ranks.resize(n);
  switch (p.pattern) {
    case TrafficPattern::P2p: {
      check_rank(p.src, n, "src");
      check_rank(p.dst, n, "dst");
      if (p.src == p.dst) throw InputError("workload.dst: must differ from src");
      const std::vector<Bytes> sizes = p.sizes.empty() ? std::vector<Bytes>{p.bytes} : p.sizes;
      RankProgram& s = w.ranks[p.src];
      RankProgram& d = w.ranks[p.dst];
      std::vector<uint32_t> after;  // the previous size's ack
      const int32_t ack_base = 1 << 30;
      for (size_t k = 0; k < sizes.size(); ++k) {
        std::vector<uint32_t> recvs;
        for (int32_t j = 0; j < p.count; ++j) {
          // One queue pair per size: its messages leave one after another.
          const auto tag = static_cast<int32_t>(k);
          add(s, Op{fmt::format("send_{}_{}", sizes[k].count(), j), SendOp{p.dst, sizes[k], tag},
                    after});
          recvs.push_back(add(d, Op{fmt::format("recv_{}_{}", sizes[k].count(), j),
                                    RecvOp{p.src, sizes[k], tag},
                                    {}}));
        }
        if (k + 1 == sizes.size()) break;  // the next size waits for this ack
        const int32_t ack = ack_base + static_cast<int32_t>(k);
        add(d, Op{"ack", SendOp{p.src, Bytes(8), ack}, recvs});
        after = {add(s, Op{"wait_ack", RecvOp{p.dst, Bytes(8), ack}, {}})};
      }
      break;
    }
    case TrafficPattern::Incast: {
      check_rank(p.dst, n, "dst");
      if (p.senders > n - 1) {
        throw InputError(fmt::format("workload.senders: {} senders, but only {} GPUs besides dst",
                                     p.senders, n - 1));
      }
      const int senders = p.senders == 0 ? n - 1 : p.senders;
      for (int i = 1; i <= senders; ++i) {
        const int src = (p.dst + i) % n;
        for (int32_t j = 0; j < p.count; ++j) {
          add(w.ranks[src], Op{fmt::format("send_{}", j), SendOp{p.dst, p.bytes, j}, {}});
          add(w.ranks[p.dst], Op{fmt::format("recv_{}_{}", src, j), RecvOp{src, p.bytes, j}, {}});
        }
      }
      break;
    }
    case TrafficPattern::Permutation: {
      if (p.shift % n == 0 && p.shift != 0) {
        throw InputError(fmt::format(
            "workload.shift: {} is a multiple of the {} GPUs, so every GPU would send to itself "
            "(0 draws a random permutation)",
            p.shift, n));
      }
      std::vector<int> to(n);
      if (p.shift % n != 0) {
        for (int r = 0; r < n; ++r)
          to[r] = ((r + p.shift) % n + n) % n;
      } else {
        // Sattolo's algorithm: a uniformly random single cycle, so nobody sends to itself.
        std::vector<int> cycle(n);
        std::iota(cycle.begin(), cycle.end(), 0);
        std::mt19937_64 rng(p.seed);
        for (int i = n - 1; i > 0; --i) {
          std::uniform_int_distribution<int> pick(0, i - 1);
          std::swap(cycle[i], cycle[pick(rng)]);
        }
        for (int i = 0; i < n; ++i)
          to[cycle[i]] = cycle[(i + 1) % n];
      }
      for (int r = 0; r < n; ++r) {
        add(w.ranks[r], Op{fmt::format("send_to_{}", to[r]), SendOp{to[r], p.bytes, 0}, {}});
        add(w.ranks[to[r]], Op{fmt::format("recv_from_{}", r), RecvOp{r, p.bytes, 0}, {}});
      }
      break;
    }
    case TrafficPattern::AllToAll: {
      std::vector<std::vector<uint32_t>> last(n);   // previous round's ops per rank
      std::shared_ptr<const A2AMatrix> every_pair;  // p.bytes between any two ranks
      if (p.op == TrafficOps::Collective) {
        A2AMatrix::Builder m(static_cast<uint32_t>(n));
        for (int r = 0; r < n; ++r) {
          for (int d = 0; d < n; ++d) {
            if (d != r) m.add(static_cast<uint32_t>(r), static_cast<uint32_t>(d), 1);
          }
        }
        every_pair = m.build();
      }
      for (int32_t it = 0; it < p.iterations; ++it) {
        for (int r = 0; r < n; ++r) {
          std::vector<uint32_t> mine;
          if (p.op == TrafficOps::Collective) {
            AllToAllOp a;
            a.matrix = every_pair;
            a.rank = r;
            a.unit_bytes = p.bytes.count();
            a.tag = it;
            a.gpus_per_node = cluster.gpus_per_node;
            a.nvlink_forwarding = p.nvlink_forwarding;
            a.issuer = p.issuer;
            mine.push_back(add(w.ranks[r], Op{fmt::format("all_to_all_{}", it), a, last[r]}));
          } else {
            for (int i = 1; i < n; ++i) {
              const int d = (r + i) % n;  // shifted order: senders do not all start on GPU 0
              mine.push_back(add(w.ranks[r], Op{fmt::format("send_{}_to_{}", it, d),
                                                SendOp{d, p.bytes, it}, last[r]}));
              mine.push_back(add(w.ranks[r], Op{fmt::format("recv_{}_from_{}", it, d),
                                                RecvOp{d, p.bytes, it}, last[r]}));
            }
          }
          last[r] = std::move(mine);
        }
      }
      break;
    }
    case TrafficPattern::Ring: {
      for (int r = 0; r < n; ++r) {
        RingCollectiveOp g;
        g.collective = p.collective;
        g.bytes = p.bytes;
        g.start = 0;
        g.size = n;
        g.stride = 1;
        g.issuer = p.issuer;
        add(w.ranks[r], Op{std::string(enum_name(p.collective)), g, {}});
      }
      break;
    }
  }
  if (p.vl != 0) {
    const auto vl = static_cast<uint8_t>(p.vl);
    for (RankProgram& r : w.ranks) {
      for (Op& op : r.ops) {
        if (auto* s = std::get_if<SendOp>(&op.payload)) s->vl = vl;
        if (auto* a = std::get_if<AllToAllOp>(&op.payload)) a->vl = vl;
        if (auto* g = std::get_if<RingCollectiveOp>(&op.payload)) g->vl = vl;
      }
    }
  }
  return w;
}

}  // namespace mlasim
