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
// expert (a second copy on one GPU would be a useless replica). The first `first_fit` slots (the
// primaries, in expert order) go ceil(first_fit / num_gpus) to a GPU, from GPU 0 on: as few per
// GPU as can be, consecutive experts together; the others take, without `slot_load`, the
// lowest-numbered such GPU, with it the GPU with the least load so far (longest processing time
// first when they come heaviest first).
// When every GPU with room already hosts the expert, a slot of another expert moves from a full
// GPU to one with room, making way (possible while the expert has fewer copies than GPUs).
std::vector<uint32_t> pack_slots(const std::vector<uint32_t>& order,
                                 const std::vector<uint32_t>& slot_expert, uint32_t num_gpus,
                                 uint32_t slots_per_gpu, const std::vector<double>* slot_load,
                                 size_t first_fit = 0) {
  std::vector<uint32_t> slot_gpu(slot_expert.size(), 0);
  std::vector<double> gpu_load(num_gpus, 0.0);
  std::vector<std::vector<uint32_t>> on_gpu(num_gpus);  // slots placed so far
  auto hosts = [&](uint32_t g, uint32_t e) {
    return std::any_of(on_gpu[g].begin(), on_gpu[g].end(),
                       [&](uint32_t t) { return slot_expert[t] == e; });
  };
  auto load_of = [&](uint32_t t) { return slot_load ? (*slot_load)[t] : 0.0; };
  auto place = [&](uint32_t slot, uint32_t g) {
    slot_gpu[slot] = g;
    on_gpu[g].push_back(slot);
    gpu_load[g] += load_of(slot);
  };
  for (size_t k = 0; k < order.size(); ++k) {
    const uint32_t slot = order[k];
    const uint32_t e = slot_expert[slot];
    const bool lowest = !slot_load || k < first_fit;
    uint32_t best = num_gpus;
    if (k < first_fit) {
      // The primaries in expert order, ceil(first_fit / num_gpus) per GPU.
      const auto g = static_cast<uint32_t>(k / ((first_fit + num_gpus - 1) / num_gpus));
      if (on_gpu[g].size() < slots_per_gpu && !hosts(g, e)) {
        place(slot, g);
        continue;
      }
    }
    for (uint32_t g = 0; g < num_gpus; ++g) {
      if (on_gpu[g].size() == slots_per_gpu || hosts(g, e)) continue;
      if (best == num_gpus) {
        best = g;
        if (lowest) break;
      } else if (gpu_load[g] < gpu_load[best]) {
        best = g;
      }
    }
    if (best == num_gpus) {
      // Every GPU with room hosts e: find a full GPU h without e holding a slot t whose expert
      // a GPU g with room lacks; t moves to g and e takes its place on h.
      for (uint32_t h = 0; h < num_gpus && best == num_gpus; ++h) {
        if (on_gpu[h].size() < slots_per_gpu || hosts(h, e)) continue;
        for (uint32_t g = 0; g < num_gpus && best == num_gpus; ++g) {
          if (on_gpu[g].size() == slots_per_gpu) continue;
          for (size_t i = 0; i < on_gpu[h].size(); ++i) {
            const uint32_t t = on_gpu[h][i];
            if (hosts(g, slot_expert[t])) continue;
            on_gpu[h].erase(on_gpu[h].begin() + static_cast<std::ptrdiff_t>(i));
            gpu_load[h] -= load_of(t);
            place(t, g);
            best = h;
            break;
          }
        }
      }
    }
    if (best == num_gpus) {
      throw InputError(fmt::format(
          "expert placement: no GPU left for another replica of expert {} ({} GPUs, {} slots "
          "each); lower placement.redundant_experts",
          e, num_gpus, slots_per_gpu));
    }
    place(slot, best);
  }
  return slot_gpu;
}

}  // namespace

ExpertPlacement ExpertPlacement::build(uint32_t n_experts, uint32_t ep_size, uint32_t gpus_per_node,
                                       uint32_t redundant_experts, ReplicaPolicy policy,
                                       std::span<const double> load_estimate, bool keep_primaries) {
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
    p.slot_gpu_ = pack_slots(order, p.slot_expert_, ep_size, per_gpu, nullptr, n_experts);
  } else {
    std::vector<double> slot_load(slots);
    for (uint32_t s = 0; s < slots; ++s) {
      const uint32_t e = p.slot_expert_[s];
      slot_load[s] = load_estimate[e] / copies[e];
    }
    // Keeping the primaries: they stay in expert order, contiguous, as few per GPU as can be; only
    // the replicas go heaviest first to the least loaded GPUs.
    const size_t fixed = keep_primaries ? n_experts : 0;
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(fixed), order.end(),
                     [&](uint32_t a, uint32_t b) { return slot_load[a] > slot_load[b]; });
    p.slot_gpu_ = pack_slots(order, p.slot_expert_, ep_size, per_gpu, &slot_load, fixed);
  }
  p.index();
  return p;
}

ExpertPlacement ExpertPlacement::build(const ExpertPlacementParams& params, uint32_t n_experts,
                                       uint32_t cluster_gpus, uint32_t cluster_gpus_per_node,
                                       std::span<const double> load_estimate, bool keep_primaries) {
  const uint32_t ep = params.ep_size ? params.ep_size : cluster_gpus;
  const uint32_t per_node = params.gpus_per_node ? params.gpus_per_node : cluster_gpus_per_node;
  return build(n_experts, ep, per_node, params.redundant_experts, params.replica_policy,
               load_estimate, keep_primaries);
}

ExpertPlacement ExpertPlacement::from_slots(uint32_t n_experts, std::vector<uint32_t> slot_expert,
                                            std::vector<uint32_t> slot_gpu, uint32_t num_gpus,
                                            uint32_t gpus_per_node, ReplicaPolicy policy) {
  if (n_experts == 0 || num_gpus == 0 || gpus_per_node == 0) {
    throw InputError("expert placement: experts, GPUs and GPUs per node must be > 0");
  }
  if (slot_expert.size() != slot_gpu.size()) {
    throw InputError(fmt::format("expert placement: {} slot experts but {} slot GPUs",
                                 slot_expert.size(), slot_gpu.size()));
  }
  if (slot_expert.empty() || slot_expert.size() % num_gpus != 0) {
    throw InputError(fmt::format("expert placement: {} slots do not divide evenly over {} GPUs",
                                 slot_expert.size(), num_gpus));
  }
  const uint32_t n = n_experts;
  std::vector<uint32_t> per_gpu(num_gpus, 0), copies(n, 0);
  std::vector<std::vector<uint32_t>> hosted(num_gpus);
  for (size_t s = 0; s < slot_expert.size(); ++s) {
    const uint32_t g = slot_gpu[s], e = slot_expert[s];
    if (e >= n) {
      throw InputError(fmt::format("expert placement: slot {} holds expert {} of {}", s, e, n));
    }
    if (g >= num_gpus) {
      throw InputError(fmt::format("expert placement: slot {} on GPU {} of {}", s, g, num_gpus));
    }
    if (std::find(hosted[g].begin(), hosted[g].end(), e) != hosted[g].end()) {
      throw InputError(fmt::format("expert placement: expert {} twice on GPU {}", e, g));
    }
    hosted[g].push_back(e);
    ++per_gpu[g];
    ++copies[e];
  }
  if (const auto none = std::find(copies.begin(), copies.end(), 0U); none != copies.end()) {
    throw InputError(
        fmt::format("expert placement: expert {} of {} has no slot", none - copies.begin(), n));
  }
  if (*std::min_element(per_gpu.begin(), per_gpu.end()) != slot_expert.size() / num_gpus) {
    throw InputError("expert placement: GPUs hold different numbers of slots");
  }
  ExpertPlacement p;
  p.num_gpus_ = num_gpus;
  p.gpus_per_node_ = gpus_per_node;
  p.policy_ = policy;
  p.slot_expert_ = std::move(slot_expert);
  p.slot_gpu_ = std::move(slot_gpu);
  p.index();
  return p;
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

  gpu_slots_.resize(slot_gpu_.size());
  std::iota(gpu_slots_.begin(), gpu_slots_.end(), 0U);
  std::stable_sort(gpu_slots_.begin(), gpu_slots_.end(),
                   [&](uint32_t a, uint32_t b) { return slot_gpu_[a] < slot_gpu_[b]; });

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
