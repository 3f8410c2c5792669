// Expert placement for expert parallelism (EP): which GPU hosts each routed expert, including
// redundant replicas of hot experts (DeepSeek's EPLB), and which node each GPU sits in, so that
// node-limited routing and the dispatch byte matrix know where a token's experts live.
//
// Every GPU of the EP group hosts the same number of physical expert slots,
// (n_experts + redundant_experts) / ep_size; a slot holds one logical expert. GPU g sits in node
// g / gpus_per_node (EP ranks are numbered node by node). Two layouts:
//  - without a load estimate, slot p < n_experts hosts expert p, the primaries in expert order,
//    b = ceil(n_experts / ep_size) per GPU from GPU 0 (GPU p / b; the last GPUs hold fewer or
//    none and take the replicas): contiguous, so DeepSeek's expert groups of consecutive experts
//    stay on few nodes, and as few per GPU as can be. DeepSeek's two deployments come out: EP32
//    prefill, 256 + 32 in 9 slots per GPU, hosts 8 routed and 1 redundant expert per GPU; EP144
//    decode, 2 slots per GPU, puts the routed experts on 128 GPUs and the redundant ones on the
//    other 16 (as its EP320 decode gives the redundant experts GPUs of their own). The redundant
//    slots that follow replicate evenly spaced experts;
//  - with a per-expert load estimate (EPLB's "global" policy, which DeepSeek uses for decode),
//    each redundant slot goes to the expert with the highest estimated load per replica, and the
//    slots are packed onto GPUs longest-processing-time first so estimated GPU loads even out;
//    or, keeping the primaries, only the replicas are packed that way (the primaries stay as
//    above, so expert groups stay on few nodes for group- and node-limited routing, unless a
//    replica can only find room by a swap that moves one).
// An inference step takes its estimate from a step routed before it (ReplicaLayout); a slot of
// another expert makes way when every GPU with room already hosts the expert being placed.
// Left out: shared experts (every GPU runs them on its own tokens, nothing is dispatched),
// EPLB's hierarchical policy (groups pinned to nodes before replication), and placements that
// change during a run.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/params.h"

namespace mlasim {

// How a token picks among the replicas of one expert.
enum class ReplicaPolicy : uint8_t {
  LeastLoaded,  // the replica with the fewest tokens so far in this layer and step
  RoundRobin,   // replicas in turn, per expert
};

template <>
struct EnumNames<ReplicaPolicy> {
  static constexpr std::array<std::pair<ReplicaPolicy, std::string_view>, 2> values{
      {{ReplicaPolicy::LeastLoaded, "least_loaded"}, {ReplicaPolicy::RoundRobin, "round_robin"}}};
};

// Where an inference step's redundant slots go (see DeepSeekInference).
enum class ReplicaLayout : uint8_t {
  Eplb,        // per MoE layer, replicas of the experts with the most load in a routed step
               // before the measured one; the primaries stay contiguous
  EplbGlobal,  // the same, with every slot packed by load (EPLB's global policy)
  Spread,      // evenly spaced experts, the same layout for every layer
};

template <>
struct EnumNames<ReplicaLayout> {
  static constexpr std::array<std::pair<ReplicaLayout, std::string_view>, 3> values{
      {{ReplicaLayout::Eplb, "eplb"},
       {ReplicaLayout::EplbGlobal, "eplb_global"},
       {ReplicaLayout::Spread, "spread"}}};
};

struct ExpertPlacementParams {
  uint32_t ep_size = 0;
  uint32_t gpus_per_node = 0;
  uint32_t redundant_experts = 32;
  ReplicaPolicy replica_policy = ReplicaPolicy::LeastLoaded;
  ReplicaLayout layout = ReplicaLayout::Eplb;

  // ep_size and gpus_per_node are filled in by the workload that places the experts (from its
  // own ep_size and the cluster), so they are not config keys: naming one says where it comes
  // from instead.
  template <class V>
  void visit(V& v) {
    v.elsewhere("ep_size", "the expert-parallel group's size is workload.ep_size");
    v.elsewhere("gpus_per_node", "GPUs per node come from the cluster (cluster.gpus_per_node)");
    v("redundant_experts", redundant_experts, "count",
      "extra expert slots holding replicas of hot experts, at most 65535 (DeepSeek decode "
      "EP144: 32)");
    v("replica_policy", replica_policy, "-",
      "how a token picks among an expert's replicas: least_loaded (the one with the fewest "
      "tokens so far in this layer and step) or round_robin (in turn, per expert)");
    v("layout", layout, "-",
      "where the redundant slots go: eplb (each MoE layer's own: to the experts with the most "
      "load per copy in one routed step before the measured one, the last warm-up step or one "
      "routed for it with 16,384 tokens per layer, each on the least loaded GPU with room; "
      "primaries stay contiguous, as few per GPU as can be), "
      "eplb_global (the same, every slot packed by load: experts of a group spread over "
      "nodes) or spread (evenly spaced experts)");
  }
  void validate(const ParamCheck& c) const;
};

class ExpertPlacement {
 public:
  // `load_estimate` (one value per expert, any scale) selects the load-aware layout; empty
  // selects the contiguous one. With an estimate and `keep_primaries`, the primary slots stay
  // contiguous and only the replicas are placed by load. Throws InputError when the slots do
  // not divide evenly or an expert's copies cannot sit on distinct GPUs.
  static ExpertPlacement build(uint32_t n_experts, uint32_t ep_size, uint32_t gpus_per_node,
                               uint32_t redundant_experts, ReplicaPolicy policy,
                               std::span<const double> load_estimate = {},
                               bool keep_primaries = false);

  // Resolves params whose zero fields mean "the cluster's".
  static ExpertPlacement build(const ExpertPlacementParams& params, uint32_t n_experts,
                               uint32_t cluster_gpus, uint32_t cluster_gpus_per_node,
                               std::span<const double> load_estimate = {},
                               bool keep_primaries = false);

  // A placement given slot by slot: slot s holds expert slot_expert[s] on GPU slot_gpu[s]. Each
  // slot_expert[s] < n_experts (every expert at least once, its primary the first slot holding it),
  // each GPU below num_gpus with the same number of slots, no expert twice on a GPU; else
  // InputError.
  static ExpertPlacement from_slots(uint32_t n_experts, std::vector<uint32_t> slot_expert,
                                    std::vector<uint32_t> slot_gpu, uint32_t num_gpus,
                                    uint32_t gpus_per_node, ReplicaPolicy policy);

  uint32_t num_experts() const { return static_cast<uint32_t>(expert_slot_begin_.size()) - 1; }
  uint32_t num_gpus() const { return num_gpus_; }
  uint32_t gpus_per_node() const { return gpus_per_node_; }
  uint32_t num_nodes() const { return (num_gpus_ + gpus_per_node_ - 1) / gpus_per_node_; }
  uint32_t num_slots() const { return static_cast<uint32_t>(slot_gpu_.size()); }
  uint32_t slots_per_gpu() const { return num_slots() / num_gpus_; }
  ReplicaPolicy replica_policy() const { return policy_; }

  uint32_t node_of_gpu(uint32_t gpu) const { return gpu / gpus_per_node_; }
  uint32_t slot_gpu(uint32_t slot) const { return slot_gpu_[slot]; }
  uint32_t slot_node(uint32_t slot) const { return slot_node_[slot]; }
  uint32_t slot_expert(uint32_t slot) const { return slot_expert_[slot]; }
  // The slots holding `expert`, ascending; the first is its primary copy.
  std::span<const uint32_t> replicas(uint32_t expert) const {
    return {expert_slots_.data() + expert_slot_begin_[expert],
            expert_slots_.data() + expert_slot_begin_[expert + 1]};
  }
  // The slots GPU `gpu` hosts, ascending (slots_per_gpu() of them).
  std::span<const uint32_t> slots_of_gpu(uint32_t gpu) const {
    return {gpu_slots_.data() + size_t{gpu} * slots_per_gpu(), slots_per_gpu()};
  }
  // Distinct experts with at least one replica on `node`, ascending.
  std::span<const uint32_t> experts_on_node(uint32_t node) const {
    return {node_experts_.data() + node_expert_begin_[node],
            node_experts_.data() + node_expert_begin_[node + 1]};
  }

 private:
  ExpertPlacement() = default;
  void index();  // fills the expert and node indexes from slot_gpu_/slot_expert_

  uint32_t num_gpus_ = 0;
  uint32_t gpus_per_node_ = 1;
  ReplicaPolicy policy_ = ReplicaPolicy::LeastLoaded;
  std::vector<uint32_t> slot_gpu_;
  std::vector<uint32_t> slot_expert_;
  std::vector<uint32_t> slot_node_;          // node_of_gpu(slot_gpu_[slot]), looked up per token
  std::vector<uint32_t> expert_slot_begin_;  // CSR over experts into expert_slots_
  std::vector<uint32_t> expert_slots_;
  std::vector<uint32_t> gpu_slots_;          // slots by GPU, then ascending
  std::vector<uint32_t> node_expert_begin_;  // CSR over nodes into node_experts_
  std::vector<uint32_t> node_experts_;
};

}  // namespace mlasim
