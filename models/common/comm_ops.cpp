// CommOps: all-to-all and ring collectives over the GPU's network injection (see comm_ops.h).
#include "models/common/comm_ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace mlasim {

namespace {
constexpr size_t kSumsShown = 4;  // waiting sums a watchdog description names
}  // namespace

std::string rank_ranges(const std::vector<int32_t>& sorted, size_t max_ranges) {
  std::string out;
  size_t shown = 0, i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1)
      ++j;
    if (shown == max_ranges) {
      out += fmt::format(", ... ({} ranks in all)", sorted.size());
      break;
    }
    if (!out.empty()) out += ", ";
    out += i == j ? fmt::format("{}", sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    ++shown;
    i = j + 1;
  }
  return out;
}

CommOps::CommOps(int32_t rank, uint64_t seed, Inject inject, Complete complete)
    : rank_(rank), seed_(seed), inject_(std::move(inject)), complete_(std::move(complete)) {}

bool CommOps::handles(const OpPayload& p) {
  return std::holds_alternative<AllToAllOp>(p) || std::holds_alternative<RingCollectiveOp>(p);
}

Message CommOps::make(int32_t dst, uint64_t bytes, int32_t tag, bool sm_issued, uint8_t vl) {
  Message m;
  // Bit 39 keeps these ids apart from the GPU's point-to-point message ids.
  m.id = (static_cast<uint64_t>(rank_) << 40) | (uint64_t{1} << 39) | next_id_++;
  m.src = rank_;
  m.dst = dst;
  m.tag = tag;
  m.bytes = Bytes(bytes);
  m.kind = MessageKind::Collective;
  m.sm_issued = sm_issued;
  m.vl = vl;
  // One queue pair per (src, dst, tag): ECMP keeps each on one path.
  m.flow_hash = (static_cast<uint64_t>(rank_) * 0x9E3779B97F4A7C15ULL) ^
                (static_cast<uint64_t>(dst) << 20) ^ (static_cast<uint64_t>(tag) << 44) ^
                seed_ * 0xBF58476D1CE4E5B9ULL;
  return m;
}

void CommOps::start(uint32_t id, const OpPayload& p) {
  if (const auto* a = std::get_if<AllToAllOp>(&p)) start_all_to_all(id, *a);
  if (const auto* r = std::get_if<RingCollectiveOp>(&p)) start_ring(id, *r);
}

template <class F>
void CommOps::for_each_expected(const AllToAllOp& op, F&& f) const {
  const int32_t g = op.nvlink_forwarding ? op.gpus_per_node : 0;
  if (g <= 0 || !op.relay || !op.reduce) {
    op.for_each_recv([&](int32_t peer, uint64_t bytes) {
      if (peer != rank_) f(peer, bytes);
    });
    return;
  }
  op.for_each_recv([&](int32_t peer, uint64_t bytes) {
    if (peer != rank_ && peer / g == rank_ / g) f(peer, bytes);
  });
  op.for_each_relay_recv([&](int32_t peer, uint64_t bytes) {
    if (peer / g != rank_ / g) f(peer, bytes);
  });
}

void CommOps::start_all_to_all(uint32_t id, const AllToAllOp& op) {
  AllToAll& s = a2a_[op.tag];
  s.op = id;
  s.started = true;
  const bool sm = op.issuer == CommIssuer::Sm;
  s.sm_issued = sm;
  s.vl = op.vl;
  const int32_t g = op.nvlink_forwarding ? op.gpus_per_node : 0;
  const bool dedup = g > 0 && op.relay != nullptr;
  const bool reduce = dedup && op.reduce;
  if (reduce) {
    for_each_expected(op, [&](int32_t, uint64_t bytes) { s.expect += bytes; });
  } else {
    s.expect += op.total_recv_bytes() - op.recv_bytes(rank_);  // the column's sum, kept
  }
  // This rank's row, dense for the shifted posting order below.
  std::vector<uint64_t> send(static_cast<size_t>(op.ranks()), 0);
  op.for_each_send([&](int32_t peer, uint64_t bytes) { send[static_cast<size_t>(peer)] = bytes; });
  const int32_t node = g > 0 ? rank_ / g : 0;
  std::vector<Message> out;
  // Per remote node, the parts for its GPUs (DeepEP forwarding), in destination order.
  std::vector<std::pair<int32_t, std::vector<RelayPart>>> relays;  // in first-touch order
  std::map<int32_t, size_t> relay_of_node;
  for (const int32_t dst : post_order(op.ranks(), op.gpus_per_node)) {
    const auto d = static_cast<size_t>(dst);
    if (send[d] == 0) continue;
    if (g > 0 && dst / g != node) {
      if (reduce) {
        // To the GPU here that sums the parts for dst (this one's own part stays here).
        const int32_t summer = node * g + dst % g;
        if (summer == rank_) {
          Sum& own = s.sums[dst];
          own.got += send[d];
          own.from.push_back(rank_);
        } else {
          Message m = make(summer, send[d], op.tag, sm, op.vl);
          m.reduce_for = dst;
          out.push_back(std::move(m));
        }
        continue;
      }
      auto [it, fresh] = relay_of_node.emplace(dst / g, relays.size());
      if (fresh) relays.emplace_back(dst / g, std::vector<RelayPart>{});
      relays[it->second].second.push_back(RelayPart{dst, send[d]});
    } else {
      out.push_back(make(dst, send[d], op.tag, sm, op.vl));
    }
  }
  for (auto& [to_node, parts] : relays) {
    const int32_t proxy = to_node * g + rank_ % g;
    uint64_t total = 0;
    for (const auto& part : parts)
      total += part.bytes;
    // Deduplicated: each token once for the whole node.
    if (dedup) total = op.relay_send_bytes(proxy);
    Message m = make(proxy, total, op.tag, sm, op.vl);
    m.relay = std::make_shared<const std::vector<RelayPart>>(std::move(parts));
    out.push_back(std::move(m));
  }
  // As the GPU that sums the parts for destinations with its local index on other nodes.
  std::vector<int32_t> summed;
  if (reduce) {
    op.for_each_relay_send([&](int32_t dst, uint64_t bytes) {
      Sum& sum = s.sums[dst];
      sum.out = bytes;
      for (int32_t x = node * g; x < node * g + g && x < op.ranks(); ++x)
        sum.expect += op.bytes_between(x, dst);
      summed.push_back(dst);
    });
  }
  s.sends_left = static_cast<uint32_t>(out.size() + summed.size());
  const int32_t tag = op.tag;
  for (auto& m : out) {
    inject_(std::move(m), [this, tag] {
      --a2a_[tag].sends_left;
      check_all_to_all(tag);
    });
  }
  for (const int32_t dst : summed)
    try_sum(tag, dst);
  check_all_to_all(tag);
}

void CommOps::try_sum(int32_t tag, int32_t dst) {
  auto it = a2a_.find(tag);
  if (it == a2a_.end() || !it->second.started) return;
  auto sum = it->second.sums.find(dst);
  if (sum == it->second.sums.end()) return;
  Sum& r = sum->second;
  if (r.sent || r.out == 0 || r.got < r.expect) return;
  r.sent = true;
  Message m = make(dst, r.out, tag, it->second.sm_issued, it->second.vl);
  inject_(std::move(m), [this, tag] {
    --a2a_[tag].sends_left;
    check_all_to_all(tag);
  });
}

std::vector<int32_t> CommOps::post_order(int32_t n, int32_t g) const {
  // Shifted so that at every position of the senders' round-robin the receivers differ: if
  // every GPU started on GPU 0, lockstep senders would all hit one receiver at once. With the
  // node size known, the shift applies within each node (node + j, local index + m), because
  // remote and local destinations leave by different links.
  std::vector<int32_t> out;
  if (g <= 0 || n % g != 0) {
    for (int32_t i = 1; i < n; ++i)
      out.push_back((rank_ + i) % n);
    return out;
  }
  const int32_t nodes = n / g, node = rank_ / g, local = rank_ % g;
  for (int32_t j = 0; j < nodes; ++j) {
    for (int32_t m = 0; m < g; ++m) {
      const int32_t dst = ((node + j) % nodes) * g + (local + m) % g;
      if (dst != rank_) out.push_back(dst);
    }
  }
  return out;
}

void CommOps::check_all_to_all(int32_t tag) {
  auto it = a2a_.find(tag);
  if (it == a2a_.end() || !it->second.started) return;
  const AllToAll& s = it->second;
  if (s.sends_left == 0 && s.got >= s.expect) {
    const uint32_t op = s.op;
    a2a_.erase(it);
    complete_(op);
  }
}

void CommOps::start_ring(uint32_t id, const RingCollectiveOp& op) {
  Ring& s = ring_[op.tag];
  s.op = id;
  s.started = true;
  int32_t pos = 0;
  for (int32_t k = 0; k < op.size; ++k) {
    if (op.start + k * op.stride == rank_) pos = k;
  }
  s.next = op.start + ((pos + 1) % op.size) * op.stride;
  s.prev = op.start + ((pos + op.size - 1) % op.size) * op.stride;
  s.steps = op.collective == RingCollective::AllReduce ? 2 * (op.size - 1) : op.size - 1;
  s.chunk = (op.bytes.count() + op.size - 1) / op.size;
  s.sm_issued = op.issuer == CommIssuer::Sm;
  s.vl = op.vl;
  const int32_t tag = op.tag;
  ring_send(tag, 0);
  // Chunks that came early each let the next step go now.
  const std::vector<int32_t> early = std::move(ring_[tag].early_steps);
  for (int32_t step : early) {
    ++ring_[tag].received;
    if (step + 1 < ring_[tag].steps) ring_send(tag, step + 1);
  }
  check_ring(tag);
}

void CommOps::ring_send(int32_t tag, int32_t step) {
  Ring& s = ring_[tag];
  Message m = make(s.next, s.chunk, tag, s.sm_issued, s.vl);
  m.kind = MessageKind::Ring;
  m.step = step;
  inject_(std::move(m), [this, tag] {
    ++ring_[tag].sent_done;
    check_ring(tag);
  });
}

void CommOps::check_ring(int32_t tag) {
  auto it = ring_.find(tag);
  if (it == ring_.end() || !it->second.started) return;
  const Ring& s = it->second;
  if (s.received >= s.steps && s.sent_done >= s.steps) {
    const uint32_t op = s.op;
    ring_.erase(it);
    complete_(op);
  }
}

void CommOps::on_message(const Message& msg) {
  if (msg.reduce_for >= 0) {
    // A part for this GPU to sum (it may come before this GPU's op has started).
    Sum& sum = a2a_[msg.tag].sums[msg.reduce_for];
    sum.got += msg.bytes.count();
    sum.from.push_back(msg.src);
    try_sum(msg.tag, msg.reduce_for);
    return;
  }
  if (msg.relay) {
    // Forward each part to its GPU; our own part counts as arrived.
    for (const RelayPart& part : *msg.relay) {
      if (part.dst == rank_) {
        Message mine = msg;
        mine.relay.reset();
        mine.bytes = Bytes(part.bytes);
        on_message(mine);
        continue;
      }
      Message fwd = make(part.dst, part.bytes, msg.tag, true, msg.vl);
      fwd.origin = msg.data_source();
      ++relayed_;
      inject_(std::move(fwd), nullptr);
    }
    return;
  }
  if (msg.kind == MessageKind::Ring) {
    Ring& s = ring_[msg.tag];
    if (!s.started) {
      s.early_steps.push_back(msg.step);
      return;
    }
    ++s.received;
    if (msg.step + 1 < s.steps) ring_send(msg.tag, msg.step + 1);
    check_ring(msg.tag);
    return;
  }
  AllToAll& s = a2a_[msg.tag];
  s.got += msg.bytes.count();
  const auto from = static_cast<size_t>(msg.data_source());
  if (from >= s.got_from.size()) s.got_from.resize(from + 1, 0);
  s.got_from[from] += msg.bytes.count();
  check_all_to_all(msg.tag);
}

std::string CommOps::describe(uint32_t id, const OpPayload& p) const {
  for (const auto& [tag, s] : a2a_) {
    if (s.started && s.op == id) {
      std::string out =
          fmt::format("all_to_all tag {}: {} sends not yet out, {} of {} bytes arrived", tag,
                      s.sends_left, s.got, s.expect);
      if (const auto* a = std::get_if<AllToAllOp>(&p)) {
        std::vector<int32_t> missing;
        const std::vector<uint64_t>& got_from = s.got_from;  // (lambdas take no bindings)
        for_each_expected(*a, [&](int32_t peer, uint64_t bytes) {
          const auto k = static_cast<size_t>(peer);
          const uint64_t got = k < got_from.size() ? got_from[k] : 0;
          if (got < bytes) missing.push_back(peer);
        });
        std::sort(missing.begin(), missing.end());
        if (!missing.empty()) out += "; missing pieces from ranks " + rank_ranges(missing);
      }
      // Sums still waiting, each with the ranks of this node whose parts have not arrived.
      const auto* a = std::get_if<AllToAllOp>(&p);
      size_t waiting = 0;
      for (const auto& [dst, sum] : s.sums) {
        if (sum.sent || sum.out == 0) continue;
        if (++waiting > kSumsShown) continue;
        std::vector<int32_t> absent;
        const int32_t g = a != nullptr ? a->gpus_per_node : 0;
        for (int32_t x = g > 0 ? rank_ / g * g : 0; g > 0 && x < (rank_ / g + 1) * g; ++x) {
          if (x < a->ranks() && a->bytes_between(x, dst) > 0 &&
              std::find(sum.from.begin(), sum.from.end(), x) == sum.from.end()) {
            absent.push_back(x);
          }
        }
        out += fmt::format("; sum for rank {} waits for parts from {}", dst,
                           absent.empty()       ? std::string("(none missing)")
                           : absent.size() == 1 ? fmt::format("rank {}", absent[0])
                                                : "ranks " + rank_ranges(absent));
      }
      if (waiting > kSumsShown) out += fmt::format(" (and {} more sums)", waiting - kSumsShown);
      return out;
    }
  }
  for (const auto& [tag, s] : ring_) {
    if (s.started && s.op == id) {
      return fmt::format("ring collective tag {}: {} of {} chunks in from GPU {}, {} sends out",
                         tag, s.received, s.steps, s.prev, s.sent_done);
    }
  }
  return {};
}

}  // namespace mlasim
