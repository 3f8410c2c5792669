// run_topology_benchmarks (see topology_bench.h).
#include "topology/topology_bench.h"

#include <sys/resource.h>

#include <chrono>

#include "topology/fat_tree_builders.h"
#include "topology/metrics.h"
#include "topology/routing.h"

namespace mlasim {
namespace {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<TopologyBenchFigure> run_topology_benchmarks() {
  std::vector<TopologyBenchFigure> out;
  MpftParams p;  // defaults: k = 64, 8 planes, 8 GPUs and NICs per node, full fabric
  const auto t0 = std::chrono::steady_clock::now();
  ClusterGraph cluster = MpftBuilder(p).build();
  const double build_s = seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  RoutingTables routes(cluster);
  const double route_s = seconds_since(t1);
  out.push_back({"topology_mpft_k64_gpus", static_cast<double>(cluster.num_gpus()), "count"});
  out.push_back({"topology_mpft_k64_build_s", build_s, "s"});
  out.push_back({"topology_mpft_k64_route_s", route_s, "s"});
  out.push_back({"topology_mpft_k64_build_and_route_s", build_s + route_s, "s"});
  out.push_back(
      {"topology_mpft_k64_routing_table_bytes", static_cast<double>(routes.table_bytes()), "B"});
  out.push_back({"topology_mpft_k64_peak_rss_mib", peak_rss_mib(), "MiB"});

  // Route lookups as the network model will do them: whole GPU-to-GPU walks.
  const auto t2 = std::chrono::steady_clock::now();
  const Reachability r = check_reachability(routes, int64_t{1} << 21);
  const double walk_s = seconds_since(t2);
  out.push_back({"topology_mpft_k64_route_walks_per_s",
                 static_cast<double>(r.pairs_checked) / walk_s, "1/s"});

  const auto t3 = std::chrono::steady_clock::now();
  const auto bisection = bisection_bandwidth(cluster);
  out.push_back({"topology_mpft_k64_bisection_s", seconds_since(t3), "s"});
  out.push_back({"topology_mpft_k64_bisection_bytes_per_s", bisection.value_or(0), "B/s"});
  out.push_back({"topology_peak_rss_after_bisection_mib", peak_rss_mib(), "MiB"});
  return out;
}

}  // namespace mlasim
