// The watchdog's diagnosis of a run that stopped making progress: which op of which rank waits
// on what, and the wait-for cycle that explains a deadlock.
//
// Works on the op graphs alone plus which ops have finished, so it needs no SystemC and can be
// tested as pure logic. An unfinished op waits for its unfinished dependencies; a receive whose
// dependencies are done waits for the matching send of its peer (the k-th receive from a peer
// with a tag matches the k-th send to it with that tag, as the GPUs match messages). A cycle in
// that relation is a deadlock no amount of simulated time resolves. Collectives are described
// by the GPU model itself (its per-op lines), not followed here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workloads/workload_generator.h"

namespace mlasim {

struct OpRef {
  int rank = 0;
  uint32_t op = 0;
  bool operator==(const OpRef&) const = default;
};

class StallAnalysis {
 public:
  // `done[r][i]`: op i of rank r has finished.
  StallAnalysis(const Workload& w, std::vector<std::vector<bool>> done);

  // What an unfinished op waits for, in words ("op 1 'recv_from_2'", "rank 2 op 2 'send_to_0'
  // (not started)"), or nothing when the op graphs alone cannot tell (collectives, ops running).
  std::optional<std::string> waits_for(OpRef op) const;

  // The ops waiting on each other in a loop, each waiting for the next and the last for the
  // first; empty when there is none.
  std::vector<OpRef> find_cycle() const;

  // "rank 0 op 1 'recv_from_2' (recv)".
  std::string label(OpRef op) const;
  // One line: "wait-for cycle: A waits for B, which waits for C, which waits for A".
  std::string cycle_line(const std::vector<OpRef>& cycle) const;

 private:
  std::vector<OpRef> edges(OpRef op) const;
  std::optional<OpRef> matching_send(OpRef recv) const;

  const Workload& w_;
  std::vector<std::vector<bool>> done_;
};

}  // namespace mlasim
