// Benchmarks of the MoE router, for the benchmark runner (bench/bench_main.cpp prints them):
// routed token-layers per second for a DeepSeek-V3 decode step at the open-infra "Day 6" shape
// (EP144 on 18 nodes, 32 redundant experts, 128 tokens per GPU, 61 layers) on one thread and on
// every hardware thread, and for a DeepSeek-V2 softmax router at a prefill shape, plus the
// imbalance the V3 case ends with.
// Figures are host CPU wall times, not simulated GPU time.
#pragma once

#include <string>
#include <vector>

namespace mlasim {

struct RouterBenchFigure {
  std::string name;
  double value = 0;
  std::string unit;
};

std::vector<RouterBenchFigure> run_router_benchmarks();

}  // namespace mlasim
