// Base of every module that moves messages: GPUs, NICs, NVSwitches and network switches.
// A node owns the sending side of each of its links (an output port): the port serialises
// messages one at a time at the link's rate and hands each to the peer after the propagation
// delay. This is the placeholder, message-granularity store-and-forward link; the packet-level
// link with credits replaces it. Routing is a function set at elaboration from the topology.
#pragma once

#include <systemc>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/common/message.h"
#include "sim/action_queue.h"
#include "sim/sim_context.h"
#include "sim/stats.h"

namespace mlasim {

struct LinkTiming {
  Bandwidth bandwidth;  // per direction
  Time latency;         // propagation
  std::string kind;     // "nvlink", "pcie", "ib"
};

class NetworkNode : public sc_core::sc_module {
 public:
  using Router = std::function<int(const NetworkNode& at, const Message& msg)>;

  NetworkNode(const sc_core::sc_module_name& name, SimContext& ctx);

  // Elaboration: ports are added in edge order, then connected to their peers.
  int add_port(const LinkTiming& link, const std::string& peer_name);
  void connect(int port, NetworkNode* peer, int peer_port);
  void set_router(Router router) { router_ = std::move(router); }
  size_t num_ports() const { return ports_.size(); }
  const std::string& peer_name(int port) const { return ports_[port].peer_name; }
  NetworkNode* peer(int port) const { return ports_[port].peer; }

  // A message arrives on `in_port` (its last byte has been received).
  virtual void receive(Message msg, int in_port) = 0;

  StatGroup& stats() { return stats_; }
  // Bytes this node has pushed into its links, summed over ports.
  uint64_t bytes_sent() const;

 protected:
  // Queues `msg` on the output port; it is delivered to the peer once serialised and propagated.
  // Returns the time its last byte leaves this node.
  Time send(Message msg, int out_port);
  int route(const Message& msg) const;
  ActionQueue& actions() { return actions_; }
  SimContext& ctx() { return ctx_; }

 private:
  struct Port {
    LinkTiming link;
    std::string peer_name;
    NetworkNode* peer = nullptr;
    int peer_port = -1;
    Time busy_until;
    uint64_t bytes = 0;
    uint64_t messages = 0;
    uint64_t busy_ps = 0;
    uint64_t queued_ps = 0;  // summed waiting time of messages before serialisation starts
  };

  SimContext& ctx_;
  ActionQueue actions_;
  StatGroup stats_;
  std::deque<Port> ports_;  // deque: stats keep pointers into ports, so they must not move
  Router router_;
};

}  // namespace mlasim
