// Packet timing against closed forms, exact to the picosecond: one message over one link (its
// packets' arrivals at the NVSwitch, with line coding), over one switch
// (GPU - NVSwitch - GPU) and over six links (GPU - NIC - leaf - spine - leaf - NIC - GPU), with
// MTU packets, per-link header overhead, cut-through switches and store-and-forward NICs.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <deque>
#include <functional>
#include <vector>

#include "models/common/packet_fabric.h"
#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

using nettest::run_here;

int64_t ser_ps(uint64_t wire, double bytes_per_s) {
  // Serialisation rounds up to a whole picosecond (Bandwidth::transfer_time).
  return static_cast<int64_t>(std::ceil(static_cast<double>(wire) * 1e12 / bytes_per_s - 1e-6));
}

struct Hop {
  double rate;       // B/s
  int64_t prop;      // ps
  uint32_t segment;  // header per `segment` payload bytes (0: per packet)
  uint32_t header;   // B
  bool cut_through;  // node at the far end
  int64_t pipeline;  // ps, node at the far end (or its sink latency on the last hop)
  uint64_t wire(uint64_t payload) const {
    if (segment == 0) return payload + header;
    return payload + (payload + segment - 1) / segment * header;
  }
};

// Independent max-plus recursion of the packet timing rules (packet_fabric.h): packet k starts
// on link i at max(eligible, link free, [cut-through] tail in - its serialisation here).
int64_t expected_delivery(int64_t ready0, const std::vector<uint64_t>& payloads,
                          const std::vector<Hop>& hops) {
  std::vector<int64_t> link_free(hops.size(), INT64_MIN);
  int64_t done = 0;
  for (uint64_t payload : payloads) {
    int64_t ready = ready0, tail_in = 0;
    for (size_t i = 0; i < hops.size(); ++i) {
      const int64_t s = ser_ps(hops[i].wire(payload), hops[i].rate);
      int64_t start = std::max(ready, link_free[i]);
      if (i > 0 && hops[i - 1].cut_through) start = std::max(start, tail_in - s);
      const int64_t end = start + s;
      link_free[i] = end;
      const int64_t head = start + hops[i].prop, tail = end + hops[i].prop;
      if (i + 1 == hops.size()) {
        done = std::max(done, tail + hops[i].pipeline);
      } else {
        ready = (hops[i].cut_through ? head : tail) + hops[i].pipeline;
        tail_in = tail;
      }
    }
  }
  return done;
}

std::vector<uint64_t> packets_of(uint64_t bytes, uint64_t mtu) {
  std::vector<uint64_t> p(bytes / mtu, mtu);
  if (bytes % mtu) p.push_back(bytes % mtu);
  return p;
}

const MessageRecord& first_from(const Fabric& f, int32_t src) {
  for (const auto& r : f.messages())
    if (r.src == src) return r;
  throw std::runtime_error("no message");
}

constexpr uint64_t kBytes = 10 * 4096 + 1000;  // ten full packets and a partial one

// Two GPUs on one NVSwitch (200 GB/s, 25 ns NVLink); GPU 0 sends kBytes to GPU 1.
std::string nvlink_pair_yaml() {
  return std::string(R"(
name: t
cluster:
  type: single_switch
  nodes: 1
  gpus_per_node: 2
  nvswitch: true
  nvlink: {bandwidth: 200GB/s, latency: 25ns}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 1, sizes: [41960B], count: 1}
)") + nettest::kPacketHardware;
}

TEST(PacketTiming, OneSwitchHopOverNvlinkMatchesClosedForm) {
  const std::string yaml = nvlink_pair_yaml();
  auto run = run_here(
      yaml, {"hardware.nvswitch.pipeline_latency=150ns", "hardware.nvswitch.packet_payload=256B",
             "hardware.nvswitch.packet_header=16B"});
  const MessageRecord& m = first_from(run.fabric(), 0);
  ASSERT_GE(m.completed_ps, 0);
  // Closed form, equal rates through a cut-through switch: the first packet's pipeline, then
  // the packets back to back: setup (0) + (N-1) s + s_last + 2 d + P.
  const double rate = 200e9;
  const int64_t s = ser_ps(4096 + 16 * 16, rate);      // 4096 B in 16 NVLink packets
  const int64_t s_last = ser_ps(1000 + 4 * 16, rate);  // 1000 B in 4
  const int64_t closed = 9 * s + s + s_last + 2 * 25'000 + 150'000;
  EXPECT_EQ(m.completed_ps - m.injected_ps, closed);
  const std::vector<Hop> hops{{rate, 25'000, 256, 16, true, 150'000},
                              {rate, 25'000, 256, 16, false, 0}};
  EXPECT_EQ(m.completed_ps - m.injected_ps, expected_delivery(0, packets_of(kBytes, 4096), hops));
  EXPECT_DOUBLE_EQ(run.summary["credit_stall_us"].get<double>(), 0.0);
}

// One link alone: the GPU sends its packets back to back from t = 0, so packet k's head reaches
// the NVSwitch at k s + d and its tail at (k + 1) s + d, where s is its wire bytes (payload plus
// a header per 256 B) over the line rate times the encoding (0.8 here: 20% line coding).
TEST(PacketTiming, OneLinkArrivalsMatchClosedFormWithLineCoding) {
  const std::string yaml = nvlink_pair_yaml();
  std::vector<std::pair<int64_t, int64_t>> arrivals;  // head arrival, leaving time
  uint32_t first_link = UINT32_MAX;
  auto run = run_here(
      yaml,
      {"hardware.nvswitch.packet_payload=256B", "hardware.nvswitch.packet_header=16B",
       "hardware.nvswitch.encoding=0.8"},
      [&](Simulation& sim) {
        auto* f = dynamic_cast<PacketFabric*>(sim.fabric());
        ASSERT_NE(f, nullptr);
        f->set_residency_probe([&](uint32_t link, uint8_t, uint32_t, int64_t from, int64_t to) {
          if (link == first_link) arrivals.emplace_back(from, to);
        });
        for (uint32_t i = 0; i < f->links().size(); ++i)
          if (f->links()[i].name == "n0_gpu0->n0_nvswitch") first_link = i;
      });
  ASSERT_NE(first_link, UINT32_MAX);
  const double rate = 200e9 * 0.8;
  const int64_t s = ser_ps(4096 + 16 * 16, rate);
  const int64_t s_last = ser_ps(1000 + 4 * 16, rate);
  ASSERT_EQ(arrivals.size(), 11u);
  std::sort(arrivals.begin(), arrivals.end());
  for (int64_t k = 0; k < 11; ++k) {
    EXPECT_EQ(arrivals[k].first, k * s + 25'000) << "packet " << k;
    // It leaves the switch's buffer once its tail is in at the earliest.
    const int64_t tail = k * s + (k < 10 ? s : s_last) + 25'000;
    EXPECT_GE(arrivals[k].second, tail) << "packet " << k;
  }
  // The whole message, too: through the switch at the coded rate on both links.
  const MessageRecord& m = first_from(run.fabric(), 0);
  const int64_t closed = 10 * s + s_last + 2 * 25'000 + 150'000;
  EXPECT_EQ(m.completed_ps - m.injected_ps, closed);
  // Utilisation counts wire time at the coded rate: the link was busy 10 s + s_last.
  EXPECT_EQ(run.fabric().links()[first_link].stats.busy_ps, static_cast<uint64_t>(10 * s + s_last));
}

// One message from GPU 0 to GPU 4 over six links (GPU - NIC - leaf - spine - leaf - NIC - GPU)
// at the given PCIe and IB line rates, with the NIC and switch timing the recursion below uses
// (plus `extra` overrides); returns its delivery time.
// `links`: checks of the run's links, called before the run goes.
int64_t six_link_delivery(const std::string& pcie, const std::string& ib,
                          std::vector<std::string> extra = {},
                          const std::function<void(const std::deque<FabricLink>&)>& links = {}) {
  const std::string yaml = std::string(R"(
name: t
cluster:
  type: ft2
  k: 8
  nodes: 4
  gpus_per_node: 8
  nics_per_node: 8
  nvswitch: false
  pcie: {bandwidth: )") + pcie +
                           R"(, latency: 100ns}
  ib: {bandwidth: )" + ib + R"(, latency: 15ns}
  ib_fabric: {bandwidth: )" +
                           ib + R"(, latency: 100ns}
network: {fidelity: packet}
workload: {type: network_traffic, pattern: p2p, src: 0, dst: 4, sizes: [41960B], count: 1}
)" + nettest::kPacketHardware;
  std::vector<std::string> sets{"hardware.nic.doorbell_latency=500ns",
                                "hardware.nic.processing_latency=100ns",
                                "hardware.nic.mtu=4096B",
                                "hardware.nic.ib_header=26B",
                                "hardware.nic.pcie_max_payload=256B",
                                "hardware.nic.pcie_tlp_overhead=24B",
                                "hardware.switch.pipeline_latency=300ns"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  auto run = run_here(yaml, sets);
  const MessageRecord& m = first_from(run.fabric(), 0);
  EXPECT_GE(m.completed_ps, 0);
  EXPECT_DOUBLE_EQ(run.summary["credit_stall_us"].get<double>(), 0.0);
  EXPECT_EQ(run.summary["packet_hops"].get<uint64_t>(), 6u * 11u);  // 11 packets, 6 links
  if (links) links(run.fabric().links());
  return m.completed_ps - m.injected_ps;
}

// The six links of six_link_delivery at PCIe and IB rates `pcie` and `ib` (B/s).
std::vector<Hop> six_hops(double pcie, double ib) {
  return {{pcie, 100'000, 256, 24, false, 100'000},  // GPU -> NIC (store and forward)
          {ib, 15'000, 0, 26, true, 300'000},        // NIC -> leaf (cut-through)
          {ib, 100'000, 0, 26, true, 300'000},       // leaf -> spine
          {ib, 100'000, 0, 26, true, 300'000},       // spine -> leaf
          {ib, 15'000, 0, 26, false, 100'000},       // leaf -> NIC
          {pcie, 100'000, 256, 24, false, 0}};       // NIC -> GPU (sink)
}

TEST(PacketTiming, SixLinksThroughNicsAndSwitchesMatchRecursion) {
  const int64_t delivered = six_link_delivery("63GB/s", "400Gb/s");
  const double ib = 50e9;
  const int64_t doorbell = 500'000;
  EXPECT_EQ(delivered, expected_delivery(doorbell, packets_of(kBytes, 4096), six_hops(63e9, ib)));
  // Sanity of the recursion itself: the IB links are the bottleneck, so past the first packet
  // the message streams at one IB packet time per packet.
  EXPECT_GT(delivered, doorbell + 10 * ser_ps(4096 + 26, ib));
}

// The IB and PCIe links' line coding (ib_encoding, pcie_encoding) slows their serialisation by
// exactly that share: the same six-link recursion at the coded rates, 425 Gb/s x 16/17 =
// 400 Gb/s and 64 GB/s x 63/64 = 63 GB/s.
TEST(PacketTiming, NicLineCodingScalesTheSixLinkRecursion) {
  const int64_t delivered = six_link_delivery(
      "64GB/s", "425Gb/s",
      {"hardware.nic.ib_encoding=0.9411764705882353", "hardware.nic.pcie_encoding=0.984375"});
  const double pcie = 64e9 * 0.984375, ib = 425e9 / 8 * 0.9411764705882353;
  EXPECT_NEAR(ib, 50e9, 1.0);
  EXPECT_EQ(delivered, expected_delivery(500'000, packets_of(kBytes, 4096), six_hops(pcie, ib)));
}

// A link between two switches adds no header of its own but carries the NIC's packets, headers
// included, over the same line coding: its wire bytes and busy time are those of the NIC's
// links (a cut-through middle hop never delays a lone message, so only the link's own figures
// can tell).
TEST(PacketTiming, SwitchToSwitchLinksCarryTheNicHeaderAndCoding) {
  const double coding = 0.9411764705882353, ib = 425e9 / 8 * coding;
  const std::vector<uint64_t> payloads = packets_of(kBytes, 4096);
  uint64_t wire = 0;
  int64_t busy = 0;
  for (uint64_t p : payloads) {
    wire += p + 26;
    busy += ser_ps(p + 26, ib);
  }
  int checked = 0;
  six_link_delivery("64GB/s", "425Gb/s", {"hardware.nic.ib_encoding=0.9411764705882353"},
                    [&](const std::deque<FabricLink>& links) {
                      for (const FabricLink& l : links) {
                        if (l.stats.bytes != kBytes) continue;  // not on the message's path
                        if (l.timing.kind != "ib") continue;
                        SCOPED_TRACE(l.name);
                        EXPECT_EQ(l.stats.wire_bytes, wire);
                        EXPECT_EQ(l.stats.busy_ps, static_cast<uint64_t>(busy));
                        ++checked;
                      }
                    });
  EXPECT_EQ(checked, 4);  // NIC -> leaf -> spine -> leaf -> NIC
}

// Three messages of one queue pair (GPU 0 to GPU 1, one tag) posted at once leave one after
// another, as a NIC works through its send queue: message k is delivered when the first k + 1
// messages' packets, in post order, have gone through (the same recursion over their packets
// back to back). At flow level each runs alone, so they end one transfer time apart. (Before
// 2026-12-04 they shared the wire packet by packet and ended almost together.)
constexpr uint64_t kBig = 10 * kBytes;
TEST(PacketTiming, MessagesOfOneQueuePairLeaveOneAfterAnother) {
  std::string yaml = nvlink_pair_yaml();
  yaml.replace(yaml.find("count: 1"), 8, "count: 3");
  // More than the NVSwitch's input buffer holds (credits run out while the first is sent).
  yaml.replace(yaml.find("41960B"), 6, std::to_string(kBig) + "B");
  auto run = run_here(
      yaml, {"hardware.nvswitch.pipeline_latency=150ns", "hardware.nvswitch.packet_payload=256B",
             "hardware.nvswitch.packet_header=16B"});
  std::vector<int64_t> done;
  for (const auto& r : run.fabric().messages())
    if (r.src == 0) done.push_back(r.completed_ps - r.injected_ps);
  ASSERT_EQ(done.size(), 3u);
  const std::vector<Hop> hops{{200e9, 25'000, 256, 16, true, 150'000},
                              {200e9, 25'000, 256, 16, false, 0}};
  std::vector<uint64_t> packets;
  for (size_t k = 0; k < 3; ++k) {
    for (uint64_t p : packets_of(kBig, 4096))
      packets.push_back(p);
    EXPECT_EQ(done[k], expected_delivery(0, packets, hops)) << "message " << k;
  }
}

// Three messages of three queue pairs (one tag each, GPU 1 to GPU 0) posted at once share the
// wire packet by packet: they end within a packet's serialisation of each other (the last
// round of the round-robin), as at flow level, where they end together. (Before 2026-12-05 the
// first one posted took a credit window of packets before the others joined: it ended long
// before them.)
void expect_queue_pairs_end_together(const char* fidelity) {
  std::string yaml = nvlink_pair_yaml();
  const std::string p2p = "pattern: p2p, src: 0, dst: 1, sizes: [41960B], count: 1";
  yaml.replace(
      yaml.find(p2p), p2p.size(),
      "pattern: incast, dst: 0, senders: 1, count: 3, bytes: " + std::to_string(kBig) + "B");
  auto run = run_here(
      yaml, {"hardware.nvswitch.packet_payload=256B", "hardware.nvswitch.packet_header=16B",
             std::string("network.fidelity=") + fidelity});
  std::vector<int64_t> ends;
  for (const auto& r : run.fabric().messages())
    ends.push_back(r.completed_ps);
  ASSERT_EQ(ends.size(), 3u);
  const auto [lo, hi] = std::minmax_element(ends.begin(), ends.end());
  const int64_t packet_ps = ser_ps(16 * (256 + 16), 200e9);  // a full packet on NVLink
  EXPECT_LE(*hi - *lo, 2 * packet_ps + 2) << fidelity;
  EXPECT_GT(*lo, 2 * ser_ps(kBig, 200e9)) << "all three shared the wire to the end";
}
TEST(PacketTiming, MessagesOfQueuePairsPostedTogetherShareTheWire) {
  expect_queue_pairs_end_together("packet");
}
TEST(PacketTiming, MessagesOfQueuePairsPostedTogetherShareTheWireAtFlowLevel) {
  expect_queue_pairs_end_together("flow");
}

// Three messages of one queue pair at flow level, exact (`quantum` empty) or with rates
// recomputed once per quantum for any number of flows: they leave back to back, each next one
// taking over the links and rate of the one before as it ends. (Alone on its links, a next one
// would start at once in quantum mode too: the hand-over count is what shows the hand-over
// here; FlowQuantum.NextMessageOfAQueuePairTakesOverItsShareBetweenRecomputations shows the
// gap it closes beside other traffic.)
void expect_one_queue_pair_back_to_back(const std::string& quantum) {
  std::string yaml = nvlink_pair_yaml();
  yaml.replace(yaml.find("count: 1"), 8, "count: 3");
  // More than the NVSwitch's input buffer holds (credits run out while the first is sent).
  yaml.replace(yaml.find("41960B"), 6, std::to_string(kBig) + "B");
  std::vector<std::string> sets{"network.fidelity=flow", "hardware.nvswitch.packet_payload=256B",
                                "hardware.nvswitch.packet_header=16B"};
  if (!quantum.empty()) {
    sets.push_back("network.flow.rate_update=" + quantum);
    sets.push_back("network.flow.exact_below=0");
  }
  auto flow = run_here(yaml, sets);
  std::vector<int64_t> ends;
  for (const auto& r : flow.fabric().messages())
    if (r.src == 0) ends.push_back(r.completed_ps);
  ASSERT_EQ(ends.size(), 3u);
  // The message's wire bytes at 200 GB/s: 102 full packets of 16 x (256 + 16) B and a last one
  // of 1,808 B in 8 segments of at most 256 B, each with its 16 B header.
  ASSERT_EQ(kBig, 102u * 4096 + 1808);
  const double transfer_ps = (102.0 * 16 * 272 + (1808 + 8 * 16)) / 200e9 * 1e12;
  for (size_t k = 1; k < 3; ++k)
    EXPECT_NEAR(static_cast<double>(ends[k] - ends[k - 1]), transfer_ps, 2.0) << "message " << k;
  // The second and third took over from the one before.
  EXPECT_EQ(flow.fabric().flows_handed_over, 2u);
}

TEST(PacketTiming, MessagesOfOneQueuePairLeaveOneAfterAnotherAtFlowLevel) {
  expect_one_queue_pair_back_to_back("");
}
TEST(PacketTiming, MessagesOfOneQueuePairLeaveBackToBackWithARateQuantum) {
  expect_one_queue_pair_back_to_back("10us");
}

}  // namespace
}  // namespace mlasim
