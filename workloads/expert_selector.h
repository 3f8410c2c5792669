// One token's expert choice for the MoE router (moe_router.h): DeepSeek's group-limited top-k,
// then node-limited routing (at most M nodes), then the top k among the allowed experts, from
// per-expert selection scores (biased for noaux_tc).
//
// Built for speed, since a decode step asks this a few million times: group and node scores
// come from branch-free top-two scans; nodes that host the same experts (replicas repeat whole
// nodes when redundant experts fill a large cluster) are scored once per token as a class, and
// only the M best classes' lowest nodes are ranked: the cost per token grows with the number of
// distinct sets (about n_experts / experts per node with the contiguous layout), not of nodes;
// scores already known to be among a token's candidates (the best two of each kept group or node)
// bound the k-th best from below, so a branch-free pass lists the few experts above that floor and
// only those are ranked. Ties go to the expert offered first (lower id within a group; node order
// for node-limited routing) and to the lower node. Left out: anything about scores themselves (see
// MoeRouter::score_token).
#pragma once

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "workloads/expert_placement.h"
#include "workloads/moe_router.h"

namespace mlasim {

inline constexpr float kNoScore = -std::numeric_limits<float>::infinity();

// Keeps the `cap` largest (value, id) pairs pushed, best first. A value must beat the current
// last one to enter, so ties keep the earlier push, and -inf never enters.
class TopScores {
 public:
  explicit TopScores(uint32_t cap) : cap_(cap), value_(cap), id_(cap) {}
  // `at_least`: pushes below it are ignored (the caller knows `cap` candidates reach it).
  void clear(float at_least = kNoScore);
  float floor() const { return floor_; }  // the value a push must exceed
  void push(float v, uint32_t id) {
    if (!(v > floor_)) return;
    uint32_t pos = size_ < cap_ ? size_++ : cap_ - 1;
    while (pos > 0 && v > value_[pos - 1]) {
      value_[pos] = value_[pos - 1];
      id_[pos] = id_[pos - 1];
      --pos;
    }
    value_[pos] = v;
    id_[pos] = id;
    if (size_ == cap_) floor_ = value_[cap_ - 1];
  }
  uint32_t size() const { return size_; }
  uint32_t id(uint32_t j) const { return id_[j]; }

 private:
  uint32_t cap_;
  uint32_t size_ = 0;
  float floor_ = kNoScore;
  std::vector<float> value_;
  std::vector<uint32_t> id_;
};

class ExpertSelector {
 public:
  ExpertSelector(const RouterConfig& cfg, const ExpertPlacement& pl);

  bool node_limited() const { return use_nodes_; }
  // Whether the last select() admitted `node` (only meaningful when node_limited()).
  bool node_chosen(uint32_t node) const { return node_stamp_[node] == stamp_; }

  // Writes the k chosen experts, best first, to `chosen`; returns true when the M best nodes
  // held fewer than k allowed experts and more nodes were admitted.
  bool select(const float* sel, uint32_t* chosen);

 private:
  void choose_groups(const float* sel);
  bool choose_nodes(const float* masked);
  void score_classes(const float* masked);
  uint32_t admit(uint32_t node, const float* masked);
  void take_best(uint32_t* chosen);

  uint32_t k_, groups_, group_size_, nodes_, max_nodes_, per_node_;
  bool top2_groups_, use_groups_, use_nodes_;
  std::vector<uint8_t> group_ok_;
  std::vector<float> group_a_, group_b_;  // best and second-best score per group
  std::vector<float> group_score_;
  uint32_t top_groups_cap_;    // topk_group
  std::vector<float> masked_;  // scores, -inf outside the kept groups
  // Nodes hosting the same set of experts (replicas repeat whole nodes in large clusters) form
  // one class, scored once per token, so node scoring costs O(distinct sets), not O(nodes).
  // Classes are numbered in order of their lowest node.
  uint32_t classes_ = 0;
  std::vector<uint32_t> node_class_;
  std::vector<uint32_t> class_nodes_;       // each class's nodes, ascending
  std::vector<uint32_t> class_node_begin_;  // CSR over classes into class_nodes_
  std::vector<float> class_score_;
  std::vector<float> class_best_;  // [class][per_node_] best allowed scores, descending
  std::vector<uint32_t> picked_;   // the chosen nodes, best first (ties: lower node first)
  std::vector<float> picked_score_;
  // The token's candidates (allowed experts above the seeded floor), in offer order.
  std::vector<uint32_t> cand_id_;
  std::vector<float> cand_val_;
  uint32_t listed_ = 0;
  std::vector<uint32_t> ranked_;        // take_best's scratch
  std::vector<uint32_t> node_stamp_;    // == stamp_: node chosen for the current token
  std::vector<uint32_t> expert_stamp_;  // == stamp_: expert already offered for this token
  uint32_t stamp_ = 0;
  std::vector<float> seeds_;
  TopScores top_groups_, top_classes_, all_nodes_, top_;
  // Each class's experts: runs of at least 8 consecutive ids (one per node for the contiguous
  // layout), scanned in order with vector code, and loose experts (replicas), gathered.
  std::vector<std::pair<uint32_t, uint32_t>> runs_;  // [first, last) expert ids
  std::vector<uint32_t> class_run_begin_;            // CSR over classes into runs_
  std::vector<uint32_t> loose_;
  std::vector<uint32_t> class_loose_begin_;  // CSR over classes into loose_
  bool shared_across_nodes_ = false;         // some expert has replicas on two nodes
};

}  // namespace mlasim
