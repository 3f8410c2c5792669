#include "workloads/routing_loads.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mlasim {

std::pair<std::string, std::string> prompt_fields_error(const InferenceFacts& f) {
  uint64_t prompts = 0;
  for (const uint64_t n : f.prompts_done) {
    if (n > (uint64_t{1} << 60) || (prompts += n) > (uint64_t{1} << 60))
      return {"prompts_done", "out of range (at most 2^60 prompts in all)"};
  }
  if (!f.prompts_done.empty() &&
      (f.prefill_passes == 0 || f.prompts_done.size() % f.prefill_passes != 0)) {
    return {"prompts_done",
            "needs one count per DP group and pass (prefill_passes > 0 of them per group)"};
  }
  // (group, pass, steps before), each among the prompts its group completes in that pass.
  if (f.carried_prompts.size() % 3 != 0)
    return {"carried_prompts", "needs (group, pass, steps) triples"};
  std::vector<uint64_t> left = f.prompts_done;
  const uint64_t groups = f.prefill_passes == 0 ? 0 : left.size() / f.prefill_passes;
  for (size_t i = 0; i < f.carried_prompts.size(); i += 3) {
    const uint64_t g = f.carried_prompts[i], c = f.carried_prompts[i + 1],
                   steps = f.carried_prompts[i + 2];
    if (g >= groups || c >= f.prefill_passes || left[g * f.prefill_passes + c]-- == 0 ||
        steps < 1 || steps > kSteadyStep) {
      return {"carried_prompts", fmt::format("entry {} ({}, {}, {}): needs a DP group and pass "
                                             "whose prompts_done counts it, and 1 to {} steps",
                                             i / 3, g, c, steps, kSteadyStep)};
    }
  }
  return {};
}

std::pair<std::string, std::string> router_fields_error(const InferenceFacts& f) {
  if (f.layer_expert_imbalance.size() != f.imbalance_layers.size() ||
      f.layer_gpu_imbalance.size() != f.imbalance_layers.size()) {
    return {"imbalance_layers",
            "needs as many entries as layer_expert_imbalance and layer_gpu_imbalance"};
  }
  const uint64_t n = f.load_layers.size();
  if (n == 0) {
    if (!f.expert_loads.empty() || !f.gpu_loads.empty())
      return {"load_layers", "missing: expert_loads and gpu_loads need a layer per routing"};
    return {};
  }
  for (const auto& [key, count_key, per, loads] :
       {std::tuple{"expert_loads", "load_experts", f.load_experts, &f.expert_loads},
        std::tuple{"gpu_loads", "load_gpus", f.load_gpus, &f.gpu_loads}}) {
    if (per == 0) return {count_key, "missing or 0: load_layers needs entries per routing"};
    uint64_t want = 0;
    if (__builtin_mul_overflow(per, n, &want) || want != loads->size()) {
      return {key, fmt::format("needs {} entries per routing ({}) for each of the {} in "
                               "load_layers, has {}",
                               count_key, per, n, loads->size())};
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::find(f.imbalance_layers.begin(), f.imbalance_layers.end(), f.load_layers[i]) ==
        f.imbalance_layers.end()) {
      return {"load_layers",
              fmt::format("entry {} ({}): not a layer of imbalance_layers", i, f.load_layers[i])};
    }
  }
  return {};
}

void add_routing_load_files(const InferenceFacts& f, std::map<std::string, std::string>& files) {
  if (f.load_layers.empty() || f.load_experts == 0 || f.load_gpus == 0) return;
  std::string experts = "layer,routing,expert,tokens\n",
              gpus = "layer,routing,gpu,token_expert_pairs\n";
  std::map<uint64_t, uint64_t> seen;  // routings so far, by layer
  for (size_t i = 0; i < f.load_layers.size(); ++i) {
    const uint64_t layer = f.load_layers[i], routing = seen[layer]++;
    for (uint64_t e = 0; e < f.load_experts; ++e)
      experts +=
          fmt::format("{},{},{},{}\n", layer, routing, e, f.expert_loads[i * f.load_experts + e]);
    for (uint64_t g = 0; g < f.load_gpus; ++g)
      gpus += fmt::format("{},{},{},{}\n", layer, routing, g, f.gpu_loads[i * f.load_gpus + g]);
  }
  files["expert_loads.csv"] = std::move(experts);
  files["gpu_loads.csv"] = std::move(gpus);
}

}  // namespace mlasim
