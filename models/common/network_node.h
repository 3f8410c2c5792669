// Base of every module that moves messages: GPUs, NICs, NVSwitches and network switches.
//
// Two link layers sit behind the same ports:
//  - placeholder (no fabric attached): each output port serialises whole messages one at a
//    time at the link's rate and hands each to the peer after the propagation delay
//    (message-granularity store-and-forward; `fixed_latency` nodes use it);
//  - fabric (packet or flow level, see fabric.h): the node only describes itself
//    (PacketNodeTraits) and routes; the shared fabric engine moves packets or flows between
//    nodes, with credits, buffers and statistics per link direction.
// Routing is a function set at elaboration from the topology's tables.
#pragma once

#include <systemc>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/common/message.h"
#include "models/common/network_params.h"
#include "sim/action_queue.h"
#include "sim/sim_context.h"
#include "sim/stats.h"

namespace mlasim {

class Fabric;

struct LinkTiming {
  Bandwidth bandwidth;  // per direction
  Time latency;         // propagation
  std::string kind;     // "nvlink", "pcie", "ib"
  std::string tier;     // for reports, e.g. "gpu-nic", "nic-leaf", "leaf-spine"
  int32_t plane = -1;   // network plane (MPFT) or rail; -1 inside a node
};

class NetworkNode : public sc_core::sc_module {
 public:
  // Port towards GPU `dst_gpu` for a flow with `flow_hash`; -1 when there is none.
  using Router = std::function<int(const NetworkNode& at, int32_t dst_gpu, uint64_t flow_hash)>;

  NetworkNode(const sc_core::sc_module_name& name, SimContext& ctx);

  // Elaboration: the fabric (if any) is attached first, then ports are added in edge order and
  // connected to their peers.
  void attach_fabric(Fabric* fabric) { fabric_ = fabric; }
  int add_port(const LinkTiming& link, const std::string& peer_name);
  void connect(int port, NetworkNode* peer, int peer_port);
  void set_router(Router router) { router_ = std::move(router); }
  // GPUs: the rank whose packets this node sinks, and the traits of its ports.
  void set_endpoint(int32_t rank, const PacketNodeTraits& traits);

  size_t num_ports() const { return ports_.size(); }
  const std::string& peer_name(int port) const { return ports_[port].peer_name; }
  NetworkNode* peer(int port) const { return ports_[port].peer; }
  int peer_port(int port) const { return ports_[port].peer_port; }
  const LinkTiming& link(int port) const { return ports_[port].link; }
  Fabric* fabric() const { return fabric_; }
  int32_t endpoint_rank() const { return endpoint_rank_; }
  // Index the fabric gave this node (valid once attached and connected).
  uint32_t fabric_index = UINT32_MAX;

  // Placeholder nodes return false: they cannot run on a packet or flow fabric.
  virtual bool supports_fabric() const { return true; }
  // Packet-only models return false: they never take whole messages (message-level network).
  virtual bool supports_messages() const { return true; }
  // How the packet fabric treats this node (NICs and switches override; GPUs set it).
  virtual PacketNodeTraits packet_traits() const { return endpoint_traits_; }

  // A whole message has arrived on `in_port` for this node (its last byte has been received).
  virtual void receive(Message msg, int in_port) = 0;

  // Routing decision; -1 when no route exists.
  int route_port(int32_t dst_gpu, uint64_t flow_hash) const {
    return router_ ? router_(*this, dst_gpu, flow_hash) : -1;
  }

  StatGroup& stats() { return stats_; }
  // Payload bytes this node has pushed into its links, summed over ports.
  uint64_t bytes_sent() const;

 protected:
  // Hands a message to the network at this node; `on_sent` runs once its last byte has left
  // this node (placeholder: the port's serialisation end; fabric: the last packet's tail).
  void inject(Message msg, std::function<void()> on_sent);
  // Placeholder link: queues `msg` on the output port; it is delivered to the peer once
  // serialised and propagated. Returns the time its last byte leaves this node.
  Time send(Message msg, int out_port);
  // Routing decision for a message; throws SimulationError when there is no route.
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
  Fabric* fabric_ = nullptr;
  int32_t endpoint_rank_ = -1;
  PacketNodeTraits endpoint_traits_;
};

}  // namespace mlasim
