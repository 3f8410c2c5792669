// The watchdog: the wait-for analysis on hand-made op graphs (pure logic), then deliberately
// stuck runs through the real binary: a cross-rank receive-before-send deadlock, a destination
// made unreachable by failed switches, a time limit reached inside a congested network (full
// buffers named), each exiting 3 with a diagnosis naming rank, op and what it waits for.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "models/common/comm_ops.h"
#include "sim/action_queue.h"
#include "sim/errors.h"
#include "sim/watchdog.h"
#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

Op recv(int peer, const char* name, std::vector<uint32_t> deps = {}, int tag = 0) {
  return Op{name, RecvOp{peer, Bytes(4096), tag}, std::move(deps)};
}
Op send(int peer, const char* name, std::vector<uint32_t> deps = {}, int tag = 0) {
  return Op{name, SendOp{peer, Bytes(4096), tag}, std::move(deps)};
}
Op gemm(const char* name, std::vector<uint32_t> deps = {}) {
  return Op{name, GemmOp{64, 64, 64, DType::BF16}, std::move(deps)};
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Each rank receives before it sends to the other: neither send can ever start.
Workload recv_before_send() {
  Workload w;
  w.ranks.resize(2);
  w.ranks[0].ops = {gemm("gemm"), recv(1, "recv_from_1"), send(1, "send_to_1", {0, 1})};
  w.ranks[1].ops = {gemm("gemm"), recv(0, "recv_from_0"), send(0, "send_to_0", {0, 1})};
  return w;
}

TEST(StallAnalysis, FindsTheCrossRankWaitForCycle) {
  const Workload w = recv_before_send();
  // The GEMMs finished; the receives and sends did not.
  StallAnalysis a(w, {{true, false, false}, {true, false, false}});
  const std::vector<OpRef> cycle = a.find_cycle();
  ASSERT_EQ(cycle.size(), 4u);
  // Every op of the cycle waits for the next one, the last for the first.
  for (size_t k = 0; k < cycle.size(); ++k) {
    const OpRef from = cycle[k], to = cycle[(k + 1) % cycle.size()];
    const std::string waits = *a.waits_for(from);
    EXPECT_TRUE(has(waits, "'" + w.ranks[to.rank].ops[to.op].name + "'")) << waits;
  }
  const std::string line = a.cycle_line(cycle);
  for (const char* part : {"rank 0 op 1 'recv_from_1' (recv)", "rank 1 op 2 'send_to_0' (send)",
                           "rank 1 op 1 'recv_from_0' (recv)", "rank 0 op 2 'send_to_1' (send)"}) {
    EXPECT_TRUE(has(line, part)) << line;
  }
  EXPECT_EQ(*a.waits_for(OpRef{0, 1}), "rank 1 op 2 'send_to_0' (its matching send)");
  EXPECT_EQ(*a.waits_for(OpRef{0, 2}), "op 1 'recv_from_1'");
}

TEST(StallAnalysis, NoCycleWhenTheSendHasGoneOut) {
  Workload w;
  w.ranks.resize(2);
  w.ranks[0].ops = {send(1, "send_to_1")};
  w.ranks[1].ops = {recv(0, "recv_from_0"), gemm("after", {0})};
  StallAnalysis a(w, {{true}, {false, false}});
  EXPECT_TRUE(a.find_cycle().empty());
  EXPECT_TRUE(has(*a.waits_for(OpRef{1, 0}), "still in the network")) << *a.waits_for({1, 0});
  EXPECT_EQ(*a.waits_for(OpRef{1, 1}), "op 0 'recv_from_0'");
}

TEST(StallAnalysis, MatchesTheKthReceiveWithTheKthSendOfTheSameTag) {
  Workload w;
  w.ranks.resize(2);
  w.ranks[0].ops = {send(1, "a0", {}, 5), send(1, "b0", {}, 7), send(1, "a1", {}, 5)};
  w.ranks[1].ops = {recv(0, "ra0", {}, 5), recv(0, "ra1", {}, 5), recv(0, "rb0", {}, 7)};
  StallAnalysis a(w, {{false, false, false}, {false, false, false}});
  EXPECT_EQ(*a.waits_for(OpRef{1, 0}), "rank 0 op 0 'a0' (its matching send)");
  EXPECT_EQ(*a.waits_for(OpRef{1, 1}), "rank 0 op 2 'a1' (its matching send)");
  EXPECT_EQ(*a.waits_for(OpRef{1, 2}), "rank 0 op 1 'b0' (its matching send)");
  EXPECT_TRUE(a.find_cycle().empty());
}

TEST(StallAnalysis, ReceiveThatNoOpSends) {
  Workload w;
  w.ranks.resize(2);
  w.ranks[0].ops = {gemm("gemm")};
  w.ranks[1].ops = {recv(0, "orphan")};
  StallAnalysis a(w, {{true}, {false}});
  EXPECT_TRUE(has(*a.waits_for(OpRef{1, 0}), "no op sends")) << *a.waits_for({1, 0});
}

// Two all-to-alls among 2 ranks (1 KiB each way), tags 1 and 2, on one stream: rank 0 runs tag
// 1 and queues tag 2 behind it, rank 1 the reverse.
Workload opposite_collectives() {
  A2AMatrix::Builder b(2);
  b.add(0, 1, 1024);
  b.add(1, 0, 1024);
  const auto m = b.build();
  auto a2a = [&](int rank, int tag) {
    AllToAllOp op;
    op.matrix = m;
    op.rank = rank;
    op.tag = tag;
    return Op{fmt::format("t{}", tag), op, {}, 1};
  };
  Workload w;
  w.ranks.resize(2);
  w.ranks[0].ops = {a2a(0, 1), a2a(0, 2)};
  w.ranks[1].ops = {a2a(1, 2), a2a(1, 1)};
  return w;
}

TEST(StallAnalysis, CollectivesQueuedInOppositeOrdersFormACycle) {
  const Workload w = opposite_collectives();
  // Op 0 of each rank runs; op 1 waits behind it on the stream.
  StallAnalysis a(w, {{false, false}, {false, false}}, {{true, false}, {true, false}},
                  {{-1, 0}, {-1, 0}});
  const std::vector<OpRef> cycle = a.find_cycle();
  ASSERT_EQ(cycle.size(), 4u) << a.cycle_line(cycle);
  // Each running collective waits for the peer's matching one (same tag), queued there.
  EXPECT_EQ(a.cycle_line(cycle),
            "wait-for cycle: rank 0 op 0 't1' (all_to_all) waits for rank 1 op 1 't1' "
            "(all_to_all), which waits for rank 1 op 0 't2' (all_to_all), which waits for rank 0 "
            "op 1 't2' (all_to_all), which waits for rank 0 op 0 't1' (all_to_all)");
  EXPECT_EQ(*a.waits_for(OpRef{0, 1}), "op 0 't1' (ahead of it on stream 1)");
  EXPECT_FALSE(a.waits_for(OpRef{0, 0}));  // the GPU describes the missing pieces
}

TEST(StallAnalysis, NoCycleWhileEveryCollectiveHasBegun) {
  // Both ranks run both collectives (data in flight): nothing waits for an op yet to begin.
  const Workload w = opposite_collectives();
  StallAnalysis a(w, {{false, false}, {false, false}}, {{true, true}, {true, true}},
                  {{-1, -1}, {-1, -1}});
  EXPECT_TRUE(a.find_cycle().empty());
  // Without the run state, collectives are not followed at all.
  StallAnalysis plain(w, {{false, false}, {false, false}});
  EXPECT_TRUE(plain.find_cycle().empty());
}

TEST(RankRanges, WritesRunsOfConsecutiveRanksAndCapsTheList) {
  EXPECT_EQ(rank_ranges({}), "");
  EXPECT_EQ(rank_ranges({3}), "3");
  EXPECT_EQ(rank_ranges({1, 3}), "1, 3");
  EXPECT_EQ(rank_ranges({0, 1, 2, 3, 5, 9, 10, 11}), "0-3, 5, 9-11");
  EXPECT_EQ(rank_ranges({0, 2, 4, 6, 8}, 3), "0, 2, 4, ... (5 ranks in all)");
}

TEST(Watchdog, ReceiveBeforeSendDeadlockExitsThreeWithTheCycle) {
  const CliResult r =
      run_cli({"run", MLASIM_CONFIG_DIR "/teaching/pairwise-exchange.yaml", "--no-plots", "-o",
               ::testing::TempDir() + "/wd_rbs", "--set", "workload.recv_before_send=true"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(has(r.err, "deadlock")) << r.err;
  EXPECT_TRUE(has(r.err, "8 ops unfinished")) << r.err;  // a receive and a send on each of 4
  EXPECT_TRUE(has(r.err, "wait-for cycle: ")) << r.err;
  // The default scenario pairs GPU r with GPU r+2 (mod 4).
  EXPECT_TRUE(has(r.err,
                  "rank 0 op 1 'recv_from_2' (recv) on n0_gpu0 waits for rank 2 op 2 "
                  "'send_to_0' (its matching send)"))
      << r.err;
  EXPECT_TRUE(has(r.err, "rank 0 op 2 'send_to_2' (send) on n0_gpu0 waits for op 1 'recv_from_2'"))
      << r.err;
}

TEST(Watchdog, UnreachableDestinationExitsThreeNamingTheWaitingOps) {
  // Without NVSwitches and with leaf0 failed, node 0's GPUs have no way out.
  const CliResult r = run_cli({"run", "--no-plots", "-o", ::testing::TempDir() + "/wd_route",
                               MLASIM_SOURCE_DIR "/configs/scenarios/net-failed-link.yaml", "--set",
                               "cluster.nvswitch=false", "--set", "network.faults.links=[]",
                               "--set", "network.faults.switches=[leaf0]"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(has(r.err, "no route to GPU")) << r.err;
  EXPECT_TRUE(has(r.err, "rank 0 n0_gpu0: op 0 'all_to_all_0' (all_to_all) waits")) << r.err;
  EXPECT_TRUE(has(r.err, "sends not yet out")) << r.err;
}

// A destination found unreachable while the run is under way (inside a SystemC process, not
// when a GPU starts) is a simulation failure like any other: exit 3, mlasim's own message, none
// of SystemC's report.
void expect_unreachable(const std::vector<std::string>& args) {
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("mlasim: simulation failed: ", 0), 0u) << r.err;
  const std::string first = r.err.substr(0, r.err.find('\n'));
  EXPECT_TRUE(has(first, "no route to GPU")) << r.err;
  EXPECT_TRUE(has(first, " at ")) << r.err;  // the simulated time of the failure
  for (const char* systemc : {"E549", "uncaught exception", "sc_except", "In process"})
    EXPECT_FALSE(has(r.err, systemc)) << r.err;
}

// A sender whose only NIC failed before the run has no link at all into the network (it used to
// crash reading past the fabric's nodes): the same diagnosis, at packet and at flow level.
TEST(Watchdog, SenderCutOffBeforeTheRunExitsThree) {
  for (const char* fidelity : {"packet", "flow"}) {
    expect_unreachable({"run", MLASIM_SOURCE_DIR "/configs/scenarios/net-incast.yaml", "--no-plots",
                        "-o", ::testing::TempDir() + "/wd_cut_" + fidelity, "--set",
                        "network.faults.nics=[n1_nic0]", "--set",
                        std::string("network.fidelity=") + fidelity, "--set",
                        "hardware.switch.buffer=~"});  // (not warned about at flow level)
  }
}

TEST(Watchdog, DestinationUnreachableMidRunExitsThree) {
  expect_unreachable({"run", MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml",
                      "--no-plots", "-o", ::testing::TempDir() + "/wd_sw0", "--set",
                      "network.faults.switches=[switch0]"});
}

TEST(Watchdog, SwitchFailingAtATimeThatStrandsTrafficExitsThree) {
  expect_unreachable({"run", MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml",
                      "--no-plots", "-o", ::testing::TempDir() + "/wd_ev", "--set",
                      "network.faults.events=[{at: 10us, switch: switch0}]"});
}

TEST(Watchdog, FailedNicOfAPairwiseExchangeExitsThree) {
  expect_unreachable({"run", MLASIM_CONFIG_DIR "/teaching/pairwise-exchange.yaml", "--no-plots",
                      "-o", ::testing::TempDir() + "/wd_nic", "--set",
                      "network.faults.nics=[n0_nic0]"});
}

// Both error kinds thrown by a callback inside the kernel come out of start_kernel as
// themselves, with their own messages (SystemC alone would turn them into an sc_report).
TEST(ProcessErrors, InputErrorInsideAProcessKeepsItsType) {
  SimContext ctx;
  ActionQueue q("q", ctx);
  q.at(Time::ns(5), [] { throw InputError("trace.json: op 3: bad field"); });
  try {
    start_kernel(ctx, sc_core::sc_time(1, sc_core::SC_US), sc_core::SC_EXIT_ON_STARVATION);
    ADD_FAILURE() << "no exception";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "trace.json: op 3: bad field");
  }
}

TEST(ProcessErrors, SimulationErrorInsideAProcessKeepsItsType) {
  SimContext ctx;
  ActionQueue q("q", ctx);
  bool later_ran = false;
  q.at(Time::ns(5), [] { throw SimulationError("n0_gpu0: no route to GPU 2"); });
  q.at(Time::ns(7), [&] { later_ran = true; });
  try {
    start_kernel(ctx, sc_core::sc_time(1, sc_core::SC_US), sc_core::SC_EXIT_ON_STARVATION);
    ADD_FAILURE() << "no exception";
  } catch (const SimulationError& e) {
    EXPECT_STREQ(e.what(), "n0_gpu0: no route to GPU 2");
  }
  EXPECT_FALSE(later_ran);  // the kernel stopped at the failure
}

TEST(Watchdog, TimeLimitInACongestedNetworkNamesTheFullBuffers) {
  // Incast with two-packet buffers, stopped after 20 us: packets queue behind exhausted credits.
  const CliResult r =
      run_cli({"run", "--no-plots", "-o", ::testing::TempDir() + "/wd_incast",
               MLASIM_SOURCE_DIR "/configs/scenarios/net-incast.yaml", "--set", "sim.max_time=20us",
               "--set", "hardware.switch.buffer=8KiB", "--set", "hardware.nic.buffer=9KiB"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(has(r.err, "sim.max_time = 20us")) << r.err;
  EXPECT_TRUE(has(r.err, "network: ")) << r.err;
  EXPECT_TRUE(has(r.err, "packets wait for credits")) << r.err;
  EXPECT_TRUE(has(r.err, "(recv)")) << r.err;
}

}  // namespace
}  // namespace mlasim
