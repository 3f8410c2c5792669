// `make bench`: prints a table of performance figures (medians of several runs). Figures, not
// pass/fail: targets are printed beside them. Each capability adds its benchmark here.
//
// The SystemC kernel can elaborate once per process, so the raw event-rate probe runs in this
// process and whole-scenario timings run the mlasim binary as child processes.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemc>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#if __has_include("workloads/kernels/kernel_bench.h")
#include "workloads/kernels/kernel_bench.h"
#define MLASIM_BENCH_KERNELS 1
#endif
#if __has_include("topology/topology_bench.h")
#include "topology/topology_bench.h"
#define MLASIM_BENCH_TOPOLOGY 1
#endif
#if __has_include("models/gpu/hw_bench.h")
#include "models/gpu/hw_bench.h"
#define MLASIM_BENCH_HW 1
#endif
#if __has_include("models/common/net_bench.h")
#include "models/common/net_bench.h"
#define MLASIM_BENCH_NETWORK 1
#endif
#if __has_include("workloads/router_bench.h")
#include "workloads/router_bench.h"
#define MLASIM_BENCH_ROUTER 1
#endif

namespace {

struct Row {
  std::string name;
  double value;
  std::string unit;
  std::string target;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// A module that re-arms one timed notification `remaining` times: the cheapest possible
// timed event, i.e. the ceiling for any model built on SystemC.
class EventProbe : public sc_core::sc_module {
 public:
  explicit EventProbe(sc_core::sc_module_name name) : sc_core::sc_module(name) {
    SC_HAS_PROCESS(EventProbe);
    SC_METHOD(tick);
    sensitive << ev_;
    dont_initialize();
  }
  void arm(uint64_t n) {
    remaining_ = n;
    ev_.notify(sc_core::sc_time(1, sc_core::SC_NS));
  }

 private:
  void tick() {
    if (--remaining_ > 0) ev_.notify(sc_core::sc_time(1, sc_core::SC_NS));
  }
  sc_core::sc_event ev_;
  uint64_t remaining_ = 0;
};

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Load-to-use latency of a dependent random walk over `bytes` (one 64 B line per step): what a
// miss costs at that working-set size. The models are bound by such misses (a packet hop, an
// HBM pseudo-channel advance), so these are the figures to compare first when two machines'
// other rows differ (the same build ran the MLA decode kernel in 1.06 s on one 2-vCPU VM and in
// 1.85 s on another).
double chase_ns(size_t bytes, uint64_t steps) {
  const size_t n = bytes / 64;
  struct alignas(64) Line {
    uint32_t next;
  };
  std::vector<Line> lines(n);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0U);
  std::mt19937_64 rng(1);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < n; ++i)
    lines[order[i]].next = order[(i + 1) % n];  // one cycle through every line
  uint32_t at = order[0];
  for (size_t i = 0; i < n; ++i)
    at = lines[at].next;  // warm
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < steps; ++i)
    at = lines[at].next;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile uint32_t sink = at;  // keeps the walk
  (void)sink;
  return s * 1e9 / static_cast<double>(steps);
}

std::vector<Row> machine_latencies() {
  std::vector<Row> rows;
  for (const size_t kib : {256, 2048, 4096, 8192, 65536}) {
    std::vector<double> v;
    for (int rep = 0; rep < 3; ++rep)
      v.push_back(chase_ns(kib * 1024, 5'000'000));
    rows.push_back({fmt::format("machine_random_load_{}kib_ns", kib), median(v), "ns",
                    "dependent loads, working set of this size"});
  }
  return rows;
}

std::vector<Row> systemc_event_rate() {
  EventProbe probe("probe");
  constexpr uint64_t kEvents = 3'000'000;
  std::vector<double> rates;
  for (int rep = 0; rep < 5; ++rep) {
    probe.arm(kEvents);
    const auto t0 = std::chrono::steady_clock::now();
    sc_core::sc_start();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(kEvents) / s);
  }
  return {{"systemc_timed_events_per_wall_s", median(rates), "events/s", "reference (~1.3e7)"}};
}

std::vector<Row> default_scenario(const std::string& mlasim) {
  namespace fs = std::filesystem;
  const fs::path out = fs::temp_directory_path() / fmt::format("mlasim_bench_{}", ::getpid());
  std::vector<double> sim_wall, proc_wall, events;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string cmd = fmt::format("'{}' run -q --no-plots --out '{}'", mlasim, out.string());
    if (std::system(cmd.c_str()) != 0) return {};
    proc_wall.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::ifstream in(out / "summary.json");
    auto j = nlohmann::json::parse(in);
    sim_wall.push_back(j["sim_wall_s"].get<double>());
    events.push_back(j["sim_events"].get<double>());
  }
  fs::remove_all(out);
  return {{"default_scenario_process_wall_s", median(proc_wall), "s", "whole `mlasim run`"},
          {"default_scenario_sim_wall_s", median(sim_wall), "s", "sc_start loop only"},
          {"default_scenario_events", median(events), "events", ""}};
}

// Runs `cmd` through /bin/sh in a child process; its wall time and peak RSS, or nothing when it
// fails or runs past `limit_s` (the limit also bounds a run gone wrong).
struct ChildRun {
  bool ok = false;
  double wall_s = 0;
  double cpu_s = 0;  // user + system: robust to a busy host, unlike wall time
  double peak_rss_mib = 0;
};
ChildRun run_child(const std::string& cmd, int limit_s) {
  const std::string line = fmt::format("exec timeout {} {}", limit_s, cmd);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ChildRun r;
  if (pid < 0) return r;
  int status = 0;
  rusage u{};
  if (::wait4(pid, &status, 0, &u) != pid) return r;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.peak_rss_mib = static_cast<double>(u.ru_maxrss) / 1024.0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  r.cpu_s = secs(u.ru_utime) + secs(u.ru_stime);
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

// Inference steps of issue 7: whole `mlasim run` processes of the DeepSeek-V3 EP144 decode step
// (wall time, CPU time and peak RSS of the child; median of MLASIM_BENCH_REPS runs, default 3).
// By default only a 4-layer EP144 step at packet and flow level runs (seconds); the full targets
// (61 layers + MTP at packet and flow level, and a 2,048-GPU step at flow level) each take from
// minutes to hours on a small machine, so they run with MLASIM_BENCH_FULL=1 and otherwise print
// a "skipped" row with the reason.
std::vector<Row> inference_steps(const std::string& mlasim) {
  namespace fs = std::filesystem;
  const fs::path out = fs::temp_directory_path() / fmt::format("mlasim_bench_inf_{}", ::getpid());
  const std::string scenario =
      std::string(MLASIM_SOURCE_DIR) + "/configs/scenarios/deepseek-v3-decode-ep144.yaml";
  const char* reps_env = std::getenv("MLASIM_BENCH_REPS");
  const int reps = reps_env ? std::max(1, std::atoi(reps_env)) : 3;
  const char* full_env = std::getenv("MLASIM_BENCH_FULL");
  const bool full = full_env && std::string(full_env) == "1";
  std::vector<Row> rows;
  auto bench = [&](const std::string& name, const std::string& sets, int n, int limit_s,
                   const std::string& target) {
    std::vector<double> wall, cpu, rss, sim_ms, hops, loop;
    for (int rep = 0; rep < n; ++rep) {
      const ChildRun r = run_child(fmt::format("'{}' run '{}' -q --no-plots --out '{}' {}", mlasim,
                                               scenario, out.string(), sets),
                                   limit_s);
      if (!r.ok) {
        rows.push_back({name + "_wall_s", 0, "s",
                        fmt::format("FAILED or over {} s (target {})", limit_s, target)});
        return;
      }
      wall.push_back(r.wall_s);
      cpu.push_back(r.cpu_s);
      rss.push_back(r.peak_rss_mib);
      std::ifstream in(out / "summary.json");
      const auto j = nlohmann::json::parse(in);
      sim_ms.push_back(j["step_time_ms"].get<double>());
      loop.push_back(j.value("sim_wall_s", 0.0));
      hops.push_back(j.value("packet_hops", 0.0) / std::max(r.cpu_s, 1e-9));
    }
    rows.push_back({name + "_wall_s", median(wall), "s", target});
    rows.push_back({name + "_cpu_s", median(cpu), "s", "user + system"});
    rows.push_back({name + "_sim_wall_s", median(loop), "s",
                    "wall time in the simulation loop (the rest: building the step, reports)"});
    rows.push_back({name + "_peak_rss_mib", median(rss), "MiB", ""});
    rows.push_back({name + "_step_time_ms", median(sim_ms), "ms", "simulated"});
    if (median(hops) > 0)
      rows.push_back({name + "_packet_hops_per_cpu_s", median(hops), "hops/s", ""});
  };
  bench("ep144_decode_4layers_packet", "--set workload.layers=4", reps, 600,
        "3 dense + 1 MoE layer + MTP");
  bench("ep144_decode_4layers_flow", "--set workload.layers=4 --set network.fidelity=flow", reps,
        600, "the same at flow level (default rate quantum)");
  auto skipped = [&](const std::string& name, const std::string& why) {
    rows.push_back({name + "_wall_s", 0, "s", "skipped: " + why + "; MLASIM_BENCH_FULL=1 runs it"});
  };
  if (full) {
    bench("ep144_decode_packet", "", 1, 3600, "target <= 60 s, <= 8192 MiB");
    bench("ep144_decode_flow", "--set network.fidelity=flow", 1, 3600, "target <= 3 s");
    bench("decode_2048gpu_flow",
          "--set network.fidelity=flow --set cluster.nodes=256 "
          "--set workload.placement.redundant_experts=1792",
          1, 3600, "target <= 30 s");
  } else {
    skipped(
        "ep144_decode_packet",
        "about 47-76 s (wall and CPU) depending on the machine, 0.34-0.69 GB (target 60 s, 8 GB)");
    skipped("ep144_decode_flow",
            "about 12-26 s wall with the default 10 us rate quantum, 0.35 GB (target 3 s; exact "
            "max-min an extrapolated 900 CPU-s)");
    skipped("decode_2048gpu_flow",
            "its 4-layer version alone takes 116 s and 3.2 GB (1.35 M flows per all-to-all, "
            "refilled every rate quantum; 181 s before the event-queue fix of 2026-12-04) and "
            "building its op graphs ~39 CPU-s; the 8-layer version 363 s and 3.6 GB (531 s "
            "before), about 60 s per MoE layer, so the full step an estimated 1 h and 9-10 GB");
  }
  fs::remove_all(out);
  return rows;
}

template <class Fig>
void append(std::vector<Row>& rows, const std::vector<Fig>& figs) {
  for (const auto& f : figs)
    rows.push_back({f.name, f.value, f.unit, ""});
}
// Rows of this file keep their notes.
void append(std::vector<Row>& rows, const std::vector<Row>& more) {
  rows.insert(rows.end(), more.begin(), more.end());
}

}  // namespace

int sc_main(int argc, char** argv) {
  const std::string self = argc > 0 ? argv[0] : "mlasim_bench";
  const std::string mlasim = (std::filesystem::path(self).parent_path() / "mlasim").string();
  // An optional argument runs only the sections whose name contains it ("HBM", "kernels").
  const std::string only = argc > 1 ? argv[1] : "";
  std::vector<Row> rows;
  auto section = [&](const char* name, const std::function<void()>& fn) {
    if (!only.empty() && std::string(name).find(only) == std::string::npos) return;
    fmt::print(stderr, "bench: {}...\n", name);
    fn();
  };
  section("machine", [&] { append(rows, machine_latencies()); });
  section("SystemC timed-event rate", [&] { append(rows, systemc_event_rate()); });
  section("default scenario", [&] { append(rows, default_scenario(mlasim)); });
  section("inference steps", [&] {
    for (auto& r : inference_steps(mlasim))
      rows.push_back(std::move(r));
  });
#ifdef MLASIM_BENCH_KERNELS
  section("attention kernels", [&] { append(rows, mlasim::kernels::run_kernel_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_TOPOLOGY
  section("topology", [&] { append(rows, mlasim::run_topology_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_HW
  // The targets of the hardware-model issue, printed beside their figures.
  auto hw_notes = [&](const std::vector<mlasim::HwBenchFigure>& figs) {
    for (const auto& f : figs) {
      std::string note;
      if (f.name == "hbm_stream_accesses_per_s") note = "target >= 5e7";
      if (f.name == "gpu_mla_decode_wall_s") note = "target <= 1 (HBM on 2 threads)";
      if (f.name == "gpu_mla_decode_cpu_s") note = "CPU time of both threads";
      if (f.name == "gpu_mla_decode_wall_s_1_thread") note = "same kernel, HBM on 1 thread";
      rows.push_back({f.name, f.value, f.unit, note});
    }
  };
  section("HBM model", [&] { hw_notes(mlasim::run_hbm_benchmarks()); });
  section("GPU model", [&] { hw_notes(mlasim::run_gpu_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_NETWORK
  section("packet network (128-host all-to-all)", [&] {
    for (const auto& f : mlasim::run_network_benchmarks()) {
      std::string note;
      if (f.name == "net_a2a128_packet_hops_per_wall_s") note = "target >= 5e6 on one core";
      if (f.name == "net_a2a128_hops_to_systemc_events_ratio") note = "target >= 0.4";
      if (f.name == "net_a2a128_packet_hops_per_cpu_s") note = "same per CPU second";
      if (f.name == "net_a2a128_hops_to_systemc_events_ratio_cpu") note = "same on CPU time";
      if (f.name == "net_memory_per_in_flight_packet_bytes") note = "from struct sizes";
      if (f.name == "net_measured_memory_per_in_flight_packet_bytes") {
        note = "extra peak RSS / extra packets in flight (deep buffers)";
      }
      rows.push_back({f.name, f.value, f.unit, note});
    }
  });
#endif
#ifdef MLASIM_BENCH_ROUTER
  section("MoE router", [&] { append(rows, mlasim::run_router_benchmarks()); });
#endif
  rows.push_back({"bench_peak_rss_mib", peak_rss_mib(), "MiB", ""});

  size_t w = 4;
  for (const auto& r : rows)
    w = std::max(w, r.name.size());
  fmt::print("{:<{}}  {:>14}  {:<8}  {}\n", "figure", w, "median", "unit", "note");
  fmt::print("{:-<{}}  {:->14}  {:-<8}  {:-<10}\n", "", w, "", "", "");
  for (const auto& r : rows) {
    fmt::print("{:<{}}  {:>14.6g}  {:<8}  {}\n", r.name, w, r.value, r.unit, r.target);
  }
  return 0;
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
