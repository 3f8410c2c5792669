// RoutingTables (see routing.h): how the tables are built and read.
#include "topology/routing.h"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "sim/hash.h"

namespace mlasim {
namespace {

constexpr int32_t kUnreached = std::numeric_limits<int32_t>::max();

template <class T>
size_t bytes_of(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

}  // namespace

uint64_t flow_hash(int32_t src_gpu, int32_t dst_gpu, uint64_t flow_id) {
  const uint64_t pair = (static_cast<uint64_t>(static_cast<uint32_t>(src_gpu)) << 32) |
                        static_cast<uint32_t>(dst_gpu);
  return mix64(mix64(pair) ^ (flow_id + 0x9e3779b97f4a7c15ULL));
}

RoutingTables::RoutingTables(const ClusterGraph& cluster, RoutingParams params) : params_(params) {
  build_adjacency(cluster);
  build_endpoints(cluster);
  build_components();
  build_switch_tables();
  build_targets();
}

// Alive neighbours of every vertex in one flat array. A switch lists its NICs first, then the
// switches one tier down, then those one tier up, so "all up-ports" is one contiguous range.
void RoutingTables::build_adjacency(const ClusterGraph& cluster) {
  const auto& g = cluster.g;
  const size_t n = boost::num_vertices(g);
  kind_.resize(n);
  node_.resize(n);
  local_.resize(n);
  for (Vertex v = 0; v < n; ++v) {
    kind_[v] = static_cast<uint8_t>(g[v].kind);
    node_[v] = g[v].node;
    local_[v] = g[v].kind == VertexKind::NvSwitch ? g[v].node : g[v].index;
    if (is_network_switch(g[v].kind)) {
      local_[v] = static_cast<int32_t>(switch_vertex_.size());
      switch_vertex_.push_back(v);
    }
  }
  lower_begin_.assign(switch_vertex_.size(), 0);
  upper_begin_.assign(switch_vertex_.size(), 0);
  adj_offset_.resize(n + 1);
  hops_.reserve(2 * boost::num_edges(g));
  std::vector<std::pair<int, Vertex>> nbrs;
  for (Vertex v = 0; v < n; ++v) {
    adj_offset_[v] = static_cast<uint32_t>(hops_.size());
    const int tier = switch_tier(g[v].kind);
    nbrs.clear();
    for (auto [it, end] = boost::out_edges(v, g); it != end; ++it) {
      const Vertex u = boost::target(*it, g);
      const int ut = switch_tier(g[u].kind);
      int order = 0;  // endpoints and node-internal neighbours keep the graph's order
      if (tier > 0 && ut > 0) {
        if (ut == tier) continue;  // lateral links are not used by up/down routing
        order = ut < tier ? 1 : 2;
      } else if (ut > 0) {
        order = 1;  // a NIC's uplinks (one per plane it has a port on) last, in one range
      }
      nbrs.emplace_back(order, u);
    }
    std::stable_sort(nbrs.begin(), nbrs.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < nbrs.size(); ++i) {
      if (tier > 0) {
        const auto s = static_cast<size_t>(local_[v]);
        const auto pos = static_cast<uint32_t>(hops_.size());
        if (nbrs[i].first >= 1 && (i == 0 || nbrs[i - 1].first < 1)) lower_begin_[s] = pos;
        if (nbrs[i].first >= 2 && (i == 0 || nbrs[i - 1].first < 2)) upper_begin_[s] = pos;
      }
      hops_.push_back(nbrs[i].second);
    }
    if (tier > 0) {  // empty ranges start at the end
      const auto s = static_cast<size_t>(local_[v]);
      const auto end = static_cast<uint32_t>(hops_.size());
      if (nbrs.empty() || nbrs.back().first < 1) lower_begin_[s] = end;
      if (nbrs.empty() || nbrs.back().first < 2) upper_begin_[s] = end;
    }
  }
  adj_offset_[n] = static_cast<uint32_t>(hops_.size());
  sets_.resize(hops_.size());
  for (uint32_t p = 0; p < hops_.size(); ++p)
    sets_[p] = {p, 1};
}

void RoutingTables::build_endpoints(const ClusterGraph& cluster) {
  const auto& g = cluster.g;
  const size_t gpus = cluster.gpus.size();
  const size_t nics = cluster.nics.size();
  gpu_vertex_ = cluster.gpus;
  gpu_nic_.assign(gpus, -1);
  gpu_nic_pos_.assign(gpus, -1);
  gpu_nvsw_pos_.assign(gpus, -1);
  pos_in_nvsw_.assign(gpus, -1);
  pos_in_nic_.assign(gpus, -1);
  nic_local_.assign(nics, 0);
  nic_up_pos_.assign(nics, -1);
  nic_ups_.assign(nics, 0);
  nic_port_begin_.assign(nics, 0);
  nic_pos_in_leaf_.clear();
  nic_gpu_.assign(nics, -1);
  nic_gpu_pos_.assign(nics, -1);
  for (size_t a = 0; a < gpus; ++a) {
    const Vertex v = gpu_vertex_[a];
    if (v == ClusterGraph::null_vertex()) continue;
    for (uint32_t p = adj_offset_[v]; p < adj_offset_[v + 1]; ++p) {
      const Vertex u = hops_[p];
      if (g[u].kind == VertexKind::Nic && gpu_nic_[a] < 0) {
        gpu_nic_[a] = local_[u];
        gpu_nic_pos_[a] = static_cast<int32_t>(p);
      } else if (g[u].kind == VertexKind::NvSwitch) {
        gpu_nvsw_pos_[a] = static_cast<int32_t>(p);
        for (uint32_t q = adj_offset_[u]; q < adj_offset_[u + 1]; ++q) {
          if (hops_[q] == v) pos_in_nvsw_[a] = static_cast<int32_t>(q);
        }
      }
    }
  }
  int32_t max_node = std::max(cluster.nodes, 0);
  for (size_t x = 0; x < nics; ++x) {
    const Vertex v = cluster.nics[x];
    if (v == ClusterGraph::null_vertex()) continue;
    max_node = std::max(max_node, node_[v] + 1);
    nic_port_begin_[x] = static_cast<int32_t>(nic_pos_in_leaf_.size());
    for (uint32_t p = adj_offset_[v]; p < adj_offset_[v + 1]; ++p) {
      const Vertex u = hops_[p];
      if (is_network_switch(g[u].kind)) {  // uplinks are contiguous (build_adjacency)
        if (nic_up_pos_[x] < 0) nic_up_pos_[x] = static_cast<int32_t>(p);
        ++nic_ups_[x];
        int32_t in_leaf = -1;
        for (uint32_t q = adj_offset_[u]; q < adj_offset_[u + 1]; ++q) {
          if (hops_[q] == v) in_leaf = static_cast<int32_t>(q);
        }
        nic_pos_in_leaf_.push_back(in_leaf);
      } else if (g[u].kind == VertexKind::Gpu) {
        const int32_t rank = g[u].index;
        pos_in_nic_[rank] = static_cast<int32_t>(p);
        if (nic_gpu_[x] < 0 && gpu_nic_[rank] == static_cast<int32_t>(x)) {
          nic_gpu_[x] = rank;
          nic_gpu_pos_[x] = static_cast<int32_t>(p);
        }
      }
    }
  }
  // NICs of each node, in index order (plane order for MPFT, rail order for MRFT).
  node_nic_offset_.assign(static_cast<size_t>(max_node) + 1, 0);
  for (size_t x = 0; x < nics; ++x) {
    if (cluster.nics[x] != ClusterGraph::null_vertex() && node_[cluster.nics[x]] >= 0) {
      ++node_nic_offset_[node_[cluster.nics[x]] + 1];
    }
  }
  for (size_t i = 1; i < node_nic_offset_.size(); ++i)
    node_nic_offset_[i] += node_nic_offset_[i - 1];
  node_nics_.assign(node_nic_offset_.back(), -1);
  std::vector<int32_t> fill(node_nic_offset_.begin(), node_nic_offset_.end() - 1);
  for (size_t x = 0; x < nics; ++x) {
    if (cluster.nics[x] == ClusterGraph::null_vertex() || node_[cluster.nics[x]] < 0) continue;
    const int32_t node = node_[cluster.nics[x]];
    nic_local_[x] = fill[node] - node_nic_offset_[node];
    node_nics_[fill[node]++] = static_cast<int32_t>(x);
  }
}

// Connected pieces of the switch graph; only those holding NICs get a component number.
void RoutingTables::build_components() {
  const size_t switches = switch_vertex_.size();
  std::vector<int32_t> raw(switches, -1);
  std::vector<int32_t> stack;
  int32_t raw_count = 0;
  for (size_t s0 = 0; s0 < switches; ++s0) {
    if (raw[s0] >= 0) continue;
    raw[s0] = raw_count;
    stack.assign(1, static_cast<int32_t>(s0));
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      const Vertex v = switch_vertex_[s];
      for (uint32_t p = lower_begin_[s]; p < adj_offset_[v + 1]; ++p) {
        const int32_t u = local_[hops_[p]];
        if (raw[u] < 0) raw[u] = raw_count, stack.push_back(u);
      }
    }
    ++raw_count;
  }
  std::vector<int32_t> renumber(raw_count, -1);
  switch_comp_.assign(switches, -1);
  access_index_.assign(switches, -1);
  for (size_t s = 0; s < switches; ++s) {
    const bool has_nics = lower_begin_[s] > adj_offset_[switch_vertex_[s]];
    if (!has_nics) continue;
    if (renumber[raw[s]] < 0) {
      renumber[raw[s]] = static_cast<int32_t>(comp_access_.size());
      comp_access_.emplace_back();
    }
    auto& list = comp_access_[renumber[raw[s]]];
    access_index_[s] = static_cast<int32_t>(list.size());
    list.push_back(static_cast<int32_t>(s));
  }
  for (size_t s = 0; s < switches; ++s)
    switch_comp_[s] = renumber[raw[s]];
  stats_.components = static_cast<int64_t>(comp_access_.size());
  for (const auto& list : comp_access_)
    stats_.access_switches += static_cast<int64_t>(list.size());
}

// Per component and destination access switch D: down-distances to D by a breadth-first walk
// up from D, then up/down distances top tier first, then each switch's hop set.
void RoutingTables::build_switch_tables() {
  const size_t switches = switch_vertex_.size();
  table_offset_.assign(switches, -1);
  std::vector<std::vector<int32_t>> members(comp_access_.size());
  for (size_t s = 0; s < switches; ++s) {
    if (switch_comp_[s] >= 0) members[switch_comp_[s]].push_back(static_cast<int32_t>(s));
  }
  int64_t table_size = 0;
  for (size_t c = 0; c < members.size(); ++c) {
    for (int32_t s : members[c]) {
      table_offset_[s] = table_size;
      table_size += static_cast<int64_t>(comp_access_[c].size());
    }
  }
  table_.assign(static_cast<size_t>(table_size), kNoRoute);

  std::vector<int32_t> down(switches, kUnreached), updown(switches, kUnreached);
  std::vector<uint64_t> paths(switches, 0);
  std::vector<uint32_t> up_all(switches, kNoRoute);
  std::unordered_map<uint64_t, uint32_t> contiguous_sets;
  std::map<std::vector<Vertex>, uint32_t> pooled_sets;
  std::vector<int32_t> queue;
  std::vector<uint32_t> picked;
  auto tier = [&](int32_t s) {
    return switch_tier(static_cast<VertexKind>(kind_[switch_vertex_[s]]));
  };
  auto upper_end = [&](int32_t s) { return adj_offset_[switch_vertex_[s] + 1]; };

  // Hop-set id for the positions in `picked` (all inside one switch's neighbour list).
  auto set_id = [&](int32_t s, bool whole_upper) -> uint32_t {
    if (picked.empty()) return kNoRoute;
    if (picked.size() == 1) return picked[0];
    if (whole_upper) {
      if (up_all[s] == kNoRoute) {
        up_all[s] = static_cast<uint32_t>(sets_.size());
        sets_.push_back({picked.front(), static_cast<uint32_t>(picked.size())});
      }
      return up_all[s];
    }
    if (picked.back() - picked.front() + 1 == picked.size()) {
      const uint64_t key = (uint64_t{picked.front()} << 32) | picked.size();
      auto [it, fresh] = contiguous_sets.try_emplace(key, static_cast<uint32_t>(sets_.size()));
      if (fresh) sets_.push_back({picked.front(), static_cast<uint32_t>(picked.size())});
      return it->second;
    }
    std::vector<Vertex> members_of_set;
    for (uint32_t p : picked)
      members_of_set.push_back(hops_[p]);
    auto [it, fresh] = pooled_sets.try_emplace(members_of_set, static_cast<uint32_t>(sets_.size()));
    if (fresh) {
      sets_.push_back({static_cast<uint32_t>(hops_.size()), static_cast<uint32_t>(picked.size())});
      hops_.insert(hops_.end(), members_of_set.begin(), members_of_set.end());
    }
    return it->second;
  };

  uint64_t path_sum = 0;
  for (size_t c = 0; c < members.size(); ++c) {
    std::vector<int32_t> by_tier = members[c];
    std::stable_sort(by_tier.begin(), by_tier.end(),
                     [&](int32_t a, int32_t b) { return tier(a) > tier(b); });
    for (int32_t dst : comp_access_[c]) {
      const int32_t di = access_index_[dst];
      down[dst] = 0;
      paths[dst] = 1;
      queue.assign(1, dst);
      for (size_t qi = 0; qi < queue.size(); ++qi) {
        const int32_t x = queue[qi];
        if (qi > 0) {  // paths of down-routed switches: their lower hops are already final
          for (uint32_t p = lower_begin_[x]; p < upper_begin_[x]; ++p) {
            const int32_t n = local_[hops_[p]];
            if (down[n] == down[x] - 1) paths[x] += paths[n];
          }
        }
        for (uint32_t p = upper_begin_[x]; p < upper_end(x); ++p) {
          const int32_t u = local_[hops_[p]];
          if (down[u] == kUnreached) down[u] = down[x] + 1, queue.push_back(u);
        }
      }
      for (int32_t s : by_tier) {
        uint32_t id = kNoRoute;
        picked.clear();
        if (down[s] != kUnreached) {
          updown[s] = down[s];
          if (s != dst) {
            for (uint32_t p = lower_begin_[s]; p < upper_begin_[s]; ++p) {
              if (down[local_[hops_[p]]] == down[s] - 1) picked.push_back(p);
            }
            id = set_id(s, false);
          }
        } else {
          int32_t best = kUnreached;
          for (uint32_t p = upper_begin_[s]; p < upper_end(s); ++p) {
            best = std::min(best, updown[local_[hops_[p]]]);
          }
          if (best != kUnreached) {
            updown[s] = best + 1;
            for (uint32_t p = upper_begin_[s]; p < upper_end(s); ++p) {
              const int32_t u = local_[hops_[p]];
              if (updown[u] == best) picked.push_back(p), paths[s] += paths[u];
            }
            id = set_id(s, picked.size() == upper_end(s) - upper_begin_[s]);
          }
        }
        table_[table_offset_[s] + di] = id;
      }
      for (int32_t src : comp_access_[c]) {
        if (src == dst) continue;
        ++stats_.switch_pairs;
        if (updown[src] == kUnreached) {
          ++stats_.unreachable_switch_pairs;
          continue;
        }
        stats_.diameter_hops = std::max(stats_.diameter_hops, updown[src]);
        const uint64_t n = paths[src];
        stats_.min_paths = stats_.min_paths == 0 ? n : std::min(stats_.min_paths, n);
        stats_.max_paths = std::max(stats_.max_paths, n);
        path_sum += n;
      }
      for (int32_t s : members[c])
        down[s] = kUnreached, updown[s] = kUnreached, paths[s] = 0;
    }
  }
  const int64_t reached = stats_.switch_pairs - stats_.unreachable_switch_pairs;
  if (reached > 0) stats_.mean_paths = static_cast<double>(path_sum) / static_cast<double>(reached);
  if (stats_.access_switches > 0 && stats_.diameter_hops < 0) stats_.diameter_hops = 0;
}

// Where each component's traffic for a GPU leaves the fabric: the GPU's own NIC when it is in
// that component, else another NIC of the GPU's node whose GPU forwards over NVLink.
void RoutingTables::build_targets() {
  const size_t gpus = gpu_vertex_.size();
  const size_t comps = comp_access_.size();
  target_nic_.assign(comps * gpus, -1);
  for (size_t b = 0; b < gpus; ++b) {
    if (gpu_vertex_[b] == ClusterGraph::null_vertex()) continue;
    const auto bi = static_cast<int32_t>(b);
    const int32_t own = gpu_nic_[b];
    if (egress_ok(bi)) {
      for (int32_t k = 0; k < nic_ups_[own]; ++k) {
        const int32_t c = switch_comp_[port_leaf(nic_up_pos_[own] + k)];
        if (c >= 0) target_nic_[c * gpus + b] = own;
      }
    }
    const int32_t node = node_[gpu_vertex_[b]];
    if (!nvlink_ok(bi) || node < 0 || node + 1 >= static_cast<int32_t>(node_nic_offset_.size())) {
      continue;
    }
    const int32_t first = node_nic_offset_[node];
    const int32_t count = node_nic_offset_[node + 1] - first;
    const int32_t start = own >= 0 ? nic_local_[own] : 0;
    for (int32_t j = 0; j < count; ++j) {
      const int32_t y = node_nics_[first + (start + j) % count];
      const int32_t fwd = nic_gpu_[y];
      if (y == own || nic_ups_[y] == 0 || fwd < 0 || !nvlink_ok(fwd)) continue;
      for (int32_t k = 0; k < nic_ups_[y]; ++k) {
        const int32_t c = switch_comp_[port_leaf(nic_up_pos_[y] + k)];
        if (c >= 0 && target_nic_[c * gpus + b] < 0) target_nic_[c * gpus + b] = y;
      }
    }
  }
}

int32_t RoutingTables::nic_port_in(int32_t nic, int32_t comp) const {
  for (int32_t k = 0; k < nic_ups_[nic]; ++k) {
    const int32_t p = nic_up_pos_[nic] + k;
    if (switch_comp_[port_leaf(p)] == comp) return p;
  }
  return -1;
}

bool RoutingTables::leaf_reaches_nic(int32_t leaf, int32_t nic) const {
  const int32_t c = switch_comp_[leaf];
  if (c < 0) return false;
  const int32_t p = nic_port_in(nic, c);
  if (p < 0) return false;
  const int32_t b = port_leaf(p);
  return leaf == b || table_[table_offset_[leaf] + access_index_[b]] != kNoRoute;
}

bool RoutingTables::fabric_reaches(int32_t from_nic, int32_t to_nic) const {
  for (int32_t k = 0; k < nic_ups_[from_nic]; ++k) {
    if (leaf_reaches_nic(port_leaf(nic_up_pos_[from_nic] + k), to_nic)) return true;
  }
  return false;
}

bool RoutingTables::direct_ok(int32_t nic, int32_t dst) const {
  return egress_ok(dst) && fabric_reaches(nic, gpu_nic_[dst]);
}

bool RoutingTables::port_delivers(int32_t pos, int32_t dst) const {
  const int32_t leaf = port_leaf(pos);
  const int32_t c = switch_comp_[leaf];
  if (c < 0) return false;
  const int32_t t = target_nic_[c * gpu_vertex_.size() + dst];
  return t >= 0 && leaf_reaches_nic(leaf, t);
}

bool RoutingTables::receive_ok(int32_t nic, int32_t dst) const {
  for (int32_t k = 0; k < nic_ups_[nic]; ++k) {
    if (port_delivers(nic_up_pos_[nic] + k, dst)) return true;
  }
  return false;
}

int32_t RoutingTables::proxy_gpu(int32_t node, int32_t dst, bool direct_only) const {
  if (node < 0 || node + 1 >= static_cast<int32_t>(node_nic_offset_.size())) return -1;
  const int32_t first = node_nic_offset_[node];
  const int32_t count = node_nic_offset_[node + 1] - first;
  if (count == 0) return -1;
  // Start at the destination's NIC slot: in a multi-rail fabric that is the rail-matched GPU.
  const int32_t start = gpu_nic_[dst] >= 0 ? nic_local_[gpu_nic_[dst]] % count : 0;
  for (int pass = 0; pass < (direct_only ? 1 : 2); ++pass) {
    for (int32_t j = 0; j < count; ++j) {
      const int32_t x = node_nics_[first + (start + j) % count];
      const int32_t fwd = nic_gpu_[x];
      if (fwd < 0 || !nvlink_ok(fwd) || !egress_ok(fwd)) continue;
      if (pass == 0 ? direct_ok(x, dst) : receive_ok(x, dst)) return fwd;
    }
  }
  return -1;
}

std::span<const Vertex> RoutingTables::gpu_hops(int32_t a, int32_t b) const {
  if (a == b) return {};
  const int32_t own = gpu_nic_[a];
  const bool own_ok = egress_ok(a);
  const int32_t node = node_[gpu_vertex_[a]];
  if (node == node_[gpu_vertex_[b]]) {
    if (nvlink_ok(a) && nvlink_ok(b)) return one(gpu_nvsw_pos_[a]);
    return own_ok && direct_ok(own, b) ? one(gpu_nic_pos_[a]) : std::span<const Vertex>{};
  }
  if (params_.cross_plane == CrossPlaneForwarding::Sender) {
    if (own_ok && direct_ok(own, b)) return one(gpu_nic_pos_[a]);
    if (nvlink_ok(a) && proxy_gpu(node, b, true) >= 0) return one(gpu_nvsw_pos_[a]);
    if (own_ok && receive_ok(own, b)) return one(gpu_nic_pos_[a]);
  } else {
    if (own_ok && receive_ok(own, b)) return one(gpu_nic_pos_[a]);
  }
  if (nvlink_ok(a) && proxy_gpu(node, b, false) >= 0) return one(gpu_nvsw_pos_[a]);
  return {};
}

std::span<const Vertex> RoutingTables::nvswitch_hops(Vertex at, int32_t b) const {
  const int32_t node = node_[at];
  if (node_[gpu_vertex_[b]] == node)
    return nvlink_ok(b) ? one(pos_in_nvsw_[b]) : std::span<const Vertex>{};
  const int32_t fwd = proxy_gpu(node, b, false);
  return fwd >= 0 ? one(pos_in_nvsw_[fwd]) : std::span<const Vertex>{};
}

std::span<const Vertex> RoutingTables::nic_hops(int32_t x, int32_t b) const {
  if (gpu_nic_[b] == x) return one(pos_in_nic_[b]);
  const int32_t fwd = nic_gpu_[x];
  // Arrived at the destination's node on another NIC: hand over to this NIC's GPU, which
  // forwards over NVLink. Without NVLink on either side, loop back through the fabric.
  if (fwd >= 0 && node_[gpu_vertex_[fwd]] == node_[gpu_vertex_[b]] && nvlink_ok(fwd) &&
      nvlink_ok(b)) {
    return one(nic_gpu_pos_[x]);
  }
  // Up. A NIC with ports on several planes offers every port whose plane reaches the
  // destination's own NIC, as one set (ECMP or spraying picks among them), so that no traffic
  // is forwarded at the receiver while a plane reaches the destination directly; without any,
  // likewise the ports whose plane delivers through another NIC of its node; without any, the
  // first port.
  const int32_t up = nic_up_pos_[x], n = nic_ups_[x];
  if (n <= 1) return one(up);
  for (const bool direct : {true, false}) {
    if (direct && !egress_ok(b)) continue;
    int32_t first = -1, count = 0;
    uint64_t mask = 0;
    for (int32_t k = 0; k < n; ++k) {
      const bool ok =
          direct ? leaf_reaches_nic(port_leaf(up + k), gpu_nic_[b]) : port_delivers(up + k, b);
      if (ok) {
        if (first < 0) first = up + k;
        ++count;
        if (k < kMaxSubsetPorts) mask |= uint64_t{1} << k;
      }
    }
    if (count == n) return {&hops_[up], static_cast<size_t>(n)};
    // (More ports than a subset holds: none of the builders makes such a NIC.)
    if (count > 1 && n <= kMaxSubsetPorts) return nic_port_subset(x, mask);
    if (first >= 0) return one(first);
  }
  return one(up);
}

std::span<const Vertex> RoutingTables::nic_port_subset(int32_t x, uint64_t mask) const {
  const uint64_t key = static_cast<uint64_t>(x) << 32 | mask;
  auto [it, fresh] = subset_of_.try_emplace(key, static_cast<uint32_t>(subsets_.size()));
  if (fresh) {
    auto& [ports, count] = subsets_.emplace_back();
    count = 0;
    for (int32_t k = 0; k < kMaxSubsetPorts; ++k)
      if (mask >> k & 1) ports[count++] = hops_[nic_up_pos_[x] + k];
  }
  const auto& [ports, count] = subsets_[it->second];
  return {ports.data(), count};
}

std::span<const Vertex> RoutingTables::switch_hops(int32_t s, int32_t b) const {
  const int32_t c = switch_comp_[s];
  if (c < 0) return {};
  const int32_t t = target_nic_[c * gpu_vertex_.size() + b];
  if (t < 0) return {};
  const int32_t port = nic_port_in(t, c);
  if (port < 0) return {};
  const int32_t leaf = port_leaf(port);
  if (leaf == s) return one(nic_pos_in_leaf_[nic_port_begin_[t] + (port - nic_up_pos_[t])]);
  const uint32_t id = table_[table_offset_[s] + access_index_[leaf]];
  if (id == kNoRoute) return {};
  return {&hops_[sets_[id].offset], sets_[id].length};
}

std::span<const Vertex> RoutingTables::next_hops(Vertex at, int32_t dst_gpu) const {
  if (at >= kind_.size() || dst_gpu < 0 || static_cast<size_t>(dst_gpu) >= gpu_vertex_.size() ||
      gpu_vertex_[dst_gpu] == ClusterGraph::null_vertex()) {
    return {};
  }
  switch (static_cast<VertexKind>(kind_[at])) {
    case VertexKind::Gpu:
      return gpu_hops(local_[at], dst_gpu);
    case VertexKind::NvSwitch:
      return nvswitch_hops(at, dst_gpu);
    case VertexKind::Nic:
      return nic_hops(local_[at], dst_gpu);
    default:
      return switch_hops(local_[at], dst_gpu);
  }
}

size_t RoutingTables::ecmp_index(Vertex at, uint64_t flow_hash, size_t n) const {
  const uint64_t salt = mix64(params_.seed ^ (static_cast<uint64_t>(at) * 0x9e3779b97f4a7c15ULL));
  return static_cast<size_t>(mix64(flow_hash ^ salt) % n);
}

Vertex RoutingTables::pick_ecmp(Vertex at, int32_t dst_gpu, uint64_t flow_hash) const {
  std::span<const Vertex> hops = next_hops(at, dst_gpu);
  if (hops.empty()) return ClusterGraph::null_vertex();
  return hops.size() == 1 ? hops[0] : hops[ecmp_index(at, flow_hash, hops.size())];
}

std::vector<Vertex> RoutingTables::route(int32_t src_gpu, int32_t dst_gpu,
                                         uint64_t flow_hash) const {
  if (src_gpu < 0 || static_cast<size_t>(src_gpu) >= gpu_vertex_.size()) return {};
  std::vector<Vertex> path{gpu_vertex_[src_gpu]};
  const Vertex target = dst_gpu >= 0 && static_cast<size_t>(dst_gpu) < gpu_vertex_.size()
                            ? gpu_vertex_[dst_gpu]
                            : ClusterGraph::null_vertex();
  // Routes are shortest up/down paths plus at most two NVLink detours; 64 is far beyond any.
  for (int step = 0; step < 64; ++step) {
    if (path.back() == target) return path;
    const Vertex next = pick_ecmp(path.back(), dst_gpu, flow_hash);
    if (next == ClusterGraph::null_vertex()) return {};
    path.push_back(next);
  }
  throw std::logic_error("routing loop between GPUs " + std::to_string(src_gpu) + " and " +
                         std::to_string(dst_gpu));
}

bool RoutingTables::reachable(int32_t src_gpu, int32_t dst_gpu) const {
  return !route(src_gpu, dst_gpu, 0).empty();
}

uint64_t RoutingTables::count_paths(int32_t src_gpu, int32_t dst_gpu) const {
  std::unordered_map<Vertex, uint64_t> memo;
  const Vertex target = gpu_vertex_.at(dst_gpu);
  auto count = [&](auto&& self, Vertex v, int depth) -> uint64_t {
    if (v == target) return 1;
    if (depth > 64) throw std::logic_error("routing loop while counting paths");
    if (auto it = memo.find(v); it != memo.end()) return it->second;
    uint64_t n = 0;
    for (Vertex h : next_hops(v, dst_gpu))
      n += self(self, h, depth + 1);
    memo[v] = n;
    return n;
  };
  return count(count, gpu_vertex_.at(src_gpu), 0);
}

size_t RoutingTables::table_bytes() const {
  return bytes_of(kind_) + bytes_of(node_) + bytes_of(local_) + bytes_of(adj_offset_) +
         bytes_of(hops_) + bytes_of(gpu_vertex_) + bytes_of(gpu_nic_) + bytes_of(gpu_nic_pos_) +
         bytes_of(gpu_nvsw_pos_) + bytes_of(pos_in_nvsw_) + bytes_of(pos_in_nic_) +
         bytes_of(nic_local_) + bytes_of(nic_up_pos_) + bytes_of(nic_ups_) +
         bytes_of(nic_port_begin_) + bytes_of(nic_pos_in_leaf_) + bytes_of(nic_gpu_) +
         bytes_of(nic_gpu_pos_) + bytes_of(node_nic_offset_) + bytes_of(node_nics_) +
         bytes_of(switch_vertex_) + bytes_of(lower_begin_) + bytes_of(upper_begin_) +
         bytes_of(switch_comp_) + bytes_of(access_index_) + bytes_of(table_offset_) +
         bytes_of(table_) + bytes_of(sets_) + bytes_of(target_nic_) +
         subsets_.size() * sizeof(subsets_.front()) +
         subset_of_.size() * (sizeof(uint64_t) + sizeof(uint32_t));
}

}  // namespace mlasim
