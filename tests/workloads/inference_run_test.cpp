// A tiny two-node DeepSeek-style step run end to end: per rank, the finish time lies between
// the longest dependency chain of its ops (measured durations) and the serial sum of them; the
// breakdown adds up to the step time; layers.csv agrees with the summary; timeline.json has
// the NIC/NVLink threads and their bytes match what the network injected.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sim/builtin_components.h"
#include "sim/commands.h"
#include "sim/simulation.h"
#include "tests/workloads/tiny_cluster.h"

namespace mlasim {
namespace {

const std::string kTiny =
    test_util::tiny_cluster_scenario("tiny-deepseek", 3, R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 3
  requests_per_gpu: 8
  context_length: 256
  mtp: {depth: 1, acceptance_rate: 0.8}
  router: {seed: 2}
)");

// Slices of one (pid, tid) are pairwise disjoint or nested (ends within 1e-6 us of a start count
// as touching: times are written in microseconds as doubles); every tid used is named.
void expect_no_partial_overlaps(const nlohmann::ordered_json& trace) {
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<double, double>>> tracks;
  std::set<std::pair<int64_t, int64_t>> named;
  for (const auto& e : trace["traceEvents"]) {
    const int64_t pid = e["pid"].get<int64_t>();
    if (e["ph"] == "M" && e["name"] == "thread_name") named.insert({pid, e["tid"].get<int64_t>()});
    if (e["ph"] != "X") continue;
    const double ts = e["ts"].get<double>();
    tracks[{pid, e["tid"].get<int64_t>()}].push_back({ts, ts + e["dur"].get<double>()});
  }
  constexpr double kEps = 1e-6;
  for (auto& [track, slices] : tracks) {
    EXPECT_TRUE(named.count(track)) << "pid " << track.first << " tid " << track.second;
    std::sort(slices.begin(), slices.end(), [](const auto& a, const auto& b) {
      return a.first < b.first || (a.first == b.first && a.second > b.second);
    });
    std::vector<double> open;  // ends of the slices enclosing the current one
    for (const auto& [start, end] : slices) {
      while (!open.empty() && open.back() <= start + kEps)
        open.pop_back();
      if (!open.empty()) {
        EXPECT_LE(end, open.back() + kEps)
            << "pid " << track.first << " tid " << track.second << ": slice [" << start << ", "
            << end << "] partially overlaps one ending at " << open.back();
      }
      open.push_back(end);
    }
  }
}

ConfigNode tiny_root() {
  return load_config_string(kTiny, "<test>", std::filesystem::path(MLASIM_CONFIG_DIR));
}

TEST(InferenceRun, StepTimeBetweenCriticalPathAndSerialSum) {
  Components comps = make_builtin_components();
  const Workload w = scenario_workload(tiny_root(), comps);
  Simulation sim(tiny_root(), comps, LogLevel::Quiet);
  sim.run(RunControl{});
  const WorkloadRun run = sim.workload_run();
  ASSERT_EQ(run.finish.size(), 4u);
  Time step;
  for (int r = 0; r < 4; ++r) {
    std::map<std::string, int64_t> dur;
    for (const OpSpan& s : run.spans(r))
      dur[*s.name] = (s.end - s.start).ps();
    const auto& ops = w.ranks[r].ops;
    ASSERT_EQ(dur.size(), ops.size()) << "op names are unique and every op ran";
    std::vector<int64_t> chain(ops.size(), 0);
    int64_t longest = 0, serial = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
      int64_t before = 0;
      for (uint32_t d : ops[i].deps)
        before = std::max(before, chain[d]);
      chain[i] = before + dur.at(ops[i].name);
      longest = std::max(longest, chain[i]);
      serial += dur.at(ops[i].name);
    }
    const int64_t finish = run.finish[r].ps();
    EXPECT_GE(finish, longest) << "rank " << r;
    EXPECT_LE(finish, serial) << "rank " << r;
    EXPECT_LT(longest, serial) << "some ops overlap";
    step = std::max(step, run.finish[r]);
  }
  const auto s = sim.summary();
  EXPECT_DOUBLE_EQ(s["step_time_ms"].get<double>(), step.to_ms());
  const double parts = s["time_attention_ms"].get<double>() + s["time_gate_ms"].get<double>() +
                       s["time_experts_ms"].get<double>() +
                       s["time_exposed_comm_ms"].get<double>() + s["time_other_ms"].get<double>();
  EXPECT_NEAR(parts, s["step_time_ms"].get<double>(), 1e-9);
  EXPECT_GT(s["time_other_ms"].get<double>(), 0.0);
  EXPECT_GT(s["time_dispatch_ms"].get<double>(), 0.0);
  EXPECT_GT(s["time_combine_ms"].get<double>(), 0.0);
  EXPECT_NEAR(s["mtp_accepted_tokens_per_step"].get<double>(), 1.8, 1e-12);
  EXPECT_EQ(s["kv_cache_bytes_per_token"].get<uint64_t>(), 27u * (512 + 64) * 2);

  // layers.csv: layers 0..2 and the MTP module (27), columns summing to the summary's.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mlasim_inference_run_" + std::to_string(::getpid()));
  sim.write_extra_results(dir);
  std::ifstream in(dir / "layers.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line,
            "layer,attention_ms,gate_ms,dispatch_ms,experts_ms,combine_ms,tp_comm_ms,"
            "exposed_comm_ms,expert_load_imbalance,gpu_load_imbalance");
  std::vector<int> layers;
  double attention = 0, dispatch = 0, combine = 0, expert_imbalance = 0, gpu_imbalance = 0;
  int routed = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cells(1);
    for (char c : line) {
      if (c == ',') {
        cells.emplace_back();
      } else {
        cells.back().push_back(c);
      }
    }
    ASSERT_EQ(cells.size(), 10u) << line;
    layers.push_back(std::stoi(cells[0]));
    attention += std::stod(cells[1]);
    dispatch += std::stod(cells[3]);
    combine += std::stod(cells[5]);
    // Routed layers carry the router's imbalance (>= 1), dense layer 0 none.
    EXPECT_EQ(cells[8].empty(), layers.back() == 0) << line;
    if (!cells[8].empty()) {
      EXPECT_GE(std::stod(cells[8]), 1.0);
      EXPECT_GE(std::stod(cells[9]), 1.0);
      expert_imbalance += std::stod(cells[8]);
      gpu_imbalance += std::stod(cells[9]);
      ++routed;
    }
  }
  EXPECT_EQ(layers, (std::vector<int>{0, 1, 2, 27}));
  // Every routed layer is routed as often (each micro-batch), so the step's imbalance is the
  // mean of the layers'.
  ASSERT_EQ(routed, 3);
  EXPECT_NEAR(expert_imbalance / routed, s["expert_load_imbalance"].get<double>(), 1e-6);
  EXPECT_NEAR(gpu_imbalance / routed, s["gpu_load_imbalance"].get<double>(), 1e-6);
  EXPECT_NEAR(attention, s["time_attention_ms"].get<double>(), 1e-6);
  EXPECT_NEAR(dispatch, s["time_dispatch_ms"].get<double>(), 1e-6);
  EXPECT_NEAR(combine, s["time_combine_ms"].get<double>(), 1e-6);
  std::filesystem::remove_all(dir);
  // summary.json's `layers` holds the same rows: the same layers, columns summing to the totals.
  ASSERT_TRUE(s.contains("layers") && s["layers"].is_array());
  std::vector<int> summary_layers;
  double experts = 0, gate = 0, exposed = 0;
  for (const auto& row : s["layers"]) {
    summary_layers.push_back(row["layer"].get<int>());
    experts += row["experts_ms"].get<double>();
    gate += row["gate_ms"].get<double>();
    exposed += row["exposed_comm_ms"].get<double>();
  }
  EXPECT_EQ(summary_layers, layers);
  EXPECT_NEAR(experts, s["time_experts_ms"].get<double>(), 1e-9);
  EXPECT_NEAR(gate, s["time_gate_ms"].get<double>(), 1e-9);
  EXPECT_NEAR(exposed, s["time_exposed_comm_ms"].get<double>(), 1e-9);

  // timeline.json: valid Chrome trace events; NIC + NVLink slices carry every injected byte.
  const auto t = sim.timeline();
  // Written as text without a tree; times are whole ps written in us with six decimals (no
  // float noise such as 0.28021199999999996, which made back-to-back slices overlap).
  const std::string text = sim.timeline_text();
  const std::regex any_time(R"re("(ts|dur)":)re"),
      exact_time(R"re("(ts|dur)":[0-9]+\.[0-9]{6}[,}])re");
  const auto count = [&](const std::regex& re) {
    return std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                         std::sregex_iterator());
  };
  EXPECT_GT(count(any_time), 0);
  EXPECT_EQ(count(exact_time), count(any_time));
  uint64_t net_bytes = 0;
  int nic_slices = 0, thread_names = 0;
  for (const auto& e : t["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("name"));
    if (e["ph"] == "M" && e["name"] == "thread_name") ++thread_names;
    if (e["ph"] != "X") continue;
    ASSERT_TRUE(e.contains("tid") && e.contains("ts") && e.contains("dur"));
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    if (e["tid"] == 2 || e["tid"] == 3) net_bytes += e["args"]["bytes"].get<uint64_t>();
    if (e["tid"] == 2) ++nic_slices;
  }
  EXPECT_GE(thread_names, 4 * 4);  // four per GPU, plus any extra op lanes
  EXPECT_GT(nic_slices, 0);
  EXPECT_EQ(net_bytes, s["net_injected_bytes"].get<uint64_t>());
  expect_no_partial_overlaps(t);
}

// Every compute op of the breakdown rank is counted in the part it belongs to: attention, gate
// and experts hold the run time of all compute ops but those the README lists as the rest of the
// step (embedding, residual adds, MTP eh_proj, LM head). Prefill takes naive MLA, with its own ops
// (kv_b_proj over the whole prompt, the copy of the rotary key to every head).
void expect_every_compute_op_filed(const std::string& scenario, bool prefill) {
  const ConfigNode root =
      load_config_string(scenario, "<test>", std::filesystem::path(MLASIM_CONFIG_DIR));
  Simulation sim(root, make_builtin_components(), LogLevel::Quiet);
  sim.run(RunControl{});
  const auto s = sim.summary();
  const int64_t rank = s["breakdown_rank"].get<int64_t>();
  const nlohmann::ordered_json t = sim.timeline();
  double compute = 0, rest = 0;
  std::set<std::string> names;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] != "X" || e["pid"].get<int64_t>() != rank) continue;
    const std::string cat = e["cat"].get<std::string>();
    if (cat != "gemm" && cat != "grouped_gemm" && cat != "elementwise" && cat != "attention")
      continue;
    std::string name = e["name"].get<std::string>();
    name = name.substr(name.rfind('.') + 1);
    names.insert(name);
    const double ms = e["dur"].get<double>() / 1e3;
    compute += ms;
    if (name == "embedding" || name == "residual" || name == "eh_proj" ||
        name.starts_with("lm_head")) {
      rest += ms;
    }
  }
  EXPECT_GT(rest, 0.0);
  if (prefill) {
    EXPECT_TRUE(names.count("k_rope_copy") && names.count("kv_b_proj"));
  }
  EXPECT_NEAR(s["time_attention_ms"].get<double>() + s["time_gate_ms"].get<double>() +
                  s["time_experts_ms"].get<double>(),
              compute - rest, 1e-6);
}

TEST(InferenceRun, BreakdownFilesEveryComputeOpInDecode) {
  expect_every_compute_op_filed(kTiny, false);
}

TEST(InferenceRun, BreakdownFilesEveryComputeOpInPrefill) {
  expect_every_compute_op_filed(
      test_util::tiny_cluster_scenario("tiny-prefill", 3, R"(  type: deepseek_inference
  model: deepseek-v2-lite
  layers: 3
  phase: prefill
  tokens_per_gpu: 512
  context_length: 256
  router: {seed: 2}
)"),
      true);
}

// With dual micro-batch overlap one micro-batch's dispatch runs while the other's combine is still
// in flight: the communication thread of a GPU has concurrent slices. A trace viewer nests the
// slices of one track by containment, so on every (pid, tid) two slices must be disjoint or one
// inside the other; every tid carrying slices is named, and the extra lanes are used.
TEST(InferenceRun, TimelineTracksNeverPartiallyOverlap) {
  Simulation sim(tiny_root(), make_builtin_components(), LogLevel::Quiet);
  sim.run(RunControl{});
  const nlohmann::ordered_json t = sim.timeline();
  expect_no_partial_overlaps(t);
  int extra_comm_lanes = 0;
  size_t op_slices = 0, spans = 0;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name" &&
        e["args"]["name"].get<std::string>().rfind("communication ", 0) == 0)
      ++extra_comm_lanes;
    if (e["ph"] == "X" && e["cat"] != "network") ++op_slices;
  }
  EXPECT_GT(extra_comm_lanes, 0) << "the dual micro-batch run overlaps communication";
  // Lanes only move slices: every op of every rank is still there once.
  const WorkloadRun run = sim.workload_run();
  for (size_t r = 0; r < run.finish.size(); ++r)
    spans += run.spans(static_cast<int>(r)).size();
  EXPECT_EQ(op_slices, spans);
}

// expert_loads.csv and gpu_loads.csv: every token of a routing goes to k experts, each pair
// computed on one GPU (the two files' sums agree); a main layer's routings carry the step's
// tokens (4 GPUs x 8 requests x (1 + MTP depth 1)) x k; and layers.csv's imbalance of a layer is
// the mean over its routings of max / mean of these loads.
TEST(InferenceRun, RoutingLoadsAddUpToTheStepAndItsImbalance) {
  Components comps = make_builtin_components();
  Simulation sim(tiny_root(), comps, LogLevel::Quiet);
  sim.run(RunControl{});
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mlasim_inference_loads_" + std::to_string(::getpid()));
  sim.write_extra_results(dir);
  // (layer, routing) -> loads, from a file of rows `layer,routing,index,load`.
  using Loads = std::map<std::pair<int, int>, std::vector<double>>;
  auto read = [&](const char* file, const char* header) {
    std::ifstream in(dir / file);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, header);
    Loads loads;
    int layer = 0, routing = 0, index = 0;
    double load = 0;
    char c1 = 0, c2 = 0, c3 = 0;
    while (std::getline(in, line)) {
      std::istringstream row(line);
      EXPECT_TRUE(row >> layer >> c1 >> routing >> c2 >> index >> c3 >> load) << line;
      std::vector<double>& v = loads[{layer, routing}];
      EXPECT_EQ(index, static_cast<int>(v.size())) << line;  // indices in order from 0
      v.push_back(load);
    }
    return loads;
  };
  const Loads experts = read("expert_loads.csv", "layer,routing,expert,tokens");
  const Loads gpus = read("gpu_loads.csv", "layer,routing,gpu,token_expert_pairs");
  std::map<int, double> step_pairs, imbalance, routings;
  ASSERT_EQ(experts.size(), gpus.size());
  for (const auto& [key, e] : experts) {
    ASSERT_TRUE(gpus.count(key));
    const std::vector<double>& g = gpus.at(key);
    EXPECT_EQ(e.size(), 64u);  // deepseek-v2-lite's routed experts
    EXPECT_EQ(g.size(), 4u);
    const double sum = std::accumulate(e.begin(), e.end(), 0.0);
    EXPECT_EQ(sum, std::accumulate(g.begin(), g.end(), 0.0));
    EXPECT_EQ(std::fmod(sum, 6.0), 0.0);  // k = 6 experts per token
    step_pairs[key.first] += sum;
    imbalance[key.first] += *std::max_element(e.begin(), e.end()) * 64.0 / sum;
    ++routings[key.first];
  }
  EXPECT_EQ(step_pairs.size(), 3u);  // layers 1, 2 and the MTP module's
  EXPECT_EQ(step_pairs[1], 4.0 * 8 * 2 * 6);
  EXPECT_EQ(step_pairs[2], 4.0 * 8 * 2 * 6);
  std::ifstream in(dir / "layers.csv");
  std::string line;
  std::getline(in, line);
  int checked = 0;
  while (std::getline(in, line)) {
    const int layer = std::stoi(line.substr(0, line.find(',')));
    const std::string imb = line.substr(line.rfind(',', line.rfind(',') - 1) + 1);
    if (!imbalance.count(layer)) continue;
    EXPECT_NEAR(std::stod(imb), imbalance[layer] / routings[layer], 1e-6) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
