// Communication ops on the network models: all-to-all with DeepEP-style NVLink forwarding, ring
// all-reduce, and all-to-all on the placeholder (message-level) links.
#include <gtest/gtest.h>

#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_here;

uint64_t tier_bytes(const Fabric& f, const std::string& tier) {
  uint64_t total = 0;
  for (const auto& l : f.links())
    if (l.timing.tier == tier) total += l.stats.bytes;
  return total;
}

TEST(Collectives, AllToAllWithNvlinkForwardingMovesEachByteOverOneNic) {
  // 4 nodes x 8 GPUs on 8 planes; remote data goes to the same-index GPU of the remote node
  // (same plane) and is forwarded there over NVLink.
  const std::string yaml = std::string(R"(
name: deepep
cluster: {type: mpft, k: 4, planes: 8, nodes: 4, gpus_per_node: 8, nics_per_node: 8}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: all_to_all, bytes: 32KiB, nvlink_forwarding: true}
)") + nettest::kPacketHardware;
  auto run = run_here(yaml);
  const uint64_t n = 32, g = 8, nodes = 4, b = 32 * 1024;
  const Fabric& f = run.fabric();
  // Remote bytes leave exactly one NIC, aggregated per remote node.
  EXPECT_EQ(tier_bytes(f, "nic->leaf"), n * (n - g) * b);
  EXPECT_EQ(f.messages_injected, n * (g - 1) + n * (nodes - 1) + n * (nodes - 1) * (g - 1));
  // NVLink carries the intra-node part plus every forwarded part once.
  EXPECT_EQ(tier_bytes(f, "gpu->nvswitch"), n * (g - 1) * b + n * (nodes - 1) * (g - 1) * b);
  EXPECT_EQ(f.bytes_delivered, f.bytes_injected);
  EXPECT_TRUE(f.describe_in_flight().empty());
  // The payload reaches its GPUs once: the all-to-all's n (n - 1) x b, whatever was relayed;
  // the relayed parts (each remote GPU but the proxy) are delivered twice on the network.
  EXPECT_EQ(f.final_bytes_delivered, n * (n - 1) * b);
  EXPECT_EQ(run.summary["received_message_bytes"].get<uint64_t>(), n * (n - 1) * b);
  EXPECT_EQ(run.summary["net_relayed_bytes"].get<uint64_t>(), n * (nodes - 1) * (g - 1) * b);
}

TEST(Collectives, RingAllReduceSendsTwoNMinusOneChunksPerGpu) {
  const std::string yaml = std::string(R"(
name: ring
cluster: {type: single_switch, nodes: 1, gpus_per_node: 8, nvswitch: true}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: ring, collective: all_reduce, bytes: 8MiB}
)") + nettest::kPacketHardware;
  auto run = run_here(yaml);
  const uint64_t n = 8, chunk = 8 * 1024 * 1024 / n;
  const Fabric& f = run.fabric();
  EXPECT_EQ(f.messages_delivered, n * 2 * (n - 1));
  EXPECT_EQ(tier_bytes(f, "gpu->nvswitch"), n * 2 * (n - 1) * chunk);
  // Each step moves one 1 MiB chunk per GPU over its own NVLink in parallel: 14 steps of at
  // least 1 MiB / 200 GB/s each (plus headers and latencies).
  const double step_us = chunk / 200e9 * 1e6;
  EXPECT_GT(run.summary["sim_time_us"].get<double>(), 14 * step_us);
  EXPECT_LT(run.summary["sim_time_us"].get<double>(), 14 * step_us * 1.25);
}

TEST(Collectives, AllToAllRunsOnPlaceholderLinks) {
  // The embedded default hardware (fixed_latency NIC and switch) with an all-to-all op.
  const std::string yaml = R"(
name: placeholder
cluster: {type: single_switch, nodes: 2, gpus_per_node: 2}
hardware:
  gpu: {type: roofline}
  memory: {type: fixed_bandwidth}
  nic: {type: fixed_latency}
  switch: {type: fixed_latency}
workload: {type: network_traffic, pattern: all_to_all, bytes: 1MiB}
)";
  auto run = run_here(yaml);
  EXPECT_EQ(run.sim->fabric(), nullptr);
  EXPECT_EQ(run.summary["network_fidelity"], "message");
  EXPECT_EQ(run.summary["received_message_bytes"].get<uint64_t>(), 4u * 3u * (1u << 20));
}

}  // namespace
}  // namespace mlasim
