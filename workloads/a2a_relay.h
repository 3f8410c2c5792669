// Checks of an all_to_all's per-node deduplication (DeepEP forwarding: AllToAllOp::relay and
// reduce, op_graph.h), part of validate_workload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "workloads/op_graph.h"

namespace mlasim {

// Op `i` (`name`) of rank `r`: relay_bytes and reduce need forwarding over whole nodes, and each
// relay_bytes entry is for a GPU with this rank's local index on another node.
void check_relay_fields(const AllToAllOp& a, int r, size_t i, const std::string& name, int ranks);

// The ops of one tag (`ops` by rank, null where a rank has none; `index`: each one's position
// among its rank's ops) send the collective the same way, and each deduplicated message stands
// for its parts (see a2a_relay.cpp).
void check_relay_amounts(const Workload& w, int32_t tag, const std::vector<const AllToAllOp*>& ops,
                         const std::vector<size_t>& index);

}  // namespace mlasim
