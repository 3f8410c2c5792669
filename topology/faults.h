// Faults on a cluster graph: a link, a switch (network switch or NVSwitch), a NIC, or a whole
// plane (every switch and NIC on it; in a multi-rail fabric a plane is a rail). A failed vertex
// keeps its place in the graph, so descriptors and GPU ranks stay valid, but loses its links;
// routes are then rebuilt from the faulted graph (RoutingTables) and compared with the healthy
// one (metrics.h). Left out: partial failures (degraded link rates, lossy links) and GPUs
// failing, which is a workload-mapping concern.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topology/cluster_graph.h"

namespace mlasim {

struct FaultSpec {
  std::vector<int32_t> planes;
  std::vector<std::string> switches;  // vertex names
  std::vector<std::string> nics;      // vertex names
  std::vector<std::string> links;     // "A:B", two vertex names
  bool empty() const { return planes.empty() && switches.empty() && nics.empty() && links.empty(); }
};

// Removes every link of v and marks it failed.
void fail_vertex(ClusterGraph& cluster, Vertex v);
// Removes the link between a and b; false if there was none.
bool fail_link(ClusterGraph& cluster, Vertex a, Vertex b);
// Fails every network switch and NIC on `plane`; returns how many (0: no such plane).
int64_t fail_plane(ClusterGraph& cluster, int32_t plane);

// Applies the spec; throws InputError naming an unknown vertex, a vertex of the wrong kind, a
// link that does not exist or a plane nothing is on. Returns one line per fault applied.
// `down_before`: links may be down already (faults at a simulated time, replayed in file order
// when routes are rebuilt: a link whose switch failed earlier, or named twice); otherwise a
// link that does not exist is an error.
std::vector<std::string> apply_faults(ClusterGraph& cluster, const FaultSpec& faults,
                                      bool down_before = false);

// A part `faults` names that has already failed in `cluster` ("switch spine0", "plane 3": every
// switch and NIC on it, "link leaf0:spine0": a link of `healthy`, the cluster before its faults,
// gone from `cluster`), or "" when none has. Names not in the cluster are apply_faults' to
// refuse.
std::string already_failed(const ClusterGraph& healthy, const ClusterGraph& cluster,
                           const FaultSpec& faults);

}  // namespace mlasim
