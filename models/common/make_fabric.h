// The network engine a scenario's fidelity asks for (network.fidelity): the packet fabric, the
// flow fabric, or none for message level, where whole messages hop through placeholder
// (fixed_latency) node models. `auto` is packet level when every node has a packet model, else
// message level. A fidelity the nodes' models cannot run throws InputError naming
// network.fidelity.
#pragma once

#include <memory>
#include <vector>

#include "models/common/fabric.h"
#include "models/common/network_node.h"
#include "models/common/network_params.h"

namespace mlasim {

std::unique_ptr<Fabric> make_fabric(const NetworkParams& p,
                                    const std::vector<std::unique_ptr<NetworkNode>>& nodes,
                                    SimContext& ctx);

}  // namespace mlasim
