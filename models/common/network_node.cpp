// NetworkNode: placeholder store-and-forward ports, or a fabric behind them (see
// network_node.h).
#include "models/common/network_node.h"

#include <fmt/format.h>

#include "models/common/fabric.h"
#include "sim/errors.h"

namespace mlasim {

NetworkNode::NetworkNode(const sc_core::sc_module_name& name, SimContext& ctx)
    : sc_core::sc_module(name), ctx_(ctx), actions_("actions", ctx), stats_(basename()) {}

int NetworkNode::add_port(const LinkTiming& link, const std::string& peer_name) {
  Port p;
  p.link = link;
  p.peer_name = peer_name;
  ports_.push_back(std::move(p));
  return static_cast<int>(ports_.size() - 1);
}

void NetworkNode::set_endpoint(int32_t rank, const PacketNodeTraits& traits) {
  endpoint_rank_ = rank;
  endpoint_traits_ = traits;
}

void NetworkNode::connect(int port, NetworkNode* peer, int peer_port) {
  Port& p = ports_.at(port);
  p.peer = peer;
  p.peer_port = peer_port;
  if (fabric_) {
    // The fabric owns the link direction and registers its statistics here.
    fabric_->add_link(*this, port);
    return;
  }
  StatGroup& g = stats_.child("to_" + p.peer_name);
  g.counter("bytes", &p.bytes, "B", "payload bytes sent on this link direction");
  g.counter("messages", &p.messages, "count", "messages sent on this link direction");
  g.counter("busy_time", &p.busy_ps, "ps", "time the link direction spent serialising");
  g.counter("queue_wait_time", &p.queued_ps, "ps",
            "summed time messages waited for the link to free up");
  const double bw = p.link.bandwidth.bytes_per_s();
  g.formula(
      "bandwidth", [bw] { return bw; }, "B/s", "line rate of this link direction");
}

uint64_t NetworkNode::bytes_sent() const {
  if (fabric_) return fabric_->bytes_sent_by(fabric_index);
  uint64_t total = 0;
  for (const auto& p : ports_)
    total += p.bytes;
  return total;
}

int NetworkNode::route(const Message& msg) const {
  if (!router_) throw SimulationError(fmt::format("{}: no routing function", name()));
  int port = router_(*this, msg.dst, msg.flow_hash);
  if (port < 0 || port >= static_cast<int>(ports_.size())) {
    throw SimulationError(fmt::format("{}: no route to GPU {} (message {} from GPU {})", name(),
                                      msg.dst, msg.id, msg.src));
  }
  return port;
}

void NetworkNode::inject(Message msg, std::function<void()> on_sent) {
  if (fabric_) {
    fabric_->inject(*this, std::move(msg), std::move(on_sent));
    return;
  }
  const int port = route(msg);
  const Time done_at = send(std::move(msg), port);
  if (on_sent) actions_.at(done_at, std::move(on_sent));
}

Time NetworkNode::send(Message msg, int out_port) {
  Port& p = ports_.at(out_port);
  const Time now = sim_now();
  const Time start = p.busy_until > now ? p.busy_until : now;
  const Time serialise = p.link.bandwidth.transfer_time(msg.bytes);
  p.busy_until = start + serialise;
  p.bytes += msg.bytes.count();
  ++p.messages;
  p.busy_ps += static_cast<uint64_t>(serialise.ps());
  p.queued_ps += static_cast<uint64_t>((start - now).ps());
  NetworkNode* peer = p.peer;
  const int peer_port = p.peer_port;
  actions_.at(p.busy_until + p.link.latency, [peer, peer_port, m = std::move(msg)]() mutable {
    peer->receive(std::move(m), peer_port);
  });
  return p.busy_until;
}

}  // namespace mlasim
