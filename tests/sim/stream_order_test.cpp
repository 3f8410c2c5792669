// Stream order in op-graph replay, end to end through the binary: collectives of one stream run
// one at a time in the order they become ready, so ranks that queue two all-to-alls on one stream
// in opposite orders deadlock (exit 3, the watchdog naming the cycle and the ranks whose pieces
// are missing), while the same collectives on two streams, or ordered alike, complete; sends and
// receives are posted at once and do not wait for their stream.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace mlasim
