// Kernel benchmarks. The cache is filled with random latent rows instead of a 4096-token
// prefill, which at DeepSeek-V3 size would cost far more than the step being measured.
#include "workloads/kernels/kernel_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "workloads/kernels/attention_kernel.h"
#include "workloads/model_config.h"

namespace mlasim::kernels {
namespace {

struct StepTiming {
  double seconds = 0;  // best of the repetitions
  uint64_t flops = 0;
};

// Times a one-token decode step at position `context` over a cache of random rows.
StepTiming time_decode(const ModelConfig& model, MlaMode mode, int64_t context, int repetitions) {
  const AttentionSpec spec = attention_spec(model, Variant::MlaAbsorbed);
  const Precision precision = Precision::make(DType::FP32);
  AttentionKernel<float> kernel(spec, uniform_random_weights(spec, 7), RopeTable::for_model(model),
                                precision, mode);
  KvCache<float> cache = kernel.make_cache(1, context + 1);
  std::mt19937_64 rng(11);
  fill_normal(cache.kv, rng, 1.0);
  fill_normal(cache.rk, rng, 1.0);
  Tensor<float> x({1, 1, spec.hidden});
  fill_normal(x, rng, 1.0);

  StepTiming t;
  t.seconds = 1e30;
  for (int r = 0; r < repetitions; ++r) {
    KernelCost cost;
    const auto start = std::chrono::steady_clock::now();
    Tensor<float> y = kernel.forward(x, context, cache, &cost);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.seconds = std::min(t.seconds, s);
    t.flops = cost.flops();
  }
  return t;
}

}  // namespace

std::vector<KernelBenchFigure> run_kernel_benchmarks() {
  std::vector<KernelBenchFigure> out;
  const ModelConfig v3 = resolve_model("deepseek-v3");
  const ModelConfig teaching = resolve_model("teaching");
  constexpr int64_t kContext = 4096;

  const StepTiming absorbed = time_decode(v3, MlaMode::Absorbed, kContext, 3);
  out.push_back({"kernels: MLA absorbed decode, DeepSeek-V3 dims, 1 layer, b=1, ctx 4096, fp32",
                 absorbed.flops / absorbed.seconds / 1e9, "GFLOP/s"});
  out.push_back({"kernels: MLA absorbed decode step time (same)", absorbed.seconds * 1e3, "ms"});
  const StepTiming naive = time_decode(v3, MlaMode::Naive, kContext, 1);
  out.push_back({"kernels: MLA naive decode, DeepSeek-V3 dims, 1 layer, b=1, ctx 4096, fp32",
                 naive.flops / naive.seconds / 1e9, "GFLOP/s"});
  out.push_back({"kernels: MLA naive decode step time (same)", naive.seconds * 1e3, "ms"});

  const StepTiming teach = time_decode(teaching, MlaMode::Absorbed, 1024, 200);
  out.push_back({"kernels: teaching model decode step, 1 layer, b=1, ctx 1024, fp32, absorbed",
                 teach.seconds * 1e6, "us"});
  const StepTiming teach_naive = time_decode(teaching, MlaMode::Naive, 1024, 200);
  out.push_back(
      {"kernels: teaching model decode step, same, naive", teach_naive.seconds * 1e6, "us"});
  return out;
}

}  // namespace mlasim::kernels
