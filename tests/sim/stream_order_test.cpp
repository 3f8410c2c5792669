// Stream order in op-graph replay, end to end through the binary: collectives of one stream run
// one at a time in the order they become ready, so ranks that queue two all-to-alls on one stream
// in opposite orders deadlock (exit 3, the watchdog naming the cycle and the ranks whose pieces
// are missing), while the same collectives on two streams, or ordered alike, complete; sends and
// receives are posted at once and do not wait for their stream (a run that would deadlock if
// they did completes, its messages at the closed-form times of the placeholder models).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// An all-to-all of 1 MiB between every pair of 4 ranks (2 per node).
std::string a2a(int tag, int stream, const std::string& deps) {
  return fmt::format(
      R"({{"name": "a2a_t{0}", "op": "all_to_all", "deps": [{2}], "stream": {1},)"
      R"( "send_bytes": [1048576, 1048576, 1048576, 1048576],)"
      R"( "recv_bytes": [1048576, 1048576, 1048576, 1048576], "tag": {0}, "gpus_per_node": 2,)"
      R"( "nvlink_forwarding": false, "issuer": "sm"}})",
      tag, stream, deps);
}

// Each rank runs the all-to-alls tagged 1 and 2, even ranks tag 1 first, odd ranks (if
// `opposite`) tag 2 first. Tag 2 goes on `stream2`; `chained` makes the second op depend on the
// first instead.
std::string write_trace(const std::string& name, bool opposite, int stream2, bool chained) {
  std::string ranks;
  for (int r = 0; r < 4; ++r) {
    const bool flip = opposite && r % 2 == 1;
    const int first = flip ? 2 : 1, second = flip ? 1 : 2;
    auto stream_of = [&](int tag) { return tag == 2 ? stream2 : 1; };
    ranks += fmt::format(R"({}{{"rank": {}, "ops": [{}, {}]}})", r == 0 ? "" : ", ", r,
                         a2a(first, stream_of(first), ""),
                         a2a(second, stream_of(second), chained ? "0" : ""));
  }
  const std::string path = ::testing::TempDir() + "/" + name + ".json";
  std::ofstream(path) << R"({"format": "mlasim-trace", "version": 1, "minor": 2, "ranks": [)"
                      << ranks << "]}";
  return path;
}

CliResult replay(const std::string& trace, const std::string& out) {
  return run_cli({"run", MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml", "-q",
                  "--no-plots", "-o", ::testing::TempDir() + "/" + out, "--set",
                  "workload.type=trace", "--set", "workload.file=" + trace});
}

TEST(StreamOrder, CollectivesQueuedInOppositeOrdersOnOneStreamDeadlock) {
  const CliResult r = replay(write_trace("so_opposite", true, 1, false), "so_opposite");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(has(r.err, "deadlock")) << r.err;
  // Rank 0 runs tag 1 and queues tag 2 behind it; rank 1 the reverse.
  EXPECT_TRUE(has(r.err,
                  "rank 0 op 1 'a2a_t2' (all_to_all) on n0_gpu0 waits for op 0 'a2a_t1' "
                  "(ahead of it on stream 1)"))
      << r.err;
  // Tag 1 on rank 0 has the pieces of rank 2 (which runs tag 1 too), not those of 1 and 3.
  EXPECT_TRUE(has(r.err,
                  "op 0 'a2a_t1' (all_to_all) waits: all_to_all tag 1: 0 sends not yet "
                  "out, 1048576 of 3145728 bytes arrived; missing pieces from ranks 1, 3"))
      << r.err;
  EXPECT_TRUE(has(r.err,
                  "wait-for cycle: rank 0 op 0 'a2a_t1' (all_to_all) waits for rank 1 op 1 "
                  "'a2a_t1' (all_to_all), which waits for rank 1 op 0 'a2a_t2' "
                  "(all_to_all), which waits for rank 0 op 1 'a2a_t2' (all_to_all), which "
                  "waits for rank 0 op 0 'a2a_t1' (all_to_all)"))
      << r.err;
}

TEST(StreamOrder, TheSameCollectivesOnTwoStreamsComplete) {
  const CliResult r = replay(write_trace("so_two_streams", true, 2, false), "so_two_streams");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(StreamOrder, CollectivesQueuedInTheSameOrderComplete) {
  const CliResult r = replay(write_trace("so_same_order", false, 1, false), "so_same_order");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(StreamOrder, CollectivesChainedInOppositeOrdersNameTheCycleAndMissingRanks) {
  const CliResult r = replay(write_trace("so_chained", true, 0, true), "so_chained");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(has(r.err, "missing pieces from ranks 1, 3")) << r.err;  // rank 0's and 2's tag 1
  EXPECT_TRUE(has(r.err, "missing pieces from ranks 0, 2")) << r.err;  // rank 1's and 3's tag 2
  EXPECT_TRUE(has(r.err,
                  "wait-for cycle: rank 0 op 0 'a2a_t1' (all_to_all) waits for rank 1 op 1 "
                  "'a2a_t1' (all_to_all), which waits for rank 1 op 0 'a2a_t2'"))
      << r.err;
}

// Rank 0 starts an all-to-all (tag 1, 4 KiB pieces) on stream 1 at time 0: it holds the stream
// until every rank has joined. Rank 2 joins only after a message from rank 1, which rank 1
// sends after its message from rank 0 has arrived, and rank 0 sends that after a GEMM. The
// sends of ranks 0 and 1 and the receive of rank 1 sit on stream 1 behind their ranks'
// running all-to-all: were they ordered by their stream, nothing could move (exit 3).
TEST(StreamOrder, SendsAndReceivesDoNotWaitForTheirStream) {
  auto a2a_of = [](int rank, const std::string& deps) {
    std::string row;
    for (int r = 0; r < 4; ++r)
      row += fmt::format("{}{}", r == 0 ? "" : ", ", r == rank ? 0 : 4096);
    return fmt::format(
        R"({{"name": "a2a", "op": "all_to_all", "deps": [{}], "stream": 1, "send_bytes": [{}],)"
        R"( "recv_bytes": [{}], "tag": 1, "gpus_per_node": 2, "nvlink_forwarding": false,)"
        R"( "issuer": "sm"}})",
        deps, row, row);
  };
  auto p2p = [](const std::string& kind, int peer, int tag, const std::string& deps) {
    return fmt::format(
        R"({{"name": "{0}_{1}", "op": "{0}", "deps": [{3}], "stream": 1, "peer": {1},)"
        R"( "bytes": 1048576, "tag": {2}}})",
        kind, peer, tag, deps);
  };
  const std::string gemm = R"({"name": "gemm", "op": "gemm", "deps": [], "m": 1024, "n": 7168,)"
                           R"( "k": 7168, "dtype": "bf16"})";
  const std::string trace = ::testing::TempDir() + "/so_p2p.json";
  std::ofstream(trace) << R"({"format": "mlasim-trace", "version": 1, "minor": 2, "ranks": [)"
                       << R"({"rank": 0, "ops": [)" << a2a_of(0, "") << ", " << gemm << ", "
                       << p2p("send", 1, 9, "1") << "]}, "
                       << R"({"rank": 1, "ops": [)" << a2a_of(1, "") << ", "
                       << p2p("recv", 0, 9, "") << ", " << p2p("send", 2, 8, "1") << "]}, "
                       << R"({"rank": 2, "ops": [)" << p2p("recv", 1, 8, "") << ", "
                       << a2a_of(2, "0") << "]}, "
                       << R"({"rank": 3, "ops": [)" << a2a_of(3, "") << "]}]}";
  const std::string out = ::testing::TempDir() + "/so_p2p";
  const CliResult r = run_cli({"run", MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml",
                               "-q", "--no-plots", "-o", out, "--set", "workload.gemm=null",
                               "--set", "workload.message=null", "--set", "workload.type=trace",
                               "--set", "workload.file=" + trace});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The closed forms of the placeholder models (tests/sim/end_to_end_test.cpp): the GEMM takes
  // max(math, memory); a lone 1 MiB message is stored and forwarded whole over PCIe, IB, IB,
  // PCIe, through 2 NICs and the switch (the all-to-all's pieces left long before, at time 0).
  const double m = 1024, n = 7168, k = 7168;
  const double gemm_us =
      std::max(2 * m * n * k / 989e12, (m * k + k * n + m * n) * 2 / 3.35e12 + 500e-9) * 1e6;
  const double bytes = 1 << 20;
  const double message_us =
      (2 * (bytes / 64e9 + 100e-9) + 2 * (bytes / 50e9 + 50e-9) + 2 * 500e-9 + 300e-9) * 1e6;
  std::ifstream in(out + "/timeline.json");
  const nlohmann::json timeline = nlohmann::json::parse(in);
  auto end_of = [&](int rank, const std::string& name) {
    for (const auto& e : timeline["traceEvents"]) {
      if (e["ph"] == "X" && e["pid"] == rank && e["name"] == name)
        return e["ts"].get<double>() + e["dur"].get<double>();
    }
    ADD_FAILURE() << "no op " << name << " on rank " << rank;
    return -1.0;
  };
  EXPECT_NEAR(end_of(1, "recv_0"), gemm_us + message_us, 1e-5);
  EXPECT_NEAR(end_of(2, "recv_1"), gemm_us + 2 * message_us, 1e-5);
  // All four ranks' all-to-alls completed, after rank 2 joined.
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_GT(end_of(rank, "a2a"), gemm_us + 2 * message_us) << "rank " << rank;
}

}  // namespace
}  // namespace mlasim
