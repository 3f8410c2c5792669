// DeepEP's per-node deduplication on the all_to_all (AllToAllOp::relay): a dispatch sends each
// token over the network once per node and the relay forwards it over NVLink; a combine sends
// its parts over NVLink to the GPU with the destination's local index, which sums them and
// sends one message over the network. A hand-made trace on 2 nodes x 2 GPUs, whose link bytes
// follow from its rows by hand, at packet and at flow level; and the trace checks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "models/common/comm_ops.h"
#include "sim/errors.h"
#include "tests/network/network_test_util.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

using Rows = std::vector<std::string>;

// Dispatch (tag 1), then combine (tag 2, summed). Ranks 0, 1 on node 0; 2, 3 on node 1.
struct Collective {
  Rows send, recv, relay;
  bool reduce = false;
};
Collective dispatch() {
  return {{"[0, 0, 3000, 5000]", "[0, 0, 0, 4000]", "[1000, 2000, 0, 0]", "[0, 0, 0, 0]"},
          {"[0, 0, 1000, 0]", "[0, 0, 2000, 0]", "[3000, 0, 0, 0]", "[5000, 4000, 0, 0]"},
          // Rank 0 to node 1: 8000 B of parts, 6000 B once per token; rank 1: one part, 4000 B;
          // rank 2 to node 0: 3000 B of parts, 2500 B.
          {"[0, 0, 6000, 0]", "[0, 0, 0, 4000]", "[2500, 0, 0, 0]", "[0, 0, 0, 0]"},
          false};
}
Collective combine() {
  return {{"[0, 0, 300, 0]", "[0, 0, 0, 0]", "[700, 0, 0, 0]", "[900, 400, 0, 0]"},
          {"[0, 0, 700, 900]", "[0, 0, 0, 400]", "[300, 0, 0, 0]", "[0, 0, 0, 0]"},
          // Rank 2 sums for rank 0 (700 B its own, 900 B from rank 3): 1200 B; rank 3 for rank
          // 1 (its own 400 B); rank 0 for rank 2 (its own 300 B).
          {"[0, 0, 300, 0]", "[0, 0, 0, 0]", "[1200, 0, 0, 0]", "[0, 400, 0, 0]"},
          true};
}

std::string trace_text(const Collective& d, const Collective& c, int minor = kTraceMinorVersion,
                       bool forwarding = true) {
  std::string ranks;
  for (int r = 0; r < 4; ++r) {
    std::string ops;
    for (int k = 0; k < 2; ++k) {
      const Collective& x = k == 0 ? d : c;
      ops += (k ? ", " : "") + std::string(R"({"name": ")") + (k ? "combine" : "dispatch") +
             R"(", "op": "all_to_all", "deps": )" + (k ? "[0]" : "[]") +
             R"(, "stream": 0, "micro_batch": 0, "send_bytes": )" + x.send[r] +
             R"(, "recv_bytes": )" + x.recv[r] + R"(, "tag": )" + std::to_string(k + 1) +
             R"(, "gpus_per_node": 2, "nvlink_forwarding": )" + (forwarding ? "true" : "false") +
             R"(, "issuer": "sm")" +
             (x.relay.empty() || x.relay[r].empty() ? "" : R"(, "relay_bytes": )" + x.relay[r]) +
             (x.reduce ? R"(, "reduce": true)" : "") + "}";
    }
    ranks += (r ? ", " : "") + std::string(R"({"rank": )") + std::to_string(r) + R"(, "ops": [)" +
             ops + "]}";
  }
  return R"({"format": "mlasim-trace", "version": 1, "minor": )" + std::to_string(minor) +
         R"(, "ranks": [)" + ranks + "]}";
}

std::string error_of(const std::string& text) {
  try {
    workload_from_json(nlohmann::json::parse(text), "t.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

uint64_t tier_bytes(const Fabric& f, const std::string& tier) {
  uint64_t total = 0;
  for (const auto& l : f.links())
    if (l.timing.tier == tier) total += l.stats.bytes;
  return total;
}

void run_and_check(const std::string& fidelity) {
  const auto dir = nettest::temp_dir("dedup_" + fidelity);
  std::filesystem::create_directories(dir);
  const auto file = dir / "t.json";
  std::ofstream(file) << trace_text(dispatch(), combine());
  const std::string yaml = std::string(R"(
name: dedup
cluster: {type: single_switch, nodes: 2, gpus_per_node: 2, nvswitch: true}
network: {fidelity: )") + fidelity +
                           R"(}
workload: {type: trace, file: ')" +
                           file.string() + "'}\n" + nettest::kPacketHardware;
  auto run = nettest::run_here(yaml);
  const Fabric& f = run.fabric();
  EXPECT_TRUE(f.describe_in_flight().empty());
  EXPECT_EQ(f.bytes_delivered, f.bytes_injected);
  // The network carries the deduplicated bytes only: the dispatch's relay messages and the
  // combine's sums.
  EXPECT_EQ(tier_bytes(f, "nic->leaf"), (6000u + 4000 + 2500) + (1200u + 400 + 300));
  EXPECT_EQ(tier_bytes(f, "leaf->nic"), tier_bytes(f, "nic->leaf"));
  // NVLink: the dispatch parts a relay forwards (5000 B from rank 2 to 3, 2000 B from 0 to 1;
  // rank 3 keeps its own 4000 B) and the combine part rank 3 sends rank 2 to sum (900 B).
  EXPECT_EQ(tier_bytes(f, "gpu->nvswitch"), 5000u + 2000 + 900);
  // Each GPU's own data arrives once: the dispatch matrix, and the combine's sums.
  const uint64_t final_bytes = (8000u + 4000 + 3000) + (1200u + 400 + 300);
  EXPECT_EQ(f.final_bytes_delivered, final_bytes);
  EXPECT_EQ(run.summary["received_message_bytes"].get<uint64_t>(), final_bytes);
  // What reached a GPU on the way to others: the relays' messages beyond their own part
  // (6000 - 3000, 4000 - 4000, 2500 - 1000) and the part sent to be summed.
  EXPECT_EQ(run.summary["net_relayed_bytes"].get<uint64_t>(), 3000u + 0 + 1500 + 900);
}

TEST(DeepEpDedup, PacketLevelMovesEachTokenOverTheNetworkOncePerNode) {
  run_and_check("packet");
}

TEST(DeepEpDedup, FlowLevelMovesEachTokenOverTheNetworkOncePerNode) {
  run_and_check("flow");
}

// Without an NVSwitch the relay hop inside a node still runs, through the NICs and their
// switch: the network then carries the NVLink bytes of the test above as well, and the run warns
// that forwarding found no NVLink (with an NVSwitch it does not).
TEST(DeepEpDedup, ForwardingWithoutNvSwitchCrossesTheNicsAndIsWarnedAbout) {
  const auto dir = nettest::temp_dir("dedup_no_nvswitch");
  std::filesystem::create_directories(dir);
  const auto file = dir / "t.json";
  std::ofstream(file) << trace_text(dispatch(), combine());
  auto yaml = [&](bool nvswitch) {
    return std::string(
               "name: dedup\ncluster: {type: single_switch, nodes: 2, gpus_per_node: 2, "
               "nvswitch: ") +
           (nvswitch ? "true" : "false") + "}\nworkload: {type: trace, file: '" + file.string() +
           "'}\n" + nettest::kPacketHardware;
  };
  auto run = nettest::run_here(yaml(false));
  const Fabric& f = run.fabric();
  EXPECT_TRUE(f.describe_in_flight().empty());
  EXPECT_EQ(tier_bytes(f, "nic->leaf"),
            (6000u + 4000 + 2500) + (1200u + 400 + 300) + (5000u + 2000 + 900));
  EXPECT_EQ(f.final_bytes_delivered, (8000u + 4000 + 3000) + (1200u + 400 + 300));
  for (const bool nvswitch : {false, true}) {
    std::ofstream(dir / "s.yaml") << yaml(nvswitch);
    const CliResult r = run_cli({"run", (dir / "s.yaml").string(), "--no-plots", "--out",
                                 (dir / (nvswitch ? "with" : "without")).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const bool warned = r.err.find(
                            "all_to_all 'dispatch' forwards over NVLink (nvlink_forwarding) "
                            "but the cluster has no NVSwitch") != std::string::npos;
    EXPECT_EQ(warned, !nvswitch) << r.err;
  }
  std::filesystem::remove_all(dir);
}

// Rank 2's combine on its own: it sums its 700 B and rank 3's 900 B for rank 0 and sends
// 1200 B once both are in (the part may come before the op starts), and completes once that
// sum has left and rank 0's 300 B sum for it has arrived; meanwhile the watchdog says why.
TEST(DeepEpDedup, SummingGpuSendsOnceEveryPartIsIn) {
  const Workload w =
      workload_from_json(nlohmann::json::parse(trace_text(dispatch(), combine())), "t.json");
  const OpPayload& op = w.ranks[2].ops[1].payload;
  for (const bool part_first : {false, true}) {
    SCOPED_TRACE(part_first);
    std::vector<std::pair<Message, std::function<void()>>> sent;
    int completed = 0;
    CommOps comm(
        2, 1, [&](Message m, std::function<void()> done) { sent.emplace_back(m, done); },
        [&](uint32_t) { ++completed; });
    auto arrive = [&](int32_t src, uint64_t bytes, int32_t reduce_for) {
      Message m;
      m.src = src;
      m.dst = 2;
      m.tag = 2;
      m.bytes = Bytes(bytes);
      m.kind = MessageKind::Collective;
      m.reduce_for = reduce_for;
      comm.on_message(m);
    };
    if (part_first) arrive(3, 900, 0);
    comm.start(1, op);
    if (!part_first) {
      EXPECT_TRUE(sent.empty());  // its own part stays here; the sum waits for rank 3's
      // It names the part missing (rank 3's), not its own, which is in.
      EXPECT_NE(comm.describe(1, op).find("sum for rank 0 waits for parts from rank 3"),
                std::string::npos)
          << comm.describe(1, op);
      arrive(3, 900, 0);
    }
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].first.dst, 0);
    EXPECT_EQ(sent[0].first.bytes.count(), 1200u);
    EXPECT_EQ(sent[0].first.reduce_for, -1);
    sent[0].second();
    EXPECT_EQ(completed, 0);
    EXPECT_NE(comm.describe(1, op).find("missing pieces from ranks 0"), std::string::npos)
        << comm.describe(1, op);
    arrive(0, 300, -1);
    EXPECT_EQ(completed, 1);
  }
}

TEST(DeepEpDedup, TraceFieldsRoundTripAndAreMinorFive) {
  const std::string text = trace_text(dispatch(), combine());
  EXPECT_EQ(error_of(text), "no error");
  const Workload w = workload_from_json(nlohmann::json::parse(text), "t.json");
  const auto& d2 = std::get<AllToAllOp>(w.ranks[2].ops[0].payload);
  const auto& c2 = std::get<AllToAllOp>(w.ranks[2].ops[1].payload);
  EXPECT_EQ(d2.relay_send_bytes(0), 2500u);
  EXPECT_EQ(d2.relay_recv_bytes(0), 6000u);
  EXPECT_TRUE(c2.reduce);
  EXPECT_EQ(c2.relay_send_bytes(0), 1200u);
  EXPECT_EQ(workload_to_json(w)["ranks"].dump(),
            nlohmann::ordered_json::parse(text)["ranks"].dump());
  EXPECT_NE(error_of(trace_text(dispatch(), combine(), 4))
                .find("field 'relay_bytes': added in trace minor version 5"),
            std::string::npos);
}

TEST(DeepEpDedup, TraceRelayBytesMustStandForTheirParts) {
  auto with = [](Collective c, int rank, const std::string& relay) {
    c.relay[static_cast<size_t>(rank)] = relay;
    return c;
  };
  auto expect_error = [](const std::string& text, const std::string& what) {
    const std::string e = error_of(text);
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  // Not the GPU with rank 0's local index on another node.
  expect_error(trace_text(with(dispatch(), 0, "[0, 0, 0, 6000]"), combine()),
               "rank 0 op 0 'dispatch': all_to_all field 'relay_bytes': entry 3 = 6000 B: only "
               "GPUs on other nodes with this GPU's local index (0 of 2) take deduplicated bytes");
  expect_error(trace_text(with(dispatch(), 0, "[0, 0, 9000, 0]"), combine()),
               "rank 0 op 0 'dispatch': all_to_all tag 1 field 'relay_bytes': entry 2 = 9000 B, "
               "but the parts it stands for (this rank's sends to that rank's node) come to "
               "8000 B");
  // A relay that would wait for a message that never comes.
  expect_error(trace_text(with(dispatch(), 1, "[0, 0, 0, 0]"), combine()),
               "rank 1 op 0 'dispatch': all_to_all tag 1 field 'relay_bytes': entry 3 = 0 B, but "
               "the parts it stands for (this rank's sends to that rank's node) come to 4000 B");
  expect_error(trace_text(dispatch(), with(combine(), 2, "[1700, 0, 0, 0]")),
               "rank 2 op 1 'combine': all_to_all tag 2 field 'relay_bytes': entry 0 = 1700 B, "
               "but the parts it stands for (what this node sends that rank) come to 1600 B");
  Collective no_relay = combine();
  no_relay.relay.clear();
  expect_error(trace_text(dispatch(), no_relay),
               "rank 0 op 1 'combine': all_to_all field 'reduce': needs relay_bytes");
  expect_error(trace_text(dispatch(), combine(), kTraceMinorVersion, false),
               "rank 0 op 0 'dispatch': all_to_all field 'relay_bytes': needs nvlink_forwarding");
  expect_error(trace_text(with(dispatch(), 0, "[0, 6000]"), combine()),
               "rank 0 op 0 'dispatch', field 'relay_bytes': needs 4 entries");
  // All ranks or none; and one direction for the whole collective.
  Collective partial = dispatch();
  partial.relay[3] = "";
  expect_error(trace_text(partial, combine()),
               "all_to_all tag 1: rank 0 op 0 'dispatch' gives relay_bytes but rank 3 op 0 "
               "'dispatch' does not (every rank of a collective gives them, or none)");
  // Nodes must be whole (a relay's index would fall past the last rank).
  std::string odd = trace_text(dispatch(), combine());
  for (size_t at = odd.find(R"("gpus_per_node": 2)"); at != std::string::npos;
       at = odd.find(R"("gpus_per_node": 2)", at))
    odd.replace(at, 18, R"("gpus_per_node": 3)");
  expect_error(odd,
               "rank 0 op 0 'dispatch': all_to_all field 'relay_bytes': needs whole nodes: "
               "gpus_per_node 3 does not divide the 4 ranks");
  // Rank 1 alone reads the combine as a dispatch.
  std::string mixed = trace_text(dispatch(), combine());
  const std::string reduce = R"(, "reduce": true)";
  mixed.erase(mixed.find(reduce, mixed.find(reduce) + 1), reduce.size());
  expect_error(mixed,
               "all_to_all tag 2: rank 0 op 1 'combine' (nvlink_forwarding true, gpus_per_node 2, "
               "relay_bytes given, reduce true) and rank 1 op 1 'combine' (nvlink_forwarding "
               "true, gpus_per_node 2, relay_bytes given, reduce false) disagree");
  // Rank 0 sends rank 3 a part, which rank 1 (local index 1) would sum: it has no combine.
  nlohmann::json j = nlohmann::json::parse(trace_text(dispatch(), combine()));
  j["ranks"][1]["ops"].erase(1);
  j["ranks"][0]["ops"][1]["send_bytes"][3] = 200;
  j["ranks"][3]["ops"][1]["recv_bytes"][0] = 200;
  j["ranks"][3]["ops"][1]["send_bytes"][1] = 0;  // nothing for rank 1, which has no combine
  j["ranks"][3]["ops"][1]["relay_bytes"][1] = 0;
  expect_error(j.dump(),
               "all_to_all tag 2: rank 1 is to sum 200 B from its node for rank 3, but has no "
               "all_to_all with this tag");
}

}  // namespace
}  // namespace mlasim
