// Network benchmark for `make bench`: runs the 128-host all-to-all scenario
// (configs/scenarios/net-bench-a2a-128.yaml) as `mlasim run` child processes (SystemC
// elaborates once per process, and the bench process has already run its own probe) and
// reports, as medians of five runs: packet hops simulated per wall second, the raw SystemC
// timed-event rate measured in the same run after the workload (network.probe_events), their
// ratio (target >= 0.4), the same three on CPU time (steadier on a shared host), the fabric's
// memory per in-flight packet (worked out from its structures) and the child's peak RSS; then
// three runs with buffers deep enough for every packet to be in flight at once, whose extra
// peak RSS over the extra packets in flight is the measured memory per in-flight packet.
#pragma once

#include <string>
#include <vector>

namespace mlasim {

struct NetBenchFigure {
  std::string name;
  double value;
  std::string unit;
};

std::vector<NetBenchFigure> run_network_benchmarks();

}  // namespace mlasim
