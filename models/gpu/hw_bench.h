// Hardware-model benchmarks for bench/bench_main.cpp: figures, not pass/fail. Runs without
// SystemC (the timing engines on an EventLoop), so it can sit beside other benchmarks in one
// process. Each figure is the median of a few repetitions.
//   hbm_stream_accesses_per_s   simulated 32 B accesses per wall second, 1 GiB sequential read
//   hbm_random_requests_per_s   random 32 B reads completed per wall second (8192 in flight)
//   gpu_mla_decode_wall_s       wall time of one FlashMLA decode kernel, DeepSeek-V3 dims,
//                               batch 128, context 4096, on the cycle-level HBM (and on the
//                               bandwidth fidelity); gpu_mla_decode_cpu_s: its processor time
#pragma once

#include <string>
#include <vector>

namespace mlasim {

struct HwBenchFigure {
  std::string name;
  double value = 0;
  std::string unit;
};

std::vector<HwBenchFigure> run_hbm_benchmarks();
std::vector<HwBenchFigure> run_gpu_benchmarks();
// Both of the above.
std::vector<HwBenchFigure> run_hw_benchmarks();

}  // namespace mlasim
