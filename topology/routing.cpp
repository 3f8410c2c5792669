// RoutingTables (see routing.h): how the tables are built (routing_queries.cpp reads them).
#include "topology/routing.h"

#include <algorithm>
#include <limits>
#include <map>
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
      switch_plane_.push_back(g[v].plane);
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
  // Access switches of one plane that faults split over several components (a leaf cut off
  // from every spine) cannot reach each other: n^2 - sum of n_c^2 ordered pairs per plane. (The
  // pairs inside a component are counted as the tables are built.)
  std::map<int32_t, std::map<int32_t, int64_t>> by_plane;  // plane -> component -> switches
  for (size_t c = 0; c < comp_access_.size(); ++c) {
    for (int32_t s : comp_access_[c])
      ++by_plane[switch_plane_[static_cast<size_t>(s)]][static_cast<int32_t>(c)];
  }
  for (const auto& [plane, comps] : by_plane) {
    int64_t n = 0, inside = 0;
    for (const auto& [c, k] : comps)
      n += k, inside += k * k;
    stats_.switch_pairs += n * n - inside;
    stats_.unreachable_switch_pairs += n * n - inside;
  }
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
  // One access switch per component: no pair, nothing to cross. Pairs that exist but are all
  // cut apart (faults) leave the diameter unknown (-1), not 0.
  if (stats_.access_switches > 0 && stats_.switch_pairs == 0) stats_.diameter_hops = 0;
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
