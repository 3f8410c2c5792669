// Topology benchmark, called by `make bench` (bench/bench_main.cpp): building and routing the
// 16,384-GPU multi-plane fat-tree of ISCA'25 (k = 64, 8 planes), against the targets of
// issue #5 (<= 10 s, <= 4 GB peak memory). Reports wall times, routing-table size and the
// process's peak resident set (getrusage; it includes whatever ran before in the process).
#pragma once

#include <string>
#include <vector>

namespace mlasim {

struct TopologyBenchFigure {
  std::string name;
  double value;
  std::string unit;
};

std::vector<TopologyBenchFigure> run_topology_benchmarks();

}  // namespace mlasim
