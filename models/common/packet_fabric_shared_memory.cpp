// PacketFabric's shared switch memory (PacketNodeTraits::shared_per_port; see packet_fabric.h):
// a packet that has to wait for its output moves out of its input buffer into the node's shared
// memory when there is room and its output's share allows, and its credits go back upstream.
#include <fmt/format.h>

#include <algorithm>

#include "models/common/packet_fabric.h"
#include "sim/errors.h"

namespace mlasim {

void PacketFabric::init_shared_memory() {
  pool_cap_.assign(nodes_.size(), 0);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const uint64_t per_port = traits_[n].shared_per_port;
    // The switch's ports as built, not those cabled: a fabric with few nodes leaves ports
    // empty, and a cable failed before the run takes none of the memory away.
    const uint64_t cabled = n < out_links_.size() ? out_links_[n].size() : 0;
    const uint64_t ports = cabled == 0 ? 0 : std::max<uint64_t>(cabled, switch_ports_);
    if (per_port == 0 || ports == 0) continue;
    // A backstop: the switch params refuse more than 1 GiB per port where they are read.
    if (per_port > (uint64_t{1} << 40) / ports) {
      const std::string_view key = traits_[n].shared_key;
      throw InputError(
          fmt::format("{}: {}: shared buffer of {} B per port x {} ports is over 1 TiB",
                      key.empty() ? std::string_view("shared buffer") : key, nodes_[n]->name(),
                      per_port, ports));
    }
    pool_cap_[n] = static_cast<int64_t>(per_port * ports);
  }
  pool_free_ = pool_cap_;
  pooled_for_.assign(links_.size(), 0);
  pool_frees_.assign(nodes_.size(), {});
}

void PacketFabric::free_pooled(uint32_t node, int64_t now) {
  auto& heap = pool_frees_[node];
  while (!heap.empty() && heap.front().at <= now) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<PoolFree>());
    const PoolFree f = heap.back();
    heap.pop_back();
    pool_free_[node] += f.bytes;
    pooled_for_[f.link] -= f.bytes;
  }
}

void PacketFabric::try_pool(uint32_t pkt, uint32_t link, int64_t now) {
  const uint32_t node = link_ptr_[link]->from;
  Packet& p = pool_[pkt];
  if (pool_cap_[node] == 0 || p.in_link == kNone) return;
  free_pooled(node, now);
  const int64_t wire = in_wire_of(p);
  const int64_t left = pool_free_[node] - wire;
  if (left < 0 || static_cast<double>(pooled_for_[link] + wire) >
                      traits_[node].shared_alpha * static_cast<double>(left)) {
    return;
  }
  pool_free_[node] = left;
  pooled_for_[link] += wire;
  peak_shared_buffer_bytes =
      std::max(peak_shared_buffer_bytes, static_cast<uint64_t>(pool_cap_[node] - left));
  p.flags |= kPooled;
  if (pool_probe_) pool_probe_(link, wire, now);
  // Out of the input buffer once its tail is in. (Fields copied out: returning credits may
  // create packets and move the pool.)
  const uint32_t in_link = p.in_link, credits = credits_of(static_cast<uint32_t>(wire));
  const uint8_t vl = p.vl;
  const int64_t from = p.head_in, out = std::max(now, p.tail_in);
  // Its stay in the input buffer ends here (the queue figures are the input buffer's, as its
  // credits are); its stay in the shared memory, from here to its tail leaving, is the link's
  // shared-memory figure (the start here, the end in leave_pool).
  FabricLink& in = *link_ptr_[in_link];
  note_residency(in, static_cast<uint64_t>(wire), from, out);
  in.stats.shared_byte_ps -= static_cast<double>(wire) * static_cast<double>(out);
  vacate(in_link, vl, credits, from, out);
}

void PacketFabric::leave_pool(uint32_t pkt, uint32_t link, int64_t end) {
  Packet& p = pool_[pkt];
  const uint32_t node = link_ptr_[link]->from;
  const int64_t wire = in_wire_of(p);
  auto& heap = pool_frees_[node];
  heap.push_back({end, link, wire});
  std::push_heap(heap.begin(), heap.end(), std::greater<PoolFree>());
  if (pool_probe_) pool_probe_(link, -wire, end);
  p.flags &= static_cast<uint8_t>(~kPooled);
  link_ptr_[p.in_link]->stats.shared_byte_ps +=
      static_cast<double>(wire) * static_cast<double>(end);
}

}  // namespace mlasim
