// Benchmarks of the functional kernels, for `make bench` (bench/bench_main.cpp prints them):
// GFLOP/s of one MLA decode step at DeepSeek-V3 dimensions (one layer, batch 1, 4096 cached
// tokens, FP32; absorbed and naive) and the teaching model's decode step time. Figures are
// host CPU measurements, not simulated GPU time.
#pragma once

#include <string>
#include <vector>

namespace mlasim::kernels {

struct KernelBenchFigure {
  std::string name;
  double value = 0;
  std::string unit;
};

std::vector<KernelBenchFigure> run_kernel_benchmarks();

}  // namespace mlasim::kernels
