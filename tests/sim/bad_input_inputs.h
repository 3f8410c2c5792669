// The well-formed inputs the bad-input tests break (one mistake per case) and their controls
// accept: a scenario, a trace and its scenario, a sweep and a model config.json.
#pragma once

#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "tests/sim/bad_input_harness.h"

namespace mlasim {

// A scenario with placeholder models and the pairwise-exchange workload: the cases name its keys
// (hardware.memory.bandwidth, workload.message).
inline const std::string kDefault = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
inline const std::string kTeaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
// The model teaching-deepseek.yaml runs, as a file to break.
inline const std::string kModel = MLASIM_SOURCE_DIR "/configs/models/deepseek-v2-lite.json";

// A 4-GPU scenario replaying `t.json` (placeholder hardware, message-level network).
inline const std::string kTraceScenario = R"(name: trace-case
cluster: {type: single_switch, nodes: 2, gpus_per_node: 2}
hardware:
  gpu: {type: roofline}
  memory: {type: fixed_bandwidth}
  nic: {type: fixed_latency}
  switch: {type: fixed_latency}
workload:
  type: trace
  file: @DIR@/t.json
)";

// Rank r computes, then swaps a message with rank (r + 2) mod 4. `@EDIT@` marks where cases
// change rank 1's first op; `@DEPS@` its send's dependencies.
inline const std::string kTrace = R"({"format": "mlasim-trace", "version": @VERSION@, "ranks": [
 {"rank": 0, "ops": [
  {"name": "gemm", "op": "gemm", "deps": [], "m": 64, "n": 64, "k": 64, "dtype": "bf16"},
  {"name": "recv_from_2", "op": "recv", "deps": [], "peer": 2, "bytes": 4096, "tag": 0},
  {"name": "send_to_2", "op": "send", "deps": [0], "peer": 2, "bytes": 4096, "tag": 0}]},
 {"rank": 1, "ops": [
  {"name": "gemm", "op": "@KIND@", "deps": @GEMMDEPS@, @FIELDS@},
  {"name": "recv_from_3", "op": "recv", "deps": [], "peer": 3, "bytes": 4096, "tag": 0},
  {"name": "send_to_3", "op": "send", "deps": @DEPS@, "peer": 3, "bytes": 4096, "tag": 0}]},
 {"rank": 2, "ops": [
  {"name": "recv_from_0", "op": "recv", "deps": [], "peer": 0, "bytes": 4096, "tag": 0},
  {"name": "send_to_0", "op": "send", "deps": [], "peer": 0, "bytes": 4096, "tag": 0}]},
 {"rank": 3, "ops": [
  {"name": "recv_from_1", "op": "recv", "deps": [], "peer": 1, "bytes": 4096, "tag": 0},
  {"name": "send_to_1", "op": "send", "deps": [], "peer": 1, "bytes": 4096, "tag": 0}]}]}
)";

inline std::string trace(std::map<std::string, std::string> edits) {
  std::map<std::string, std::string> values{
      {"@VERSION@", "1"},
      {"@KIND@", "gemm"},
      {"@GEMMDEPS@", "[]"},
      {"@FIELDS@", R"("m": 64, "n": 64, "k": 64, "dtype": "bf16")"},
      {"@DEPS@", "[0]"}};
  for (auto& [k, v] : edits)
    values[k] = v;
  std::string out = kTrace;
  for (const auto& [k, v] : values)
    out = replace_all(out, k, v);
  return out;
}

inline std::string sweep(const std::string& body) {
  return "sweep:\n  name: bad\n  base: " + kDefault + "\n" + body;
}

inline std::string model_scenario() {
  return "include: " + kTeaching + "\nworkload:\n  model: @DIR@/m.json\n";
}

inline std::string model_json(const std::string& from, const std::string& to) {
  std::ifstream in(kModel);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return replace_all(text, from, to);
}

}  // namespace mlasim
