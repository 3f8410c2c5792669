// Trace format: op graphs written as the schema says (against JSON written by hand) and read
// back field by field, and malformed traces rejected with a message naming the op and field.
// The inference metadata block: trace_metadata_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

#include "sim/errors.h"
#include "workloads/inference_report.h"
#include "workloads/model_config.h"
#include "workloads/op_graph.h"
#include "workloads/pairwise_exchange.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

Workload sample() {
  PairwiseExchangeParams p;
  p.gemm.m = 64;
  p.message = Bytes(4096);
  return PairwiseExchange(p).generate(ClusterShape{2, 2});
}

// Two ranks with a GEMM, a send and a receive matched by tag, and a ring collective: every
// field given a value no other field has, so that a writer or reader that swaps or drops one
// is caught. The trace is compared with JSON written by hand, and read back field by field.
Workload round_trip_sample() {
  Workload w;
  w.ranks.resize(2);
  const RingCollectiveOp ring{
      RingCollective::ReduceScatter, Bytes(8192), 0, 2, 1, 5, CommIssuer::Nic, 3};
  auto& r0 = w.ranks[0].ops;
  r0.push_back(Op{"g", GemmOp{64, 96, 128, DType::FP8}, {}, 3, 1});
  r0.push_back(Op{"s", SendOp{1, Bytes(4096), 7, 2}, {0}});
  r0.push_back(Op{"ring", ring, {1}, 4});
  auto& r1 = w.ranks[1].ops;
  r1.push_back(Op{"r", RecvOp{0, Bytes(4096), 7}, {}});
  r1.push_back(Op{"ring", ring, {0}, 4});
  return w;
}

TEST(Trace, RoundTripKeepsEveryOpAndField) {
  const Workload w = round_trip_sample();
  const auto ring = [](int dep) {
    return fmt::format(R"({{"name": "ring", "op": "ring_collective", "deps": [{}], "stream": 4,
        "micro_batch": 0, "collective": "reduce_scatter", "bytes": 8192, "start": 0, "size": 2,
        "stride": 1, "tag": 5, "issuer": "nic", "vl": 3}})",
                       dep);
  };
  const nlohmann::json expected = nlohmann::json::parse(fmt::format(
      R"({{"format": "mlasim-trace", "version": 1, "minor": {}, "ranks": [
        {{"rank": 0, "ops": [
          {{"name": "g", "op": "gemm", "deps": [], "stream": 3, "micro_batch": 1,
            "m": 64, "n": 96, "k": 128, "dtype": "fp8"}},
          {{"name": "s", "op": "send", "deps": [0], "stream": 0, "micro_batch": 0,
            "peer": 1, "bytes": 4096, "tag": 7, "vl": 2}},
          {}]}},
        {{"rank": 1, "ops": [
          {{"name": "r", "op": "recv", "deps": [], "stream": 0, "micro_batch": 0,
            "peer": 0, "bytes": 4096, "tag": 7}},
          {}]}}]}})",
      kTraceMinorVersion, ring(1), ring(0)));
  const nlohmann::json written = nlohmann::json::parse(workload_to_json(w).dump());
  EXPECT_EQ(written, expected) << written.dump(1);

  const Workload back = workload_from_json(written, "t.json");
  ASSERT_EQ(back.ranks.size(), 2u);
  ASSERT_EQ(back.ranks[0].ops.size(), 3u);
  ASSERT_EQ(back.ranks[1].ops.size(), 2u);
  const auto& r0 = back.ranks[0].ops;
  EXPECT_EQ(r0[0].name, "g");
  EXPECT_EQ(r0[0].stream, 3);
  EXPECT_EQ(r0[0].micro_batch, 1);
  const auto& g = std::get<GemmOp>(r0[0].payload);
  EXPECT_EQ(std::tuple(g.m, g.n, g.k, g.dtype),
            std::tuple(uint64_t{64}, uint64_t{96}, uint64_t{128}, DType::FP8));
  EXPECT_EQ(r0[1].deps, std::vector<uint32_t>{0});
  const auto& send = std::get<SendOp>(r0[1].payload);
  EXPECT_EQ(send.peer, 1);
  EXPECT_EQ(send.bytes.count(), 4096u);
  EXPECT_EQ(send.tag, 7);
  EXPECT_EQ(send.vl, 2);
  const auto& recv = std::get<RecvOp>(back.ranks[1].ops[0].payload);
  EXPECT_EQ(std::tuple(recv.peer, recv.bytes.count(), recv.tag), std::tuple(0, uint64_t{4096}, 7));
  for (const RankProgram& rank : back.ranks) {
    const Op& op = rank.ops.back();
    EXPECT_EQ(op.stream, 4);
    const auto& ring_op = std::get<RingCollectiveOp>(op.payload);
    EXPECT_EQ(ring_op.collective, RingCollective::ReduceScatter);
    EXPECT_EQ(ring_op.bytes.count(), 8192u);
    EXPECT_EQ(std::tuple(ring_op.start, ring_op.size, ring_op.stride, ring_op.tag),
              std::tuple(0, 2, 1, 5));
    EXPECT_EQ(ring_op.issuer, CommIssuer::Nic);
    EXPECT_EQ(ring_op.vl, 3);
  }
}

std::string error_of(const std::string& text) {
  try {
    workload_from_json(nlohmann::json::parse(text), "bad.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Trace, MalformedTracesNameTheOpAndField) {
  const std::string head =
      R"({"format": "mlasim-trace", "version": 1, "ranks": [{"rank": 0, "ops": [)";
  const std::string tail = "]}]}";
  auto op = [&](const std::string& o) { return head + o + tail; };
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases{
      {R"({"format": "other", "version": 1, "ranks": []})", "'format' must be"},
      {R"({"format": "mlasim-trace", "version": 7, "ranks": []})",
       "trace version 7 is not supported"},
      {R"({"format": "mlasim-trace", "version": "1", "ranks": []})",
       "'version' must be an integer, not \"1\""},
      {R"({"format": "mlasim-trace", "ranks": []})", "missing 'version'"},
      {R"({"format": "mlasim-trace", "version": 1, "ranks": [], "extra": 1})",
       "unknown key 'extra'"},
      {R"({"format": "mlasim-trace", "version": 1, "ranks": [{"rank": 3, "ops": []}]})",
       "rank 0: 'rank' must equal its position"},
      {op(R"({"name": "g", "op": "gemm", "deps": [], "m": 1, "n": 1, "k": 1})"),
       "op 0 'g', field 'dtype': missing field"},
      {op(R"({"name": "g", "op": "gemm", "deps": [], "m": -4, "n": 1, "k": 1, "dtype": "bf16"})"),
       "op 0 'g', field 'm': expected a non-negative integer"},
      {op(R"({"name": "g", "op": "gemm", "deps": [], "m": 1, "n": 1, "k": 1, "dtype": "int3"})"),
       "field 'dtype': 'int3' is not one of"},
      {op(R"({"name": "g", "op": "conv", "deps": []})"), "field 'op': unknown op kind 'conv'"},
      {op(R"({"name": "g", "op": "gemm", "deps": [], "m": 1, "n": 1, "k": 1, "dtype": "bf16", "colour": 1})"),
       "field 'colour': unknown field"},
      {op(R"({"name": "g", "op": "gemm", "deps": [5], "m": 1, "n": 1, "k": 1, "dtype": "bf16"})"),
       "dependency 5 does not exist"},
      {op(R"({"name": "g", "op": "gemm", "deps": "x", "m": 1, "n": 1, "k": 1, "dtype": "bf16"})"),
       "field 'deps': expected a list of op indices"},
      {op(R"({"name": "s", "op": "send", "deps": [], "peer": 0, "bytes": "1XB", "tag": 0})"),
       "field 'bytes': '1XB' is not a size"},
      {op(R"({"name": "a", "op": "gemm", "deps": [1], "m": 1, "n": 1, "k": 1, "dtype": "bf16"},
             {"name": "b", "op": "gemm", "deps": [0], "m": 1, "n": 1, "k": 1, "dtype": "bf16"})"),
       "dependency cycle"},
      {op(R"({"name": "s", "op": "send", "deps": [], "peer": 0, "bytes": 8, "tag": 0})"),
       "op 0 's', field 'peer': 0 is not another rank"},
      // Wrong types say so, with the value (they read as a missing op or a bare "expected").
      {op(R"({"name": "g", "op": "gemm", "deps": ["0"], "m": 1, "n": 1, "k": 1, "dtype": "bf16"})"),
       "field 'deps': \"0\" is not an op index (a non-negative integer)"},
      {op(R"({"name": "s", "op": "send", "deps": [], "peer": 1, "bytes": -1048576, "tag": 0})"),
       "field 'bytes': expected a byte count (an integer >= 0 or a size like \"4KiB\"), got "
       "-1048576"},
      {R"({"format": "mlasim-trace", "version": 1, "minor": "5", "ranks": []})",
       "'minor' must be a non-negative integer, got \"5\""},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(c.text);
    EXPECT_NE(e.find("bad.json"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << e;
  }
}

// A ring collective's peers find each other by tag: each member of its group needs one with
// the same tag, collective, bytes and group, or the ring would wait for ever (or move bytes its
// peers do not expect). The k-th use of a tag on a rank (in the order its dependencies run
// them) pairs with the k-th on the others.
TEST(Trace, RingCollectivesMustMatchAcrossTheirGroup) {
  auto ring = [](const std::string& name, const std::string& collective, int bytes, int tag,
                 const std::string& deps = "[]") {
    return fmt::format(
        R"({{"name": "{}", "op": "ring_collective", "deps": {}, "collective": "{}", )"
        R"("bytes": {}, "start": 0, "size": 2, "stride": 1, "tag": {}, "issuer": "sm"}})",
        name, deps, collective, bytes, tag);
  };
  auto trace = [](const std::string& ops0, const std::string& ops1) {
    return fmt::format(R"({{"format": "mlasim-trace", "version": 1, "ranks": [)"
                       R"({{"rank": 0, "ops": [{}]}}, {{"rank": 1, "ops": [{}]}}]}})",
                       ops0, ops1);
  };
  const std::string ag = ring("ag", "all_gather", 1024, 5);
  EXPECT_EQ(error_of(trace(ag, ag)), "no error");
  // A tag used twice in turn pairs in order.
  const std::string twice = ag + ", " + ring("ag2", "all_gather", 1024, 5, "[0]");
  EXPECT_EQ(error_of(trace(twice, twice)), "no error");
  // The order is that of the dependencies, not of the file: rank 0 lists the second use first.
  const std::string big = ring("big", "all_gather", 4096, 5, "[1]") + ", " + ag;
  const std::string big_after = ag + ", " + ring("big", "all_gather", 4096, 5, "[0]");
  EXPECT_EQ(error_of(trace(big, big_after)), "no error");
  // Two uses with no dependency path between them could run at once (or either way round).
  const std::string loose = ag + ", " + ring("ag2", "all_gather", 1024, 5);
  const std::string le = error_of(trace(loose, loose));
  EXPECT_NE(le.find("rank 0 op 0 'ag' and op 1 'ag2': ring_collectives with tag 5 and no "
                    "dependency path"),
            std::string::npos)
      << le;
  struct Case {
    std::string rank1, expect;
  };
  const std::vector<Case> cases{
      {ring("ag", "all_gather", 102400, 5), "field 'bytes' differs from rank 1 op 0 'ag'"},
      {ring("ag", "all_reduce", 1024, 5), "field 'collective' differs"},
      {ring("ag", "all_gather", 1024, 6), "rank 1 has no such ring_collective"},
      {"", "rank 1 has no such ring_collective"},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(trace(ag, c.rank1));
    EXPECT_NE(e.find("rank 0 op 0 'ag': ring_collective tag"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << e;
  }
  // The second use of the tag on rank 0 has no partner on rank 1.
  const std::string e = error_of(trace(twice, ag));
  EXPECT_NE(e.find("rank 0 op 1 'ag2': ring_collective tag 5 (number 2"), std::string::npos) << e;
}

TEST(Trace, FileErrors) {
  EXPECT_THROW(read_trace_file("/no/such/trace.json"), InputError);
  const auto p = std::filesystem::temp_directory_path() / "mlasim_bad_trace.json";
  std::ofstream(p) << "{ not json";
  try {
    read_trace_file(p);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos);
  }
  std::filesystem::remove(p);
}

// A cycle of many ops is named by its length, its first few ops and its last ones, on a line
// of bounded length (it used to list every op).
TEST(Trace, LongDependencyCyclesAreAbbreviated) {
  Workload w;
  w.ranks.resize(1);
  constexpr uint32_t kOps = 1000;
  for (uint32_t i = 0; i < kOps; ++i) {
    w.ranks[0].ops.push_back(
        Op{"op" + std::to_string(i), GemmOp{1, 1, 1, DType::BF16}, {(i + kOps - 1) % kOps}});
  }
  std::string e;
  try {
    validate_workload(w);
  } catch (const InputError& x) {
    e = x.what();
  }
  EXPECT_NE(e.find("rank 0: dependency cycle of 1000 ops: "), std::string::npos) << e;
  EXPECT_NE(e.find(" -> ... (994 more) -> "), std::string::npos) << e;
  EXPECT_LT(e.size(), 400u) << e;
  // Six ops are named, then the first again to close the loop: seven arrows around the "...".
  size_t arrows = 0;
  for (size_t at = e.find(" -> "); at != std::string::npos; at = e.find(" -> ", at + 1))
    ++arrows;
  EXPECT_EQ(arrows, 7u) << e;
  // Each op waits for the one before it: consecutive indices in the order printed.
  const size_t first = e.find("op ", e.find("ops: ")) + 3;
  const uint32_t start = static_cast<uint32_t>(std::stoul(e.substr(first)));
  EXPECT_NE(e.find(fmt::format("op {} 'op{}' -> op {} 'op{}'", start, start, (start + 1) % kOps,
                               (start + 1) % kOps)),
            std::string::npos)
      << e;
}

// A relative trace path is taken from the folder of the file that names it, as includes are;
// from the working directory when --set gives it; an absolute one as it is.
TEST(Trace, RelativePathsResolveAgainstTheNamingFile) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_trace_path_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "s.yaml") << "x: 1\n";
  auto parse = [](const std::string& value, const std::string& from) {
    return ParamTraits<TracePath>::parse(ConfigNode::scalar(value, SourceLoc{from, 3}),
                                         "workload.file");
  };
  const TracePath rel = parse("../t.json", (dir / "sub" / "s.yaml").string());
  EXPECT_EQ(rel.given, "../t.json");
  EXPECT_EQ(rel.resolved, dir / "sub" / ".." / "t.json");
  EXPECT_EQ(fs::weakly_canonical(rel.resolved), fs::weakly_canonical(dir / "t.json"));
  EXPECT_EQ(parse("t.json", "--set workload.file=t.json").resolved, fs::current_path() / "t.json");
  EXPECT_EQ(parse("/abs/t.json", (dir / "sub" / "s.yaml").string()).resolved, "/abs/t.json");
  // A value given outside a file with a folder to take paths from (a sweep's values, --set-dir).
  ConfigNode swept = ConfigNode::scalar("t.json", SourceLoc{"--set workload.file=t.json", 0});
  swept.set_paths_from((dir / "sub").string());
  EXPECT_EQ(ParamTraits<TracePath>::parse(swept, "workload.file").resolved, dir / "sub" / "t.json");
  // The resolved config holds the absolute path, which replays from any folder.
  EXPECT_TRUE(fs::path(ParamTraits<TracePath>::format(rel)).is_absolute());
  fs::remove_all(dir);
}

TEST(Trace, ReplayMustMatchTheClusterSize) {
  const auto p = std::filesystem::temp_directory_path() / "mlasim_trace_4.json";
  std::ofstream(p) << workload_to_json(sample()).dump();
  TraceWorkloadParams params;
  params.file = {p.string(), p};
  EXPECT_EQ(TraceWorkload(params).generate(ClusterShape{2, 2}).ranks.size(), 4u);
  EXPECT_THROW(TraceWorkload(params).generate(ClusterShape{4, 2}), InputError);
  std::filesystem::remove(p);
}

// Prefill prompt counts name one count per DP group and pass: the groups must split the trace's
// ranks evenly, or the per-prompt TTFT figures could not be placed (they were left out silently).
TEST(Trace, PromptCountsMustSplitTheRanksIntoGroups) {
  const auto p = std::filesystem::temp_directory_path() / "mlasim_trace_groups.json";
  InferenceFacts f;
  f.phase = InferencePhase::Prefill;
  f.model_layers = 2;
  f.prefill_passes = 1;
  TraceWorkloadParams params;
  params.file = {p.string(), p};
  f.prompts_done = {1, 2};  // two groups of two ranks
  std::ofstream(p) << workload_to_json(sample(), inference_trace_metadata(f)).dump();
  EXPECT_EQ(TraceWorkload(params).generate(ClusterShape{2, 2}).ranks.size(), 4u);
  f.prompts_done = {1, 2, 3};  // three groups cannot split four ranks
  std::ofstream(p) << workload_to_json(sample(), inference_trace_metadata(f)).dump();
  try {
    TraceWorkload(params).generate(ClusterShape{2, 2});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("prompts_done: 3 counts over 1 passes make 3 DP groups"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove(p);
}

// Schema 1.1: attention kv_lens may be left out (1.0 traces read as before) and survives a round
// trip; the minor version and the metadata block are checked.
TEST(Trace, MinorVersionOneFields) {
  const std::string attention =
      R"({"name": "a", "op": "attention", "deps": [], "kernel": "mla_decode", "batch": 2,
          "q_len": 1, "kv_len": 300, "heads_q": 16, "heads_kv": 1, "head_dim_qk": 576,
          "head_dim_v": 512, "dtype": "bf16", "kv_dtype": "bf16", "mask": "causal",
          "page_block": 64)";
  auto trace = [&](const std::string& top, const std::string& extra) {
    return R"({"format": "mlasim-trace", "version": 1)" + top +
           R"(, "ranks": [{"rank": 0, "ops": [)" + attention + extra + "}]}]}";
  };
  // A 1.0 trace: no minor, no kv_lens; every sequence has kv_len keys.
  Workload w = workload_from_json(nlohmann::json::parse(trace("", "")), "old.json");
  const auto& a = std::get<AttentionOp>(w.ranks[0].ops[0].payload);
  EXPECT_TRUE(a.kv_lens.empty());
  EXPECT_EQ(a.total_kv_tokens(), 600u);
  // 1.1 with per-sequence lengths.
  w = workload_from_json(
      nlohmann::json::parse(trace(R"(, "minor": 1)", R"(, "kv_lens": [100, 300])")), "new.json");
  const auto& b = std::get<AttentionOp>(w.ranks[0].ops[0].payload);
  EXPECT_EQ(b.kv_lens, (std::vector<uint64_t>{100, 300}));
  EXPECT_EQ(b.total_kv_tokens(), 400u);
  // Causal pairs of one query per sequence: one per key.
  EXPECT_DOUBLE_EQ(b.visible_pairs(), 400.0);
  const nlohmann::ordered_json again = workload_to_json(w);
  EXPECT_EQ(again["ranks"][0]["ops"][0]["kv_lens"], nlohmann::json::parse("[100, 300]"));
  EXPECT_FALSE(workload_to_json(sample())["ranks"][0]["ops"][0].contains("kv_lens"));
  // Errors.
  EXPECT_NE(error_of(trace(R"(, "minor": 99)", "")).find("minor version 99"), std::string::npos);
  EXPECT_NE(error_of(trace(R"(, "minor": 1)", R"(, "kv_lens": [100])")).find("kv_lens"),
            std::string::npos);
  EXPECT_NE(error_of(trace(R"(, "minor": 1)", R"(, "kv_lens": [100, 200])"))
                .find("longest equal to kv_len"),
            std::string::npos);
  EXPECT_NE(error_of(trace(R"(, "minor": 1)", R"(, "metadata": [])")).find("'metadata'"),
            std::string::npos);
  // Fields newer than the minor the trace declares: the file contradicts its own schema.
  EXPECT_NE(error_of(trace("", R"(, "kv_lens": [100, 300])"))
                .find("field 'kv_lens': added in trace minor version 1, but the trace declares "
                      "minor 0"),
            std::string::npos);
  EXPECT_NE(error_of(trace(R"(, "metadata": {"generator": "x"})", ""))
                .find("'metadata' was added in trace minor version 1"),
            std::string::npos);
  nlohmann::json meta;
  int minor = -1;
  workload_from_json(
      nlohmann::json::parse(trace(R"(, "minor": 1, "metadata": {"generator": "x"})", "")), "m.json",
      &meta, &minor);
  EXPECT_EQ(meta["generator"], "x");
  EXPECT_EQ(minor, 1);
}

// Schema 1.2: attention q_lens (prefill prompts of their own lengths) may be left out (1.1 and
// 1.0 traces read as before), survive a round trip and are checked against the keys.
TEST(Trace, MinorVersionTwoQueryLengths) {
  const std::string attention =
      R"({"name": "a", "op": "attention", "deps": [], "kernel": "mla_prefill", "batch": 2,
          "q_len": 300, "kv_len": 300, "heads_q": 16, "heads_kv": 16, "head_dim_qk": 192,
          "head_dim_v": 128, "dtype": "bf16", "kv_dtype": "bf16", "mask": "causal",
          "page_block": 64)";
  auto trace = [&](const std::string& top, const std::string& extra) {
    return R"({"format": "mlasim-trace", "version": 1)" + top +
           R"(, "ranks": [{"rank": 0, "ops": [)" + attention + extra + "}]}]}";
  };
  Workload w = workload_from_json(nlohmann::json::parse(trace(R"(, "minor": 1)", "")), "1.json");
  EXPECT_TRUE(std::get<AttentionOp>(w.ranks[0].ops[0].payload).q_lens.empty());
  w = workload_from_json(nlohmann::json::parse(trace(R"(, "minor": 2)",
                                                     R"(, "q_lens": [100, 300],
                                                          "kv_lens": [100, 300])")),
                         "2.json");
  const auto& a = std::get<AttentionOp>(w.ranks[0].ops[0].payload);
  EXPECT_EQ(a.q_lens, (std::vector<uint64_t>{100, 300}));
  EXPECT_DOUBLE_EQ(a.visible_pairs(), (100.0 * 101 + 300.0 * 301) / 2);
  const nlohmann::ordered_json again = workload_to_json(w);
  EXPECT_EQ(again["minor"], kTraceMinorVersion);
  EXPECT_EQ(again["ranks"][0]["ops"][0]["q_lens"], nlohmann::json::parse("[100, 300]"));
  const std::string newer = fmt::format(R"(, "minor": {})", kTraceMinorVersion + 1);
  EXPECT_NE(
      error_of(trace(newer, "")).find(fmt::format("minor version {}", kTraceMinorVersion + 1)),
      std::string::npos);
  // A sequence with more queries than keys, and a list of the wrong length.
  EXPECT_NE(error_of(trace(R"(, "minor": 2)", R"(, "q_lens": [200, 300], "kv_lens": [100, 300])"))
                .find("q_lens: sequence 0 has 200 queries but 100 keys"),
            std::string::npos);
  EXPECT_NE(
      error_of(trace(R"(, "minor": 2)", R"(, "q_lens": [300])")).find("q_lens needs one length"),
      std::string::npos);
  // q_lens in a minor 1 trace (which does have kv_lens).
  EXPECT_NE(error_of(trace(R"(, "minor": 1)", R"(, "q_lens": [100, 300], "kv_lens": [100, 300])"))
                .find("field 'q_lens': added in trace minor version 2, but the trace declares "
                      "minor 1"),
            std::string::npos);
}

std::string all_to_all_trace(const std::string& recv_of_rank_2 = "[6, 8, 3]",
                             const std::string& extra_op_of_rank_1 = "") {
  const std::vector<std::string> send = {"[1, 5, 6]", "[7, 2, 8]", "[9, 10, 3]"};
  const std::vector<std::string> recv = {"[1, 7, 9]", "[5, 2, 10]", recv_of_rank_2};
  std::string ranks;
  for (int r = 0; r < 3; ++r) {
    std::string ops =
        R"({"name": "x", "op": "all_to_all", "deps": [], "stream": 0, "micro_batch": 0, "send_bytes": )" +
        send[r] + R"(, "recv_bytes": )" + recv[r] +
        R"(, "tag": 1, "gpus_per_node": 0, "nvlink_forwarding": false, "issuer": "sm"})";
    if (r == 1 && !extra_op_of_rank_1.empty()) ops += ", " + extra_op_of_rank_1;
    ranks += (r ? ", " : "") + std::string(R"({"rank": )") + std::to_string(r) + R"(, "ops": [)" +
             ops + "]}";
  }
  return R"({"format": "mlasim-trace", "version": 1, "ranks": [)" + ranks + "]}";
}

TEST(Trace, AllToAllRowsBecomeOneSharedMatrixAndAreWrittenBackDense) {
  const std::string text = all_to_all_trace();
  const Workload w = workload_from_json(nlohmann::json::parse(text), "a2a.json");
  const auto& a0 = std::get<AllToAllOp>(w.ranks[0].ops[0].payload);
  const auto& a2 = std::get<AllToAllOp>(w.ranks[2].ops[0].payload);
  EXPECT_EQ(a0.matrix, a2.matrix);  // read once, shared by the ranks
  EXPECT_EQ(a2.rank, 2);
  EXPECT_EQ(a2.send_bytes(1), 10u);
  EXPECT_EQ(a2.recv_bytes(1), 8u);
  EXPECT_EQ(a0.total_send_bytes(), 12u);
  // Ranks written back exactly as read, diagonal included (the header gains the minor version).
  EXPECT_EQ(workload_to_json(w)["ranks"].dump(),
            nlohmann::ordered_json::parse(text)["ranks"].dump());
}

TEST(Trace, AllToAllRowsThatDisagreeOrHaveTheWrongLengthAreRejected) {
  EXPECT_NE(error_of(all_to_all_trace("[6, 4, 3]"))
                .find("all_to_all tag 1: rank 1 op 0 'x' (field 'send_bytes') sends 8 B to rank 2, "
                      "but rank 2 op 0 'x' (field 'recv_bytes') expects 4 B"),
            std::string::npos);
  // The receiving rank's own entry is not compared.
  EXPECT_EQ(error_of(all_to_all_trace("[6, 8, 0]")), "no error");
  EXPECT_NE(error_of(all_to_all_trace("[6, 8]"))
                .find("rank 2 op 0 'x': all_to_all needs send_bytes and recv_bytes with 3 entries"),
            std::string::npos);
  const std::string again =
      R"({"name": "y", "op": "all_to_all", "deps": [], "send_bytes": [0, 0, 0], "recv_bytes": [0, 0, 0], "tag": 1, "gpus_per_node": 0, "nvlink_forwarding": false, "issuer": "sm"})";
  EXPECT_NE(error_of(all_to_all_trace("[6, 8, 3]", again))
                .find("rank 1 op 1 'y': a second all_to_all with tag 1"),
            std::string::npos);
}

// Every cell of the matrix within the op byte limit (2^48 B, op_graph.h), whichever row names
// it: the error names the op, the field and the cell. The receiving rank's own entry, which is
// never compared with a sender's row, is bounded too.
TEST(Trace, AllToAllCellsOverTheByteLimitAreRejected) {
  const uint64_t limit = uint64_t{1} << 48;
  auto replaced = [](std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  const std::string at_limit = std::to_string(limit), over = std::to_string(limit + 1);
  EXPECT_EQ(error_of(all_to_all_trace("[6, 8, " + at_limit + "]")), "no error");
  EXPECT_NE(error_of(all_to_all_trace("[6, 8, " + over + "]"))
                .find("rank 2, op 0 'x', field 'recv_bytes': entry 2 = " + over +
                      " B (row 2, column 2 of the matrix) exceeds the limit of 2^48 bytes"),
            std::string::npos)
      << error_of(all_to_all_trace("[6, 8, " + over + "]"));
  // Rank 2 sends 2^48 + 1 B to rank 1, and rank 1 expects them: the cell is named, in the
  // sender's row and in the receiver's column.
  std::string text = replaced(all_to_all_trace(), "[9, 10, 3]", "[9, " + over + ", 3]");
  text = replaced(text, "[5, 2, 10]", "[5, 2, " + over + "]");
  EXPECT_NE(error_of(text).find("rank 1, op 0 'x', field 'recv_bytes': entry 2 = " + over +
                                " B (row 2, column 1 of the matrix)"),
            std::string::npos)
      << error_of(text);
  text = replaced(all_to_all_trace(), "[9, 10, 3]", "[9, 18446744073709551615, 3]");
  EXPECT_NE(error_of(text).find("rank 2, op 0 'x', field 'send_bytes': entry 1 = "
                                "18446744073709551615 B (row 2, column 1 of the matrix)"),
            std::string::npos)
      << error_of(text);
}

// Sizes beyond the op limits (op_graph.h) are input errors naming the op and the quantity,
// never a wrapped, smaller figure; sizes at the limits pass.
TEST(OpLimits, OversizedOpsAreInputErrors) {
  auto one_gemm = [](uint64_t m, uint64_t n, uint64_t k) {
    Workload w;
    w.ranks.resize(1);
    w.ranks[0].ops.push_back(Op{"g", GemmOp{m, n, k, DType::BF16}, {}, 0, 0});
    return w;
  };
  auto error_of = [](const Workload& w) -> std::string {
    try {
      validate_workload(w);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(one_gemm(uint64_t{1} << 32, 1024, 1024)), "");
  EXPECT_NE(error_of(one_gemm(uint64_t{1} << 55, 7168, 7168)).find("m = 36028797018963968"),
            std::string::npos);
  // m x n x 4 B = 2^66 B: each dimension is fine, the result matrix is not.
  EXPECT_NE(error_of(one_gemm(4294967295, 4294967295, 7168)).find("result C"), std::string::npos);
  // 2^20 x 2^20 x 2^20: every operand 4 TiB, but 2^61 FLOPs.
  EXPECT_NE(
      error_of(one_gemm(uint64_t{1} << 20, uint64_t{1} << 20, uint64_t{1} << 20)).find("FLOPs"),
      std::string::npos);

  auto exchange = [](uint64_t bytes) {
    Workload w;
    w.ranks.resize(2);
    w.ranks[0].ops.push_back(Op{"s", SendOp{1, Bytes(bytes), 0}, {}, 0, 0});
    w.ranks[1].ops.push_back(Op{"r", RecvOp{0, Bytes(bytes), 0}, {}, 0, 0});
    return w;
  };
  EXPECT_EQ(error_of(exchange(uint64_t{1} << 48)), "");
  EXPECT_NE(error_of(exchange(uint64_t{1} << 62)).find("'s': bytes exceeds the limit of 2^48"),
            std::string::npos);
}

// A model deeper than kMaxModelLayers is refused when read (its op graph could not be built).
TEST(OpLimits, ModelLayersAreBounded) {
  const std::string base = R"({"hidden_size": 64, "intermediate_size": 128, "vocab_size": 100,
    "max_position_embeddings": 128, "num_attention_heads": 4, "num_key_value_heads": 4,
    "num_hidden_layers": )";
  EXPECT_NO_THROW(parse_model_config(base + std::to_string(kMaxModelLayers) + "}", "m.json"));
  try {
    parse_model_config(base + "1000000000000}", "m.json");
    ADD_FAILURE() << "accepted 1e12 layers";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("num_hidden_layers"), std::string::npos) << e.what();
  }
}

TEST(Trace, VirtualLanesAreMinorVersionThreeAndChecked) {
  auto trace = [](const std::string& minor, const std::string& vl) {
    const std::string common = R"("deps": [], "stream": 0, "micro_batch": 0)";
    return R"({"format": "mlasim-trace", "version": 1, "minor": )" + minor +
           R"(, "ranks": [{"rank": 0, "ops": [{"name": "s", "op": "send", )" + common +
           R"(, "peer": 1, "bytes": 64, "tag": 0)" + vl +
           R"(}]}, {"rank": 1, "ops": [{"name": "r", "op": "recv", )" + common +
           R"(, "peer": 0, "bytes": 64, "tag": 0}]}]})";
  };
  Workload w = workload_from_json(nlohmann::json::parse(trace("3", R"(, "vl": 5)")), "vl.json");
  EXPECT_EQ(std::get<SendOp>(w.ranks[0].ops[0].payload).vl, 5);
  EXPECT_EQ(workload_to_json(w)["ranks"][0]["ops"][0]["vl"], 5);
  // Lane 0 is left out when written (traces that use no lanes read as before).
  w = workload_from_json(nlohmann::json::parse(trace("3", "")), "vl0.json");
  EXPECT_EQ(std::get<SendOp>(w.ranks[0].ops[0].payload).vl, 0);
  EXPECT_FALSE(workload_to_json(w)["ranks"][0]["ops"][0].contains("vl"));
  EXPECT_NE(error_of(trace("2", R"(, "vl": 1)")).find("field 'vl': added in trace minor version 3"),
            std::string::npos)
      << error_of(trace("2", R"(, "vl": 1)"));
  EXPECT_NE(error_of(trace("3", R"(, "vl": 15)")).find("field 'vl': 15 is not a data virtual lane"),
            std::string::npos)
      << error_of(trace("3", R"(, "vl": 15)"));
}

}  // namespace
}  // namespace mlasim
