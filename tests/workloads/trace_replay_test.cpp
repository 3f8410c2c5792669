// A traced inference step replayed through `type: trace` reports what the generator's own run
// reports: the same inference summary keys with the same values, and the same layers.csv (decode
// with per-request contexts and MTP; chunked prefill). Also: chunking a prompt never shortens
// its time to first token.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "tests/workloads/tiny_cluster.h"

namespace mlasim {
namespace {

std::string scenario(const std::string& workload) {
  return test_util::tiny_cluster_scenario("replay", 3, workload);
}

struct Outcome {
  nlohmann::json summary;
  std::string layers_csv;
  std::string loads_csv;  // expert_loads.csv, then gpu_loads.csv (empty: none)
};

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Each simulation runs in its own `mlasim` process (one SystemC kernel per process).
class Runner {
 public:
  explicit Runner(const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() /
             ("mlasim_replay_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~Runner() { std::filesystem::remove_all(dir_); }
  std::filesystem::path config(const std::string& name, const std::string& yaml) const {
    const auto p = dir_ / (name + ".yaml");
    std::ofstream(p) << yaml;
    return p;
  }
  // `mlasim trace CONFIG -o FILE`.
  std::filesystem::path trace(const std::filesystem::path& cfg,
                              const std::string& name = "trace.json") const {
    const auto out = dir_ / name;
    EXPECT_EQ(sh(fmt("{} trace {} -o {} 2>/dev/null", cfg, out)), 0);
    return out;
  }
  Outcome run(const std::filesystem::path& cfg, const std::string& name) const {
    const auto out = dir_ / name;
    EXPECT_EQ(sh(fmt("{} run -q --no-plots {} --out {}", cfg, out)), 0) << read_text(cfg);
    return {nlohmann::json::parse(read_text(out / "summary.json")), read_text(out / "layers.csv"),
            read_text(out / "expert_loads.csv") + read_text(out / "gpu_loads.csv")};
  }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  static std::string fmt(const std::string& pattern, const std::filesystem::path& a,
                         const std::filesystem::path& b) {
    std::string s = pattern;
    s.replace(s.find("{}"), 2, MLASIM_BINARY);
    s.replace(s.find("{}"), 2, a.string());
    s.replace(s.find("{}"), 2, b.string());
    return s;
  }
  static int sh(const std::string& cmd) { return std::system(cmd.c_str()); }
  std::filesystem::path dir_;
};

// `mlasim trace` of the scenario, then the same scenario replaying the trace; `direct_summary`,
// when given, receives the direct run's summary.
void expect_replay_matches(const std::string& workload, const std::string& tag,
                           nlohmann::json* direct_summary = nullptr) {
  Runner r(tag);
  const auto cfg = r.config("direct", scenario(workload));
  const Outcome direct = r.run(cfg, "direct");
  if (direct_summary) *direct_summary = direct.summary;
  const auto trace = r.trace(cfg);
  const auto replay_cfg =
      r.config("replay", scenario("  type: trace\n  file: " + trace.string() + "\n"));
  const Outcome replay = r.run(replay_cfg, "replay");
  // Tracing the replay writes the trace again, byte for byte (metadata in the generator's
  // field order, not sorted).
  EXPECT_EQ(read_text(r.trace(replay_cfg, "retrace.json")), read_text(trace));
  ASSERT_TRUE(direct.summary.contains("step_time_ms"));
  // Every key the run reports, besides the scenario name and the host's wall and CPU times, is
  // the same.
  size_t compared = 0;
  for (const auto& [k, v] : direct.summary.items()) {
    if (k == "scenario" || k.find("wall") != std::string::npos ||
        k.find("cpu") != std::string::npos) {
      continue;
    }
    ASSERT_TRUE(replay.summary.contains(k)) << k;
    EXPECT_EQ(replay.summary[k], v) << k;
    ++compared;
  }
  for (const auto& [k, v] : replay.summary.items()) {
    EXPECT_TRUE(direct.summary.contains(k)) << "replay adds " << k;
  }
  EXPECT_GT(compared, 40u);
  EXPECT_FALSE(direct.layers_csv.empty());
  EXPECT_EQ(replay.layers_csv, direct.layers_csv);
  EXPECT_EQ(replay.loads_csv, direct.loads_csv);
}

// `mlasim run SCENARIO --trace FILE` replays the trace on that scenario's cluster and hardware
// (its workload section replaced, --set overrides kept); a trace given as the scenario itself is
// refused with a line that says what to do.
TEST(TraceReplay, TraceOptionReplacesTheScenariosWorkload) {
  Runner r("option");
  const auto cfg = r.config("direct", scenario(R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 3
  requests_per_gpu: 8
  context_length: 512
  mtp: {depth: 1}
)"));
  const Outcome direct = r.run(cfg, "direct");
  const auto trace = r.trace(cfg);
  const auto out = r.dir() / "option";
  const std::string bin = MLASIM_BINARY;
  ASSERT_EQ(std::system((bin + " run -q --no-plots " + cfg.string() + " --trace " + trace.string() +
                         " --set sim.max_time=1s --out " + out.string())
                            .c_str()),
            0);
  const auto replay = nlohmann::json::parse(read_text(out / "summary.json"));
  EXPECT_EQ(replay["step_time_ms"], direct.summary["step_time_ms"]);
  EXPECT_EQ(replay["tpot_ms"], direct.summary["tpot_ms"]);
  EXPECT_EQ(read_text(out / "layers.csv"), direct.layers_csv);
  const auto resolved = read_text(out / "config.resolved.yaml");
  EXPECT_NE(resolved.find("type: trace"), std::string::npos) << resolved;
  const auto err = r.dir() / "err.txt";
  const int rc = std::system((bin + " run -q " + trace.string() + " --out " +
                              (r.dir() / "x").string() + " 2>" + err.string())
                                 .c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  EXPECT_NE(read_text(err).find(trace.string() + ": is a trace, not a scenario"), std::string::npos)
      << read_text(err);
}

TEST(TraceReplay, DecodeWithContextDistributionReportsLikeTheGenerator) {
  expect_replay_matches(R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 3
  requests_per_gpu: 8
  context_length: 256
  context_distribution: {type: lognormal, stddev: 128, max: 1024}
  mtp: {depth: 1, acceptance_rate: 0.8}
  router: {seed: 2}
)",
                        "d");
}

// Two EP groups of 2, each inside one node of the 2 x 2 cluster: their all-to-alls exchange
// data within a node (the generator writes gpus_per_node 0 for them), which replays on the
// multi-node cluster (it was once refused as meant for a single-node cluster).
TEST(TraceReplay, ExpertGroupsWithinANodeReplay) {
  expect_replay_matches(R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 2
  requests_per_gpu: 8
  context_length: 256
  ep_size: 2
  router: {seed: 2}
)",
                        "g");
}

TEST(TraceReplay, ChunkedPrefillReportsLikeTheGenerator) {
  expect_replay_matches(R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 2
  phase: prefill
  tokens_per_gpu: 1024
  context_length: 512
  chunk_size: 200
  router: {seed: 2}
)",
                        "p");
}

// Prompts of their own lengths in Sarathi-style chunks: the replay reports the same per-prompt
// TTFT figures (the carried prompts' steps come with the trace); the percentiles are ordered, and
// the longest prompts, begun in earlier steps, wait longer than this step.
TEST(TraceReplay, PrefillPromptDistributionReportsLikeTheGenerator) {
  const std::string workload = R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 2
  phase: prefill
  tokens_per_gpu: 2048
  context_length: 256
  context_distribution: {type: lognormal, stddev: 192, min: 16, seed: 3}
  chunk_size: 256
  router: {seed: 2}
)";
  nlohmann::json s;
  expect_replay_matches(workload, "pd", &s);
  const double ttft = s["ttft_ms"].get<double>(), mean = s["ttft_mean_ms"].get<double>();
  const double p50 = s["ttft_p50_ms"].get<double>(), p99 = s["ttft_p99_ms"].get<double>();
  EXPECT_GT(mean, 0);
  EXPECT_LE(p50, p99);
  EXPECT_GT(p99, ttft);
  EXPECT_GT(p50, 0);
  EXPECT_EQ(s["prefill_pass_count"], 4);  // 1,024 tokens per micro-batch in windows of 256
  EXPECT_GT(s["prompt_count"].get<uint64_t>(), 2u * 2 * 4);  // more than one prompt per window
}

TEST(TraceReplay, ChunkingNeverShortensTimeToFirstToken) {
  // One 2,048-token prompt per GPU: each chunk re-reads the weights and the earlier chunks' KV,
  // so the chunked prefill takes at least as long.
  const std::string base = R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 2
  phase: prefill
  tokens_per_gpu: 2048
  context_length: 2048
  dual_micro_batch: false
  router: {seed: 2}
)";
  Runner r("ttft");
  const double whole =
      r.run(r.config("whole", scenario(base)), "whole").summary["ttft_ms"].get<double>();
  const double chunked =
      r.run(r.config("chunked", scenario(base + "  chunk_size: 512\n")), "chunked")
          .summary["ttft_ms"]
          .get<double>();
  EXPECT_GT(whole, 0);
  EXPECT_GE(chunked, whole);
}

}  // namespace
}  // namespace mlasim
