// A message between two GPUs as it crosses the network. Placeholder links move whole messages;
// the packet-level fabric splits them into MTU packets and reassembles them at the destination;
// the flow-level fabric moves them as fluid flows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "sim/units.h"

namespace mlasim {

enum class MessageKind : uint8_t {
  PointToPoint,  // matches a RecvOp by (src, tag)
  Collective,    // counted against the all-to-all op with the same tag
  Ring,          // one step of the ring collective with the same tag
};

// One part of a relayed message: DeepEP-style dispatch sends the tokens of every GPU of a
// remote node to one GPU there (over IB), which forwards each part to its GPU over NVLink.
struct RelayPart {
  int32_t dst = -1;
  uint64_t bytes = 0;
};

struct Message {
  uint64_t id = 0;   // unique per simulation
  int32_t src = -1;  // source GPU rank (the GPU that injects it)
  int32_t dst = -1;  // destination GPU rank
  int32_t tag = 0;   // matches a receive op or a collective op
  // A part sent to a relay that sums the parts for one destination (DeepEP combine): that
  // destination; -1 = none. (Here, it fills what would be padding.)
  int32_t reduce_for = -1;
  Bytes bytes;             // payload
  Time injected;           // when the sender handed it to the network
  uint64_t flow_hash = 0;  // for ECMP: stable per (src, dst, tag), i.e. per queue pair
  MessageKind kind = MessageKind::PointToPoint;
  uint8_t vl = 0;         // virtual lane (traffic class)
  int32_t origin = -1;    // relayed part: the GPU whose data it is; -1 = src
  int32_t step = 0;       // ring collectives: the step this chunk belongs to
  bool sm_issued = true;  // SMs issue it (GPU issue latency) or the NIC alone
  // Relay: on arrival at dst, forward these parts (shared: messages are copied by value).
  std::shared_ptr<const std::vector<RelayPart>> relay;

  int32_t data_source() const { return origin >= 0 ? origin : src; }
  // Its bytes meant for `dst` itself: all of them; of a relay only dst's own part (the others
  // go on to their GPUs; a deduplicated relay message carries at least that part); of a part
  // to be summed none (the sum goes on).
  uint64_t bytes_for_dst() const {
    if (reduce_for >= 0) return 0;
    if (!relay) return bytes.count();
    uint64_t own = 0;
    for (const RelayPart& part : *relay)
      own += part.dst == dst ? part.bytes : 0;
    return std::min(own, bytes.count());
  }
};

}  // namespace mlasim
