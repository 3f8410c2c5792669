// FabricNode (see fabric_node.h).
#include "models/common/fabric_node.h"

#include <fmt/format.h>

#include "sim/errors.h"

namespace mlasim {

void FabricNode::receive(Message msg, int /*in_port*/) {
  throw SimulationError(fmt::format(
      "{}: got whole message {} (GPU {} -> {}); this model needs network.fidelity packet or "
      "flow",
      name(), msg.id, msg.src, msg.dst));
}

}  // namespace mlasim
