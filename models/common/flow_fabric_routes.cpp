// FlowFabric's routes: the cache of routes that have no choice on the way, the facts of a
// route every message on it shares, and the shadow links left out of the rate computation
// (see flow_fabric.h).
#include "models/common/flow_fabric.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace mlasim {

// Kept routes assume the routing tables never change during a run: true at flow level, where
// timed faults (and the rerouting they bring) are refused. Were they ever allowed, the cache
// would have to be cleared when routes are rebuilt.
bool FlowFabric::route_of(uint32_t node, const Message& msg, std::vector<uint32_t>& path,
                          RouteFacts& facts) {
  bool classify = false;
  const auto dst = static_cast<uint32_t>(msg.dst);
  if (single_hop_ && msg.dst >= 0 && msg.dst < ranks_ && node < choice_row_.size()) {
    const uint32_t row = choice_row_[node];
    if (row == UINT32_MAX || !(choice_bits_[row + dst / 64] >> (dst % 64) & 1)) {
      if (const Route* r = kept_route(node, dst)) {
        path.assign(route_links_.begin() + r->first, route_links_.begin() + r->first + r->hops);
        facts = r->facts;
        return true;
      }
      classify = true;  // first time from this node to this rank
    }
  }
  if (!path_links(node, msg.dst, msg.flow_hash, path) || path.empty()) return false;
  facts = RouteFacts{};
  static_cast<PathTiming&>(facts) = path_timing(path.data(), path.size());
  serialisation(path.data(), path.size(), mtu_, facts);
  if (classify) {
    // Kept only when no node on the way has a choice: then every message from this node to
    // this GPU follows it, whatever its hash.
    bool fixed = path.size() <= UINT8_MAX;
    for (size_t i = 0; fixed && i < path.size(); ++i)
      fixed = single_hop_(link_ptr_[path[i]]->from, msg.dst);
    if (fixed) {
      keep_route(node, dst, path, facts);
    } else {
      note_choice(node, dst);
    }
  }
  return true;
}

const FlowFabric::Route* FlowFabric::kept_route(uint32_t node, uint32_t dst) const {
  if (kept_slots_.empty()) return nullptr;
  const size_t mask = kept_slots_.size() - 1;
  for (size_t i = kept_hash(node, dst, kept_shift_);; i = (i + 1) & mask) {
    const KeptSlot& s = kept_slots_[i];
    if (s.node == node && s.dst == dst) return &routes_[s.route];
    if (s.node == UINT32_MAX) return nullptr;
  }
}

void FlowFabric::keep_route(uint32_t node, uint32_t dst, const std::vector<uint32_t>& path,
                            const RouteFacts& facts) {
  auto place = [this](const KeptSlot& k) {
    const size_t mask = kept_slots_.size() - 1;
    size_t i = kept_hash(k.node, k.dst, kept_shift_);
    while (kept_slots_[i].node != UINT32_MAX)
      i = (i + 1) & mask;
    kept_slots_[i] = k;
  };
  if (2 * (routes_.size() + 1) > kept_slots_.size()) {  // grow: at most half the slots in use
    std::vector<KeptSlot> old = std::move(kept_slots_);
    kept_slots_.assign(std::max<size_t>(64, 2 * old.size()), KeptSlot{});
    kept_shift_ = 64 - std::countr_zero(kept_slots_.size());
    for (const KeptSlot& k : old)
      if (k.node != UINT32_MAX) place(k);
  }
  place({node, dst, static_cast<uint32_t>(routes_.size())});
  Route r;
  r.first = static_cast<uint32_t>(route_links_.size());
  r.hops = static_cast<uint8_t>(path.size());
  r.facts = facts;
  routes_.push_back(r);
  route_links_.insert(route_links_.end(), path.begin(), path.end());
}

void FlowFabric::note_choice(uint32_t node, uint32_t dst) {
  uint32_t& row = choice_row_[node];
  if (row == UINT32_MAX) {
    row = static_cast<uint32_t>(choice_bits_.size());
    choice_bits_.resize(choice_bits_.size() + (static_cast<size_t>(ranks_) + 63) / 64);
  }
  choice_bits_[row + dst / 64] |= uint64_t{1} << (dst % 64);
}

void FlowFabric::serialisation(const uint32_t* path, size_t hops, uint64_t bytes,
                               RouteFacts& facts) const {
  // The first packet's serialisation per hop: its sum over store-and-forward hops (and the
  // last), and its largest.
  const uint64_t first = std::min<uint64_t>(bytes, mtu_);
  facts.ser_sum_ps = facts.ser_max_ps = 0;
  for (size_t i = 0; i < hops; ++i) {
    const FabricLink& l = *link_ptr_[path[i]];
    const bool last = i + 1 == hops;
    const int64_t s = l.rate.transfer_time(Bytes(l.overhead.wire_bytes(first))).ps();
    facts.ser_max_ps = std::max(facts.ser_max_ps, s);
    if (last || !traits_[l.to].cut_through) facts.ser_sum_ps += s;
  }
}

void FlowFabric::find_shadows() {
  const size_t n = links_.size();
  shadow_of_.assign(n, UINT32_MAX);
  is_shadow_.assign(n, 0);
  through_.assign(n, UINT32_MAX);
  two_port_.assign(nodes_.size(), 0);
  for (uint32_t v = 0; v < nodes_.size(); ++v) {
    const auto& outs = out_links_[v];
    if (rank_of_[v] >= 0 || outs.size() != 2 || outs[0] == UINT32_MAX || outs[1] == UINT32_MAX)
      continue;
    // The link in by port p is the reverse of the link out by port p.
    std::array<uint32_t, 2> in{UINT32_MAX, UINT32_MAX};
    for (size_t p = 0; p < 2; ++p) {
      const FabricLink& o = links_[outs[p]];
      const auto& back = out_links_[o.to];
      if (o.to_port < 0 || static_cast<size_t>(o.to_port) >= back.size()) continue;
      const uint32_t l = back[static_cast<size_t>(o.to_port)];
      if (l != UINT32_MAX && links_[l].to == v) in[p] = l;
    }
    if (in[0] == UINT32_MAX || in[1] == UINT32_MAX || in[0] == in[1]) continue;
    two_port_[v] = 1;
    for (size_t p = 0; p < 2; ++p) {
      const uint32_t a = in[p], b = outs[1 - p];
      through_[a] = b;
      // A link in two pairs (a chain of two-port nodes) stays in the computation.
      auto paired = [&](uint32_t l) { return shadow_of_[l] != UINT32_MAX || is_shadow_[l]; };
      if (paired(a) || paired(b)) continue;
      // The larger capacity is the shadow. Equal capacities give equal shares all along, and
      // the filling breaks ties between links by their index: the twin kept is the lower one,
      // so it stands where the first of the two would. With unequal capacities the shares stay
      // apart (but at zero, where the order of links changes nothing); a hair's difference is
      // left alone.
      uint32_t keep = UINT32_MAX, shadow = UINT32_MAX;
      if (capacity_[a] == capacity_[b]) {
        keep = std::min(a, b);
        shadow = std::max(a, b);
      } else if (capacity_[a] >= capacity_[b] * (1 + 1e-6)) {
        keep = b;
        shadow = a;
      } else if (capacity_[b] >= capacity_[a] * (1 + 1e-6)) {
        keep = a;
        shadow = b;
      }
      if (keep == UINT32_MAX) continue;
      shadow_of_[keep] = shadow;
      is_shadow_[shadow] = 1;
    }
  }
}

uint16_t FlowFabric::shadow_mask(const std::vector<uint32_t>& path, int64_t now) {
  if (!shadows_on_) return 0;
  // The rule shadows rest on: a route neither starts at a two-port node nor turns back there.
  bool ok = path.size() <= 16 && !two_port_[link_ptr_[path.front()]->from];
  for (size_t i = 0; ok && i < path.size(); ++i) {
    const uint32_t next = through_[path[i]];
    if (next != UINT32_MAX && (i + 1 == path.size() || path[i + 1] != next)) ok = false;
  }
  if (now >= drop_shadows_at_ps_) ok = false;  // test hook
  if (!ok) {
    shadows_on_ = false;  // from here on every link takes part, as without shadows
    restore_route_order();
    // A shadow's rate sum has been its twin's all along (see recompute).
    for (size_t l = 0; l < shadow_of_.size(); ++l)
      if (shadow_of_[l] != UINT32_MAX) link_rate_[shadow_of_[l]] = link_rate_[l];
    return 0;
  }
  uint16_t mask = 0;
  for (size_t i = 0; i < path.size(); ++i)
    if (is_shadow_[path[i]]) mask = static_cast<uint16_t>(mask | (1u << i));
  return mask;
}

void FlowFabric::set_path(uint32_t id, const std::vector<uint32_t>& path, uint16_t mask) {
  Hot& hot = hot_[id];
  uint32_t* hop = hot.hop;
  if (path.size() <= kInlineHops) {
    hot.hops = static_cast<uint8_t>(path.size());
  } else {
    hot.hops = kLongPath;
    flows_[id].path.resize(path.size());
    hop = flows_[id].path.data();
  }
  size_t k = 0;
  for (size_t i = 0; i < path.size(); ++i)
    if (!(mask >> i & 1)) hop[k++] = path[i];
  hot.rate_hops = static_cast<uint8_t>(k);
  for (size_t i = 0; i < path.size(); ++i)
    if (mask >> i & 1) hop[k++] = path[i];
}

void FlowFabric::restore_route_order() {
  std::vector<uint32_t> route;
  std::vector<uint32_t> pos;  // route position -> stored position
  for (uint32_t id = 0; id < flows_.size(); ++id) {
    Hot& h = hot_[id];
    const auto stored = path_of(id);
    const size_t n = stored.size();
    if (h.rate_hops == n) continue;
    // The route is a walk: it starts with the link whose tail no other link of it reaches.
    pos.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      bool first = true;
      for (size_t j = 0; j < n; ++j)
        first = first && link_ptr_[stored[j]]->to != link_ptr_[stored[i]]->from;
      if (first) pos[0] = static_cast<uint32_t>(i);
    }
    for (size_t k = 1; k < n; ++k)
      for (size_t j = 0; j < n; ++j)
        if (link_ptr_[stored[j]]->from == link_ptr_[stored[pos[k - 1]]]->to)
          pos[k] = static_cast<uint32_t>(j);
    route.resize(n);
    for (size_t k = 0; k < n; ++k)
      route[k] = stored[pos[k]];
    // Slots follow their hops, and the links' lists learn the new hop indices.
    uint32_t* slot = slots_of(id);
    std::vector<uint32_t> moved(n);
    for (size_t k = 0; k < n; ++k)
      moved[k] = slot[pos[k]];
    uint32_t* hop = h.hops == kLongPath ? flows_[id].path.data() : h.hop;
    const bool attached = flows_[id].attached;
    for (size_t k = 0; k < n; ++k) {
      hop[k] = route[k];
      slot[k] = moved[k];
      if (attached && pos[k] < h.rate_hops)  // listed on its rate links only
        on_link_[route[k]][moved[k]].hop = static_cast<uint32_t>(k);
    }
    h.rate_hops = static_cast<uint8_t>(n);
    paths_restored += attached ? 1 : 0;
  }
  // A shadow's list is its twin's, entry for entry in the same order (both links saw the same
  // attachments and removals), with the flows' hop indices of the shadow.
  for (size_t l = 0; l < shadow_of_.size(); ++l) {
    const uint32_t d = shadow_of_[l];
    if (d == UINT32_MAX) continue;
    auto& list = on_link_[d];
    list.clear();
    for (const OnLink& o : on_link_[l]) {
      const auto path = path_of(o.flow);
      const auto k = static_cast<uint32_t>(std::find(path.begin(), path.end(), d) - path.begin());
      slots_of(o.flow)[k] = static_cast<uint32_t>(list.size());
      list.push_back({o.flow, k});
    }
  }
}

}  // namespace mlasim
