// FixedLatencyNode: forward after a fixed delay (see forwarding_node.h).
#include "models/common/forwarding_node.h"

namespace mlasim {

FixedLatencyNode::FixedLatencyNode(const FixedLatencyParams& params, const ModuleEnv& env)
    : NetworkNode(env.module_name, env.ctx), params_(params) {
  stats().counter("forwarded_messages", &forwarded_, "count", "messages forwarded");
}

void FixedLatencyNode::receive(Message msg, int /*in_port*/) {
  ++forwarded_;
  actions().after(params_.latency, [this, m = std::move(msg)]() mutable {
    const int port = route(m);
    send(std::move(m), port);
  });
}

}  // namespace mlasim
