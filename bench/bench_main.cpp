// `make bench`: prints a table of performance figures (medians of several runs). Figures, not
// pass/fail: targets are printed beside them. Each capability adds its benchmark here.
//
// The SystemC kernel can elaborate once per process, so the raw event-rate probe runs in this
// process and whole-scenario timings run the mlasim binary as child processes.
#include <fmt/format.h>
#include <sys/resource.h>
#include <systemc>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
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
  return {{"systemc_timed_events_per_wall_s", median(rates), "1/s", "reference (~1.3e7)"}};
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

template <class Fig>
void append(std::vector<Row>& rows, const std::vector<Fig>& figs) {
  for (const auto& f : figs)
    rows.push_back({f.name, f.value, f.unit, ""});
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
  section("SystemC timed-event rate", [&] { append(rows, systemc_event_rate()); });
  section("default scenario", [&] { append(rows, default_scenario(mlasim)); });
#ifdef MLASIM_BENCH_KERNELS
  section("attention kernels", [&] { append(rows, mlasim::kernels::run_kernel_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_TOPOLOGY
  section("topology", [&] { append(rows, mlasim::run_topology_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_HW
  section("HBM model", [&] { append(rows, mlasim::run_hbm_benchmarks()); });
  section("GPU model", [&] { append(rows, mlasim::run_gpu_benchmarks()); });
#endif
#ifdef MLASIM_BENCH_NETWORK
  section("packet network (128-host all-to-all)", [&] {
    for (const auto& f : mlasim::run_network_benchmarks()) {
      std::string note;
      if (f.name == "net_a2a128_packet_hops_per_wall_s") note = "target >= 5e6 on one core";
      if (f.name == "net_a2a128_hops_to_systemc_events_ratio") note = "target >= 0.4";
      if (f.name == "net_a2a128_packet_hops_per_cpu_s") note = "same per CPU second";
      if (f.name == "net_a2a128_hops_to_systemc_events_ratio_cpu") note = "same on CPU time";
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
