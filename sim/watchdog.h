// The watchdog's diagnosis of a run that stopped making progress: which op of which rank waits
// on what, and the wait-for cycle that explains a deadlock.
//
// Works on the op graphs alone plus which ops have finished, so it needs no SystemC and can be
// tested as pure logic. An unfinished op waits for its unfinished dependencies; a receive whose
// dependencies are done waits for the matching send of its peer (the k-th receive from a peer
// with a tag matches the k-th send to it with that tag, as the GPUs match messages). With the
// GPUs' run state (which ops began, which op each queued op waits for on its stream), an op
// queued on its stream waits for the op ahead of it there, and a started collective waits for
// the matching collective (the k-th of its kind and tag) of every rank whose pieces it needs
// and which has not begun it. A cycle in that relation is a deadlock no amount of simulated
// time resolves. A collective's missing pieces are described by the GPU model itself.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
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
  // Also `started[r][i]`: op i of rank r has begun; `stream_ahead[r][i]`: the op of rank r it
  // waits for on its stream, -1 for none.
  StallAnalysis(const Workload& w, std::vector<std::vector<bool>> done,
                std::vector<std::vector<bool>> started,
                std::vector<std::vector<int64_t>> stream_ahead);

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
  std::optional<OpRef> matching_collective(OpRef op, int32_t peer) const;
  static std::optional<int32_t> collective_tag(const OpPayload& p);
  std::optional<OpRef> ahead_on_stream(OpRef op) const;

  const Workload& w_;
  std::vector<std::vector<bool>> done_;
  std::vector<std::vector<bool>> started_;  // empty: run state unknown
  std::vector<std::vector<int64_t>> stream_ahead_;
  // Per rank, the ops of each collective kind (variant index) and tag, in op order.
  std::vector<std::map<std::pair<size_t, int32_t>, std::vector<uint32_t>>> collectives_;
};

}  // namespace mlasim
