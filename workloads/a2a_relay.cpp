// Checks of an all_to_all's per-node deduplication (see a2a_relay.h).
#include "workloads/a2a_relay.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/errors.h"

namespace mlasim {

// An all_to_all's per-node deduplication fields (op_graph.h): with forwarding, and each
// relay_bytes entry for a GPU with this rank's local index on another node.
void check_relay_fields(const AllToAllOp& a, int r, size_t i, const std::string& name, int ranks) {
  if (!a.relay && !a.reduce) return;
  auto fail = [&](std::string_view field, const std::string& what) {
    throw InputError(
        fmt::format("rank {} op {} '{}': all_to_all field '{}': {}", r, i, name, field, what));
  };
  const int32_t g = a.gpus_per_node;
  if (!a.relay) fail("reduce", "needs relay_bytes (the sums the relays send on)");
  if (!a.nvlink_forwarding || g <= 0) {
    fail("relay_bytes",
         "needs nvlink_forwarding and gpus_per_node > 0 (per-node deduplication is DeepEP's "
         "forwarding over NVLink)");
  }
  if (ranks % g != 0) {
    fail("relay_bytes", fmt::format("needs whole nodes: gpus_per_node {} does not divide the {} "
                                    "ranks",
                                    g, ranks));
  }
  if (a.relay->ranks() != static_cast<uint32_t>(ranks)) {
    fail("relay_bytes", fmt::format("needs {} entries", ranks));
  }
  a.for_each_relay_send([&](int32_t peer, uint64_t bytes) {
    if (peer / g == r / g || peer % g != r % g) {
      fail("relay_bytes",
           fmt::format("entry {} = {} B: only GPUs on other nodes with this GPU's local index "
                       "({} of {}) take deduplicated bytes",
                       peer, bytes, r % g, g));
    }
  });
}

// Each deduplicated message carries each token once: at most the bytes of the parts it stands
// for, and not 0 when they are not (a relay would wait for it forever). The parts: without
// `reduce`, this rank's sends to the relay's node; with it, what this rank's node sends the
// destination. (About ranks^2 / gpus_per_node lookups per tag.)
void check_relay_amounts(const Workload& w, int32_t tag, const std::vector<const AllToAllOp*>& ops,
                         const std::vector<size_t>& index) {
  const int ranks = static_cast<int>(ops.size());
  // Every rank of the collective sends the same way: forwarding, node size, deduplication and
  // direction agree (a rank that read them otherwise would wait for bytes never sent, or send
  // bytes nobody counts).
  const bool any = std::any_of(ops.begin(), ops.end(),
                               [](const AllToAllOp* a) { return a && (a->relay || a->reduce); });
  if (!any) return;
  const AllToAllOp* first = nullptr;
  int first_rank = 0;
  for (int r = 0; r < ranks; ++r) {
    const AllToAllOp* a = ops[static_cast<size_t>(r)];
    if (!a) continue;
    if (!first) {
      first = a;
      first_rank = r;
      continue;
    }
    if (a->nvlink_forwarding == first->nvlink_forwarding &&
        a->gpus_per_node == first->gpus_per_node &&
        (a->relay != nullptr) == (first->relay != nullptr) && a->reduce == first->reduce) {
      continue;
    }
    auto op_of = [&](int q) {
      const size_t i = index[static_cast<size_t>(q)];
      const AllToAllOp& o = *ops[static_cast<size_t>(q)];
      return fmt::format(
          "rank {} op {} '{}' (nvlink_forwarding {}, gpus_per_node {}, relay_bytes {}, reduce "
          "{})",
          q, i, w.ranks[static_cast<size_t>(q)].ops[i].name, o.nvlink_forwarding, o.gpus_per_node,
          o.relay ? "given" : "absent", o.reduce);
    };
    throw InputError(
        fmt::format("all_to_all tag {}: {} and {} disagree (every rank of a "
                    "collective sends it the same way)",
                    tag, op_of(first_rank), op_of(r)));
  }
  auto dedup = [&](int r) {
    const AllToAllOp* a = ops[static_cast<size_t>(r)];
    return a && a->relay && a->nvlink_forwarding && a->gpus_per_node > 0 ? a : nullptr;
  };
  std::vector<uint64_t> parts(static_cast<size_t>(ranks));
  // parts[p]: the bytes a deduplicated message of rank r to p stands for.
  auto check = [&](int r, const AllToAllOp& a) {
    const int32_t g = a.gpus_per_node;
    for (int p = r % g; p < ranks; p += g) {
      if (p / g == r / g) continue;
      const uint64_t relay = a.relay_send_bytes(p), want = parts[static_cast<size_t>(p)];
      if (relay <= want && (relay > 0) == (want > 0)) continue;
      const size_t i = index[static_cast<size_t>(r)];
      throw InputError(fmt::format(
          "rank {} op {} '{}': all_to_all tag {} field 'relay_bytes': entry {} = {} B, but the "
          "parts it stands for ({}) come to {} B (each token once: at most that, and not 0 "
          "when it is not)",
          r, i, w.ranks[static_cast<size_t>(r)].ops[i].name, tag, p, relay,
          a.reduce ? "what this node sends that rank" : "this rank's sends to that rank's node",
          want));
    }
  };
  for (int r = 0; r < ranks; ++r) {
    const AllToAllOp* a = dedup(r);
    if (!a || a->reduce) continue;
    const int32_t g = a->gpus_per_node;
    std::fill(parts.begin(), parts.end(), 0);
    a->for_each_send([&](int32_t dst, uint64_t bytes) {
      if (dst / g != r / g) parts[static_cast<size_t>(dst / g * g + r % g)] += bytes;
    });
    check(r, *a);
  }
  // Summing ops, a node at a time: its GPUs' sends to other nodes, once.
  for (int first = 0; first < ranks;) {
    const AllToAllOp* a = dedup(first);
    if (!a || !a->reduce) {
      ++first;
      continue;
    }
    const int32_t g = a->gpus_per_node, node = first / g;
    // (From the node's first rank: `first` is the first with an op.)
    const int end = std::min(node * g + g, ranks);
    std::fill(parts.begin(), parts.end(), 0);
    for (int x = node * g; x < end; ++x) {
      a->for_each_send_of(x, [&](int32_t dst, uint64_t bytes) {
        if (dst / g != node) parts[static_cast<size_t>(dst)] += bytes;
      });
    }
    for (int r = node * g; r < end; ++r) {
      const AllToAllOp* b = dedup(r);
      if (b && b->reduce && b->gpus_per_node == g) {
        check(r, *b);
        continue;
      }
      // Parts sent here to be summed, with no op of the tag to sum them.
      for (int p = r % g; p < ranks; p += g) {
        if (p / g == node || parts[static_cast<size_t>(p)] == 0) continue;
        throw InputError(fmt::format(
            "all_to_all tag {}: rank {} is to sum {} B from its node for rank {}, but has no "
            "all_to_all with this tag",
            tag, r, parts[static_cast<size_t>(p)], p));
      }
    }
    first = end;
  }
}

}  // namespace mlasim
