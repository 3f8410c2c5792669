// A message between two GPUs as it crosses the network. Placeholder links move whole messages;
// the packet-level models split them into MTU packets.
#pragma once

#include <cstdint>

#include "sim/units.h"

namespace mlasim {

struct Message {
  uint64_t id = 0;         // unique per simulation
  int32_t src = -1;        // source GPU rank
  int32_t dst = -1;        // destination GPU rank
  int32_t tag = 0;         // matches a receive op
  Bytes bytes;             // payload
  Time injected;           // when the sender handed it to the network
  uint64_t flow_hash = 0;  // for ECMP: stable per (src, dst, tag)
};

}  // namespace mlasim
