// Wait-for analysis of a stalled run (see watchdog.h).
#include "sim/watchdog.h"

#include <fmt/format.h>

#include <algorithm>

namespace mlasim {

StallAnalysis::StallAnalysis(const Workload& w, std::vector<std::vector<bool>> done)
    : w_(w), done_(std::move(done)) {
  done_.resize(w_.ranks.size());
  for (size_t r = 0; r < w_.ranks.size(); ++r)
    done_[r].resize(w_.ranks[r].ops.size(), false);
}

StallAnalysis::StallAnalysis(const Workload& w, std::vector<std::vector<bool>> done,
                             std::vector<std::vector<bool>> started,
                             std::vector<std::vector<int64_t>> stream_ahead)
    : StallAnalysis(w, std::move(done)) {
  started_ = std::move(started);
  stream_ahead_ = std::move(stream_ahead);
  started_.resize(w_.ranks.size());
  stream_ahead_.resize(w_.ranks.size());
  collectives_.resize(w_.ranks.size());
  for (size_t r = 0; r < w_.ranks.size(); ++r) {
    const auto& ops = w_.ranks[r].ops;
    started_[r].resize(ops.size(), false);
    stream_ahead_[r].resize(ops.size(), -1);
    for (uint32_t i = 0; i < ops.size(); ++i) {
      if (auto tag = collective_tag(ops[i].payload))
        collectives_[r][{ops[i].payload.index(), *tag}].push_back(i);
    }
  }
}

std::optional<int32_t> StallAnalysis::collective_tag(const OpPayload& p) {
  if (const auto* a = std::get_if<AllToAllOp>(&p)) return a->tag;
  if (const auto* r = std::get_if<RingCollectiveOp>(&p)) return r->tag;
  return std::nullopt;
}

std::optional<OpRef> StallAnalysis::matching_collective(OpRef op, int32_t peer) const {
  if (peer < 0 || static_cast<size_t>(peer) >= w_.ranks.size()) return std::nullopt;
  const OpPayload& p = w_.ranks[op.rank].ops[op.op].payload;
  const auto tag = collective_tag(p);
  if (!tag) return std::nullopt;
  const std::pair<size_t, int32_t> key{p.index(), *tag};
  // The k-th collective of its kind and tag on this rank matches the k-th on the peer.
  const auto& mine = collectives_[op.rank].at(key);
  const auto k =
      static_cast<size_t>(std::lower_bound(mine.begin(), mine.end(), op.op) - mine.begin());
  const auto theirs = collectives_[peer].find(key);
  if (theirs == collectives_[peer].end() || k >= theirs->second.size()) return std::nullopt;
  return OpRef{peer, theirs->second[k]};
}

std::optional<OpRef> StallAnalysis::ahead_on_stream(OpRef op) const {
  if (stream_ahead_.empty()) return std::nullopt;
  const int64_t a = stream_ahead_[op.rank][op.op];
  if (a < 0 || done_[op.rank][static_cast<size_t>(a)]) return std::nullopt;
  return OpRef{op.rank, static_cast<uint32_t>(a)};
}

std::string StallAnalysis::label(OpRef op) const {
  const Op& o = w_.ranks[op.rank].ops[op.op];
  return fmt::format("rank {} op {} '{}' ({})", op.rank, op.op, o.name, op_kind_name(o.payload));
}

std::optional<OpRef> StallAnalysis::matching_send(OpRef recv) const {
  const auto& ops = w_.ranks[recv.rank].ops;
  const auto* r = std::get_if<RecvOp>(&ops[recv.op].payload);
  if (!r || r->peer < 0 || static_cast<size_t>(r->peer) >= w_.ranks.size()) return std::nullopt;
  size_t k = 0;
  for (uint32_t i = 0; i < recv.op; ++i) {
    const auto* e = std::get_if<RecvOp>(&ops[i].payload);
    if (e && e->peer == r->peer && e->tag == r->tag) ++k;
  }
  const auto& peer_ops = w_.ranks[r->peer].ops;
  for (uint32_t i = 0; i < peer_ops.size(); ++i) {
    const auto* s = std::get_if<SendOp>(&peer_ops[i].payload);
    if (s && s->peer == recv.rank && s->tag == r->tag && k-- == 0) return OpRef{r->peer, i};
  }
  return std::nullopt;
}

std::vector<OpRef> StallAnalysis::edges(OpRef op) const {
  std::vector<OpRef> out;
  const Op& o = w_.ranks[op.rank].ops[op.op];
  for (uint32_t d : o.deps) {
    if (d < done_[op.rank].size() && !done_[op.rank][d]) out.push_back(OpRef{op.rank, d});
  }
  if (!out.empty()) return out;
  if (auto ahead = ahead_on_stream(op)) return {*ahead};
  if (auto send = matching_send(op); send && !done_[send->rank][send->op]) out.push_back(*send);
  if (!out.empty() || started_.empty() || !started_[op.rank][op.op]) return out;
  // A collective under way waits for the peers that have not begun their part of it.
  auto add_peer = [&](int32_t peer) {
    if (peer == op.rank) return;
    const auto m = matching_collective(op, peer);
    if (m && !done_[m->rank][m->op] && !started_[m->rank][m->op]) out.push_back(*m);
  };
  const OpPayload& p = w_.ranks[op.rank].ops[op.op].payload;
  if (const auto* a = std::get_if<AllToAllOp>(&p)) {
    if (a->matrix)
      a->for_each_recv([&](int32_t peer, uint64_t bytes) {
        if (bytes > 0) add_peer(peer);
      });
  } else if (const auto* r = std::get_if<RingCollectiveOp>(&p); r && r->size > 0) {
    for (int32_t k = 0; k < r->size; ++k) {
      if (r->start + k * r->stride == op.rank)
        add_peer(r->start + ((k + r->size - 1) % r->size) * r->stride);
    }
  }
  return out;
}

std::optional<std::string> StallAnalysis::waits_for(OpRef op) const {
  bool deps_done = true;
  for (uint32_t d : w_.ranks[op.rank].ops[op.op].deps)
    deps_done = deps_done && (d >= done_[op.rank].size() || done_[op.rank][d]);
  if (auto ahead = ahead_on_stream(op); ahead && deps_done) {
    return fmt::format("op {} '{}' (ahead of it on stream {})", ahead->op,
                       w_.ranks[op.rank].ops[ahead->op].name, w_.ranks[op.rank].ops[op.op].stream);
  }
  // A collective's line comes from the GPU, which knows whose pieces are missing.
  if (collective_tag(w_.ranks[op.rank].ops[op.op].payload) && deps_done) return std::nullopt;
  const std::vector<OpRef> next = edges(op);
  if (!next.empty()) {
    std::string out;
    for (const OpRef& n : next) {
      if (!out.empty()) out += ", ";
      const Op& o = w_.ranks[n.rank].ops[n.op];
      out += n.rank == op.rank
                 ? fmt::format("op {} '{}'", n.op, o.name)
                 : fmt::format("rank {} op {} '{}' (its matching send)", n.rank, n.op, o.name);
    }
    return out;
  }
  const auto* r = std::get_if<RecvOp>(&w_.ranks[op.rank].ops[op.op].payload);
  if (!r) return std::nullopt;
  if (auto send = matching_send(op)) {
    return fmt::format(
        "a message from rank {} (tag {}); its send op {} '{}' finished, so the "
        "message is still in the network",
        send->rank, r->tag, send->op, w_.ranks[send->rank].ops[send->op].name);
  }
  return fmt::format("a message from rank {} (tag {}) that no op sends", r->peer, r->tag);
}

std::vector<OpRef> StallAnalysis::find_cycle() const {
  // Depth-first search over unfinished ops; a back edge closes a cycle.
  enum : uint8_t { kNew, kOnPath, kDone };
  std::vector<std::vector<uint8_t>> state(w_.ranks.size());
  for (size_t r = 0; r < w_.ranks.size(); ++r)
    state[r].assign(w_.ranks[r].ops.size(), kNew);
  std::vector<OpRef> path;
  std::vector<OpRef> cycle;
  // Iterative DFS: each frame is an op and the index of its next edge to follow.
  struct Frame {
    OpRef op;
    std::vector<OpRef> next;
    size_t i = 0;
  };
  for (size_t r = 0; r < w_.ranks.size() && cycle.empty(); ++r) {
    for (uint32_t i = 0; i < w_.ranks[r].ops.size() && cycle.empty(); ++i) {
      if (done_[r][i] || state[r][i] != kNew) continue;
      std::vector<Frame> stack;
      stack.push_back({OpRef{static_cast<int>(r), i}, edges(OpRef{static_cast<int>(r), i})});
      state[r][i] = kOnPath;
      while (!stack.empty() && cycle.empty()) {
        Frame& f = stack.back();
        if (f.i == f.next.size()) {
          state[f.op.rank][f.op.op] = kDone;
          stack.pop_back();
          continue;
        }
        const OpRef n = f.next[f.i++];
        if (state[n.rank][n.op] == kOnPath) {
          size_t from = 0;
          while (!(stack[from].op == n))
            ++from;
          for (size_t k = from; k < stack.size(); ++k)
            cycle.push_back(stack[k].op);
        } else if (state[n.rank][n.op] == kNew) {
          state[n.rank][n.op] = kOnPath;
          stack.push_back({n, edges(n)});
        }
      }
    }
  }
  return cycle;
}

std::string StallAnalysis::cycle_line(const std::vector<OpRef>& cycle) const {
  if (cycle.empty()) return {};
  std::string out = "wait-for cycle: " + label(cycle.front());
  for (size_t k = 1; k < cycle.size(); ++k)
    out += (k == 1 ? " waits for " : ", which waits for ") + label(cycle[k]);
  out += (cycle.size() == 1 ? " waits for " : ", which waits for ") + label(cycle.front());
  return out;
}

}  // namespace mlasim
