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

}  // namespace

std::vector<NetBenchFigure> run_network_benchmarks() {
  const fs::path scenario = fs::path(MLASIM_CONFIG_DIR) / "scenarios" / "net-bench-a2a-128.yaml";
  const fs::path out = fs::temp_directory_path() / fmt::format("mlasim_net_bench_{}", ::getpid());
  std::vector<double> hops_per_s, hops_per_cpu_s, probe, ratio, wall, mem, inflight, rss;
  std::vector<double> probe_cpu, ratio_cpu;
  double hops = 0;
  for (int i = 0; i < 5; ++i) {
    fs::remove_all(out);
    // fork + exec + wait4: this child's own peak RSS, not the largest of every child so far.
    const std::string bin = mlasim_binary().string(), sc = scenario.string(), o = out.string();
    const pid_t pid = ::fork();
    if (pid < 0) return {};
    if (pid == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDOUT_FILENO);
      ::execl(bin.c_str(), bin.c_str(), "run", sc.c_str(), "-q", "--no-plots", "--out", o.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    rusage child{};
    if (::wait4(pid, &status, 0, &child) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return {};
    }
    rss.push_back(static_cast<double>(child.ru_maxrss) / 1024.0);
    std::ifstream in(out / "summary.json");
    const auto s = nlohmann::json::parse(in, nullptr, false);
    if (s.is_discarded()) return {};
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
  fs::remove_all(out);
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
  };
}

}  // namespace mlasim
