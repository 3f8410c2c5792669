// Network benchmark: child `mlasim run` processes on the 128-host all-to-all (see net_bench.h).
#include "models/common/net_bench.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

namespace mlasim {

namespace {

namespace fs = std::filesystem;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The mlasim binary beside this executable (the bench and mlasim share the build folder).
fs::path mlasim_binary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("mlasim") : self.parent_path() / "mlasim";
}

// One `mlasim run` child of the benchmark scenario with extra `--set`s: its summary and its own
// peak RSS (fork + exec + wait4, not the largest of every child so far). Null on failure.
struct ChildRun {
  nlohmann::json summary;
  double rss_mib = 0;
};
std::optional<ChildRun> run_child(const fs::path& scenario, const fs::path& out,
                                  const std::vector<std::string>& sets) {
  fs::remove_all(out);
  const std::string bin = mlasim_binary().string(), sc = scenario.string(), o = out.string();
  std::vector<std::string> args{bin, "run", sc, "-q", "--no-plots", "--out", o};
  for (const auto& set : sets) {
    args.emplace_back("--set");
    args.push_back(set);
  }
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage child{};
  if (::wait4(pid, &status, 0, &child) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  std::ifstream in(out / "summary.json");
  ChildRun r{nlohmann::json::parse(in, nullptr, false),
             static_cast<double>(child.ru_maxrss) / 1024.0};
  if (r.summary.is_discarded()) return std::nullopt;
  return r;
}

}  // namespace

std::vector<NetBenchFigure> run_network_benchmarks() {
  const fs::path scenario = fs::path(MLASIM_CONFIG_DIR) / "scenarios" / "net-bench-a2a-128.yaml";
  const fs::path out = fs::temp_directory_path() / fmt::format("mlasim_net_bench_{}", ::getpid());
  std::vector<double> hops_per_s, hops_per_cpu_s, probe, ratio, wall, mem, inflight, rss;
  std::vector<double> probe_cpu, ratio_cpu;
  double hops = 0;
  for (int i = 0; i < 5; ++i) {
    const auto c = run_child(scenario, out, {});
    if (!c) return {};
    const nlohmann::json& s = c->summary;
    rss.push_back(c->rss_mib);
    hops = s.value("packet_hops", 0.0);
    const double w = s.value("sim_wall_s", 0.0);
    wall.push_back(w);
    hops_per_s.push_back(w > 0 ? hops / w : 0.0);
    hops_per_cpu_s.push_back(s.value("packet_hops_per_cpu_s", 0.0));
    probe.push_back(s.value("systemc_timed_events_per_wall_s", 0.0));
    ratio.push_back(probe.back() > 0 ? hops_per_s.back() / probe.back() : 0.0);
    probe_cpu.push_back(s.value("systemc_timed_events_per_cpu_s", 0.0));
    ratio_cpu.push_back(probe_cpu.back() > 0 ? hops_per_cpu_s.back() / probe_cpu.back() : 0.0);
    mem.push_back(s.value("net_memory_per_in_flight_packet_bytes", 0.0));
    inflight.push_back(s.value("net_peak_in_flight_packets_count", 0.0));
  }
  // Measured memory per in-flight packet: the same all-to-all with buffers deep enough for
  // every packet to be in flight at once. The extra peak RSS over the extra peak of packets in
  // flight is what one more packet in flight costs, everything included (the packet, its place
  // in the queues, its events, the containers' growth).
  const std::vector<std::string> deep{"hardware.switch.buffer=16MiB", "hardware.nic.buffer=16MiB",
                                      "network.gpu_port.buffer=16MiB"};
  std::vector<double> deep_rss, deep_inflight;
  for (int i = 0; i < 3; ++i) {
    const auto c = run_child(scenario, out, deep);
    if (!c) break;  // the figures above still stand; the measured one is then 0
    deep_rss.push_back(c->rss_mib);
    deep_inflight.push_back(c->summary.value("net_peak_in_flight_packets_count", 0.0));
  }
  fs::remove_all(out);
  const double extra_packets =
      deep_inflight.empty() ? 0.0 : median(deep_inflight) - median(inflight);
  const double measured =
      extra_packets > 0 ? (median(deep_rss) - median(rss)) * 1024.0 * 1024.0 / extra_packets : 0.0;
  return {
      {"net_a2a128_packet_hops", hops, "hops"},
      {"net_a2a128_sim_wall_s", median(wall), "s"},
      {"net_a2a128_packet_hops_per_wall_s", median(hops_per_s), "hops/s"},
      {"net_a2a128_systemc_timed_events_per_wall_s", median(probe), "events/s"},
      {"net_a2a128_hops_to_systemc_events_ratio", median(ratio), "ratio"},
      {"net_a2a128_packet_hops_per_cpu_s", median(hops_per_cpu_s), "hops/s"},
      {"net_a2a128_systemc_timed_events_per_cpu_s", median(probe_cpu), "events/s"},
      {"net_a2a128_hops_to_systemc_events_ratio_cpu", median(ratio_cpu), "ratio"},
      {"net_a2a128_peak_in_flight_packets", median(inflight), "packets"},
      {"net_memory_per_in_flight_packet_bytes", median(mem), "B"},
      {"net_a2a128_child_peak_rss_mib", median(rss), "MiB"},
      {"net_a2a128_deep_buffers_peak_in_flight_packets", median(deep_inflight), "packets"},
      {"net_a2a128_deep_buffers_child_peak_rss_mib", median(deep_rss), "MiB"},
      {"net_measured_memory_per_in_flight_packet_bytes", measured, "B"},
  };
}

}  // namespace mlasim
