// RoutingTables (see routing.h): next hops, routes and path counts read from the tables that
// routing.cpp builds.
#include "topology/routing.h"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/hash.h"

namespace mlasim {

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

}  // namespace mlasim
