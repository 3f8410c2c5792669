// Op graph helpers and validation (see op_graph.h).
#include "workloads/op_graph.h"

#include <fmt/format.h>

#include <map>
#include <tuple>

#include "sim/errors.h"

namespace mlasim {

std::string_view op_kind_name(const OpPayload& p) {
  struct Name {
    std::string_view operator()(const GemmOp&) const { return "gemm"; }
    std::string_view operator()(const SendOp&) const { return "send"; }
    std::string_view operator()(const RecvOp&) const { return "recv"; }
  };
  return std::visit(Name{}, p);
}

bool is_compute(const OpPayload& p) {
  return std::holds_alternative<GemmOp>(p);
}

void validate_workload(const Workload& w) {
  const int ranks = static_cast<int>(w.ranks.size());
  // (src, dst, tag) -> bytes, counted +1 per send and -1 per receive.
  std::map<std::tuple<int, int, int>, std::pair<int, uint64_t>> pairs;
  for (int r = 0; r < ranks; ++r) {
    const auto& ops = w.ranks[r].ops;
    // Kahn's algorithm over the rank's dependency graph finds cycles.
    std::vector<int> indegree(ops.size(), 0);
    std::vector<std::vector<uint32_t>> succ(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      for (uint32_t d : ops[i].deps) {
        if (d >= ops.size()) {
          throw InputError(fmt::format("rank {} op {} '{}': dependency {} does not exist", r, i,
                                       ops[i].name, d));
        }
        if (d == i) {
          throw InputError(fmt::format("rank {} op {} '{}': depends on itself", r, i, ops[i].name));
        }
        ++indegree[i];
        succ[d].push_back(static_cast<uint32_t>(i));
      }
      auto check_peer = [&](int32_t peer) {
        if (peer < 0 || peer >= ranks || peer == r) {
          throw InputError(fmt::format("rank {} op {} '{}': peer {} is not another rank (0..{})", r,
                                       i, ops[i].name, peer, ranks - 1));
        }
      };
      if (auto* s = std::get_if<SendOp>(&ops[i].payload)) {
        check_peer(s->peer);
        auto& e = pairs[{r, s->peer, s->tag}];
        ++e.first;
        e.second += s->bytes.count();
      } else if (auto* v = std::get_if<RecvOp>(&ops[i].payload)) {
        check_peer(v->peer);
        auto& e = pairs[{v->peer, r, v->tag}];
        --e.first;
        e.second -= v->bytes.count();
      }
    }
    std::vector<uint32_t> ready;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (indegree[i] == 0) ready.push_back(static_cast<uint32_t>(i));
    }
    size_t seen = 0;
    while (!ready.empty()) {
      uint32_t i = ready.back();
      ready.pop_back();
      ++seen;
      for (uint32_t s : succ[i]) {
        if (--indegree[s] == 0) ready.push_back(s);
      }
    }
    if (seen != ops.size()) {
      for (size_t i = 0; i < ops.size(); ++i) {
        if (indegree[i] > 0) {
          throw InputError(
              fmt::format("rank {}: dependency cycle through op {} '{}'", r, i, ops[i].name));
        }
      }
    }
  }
  for (const auto& [key, e] : pairs) {
    const auto& [src, dst, tag] = key;
    if (e.first != 0 || e.second != 0) {
      throw InputError(fmt::format(
          "messages from rank {} to rank {} with tag {}: sends and receives do not match ({})", src,
          dst, tag,
          e.first > 0 ? "a send has no receive" : "a receive has no send or sizes differ"));
    }
  }
}

}  // namespace mlasim
