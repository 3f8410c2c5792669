// Hardware-model benchmarks (see hw_bench.h).
#include "models/gpu/hw_bench.h"

#include <algorithm>
#include <ctime>
#include <functional>

#include "models/gpu/kernel_timer.h"
#include "models/hbm/hbm_traffic.h"

namespace mlasim {
namespace {

double median_of(int runs, const std::function<double()>& f) {
  std::vector<double> v;
  for (int i = 0; i < runs; ++i)
    v.push_back(f());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

AttentionOp deepseek_v3_mla_decode() {
  AttentionOp a;
  a.kernel = AttentionKernel::MlaDecode;
  a.batch = 128;
  a.q_len = 1;
  a.kv_len = 4096;
  a.heads_q = 128;
  a.heads_kv = 1;
  a.head_dim_qk = 576;  // d_c + d_r
  a.head_dim_v = 512;   // d_c
  return a;
}

}  // namespace

std::vector<HwBenchFigure> run_hbm_benchmarks() {
  std::vector<HwBenchFigure> out;
  const HbmParams hbm;  // the H800 preset's defaults

  HbmTrafficSpec stream;
  stream.total_bytes = 1ull << 30;
  stream.request_bytes = 1 << 20;
  stream.outstanding = 16;
  double efficiency = 0;
  const double accesses = median_of(3, [&] {
    const HbmTrafficResult r = run_hbm_traffic(hbm, stream);
    efficiency = r.bandwidth() / hbm.peak_bandwidth().bytes_per_s();
    return static_cast<double>(r.bytes) / hbm.org.burst.count() / r.wall_seconds;
  });
  out.push_back({"hbm_stream_accesses_per_s", accesses, "accesses/s"});
  out.push_back({"hbm_stream_efficiency", efficiency, "fraction"});

  HbmTrafficSpec random;
  random.pattern = HbmPattern::Random;
  random.request_bytes = 32;
  random.total_bytes = 32ull * 200000;
  random.outstanding = 8192;
  out.push_back({"hbm_random_requests_per_s",
                 median_of(3,
                           [&] {
                             const HbmTrafficResult r = run_hbm_traffic(hbm, random);
                             return static_cast<double>(r.requests) / r.wall_seconds;
                           }),
                 "requests/s"});
  return out;
}

std::vector<HwBenchFigure> run_gpu_benchmarks() {
  std::vector<HwBenchFigure> out;
  const KernelTimer preset = KernelTimer::from_preset("h800");
  ConfigNode bw = ConfigNode::map();
  bw.set("type", ConfigNode::scalar("hbm_bandwidth"));
  const KernelTimer fast(preset.gpu(), bw);
  // The headline runs on two threads (the CI machines' core count); the one-thread figures
  // beside it show what the parallel advance buys. Both simulate the same cycles.
  for (const unsigned threads : {2u, 1u}) {
    KernelTimer cycle = preset;
    cycle.set_hbm_threads(threads);
    const std::string suffix = threads == 2 ? "" : "_1_thread";
    KernelTiming last;
    std::vector<double> cpu;
    const double wall = median_of(3, [&] {
      const std::clock_t c0 = std::clock();
      last = cycle.time(deepseek_v3_mla_decode());
      cpu.push_back(static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
      return last.wall_seconds;
    });
    std::sort(cpu.begin(), cpu.end());
    out.push_back({"gpu_mla_decode_wall_s" + suffix, wall, "s"});
    // Processor time of the same runs (all threads): the figure to compare on a loaded machine.
    out.push_back({"gpu_mla_decode_cpu_s" + suffix, cpu[cpu.size() / 2], "s"});
    if (threads != 2) continue;
    out.push_back({"gpu_mla_decode_sim_time", last.time_us, "us"});
    out.push_back({"gpu_mla_decode_achieved_bandwidth", last.achieved_tb_per_s, "TB/s"});
  }
  KernelTiming quick;
  out.push_back({"gpu_mla_decode_wall_s_hbm_bandwidth",
                 median_of(3,
                           [&] {
                             quick = fast.time(deepseek_v3_mla_decode());
                             return quick.wall_seconds;
                           }),
                 "s"});
  out.push_back({"gpu_mla_decode_sim_time_hbm_bandwidth", quick.time_us, "us"});
  return out;
}

std::vector<HwBenchFigure> run_hw_benchmarks() {
  std::vector<HwBenchFigure> out = run_hbm_benchmarks();
  for (auto& f : run_gpu_benchmarks())
    out.push_back(std::move(f));
  return out;
}

}  // namespace mlasim
