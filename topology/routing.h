// Routing tables derived from a ClusterGraph: for a vertex and a destination GPU, the set of
// neighbours that are next hops. Destination-based and stateless, so a hop depends only on
// (where the packet is, which GPU it is for) and any choice from the set keeps it on a route.
//
// Inside the fabric, routes are up*/down* shortest paths: a switch with a down path to the
// destination's leaf takes it, any other goes up through every up-port that still leads there.
// Tables are kept per switch and per destination *leaf* of its fabric component (not per GPU,
// not all-pairs paths): a 4-byte hop-set id each, sets shared in one arena. ECMP picks from a
// set by a per-flow hash salted with the switch (no polarisation between tiers) and a seed;
// adaptive routing lets the network model pick from the same set at run time.
//
// At the endpoints (GPU, NVSwitch, NIC), the cross-plane rule of DeepSeek's multi-plane
// deployment: a GPU whose NIC cannot reach the destination's NIC (another plane, or a failure)
// sends over NVLink through the NVSwitch to the GPU of its node whose NIC can, then out through
// that NIC (`cross_plane: sender`). With `cross_plane: receiver` it sends through its own NIC to
// the destination node's NIC on the same plane, which hands the data to its GPU and on over
// NVLink. Either policy falls back on the other when its own path is broken, so a failed plane
// leaves cross-plane traffic routable.
//
// A NIC with ports on several planes (mpft nic_planes) offers all of them as next hops towards a
// destination every one of its planes delivers to; ECMP keeps one per flow, spraying (the
// network model, per packet) spreads a message over the planes. After a partial failure it
// offers the ports whose plane still reaches the destination's own NIC (else those whose plane
// delivers through another NIC of that node), however they lie among its ports.
//
// Left out: routes that need down-then-up turns (valley paths), lateral switch links (none of
// the builders make them), and per-packet spraying (the network model may pick per packet).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

#include "sim/params.h"
#include "topology/cluster_graph.h"

namespace mlasim {

enum class RoutingMode : uint8_t { Ecmp, Adaptive };
enum class CrossPlaneForwarding : uint8_t { Sender, Receiver };

template <>
struct EnumNames<RoutingMode> {
  static constexpr std::array<std::pair<RoutingMode, std::string_view>, 2> values{
      {{RoutingMode::Ecmp, "ecmp"}, {RoutingMode::Adaptive, "adaptive"}}};
};

template <>
struct EnumNames<CrossPlaneForwarding> {
  static constexpr std::array<std::pair<CrossPlaneForwarding, std::string_view>, 2> values{
      {{CrossPlaneForwarding::Sender, "sender"}, {CrossPlaneForwarding::Receiver, "receiver"}}};
};

struct RoutingParams {
  RoutingMode mode = RoutingMode::Ecmp;
  CrossPlaneForwarding cross_plane = CrossPlaneForwarding::Sender;
  uint64_t seed = 0;

  template <class V>
  void visit(V& v) {
    v("mode", mode, "-",
      "ecmp: a flow keeps the hop its hash picks; adaptive: the least loaded of the next-hop "
      "set, per packet at packet level, per flow as it starts at flow level");
    v("cross_plane", cross_plane, "-",
      "where traffic for a GPU on another plane crosses over NVLink: at the sender or receiver");
    v("seed", seed, "-", "salt of the ECMP hash (same seed, same choices)");
  }
};

// Switch-level route facts gathered while the tables are built (metrics.h reports them).
struct FabricRouteStats {
  int64_t components = 0;       // disjoint fabrics holding NICs (planes of an MPFT)
  int64_t access_switches = 0;  // switches with NICs: route destinations
  // Ordered pairs of access switches of one plane (the one fabric where there are no planes);
  // pairs split into two components by faults are unreachable.
  int64_t switch_pairs = 0;
  int64_t unreachable_switch_pairs = 0;
  int32_t diameter_hops = -1;  // most switch-to-switch hops between two access switches
  uint64_t min_paths = 0;      // fewest distinct up/down routes between two access switches
  uint64_t max_paths = 0;
  double mean_paths = 0;
};

// A well-mixed 64-bit hash of a flow (source, destination, flow number).
uint64_t flow_hash(int32_t src_gpu, int32_t dst_gpu, uint64_t flow_id);

class RoutingTables {
 public:
  explicit RoutingTables(const ClusterGraph& cluster, RoutingParams params = {});

  // Neighbours of `at` that are next hops towards GPU `dst_gpu`; empty when `at` is that GPU
  // or the destination is unreachable from `at`. Valid as long as this object lives.
  std::span<const Vertex> next_hops(Vertex at, int32_t dst_gpu) const;

  // One next hop chosen by the flow's hash (deterministic for a seed); null_vertex() if none.
  Vertex pick_ecmp(Vertex at, int32_t dst_gpu, uint64_t flow_hash) const;

  // Adaptive choice: the hop with the smallest load(at, hop); ties go the ECMP way.
  template <class LoadOf>
  Vertex pick_least_loaded(Vertex at, int32_t dst_gpu, uint64_t flow_hash, LoadOf&& load) const {
    std::span<const Vertex> hops = next_hops(at, dst_gpu);
    if (hops.empty()) return ClusterGraph::null_vertex();
    const size_t start = ecmp_index(at, flow_hash, hops.size());
    Vertex best = hops[start];
    auto best_load = load(at, best);
    for (size_t i = 1; i < hops.size(); ++i) {
      const Vertex h = hops[(start + i) % hops.size()];
      auto l = load(at, h);
      if (l < best_load) best = h, best_load = l;
    }
    return best;
  }

  // The vertices a flow visits from GPU src to GPU dst (both included), following pick_ecmp;
  // empty when dst is unreachable.
  std::vector<Vertex> route(int32_t src_gpu, int32_t dst_gpu, uint64_t flow_hash) const;
  bool reachable(int32_t src_gpu, int32_t dst_gpu) const;
  // Number of distinct routes the tables allow from src to dst (every choice of every set).
  uint64_t count_paths(int32_t src_gpu, int32_t dst_gpu) const;

  const FabricRouteStats& fabric_stats() const { return stats_; }
  const RoutingParams& params() const { return params_; }
  size_t num_gpus() const { return gpu_vertex_.size(); }
  Vertex gpu_vertex(int32_t rank) const { return gpu_vertex_.at(rank); }
  // Bytes held by the tables (adjacency, hop sets, per-switch tables, endpoint lookups).
  size_t table_bytes() const;

 private:
  static constexpr uint32_t kNoRoute = UINT32_MAX;
  struct HopSet {
    uint32_t offset = 0;  // into hops_
    uint32_t length = 0;
  };

  void build_adjacency(const ClusterGraph& cluster);
  void build_endpoints(const ClusterGraph& cluster);
  void build_components();
  void build_switch_tables();
  void build_targets();

  std::span<const Vertex> one(int32_t pos) const {
    return pos < 0 ? std::span<const Vertex>{} : std::span<const Vertex>(&hops_[pos], 1);
  }
  std::span<const Vertex> gpu_hops(int32_t a, int32_t b) const;
  std::span<const Vertex> nvswitch_hops(Vertex at, int32_t b) const;
  std::span<const Vertex> nic_hops(int32_t x, int32_t b) const;
  // The uplinks of NIC x given by the bits of `mask` (at least two, not all), as one set.
  std::span<const Vertex> nic_port_subset(int32_t x, uint64_t mask) const;
  std::span<const Vertex> switch_hops(int32_t s, int32_t b) const;
  size_t ecmp_index(Vertex at, uint64_t flow_hash, size_t n) const;

  bool nvlink_ok(int32_t gpu) const { return gpu_nvsw_pos_[gpu] >= 0; }
  bool egress_ok(int32_t gpu) const { return gpu_nic_[gpu] >= 0 && nic_ups_[gpu_nic_[gpu]] > 0; }
  // The switch id of the leaf at the far end of a NIC uplink (a position in hops_).
  int32_t port_leaf(int32_t pos) const { return local_[hops_[pos]]; }
  // The NIC's uplink into fabric component `comp` (its position), or -1.
  int32_t nic_port_in(int32_t nic, int32_t comp) const;
  // Whether the fabric routes from `leaf` to a port of `nic` in the leaf's component.
  bool leaf_reaches_nic(int32_t leaf, int32_t nic) const;
  // Whether traffic for GPU dst sent up the NIC uplink at `pos` leaves that plane at a NIC.
  bool port_delivers(int32_t pos, int32_t dst) const;
  bool fabric_reaches(int32_t from_nic, int32_t to_nic) const;
  bool direct_ok(int32_t nic, int32_t dst) const;
  bool receive_ok(int32_t nic, int32_t dst) const;
  // GPU of `node` whose NIC takes traffic for dst (direct first, then via the receiver's
  // NVLink); `direct_only` skips the second kind. -1 if none.
  int32_t proxy_gpu(int32_t node, int32_t dst, bool direct_only) const;

  RoutingParams params_;
  FabricRouteStats stats_;

  // Per vertex.
  std::vector<uint8_t> kind_;         // VertexKind
  std::vector<int32_t> node_;         // server, -1 for network switches
  std::vector<int32_t> local_;        // GPU rank, NIC index, switch id; node for NVSwitches
  std::vector<uint32_t> adj_offset_;  // alive neighbours of v: hops_[adj_offset_[v] ..[v+1])
  std::vector<Vertex> hops_;          // neighbour lists, then pooled hop sets

  // GPUs (by rank).
  std::vector<Vertex> gpu_vertex_;
  std::vector<int32_t> gpu_nic_;       // NIC index over a live PCIe link, or -1
  std::vector<int32_t> gpu_nic_pos_;   // that NIC in the GPU's neighbours
  std::vector<int32_t> gpu_nvsw_pos_;  // the NVSwitch in the GPU's neighbours, or -1
  std::vector<int32_t> pos_in_nvsw_;   // the GPU in its NVSwitch's neighbours
  std::vector<int32_t> pos_in_nic_;    // the GPU in its NIC's neighbours

  // NICs (by index).
  std::vector<int32_t> nic_local_;  // position among its node's NICs
  // Uplinks: a NIC on several planes (ConnectX-8) has one per plane, contiguous among its
  // neighbours from nic_up_pos_ on; the NIC's place in each leaf's neighbours is
  // nic_pos_in_leaf_[nic_port_begin_[nic] + k] for its k-th uplink.
  std::vector<int32_t> nic_up_pos_;  // its first uplink among its neighbours, or -1
  std::vector<int32_t> nic_ups_;     // its live uplinks
  std::vector<int32_t> nic_port_begin_;
  std::vector<int32_t> nic_pos_in_leaf_;
  std::vector<int32_t> nic_gpu_;  // a GPU it serves (the forwarding GPU), or -1
  std::vector<int32_t> nic_gpu_pos_;
  std::vector<int32_t> node_nic_offset_;  // NICs of node n: node_nics_[offset[n] .. [n+1])
  std::vector<int32_t> node_nics_;

  // Switches (by switch id).
  std::vector<Vertex> switch_vertex_;
  std::vector<int32_t> switch_plane_;  // by switch: its plane (-1 outside multi-plane fabrics)
  std::vector<uint32_t> lower_begin_;  // first lower-tier switch among its neighbours
  std::vector<uint32_t> upper_begin_;  // first upper-tier switch among its neighbours
  std::vector<int32_t> switch_comp_;   // fabric component holding NICs, or -1
  std::vector<int32_t> access_index_;  // index among its component's access switches
  std::vector<std::vector<int32_t>> comp_access_;  // access switch ids per component
  std::vector<int64_t> table_offset_;              // per switch into table_, -1 without a table
  std::vector<uint32_t> table_;                    // hop-set id per (switch, access switch)
  std::vector<HopSet> sets_;                       // sets_[pos] = {pos, 1} for every neighbour slot
  std::vector<int32_t> target_nic_;                // [component * gpus + gpu]: where traffic leaves
  // Sets of a multi-plane NIC's uplinks with gaps (after partial failures), made when first
  // asked for: by (NIC << 32 | mask) an index into subsets_, whose entries never move (the
  // spans handed out stay valid). Lookups are const, so a RoutingTables is not for use by
  // several threads at once (every simulation builds its own).
  static constexpr int32_t kMaxSubsetPorts = 16;  // as mpft's nic_planes
  mutable std::unordered_map<uint64_t, uint32_t> subset_of_;
  mutable std::deque<std::pair<std::array<Vertex, kMaxSubsetPorts>, uint32_t>> subsets_;
};

}  // namespace mlasim
