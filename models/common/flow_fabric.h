// Flow-level network (`network.fidelity: flow`): every message is a fluid flow over the same
// route the packet fabric would take (the routing function with its ECMP hash). Rates are
// max-min fair (progressive filling over link payload capacities), recomputed whenever a flow
// starts or finishes; nothing happens in between, so a run costs a few events per message.
// A flow starts after its setup latency (NIC doorbell, SM issue); its sender is done when the
// fluid transfer ends; it is delivered after the route's propagation and pipeline latencies
// plus the packet-pipeline fill a store-and-forward hop adds (one packet's serialisation per
// store-and-forward hop, less the bottleneck's, which the fluid term already holds).
//
// Capacities are payload rates of full MTU packets (line rate x encoding x MTU / wire bytes).
// Left out: buffers, credits, back-pressure and queueing delay (queue and credit-stall
// statistics stay zero), per-packet header overhead of partial packets, adaptive routing.
// The packet model is the reference; a test keeps all-to-all completion times within 10%.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/common/fabric.h"

namespace mlasim {

class FlowFabric : public Fabric {
 public:
  FlowFabric(const sc_core::sc_module_name& name, SimContext& ctx, const NetworkParams& params);

  void finalize() override;
  void inject(NetworkNode& at, Message msg, std::function<void()> on_sent) override;
  std::vector<std::string> describe_in_flight() const override;
  const char* fidelity_name() const override { return "flow"; }
  uint64_t rate_recomputations = 0;

 private:
  enum EventKind : uint8_t { kStart = 1, kUpdate = 2, kDeliver = 3 };
  struct Flow {
    Message msg;
    std::function<void()> on_sent;
    std::vector<uint32_t> path;
    double remaining = 0;  // payload bytes
    double rate = 0;       // payload bytes per ps
    int64_t tail_ps = 0;   // fluid end to delivery
    uint32_t record = 0;
    uint64_t qp_seq = 0;
    uint32_t in_port = -1;
    bool active = false;
  };

  void dispatch(uint8_t kind, uint32_t a, uint32_t b) override;
  void advance(int64_t now);
  void recompute();
  void request_update();
  void finish(uint32_t flow);
  void note_flow_on_links(const Flow& f);

  std::vector<Flow> flows_;
  std::vector<uint32_t> free_flows_;
  std::vector<uint32_t> active_;
  std::vector<double> capacity_;  // payload bytes per ps, per link
  int64_t last_advance_ = 0;
  uint32_t generation_ = 0;
  int64_t update_pending_at_ = -1;
  uint64_t undelivered_ = 0;
  // Scratch for progressive filling.
  std::vector<double> cap_left_;
  std::vector<uint32_t> unfrozen_on_;
  std::vector<std::vector<uint32_t>> flows_on_;
  std::vector<uint32_t> used_links_;
};

}  // namespace mlasim
