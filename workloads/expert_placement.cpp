// Builds expert placements (see expert_placement.h).
#include "workloads/expert_placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "sim/errors.h"

namespace mlasim {

void ExpertPlacementParams::validate(const ParamCheck& c) const {
  c.require(redundant_experts <= 65535, "redundant_experts", "must be at most 65535");
}

namespace {

// Puts each slot (in the given order) on a GPU with room that does not already host the same
// expert (a second copy on one GPU would be a useless replica). Without `slot_load` the
// lowest-numbered such GPU is taken, which keeps consecutive experts together; with it, the GPU
// with the least load so far (longest processing time first when `order` is heaviest first).
std::vector<uint32_t> pack_slots(const std::vector<uint32_t>& order,
                                 const std::vector<uint32_t>& slot_expert, uint32_t num_gpus,
                                 uint32_t slots_per_gpu, const std::vector<double>* slot_load) {
  std::vector<uint32_t> slot_gpu(slot_expert.size(), 0);
  std::vector<uint32_t> used(num_gpus, 0);
  std::vector<double> gpu_load(num_gpus, 0.0);
  std::vector<std::vector<uint32_t>> hosted(num_gpus);
  for (uint32_t slot : order) {
    const uint32_t e = slot_expert[slot];
    uint32_t best = num_gpus;
    for (uint32_t g = 0; g < num_gpus; ++g) {
      if (used[g] == slots_per_gpu) continue;
      if (std::find(hosted[g].begin(), hosted[g].end(), e) != hosted[g].end()) continue;
      if (best == num_gpus) {
        best = g;
        if (!slot_load) break;
      } else if (gpu_load[g] < gpu_load[best]) {
        best = g;
      }
    }
    if (best == num_gpus) {
      throw InputError(fmt::format(
          "expert placement: no GPU left for another replica of expert {} ({} GPUs, {} slots each)",
          e, num_gpus, slots_per_gpu));
    }
    slot_gpu[slot] = best;
    ++used[best];
    hosted[best].push_back(e);
    if (slot_load) gpu_load[best] += (*slot_load)[slot];
  }
  return slot_gpu;
}

}  // namespace

ExpertPlacement ExpertPlacement::build(uint32_t n_experts, uint32_t ep_size, uint32_t gpus_per_node,
                                       uint32_t redundant_experts, ReplicaPolicy policy,
                                       std::span<const double> load_estimate) {
  if (n_experts == 0 || ep_size == 0 || gpus_per_node == 0) {
    throw InputError("expert placement: experts, EP size and GPUs per node must be > 0");
  }
  const uint32_t slots = n_experts + redundant_experts;
  if (slots % ep_size != 0) {
    throw InputError(fmt::format(
        "expert placement: {} experts + {} redundant = {} slots do not divide evenly over EP {}",
        n_experts, redundant_experts, slots, ep_size));
  }
  if (!load_estimate.empty() && load_estimate.size() != n_experts) {
    throw InputError(fmt::format("expert placement: load estimate has {} values, expected {}",
                                 load_estimate.size(), n_experts));
  }
  ExpertPlacement p;
  p.num_gpus_ = ep_size;
  p.gpus_per_node_ = gpus_per_node;
  p.policy_ = policy;
  const uint32_t per_gpu = slots / ep_size;

  p.slot_expert_.resize(slots);
  std::iota(p.slot_expert_.begin(), p.slot_expert_.begin() + n_experts, 0U);
  std::vector<uint32_t> copies(n_experts, 1);
  for (uint32_t i = 0; i < redundant_experts; ++i) {
    uint32_t e = 0;
    if (load_estimate.empty()) {
      // Evenly spaced experts; beyond one extra copy each, wrap around.
      e = redundant_experts <= n_experts
              ? static_cast<uint32_t>(uint64_t{i} * n_experts / redundant_experts)
              : i % n_experts;
    } else {
      // EPLB: the next replica goes to the expert with the highest load per copy.
      double best = -std::numeric_limits<double>::infinity();
      for (uint32_t x = 0; x < n_experts; ++x) {
        const double per_copy = load_estimate[x] / copies[x];
        if (copies[x] < ep_size && per_copy > best) {
          best = per_copy;
          e = x;
        }
      }
    }
    ++copies[e];
    p.slot_expert_[n_experts + i] = e;
  }

  std::vector<uint32_t> order(slots);
  std::iota(order.begin(), order.end(), 0U);
  if (load_estimate.empty()) {
    p.slot_gpu_ = pack_slots(order, p.slot_expert_, ep_size, per_gpu, nullptr);
  } else {
    std::vector<double> slot_load(slots);
    for (uint32_t s = 0; s < slots; ++s) {
      const uint32_t e = p.slot_expert_[s];
      slot_load[s] = load_estimate[e] / copies[e];
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return slot_load[a] > slot_load[b]; });
    p.slot_gpu_ = pack_slots(order, p.slot_expert_, ep_size, per_gpu, &slot_load);
  }
  p.index();
  return p;
}

ExpertPlacement ExpertPlacement::build(const ExpertPlacementParams& params, uint32_t n_experts,
                                       uint32_t cluster_gpus, uint32_t cluster_gpus_per_node,
                                       std::span<const double> load_estimate) {
  const uint32_t ep = params.ep_size ? params.ep_size : cluster_gpus;
  const uint32_t per_node = params.gpus_per_node ? params.gpus_per_node : cluster_gpus_per_node;
  return build(n_experts, ep, per_node, params.redundant_experts, params.replica_policy,
               load_estimate);
}

void ExpertPlacement::index() {
  const uint32_t n = *std::max_element(slot_expert_.begin(), slot_expert_.end()) + 1;
  expert_slot_begin_.assign(n + 1, 0);
  for (uint32_t e : slot_expert_)
    ++expert_slot_begin_[e + 1];
  std::partial_sum(expert_slot_begin_.begin(), expert_slot_begin_.end(),
                   expert_slot_begin_.begin());
  expert_slots_.assign(slot_expert_.size(), 0);
  std::vector<uint32_t> fill(expert_slot_begin_.begin(), expert_slot_begin_.end() - 1);
  for (uint32_t s = 0; s < slot_expert_.size(); ++s)
    expert_slots_[fill[slot_expert_[s]]++] = s;

  slot_node_.resize(slot_gpu_.size());
  for (size_t s = 0; s < slot_gpu_.size(); ++s)
    slot_node_[s] = node_of_gpu(slot_gpu_[s]);

  const uint32_t nodes = num_nodes();
  std::vector<std::vector<uint32_t>> per_node(nodes);
  for (uint32_t s = 0; s < slot_expert_.size(); ++s) {
    per_node[node_of_gpu(slot_gpu_[s])].push_back(slot_expert_[s]);
  }
  node_expert_begin_.assign(1, 0);
  node_experts_.clear();
  for (auto& list : per_node) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    node_experts_.insert(node_experts_.end(), list.begin(), list.end());
    node_expert_begin_.push_back(static_cast<uint32_t>(node_experts_.size()));
  }
}

}  // namespace mlasim
