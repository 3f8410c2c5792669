// Router benchmarks. Each case routes a few whole steps and keeps the fastest, so the figure is
// the router's own speed rather than first-touch allocation noise.
#include "workloads/router_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "workloads/moe_router.h"

namespace mlasim {
namespace {

struct StepTiming {
  double best_seconds = 1e30;
  uint64_t token_layers = 0;
  double expert_imbalance = 0;  // mean over layers, last step
  double gpu_imbalance = 0;
};

StepTiming time_steps(MoeRouter& router, const std::vector<uint32_t>& tokens, int steps) {
  StepTiming t;
  for (int s = 0; s < steps; ++s) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<LayerRouting> layers = router.route_step(tokens);
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.best_seconds = std::min(t.best_seconds, sec);
    t.token_layers = 0;
    t.expert_imbalance = t.gpu_imbalance = 0;
    for (const LayerRouting& l : layers) {
      t.token_layers += l.num_tokens;
      t.expert_imbalance += l.expert_imbalance() / layers.size();
      t.gpu_imbalance += l.gpu_imbalance() / layers.size();
    }
  }
  return t;
}

}  // namespace

std::vector<RouterBenchFigure> run_router_benchmarks() {
  std::vector<RouterBenchFigure> out;
  for (uint32_t threads : {1U, 0U}) {
    // DeepSeek-V3 decode, Day-6 shape: EP144 over 18 nodes, 2 routed slots per GPU.
    RouterConfig cfg;  // V3 defaults, M = 4
    cfg.skew = 1.0;
    cfg.threads = threads;
    const MoeTrafficConfig traffic = MoeTrafficConfig{}.resolved(7168);
    MoeRouter router(cfg, {ExpertPlacement::build(256, 144, 8, 32, ReplicaPolicy::LeastLoaded)}, 61,
                     traffic);
    const std::vector<uint32_t> tokens(144, 128);
    const StepTiming t = time_steps(router, tokens, 3);
    const std::string how =
        threads == 1 ? "1 thread"
                     : fmt::format("{} threads", std::max(1U, std::thread::hardware_concurrency()));
    out.push_back({fmt::format("router: V3 decode step, EP144, 128 tok/GPU, 61 layers (1.12M "
                               "token-layers), {}",
                               how),
                   t.best_seconds * 1e3, "ms"});
    out.push_back({fmt::format("router: V3 decode routing rate, {}", how),
                   t.token_layers / t.best_seconds / 1e6, "M token-layers/s"});
    if (threads == 1) {
      out.push_back({"router: V3 decode, skew 1, step 3: max/mean tokens per expert",
                     t.expert_imbalance, "ratio"});
      out.push_back(
          {"router: V3 decode, skew 1, step 3: max/mean tokens per GPU", t.gpu_imbalance, "ratio"});
    }
  }
  {
    // The same router on 2,048 GPUs (256 nodes, one slot per GPU: 1,792 redundant experts), where
    // node-limited routing ranks 256 nodes per token; 8 of the 61 layers, 256 tokens per GPU (128
    // requests verifying one drafted token each).
    RouterConfig cfg;
    cfg.threads = 1;
    const MoeTrafficConfig traffic = MoeTrafficConfig{}.resolved(7168);
    MoeRouter router(cfg, {ExpertPlacement::build(256, 2048, 8, 1792, ReplicaPolicy::LeastLoaded)},
                     8, traffic);
    const std::vector<uint32_t> tokens(2048, 256);
    const StepTiming t = time_steps(router, tokens, 2);
    out.push_back({"router: V3 decode routing rate, 2,048 GPUs on 256 nodes, 256 tok/GPU, 1 thread",
                   t.token_layers / t.best_seconds / 1e6, "M token-layers/s"});
  }
  {
    // DeepSeek-V2 (softmax, group_limited_greedy, 160 experts, k 6), prefill EP32 on 4 nodes.
    RouterConfig cfg;
    cfg.n_routed_experts = 160;
    cfg.num_experts_per_tok = 6;
    cfg.n_group = 8;
    cfg.topk_group = 3;
    cfg.scoring = RouterScoring::Softmax;
    cfg.topk_method = TopkMethod::GroupLimitedGreedy;
    cfg.norm_topk_prob = false;
    cfg.routed_scaling_factor = 16.0;
    cfg.max_nodes_per_token = 3;
    cfg.threads = 1;
    const MoeTrafficConfig traffic = MoeTrafficConfig{}.resolved(5120);
    MoeRouter router(cfg, {ExpertPlacement::build(160, 32, 8, 0, ReplicaPolicy::LeastLoaded)}, 4,
                     traffic);
    const std::vector<uint32_t> tokens(32, 4096);
    const StepTiming t = time_steps(router, tokens, 2);
    out.push_back({"router: V2 softmax routing rate, EP32 prefill, 4096 tok/GPU, 1 thread",
                   t.token_layers / t.best_seconds / 1e6, "M token-layers/s"});
  }
  return out;
}

}  // namespace mlasim
