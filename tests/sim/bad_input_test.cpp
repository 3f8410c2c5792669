// Malformed input through the real `mlasim` binary: every case must exit 2 with exactly one
// line on stderr that names the file, the key path and (for YAML) the line. One case per kind
// of mistake: YAML, scenario keys and values, includes, --set, sweeps, model config.json files,
// trace files and the command line. A well-formed control of each input kind must pass, so a
// case cannot pass merely because its base is broken.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/sim/bad_input_harness.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

// A scenario with placeholder models and the pairwise-exchange workload: the cases name its keys
// (hardware.memory.bandwidth, workload.message).
const std::string kDefault = MLASIM_SOURCE_DIR "/configs/teaching/pairwise-exchange.yaml";
const std::string kTeaching = MLASIM_SOURCE_DIR "/configs/scenarios/teaching-deepseek.yaml";
// The model teaching-deepseek.yaml runs, as a file to break.
const std::string kModel = MLASIM_SOURCE_DIR "/configs/models/deepseek-v2-lite.json";

// A 4-GPU scenario replaying `t.json` (placeholder hardware, message-level network).
const std::string kTraceScenario = R"(name: trace-case
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
const std::string kTrace = R"({"format": "mlasim-trace", "version": @VERSION@, "ranks": [
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

// A scenario whose cluster has NICs and a switch but which names no hardware for them.
const std::string kNoNicScenario = R"(name: no-nic
cluster: {type: single_switch, nodes: 2, gpus_per_node: 2}
hardware:
  gpu: {type: roofline}
  memory: {type: fixed_bandwidth}
workload: {type: pairwise_exchange}
)";

std::string trace(std::map<std::string, std::string> edits) {
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

std::string sweep(const std::string& body) {
  return "sweep:\n  name: bad\n  base: " + kDefault + "\n" + body;
}

std::string model_scenario() {
  return "include: " + kTeaching + "\nworkload:\n  model: @DIR@/m.json\n";
}

std::string model_json(const std::string& from, const std::string& to) {
  std::ifstream in(kModel);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return replace_all(text, from, to);
}

std::vector<BadInput> cases() {
  const std::string inc = "include: " + kDefault + "\n";
  return {
      {"YamlSyntax",
       {{"s.yaml", "name: x\ncluster: {type: ft2\nseed: 1\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:", "invalid YAML"}},
      {"UnknownKey",
       {{"s.yaml", inc + "colour: red\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:2:", "colour: unknown key"}},
      {"NearMissKey",
       {{"s.yaml", inc + "hardware:\n  memory:\n    bandwith: 3TB/s\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.memory.bandwith", "did you mean 'bandwidth'"}},
      {"WrongType",
       {{"s.yaml", inc + "seed: abc\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:2:", "seed:", "expected an integer"}},
      {"BadUnit",
       {{"s.yaml", inc + "hardware:\n  memory:\n    bandwidth: 3TB/q\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.memory.bandwidth", "3TB/q"}},
      {"BufferOverCreditRange",
       {{"s.yaml", inc + "network:\n  gpu_port:\n    buffer: 128GiB\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "network.gpu_port.buffer", "128 GiB"}},
      {"NegativeTime",
       {{"s.yaml", inc + "sim:\n  max_time: -1s\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "sim.max_time"}},
      {"NegativeProgressInterval",
       {{"s.yaml", inc + "sim:\n  progress_interval_s: -1\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "sim.progress_interval_s", "must be >= 0"}},
      {"RouterBiasStepBeyondScores",
       {{"s.yaml",
         "include: " + kTeaching + "\nworkload:\n  router: {bias_update_speed: 1e300}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.router.bias_update_speed", "must be in [0, 1]"}},
      {"KeyWithoutValue",
       {{"s.yaml", inc + "sim:\n  max_time:\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "sim.max_time", "has no value"}},
      {"SetWithEmptyValue",
       {{"s.yaml", inc}},
       {"validate", "@DIR@/s.yaml", "--set", "seed="},
       {"seed", "has no value"}},
      {"NegativePlane",
       {{"s.yaml", inc + "network:\n  faults:\n    planes: [-1]\n"}},
       {"run", "@DIR@/s.yaml", "-q", "--no-plots", "--out", "@DIR@/out"},
       {"plane -1", "numbered from 0"}},
      {"TraceFileIsAFolder",
       {{"s.yaml", replace_all(kTraceScenario, "@DIR@/t.json", "@DIR@")}},
       {"validate", "@DIR@/s.yaml"},
       {"is a folder, not a trace file"}},
      {"CalibrateSetOutsideMemory",
       {{"s.yaml", inc}},
       {"calibrate", "hbm", "--set", "gpu.sms=abc"},
       {"--set gpu.sms", "only the keys under memory."}},
      {"RunOutIsAFile",
       {{"s.yaml", inc}},
       {"run", "@DIR@/s.yaml", "-q", "--no-plots", "--out", "@DIR@/s.yaml"},
       {"exists and is not a folder"}},
      {"RunOutIsEmpty",
       {{"s.yaml", inc}},
       {"run", "@DIR@/s.yaml", "-q", "--no-plots", "--out", ""},
       {"--out", "empty"}},
      {"LayersBeyondTheModel",
       {{"s.yaml", "include: " + kTeaching + "\n"}},
       {"validate", "@DIR@/s.yaml", "--set", "workload.layers=1000"},
       {"workload.layers", "more than the model's"}},
      {"RetriesBeyondTheIbField",
       {{"s.yaml", inc + "network:\n  retransmit:\n    max_retries: 100\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "network.retransmit.max_retries", "[0, 7]"}},
      {"ZeroWherePositive",
       {{"s.yaml", inc + "sim:\n  max_time: 0s\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "sim.max_time", "must be > 0"}},
      {"UnknownComponentType",
       {{"s.yaml", inc + "hardware:\n  gpu:\n    type: tpu\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.gpu.type", "unknown gpu type 'tpu'"}},
      {"MissingRequiredKey",
       {{"s.yaml", replace_all(kTraceScenario, "  file: @DIR@/t.json\n", "")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:", "workload.file", "required key is missing"}},
      {"BadIncludePath",
       {{"s.yaml", "include: nope.yaml\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:1:", "include", "nope.yaml"}},
      {"IncludeCycle",
       {{"a.yaml", "include: b.yaml\n"}, {"b.yaml", "include: a.yaml\n"}},
       {"validate", "@DIR@/a.yaml"},
       {"b.yaml:1:", "include cycle", "a.yaml"}},
      {"SetWithoutValue", {}, {"validate", "--set", "seed"}, {"--set 'seed'", "KEY.PATH=VALUE"}},
      {"SetBadValue",
       {},
       {"validate", "--set", "hardware.memory.bandwidth=slow"},
       {"--set hardware.memory.bandwidth=slow", "hardware.memory.bandwidth", "slow"}},
      {"SetUnknownKey",
       {},
       {"validate", "--set", "hardware.gpu.colour=red"},
       {"--set hardware.gpu.colour=red", "hardware.gpu.colour", "unknown key"}},
      {"SetBrokenYaml",
       {},
       {"validate", "--set", "workload.gemm=[1,"},
       {"--set 'workload.gemm=[1,'", "invalid value"}},
      {"FaultOnUnknownSwitch",
       {{"s.yaml", inc + "network:\n  faults:\n    switches: [nope]\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:", "network.faults", "'nope'"}},
      {"SweepUnknownAxisKey",
       {{"w.yaml", sweep("  axes:\n    - {key: no.such.key, values: [1]}\n")}},
       {"sweep", "@DIR@/w.yaml", "--out", "@DIR@/out"},
       {"w.yaml:5:", "sweep.axes[0]", "no.such.key", "unknown key"}},
      {"SweepBadAxisValue",
       {{"w.yaml", sweep("  axes:\n    - {key: workload.message, values: [1MiB, 2MiB, lots]}\n")}},
       {"sweep", "@DIR@/w.yaml", "--out", "@DIR@/out"},
       {"w.yaml:5:", "sweep.axes[0]", "p0002", "workload.message", "lots"}},
      {"SweepWithoutAxes",
       {{"w.yaml", sweep("  axes: []\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:4:", "sweep.axes", "at least one axis"}},
      {"SweepEmptyValues",
       {{"w.yaml", sweep("  axes:\n    - {key: seed, values: []}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:5:", "sweep.axes[0]", "exactly one of"}},
      // A unit beside values was ignored; a million log points were "not a whole number >= 2".
      {"SweepUnitWithValues",
       {{"w.yaml", sweep("  axes:\n    - {key: workload.message, values: [1MiB], unit: KiB}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:5:", "sweep.axes[0].unit", "applies to range and log_range"}},
      {"SweepTooManyLogPoints",
       {{"w.yaml", sweep("  axes:\n    - {key: seed, log_range: [1, 8, 100000000]}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:5:", "sweep.axes[0].log_range", "more than a million points"}},
      // A type given as a list, a section given as a number: said as such (both read as
      // "missing").
      {"TypeAsList",
       {},
       {"validate", kDefault, "--set", "workload.type=[a]"},
       {"--set workload.type=[a]", "workload.type", "expected a type name, not a list"}},
      {"TypeAsNull",
       {},
       {"validate", kDefault, "--set", "workload={type: null}"},
       {"workload.type", "expected a type name, got null"}},
      {"SectionAsScalar",
       {},
       {"validate", kDefault, "--set", "workload=3"},
       {"--set workload=3", "workload", "section must be a mapping"}},
      {"CalibrateUnknownPreset",  // named the bare word as a file, no presets listed
       {},
       {"calibrate", "hbm", "--hardware", "a100"},
       {"--hardware a100", "no such file or preset", "h100, h200, h800"}},
      {"DispatchPayloadBeyondAToken",  // ran for hours instead of being refused
       {},
       {"validate", kTeaching, "--set", "workload.moe_traffic.dispatch_bytes_per_token=1TiB"},
       {"workload.moe_traffic.dispatch_bytes_per_token", "at most 16 MiB"}},
      {"SweepBadRange",
       {{"w.yaml", sweep("  axes:\n    - {key: seed, range: [1, 2]}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:5:", "sweep.axes[0].range", "[start, stop, step]"}},
      // A bad `set` entry is blamed on its own line, not only on the file.
      {"SweepBadSetEntry",
       {{"w.yaml", sweep("  set:\n    - seed=2\n    - workload.nosuch=~\n  axes:\n"
                         "    - {key: seed, values: [1, 2]}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:6:", "sweep.set[1]", "workload.nosuch is not set"}},
      {"SweepTooManyPoints",
       {{"w.yaml", sweep("  axes:\n    - {key: a, range: [0, 999999, 1]}\n"
                         "    - {key: b, range: [0, 999999, 1]}\n"
                         "    - {key: c, range: [0, 999999, 1]}\n"
                         "    - {key: d, range: [0, 999999, 1]}\n")}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:", "sweep.axes", "more than a million points"}},
      {"SweepBadShard",
       {},
       {"sweep", MLASIM_SOURCE_DIR "/configs/sweeps/nic-bandwidth.yaml", "--shard", "3/2"},
       {"--shard '3/2'", "i/N"}},
      // A list's element is not a key: both spellings say so (not "not set" or "expected a
      // list, got a mapping").
      {"SetListElementByBracket",
       {},
       {"validate", MLASIM_SOURCE_DIR "/configs/scenarios/net-p2p-bandwidth.yaml", "--set",
        "workload.sizes[0]=null"},
       {"--set 'workload.sizes[0]=null'", "workload.sizes is a list", "whole list"}},
      {"SetListElementByIndex",
       {},
       {"validate", MLASIM_SOURCE_DIR "/configs/scenarios/net-p2p-bandwidth.yaml", "--set",
        "workload.sizes.0=1KiB"},
       {"--set 'workload.sizes.0=1KiB'", "workload.sizes is a list", "whole list"}},
      // Given but empty (a shell variable unset): refused, not taken as "no shard".
      {"SweepEmptyShard",
       {},
       {"sweep", MLASIM_SOURCE_DIR "/configs/sweeps/nic-bandwidth.yaml", "--shard", ""},
       {"--shard ''", "i/N"}},
      {"ModelMissingField",
       {{"s.yaml", model_scenario()}, {"m.json", model_json("\"hidden_size\": 2048,", "")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.model", "m.json", "'hidden_size'"}},
      {"ModelContradictoryFields",
       {{"s.yaml", model_scenario()},
        {"m.json", model_json("\"num_experts_per_tok\": 6", "\"num_experts_per_tok\": 65")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "workload.model", "'num_experts_per_tok'", "65 exceeds n_routed_experts 64"}},
      {"ModelNotJson",
       {{"s.yaml", model_scenario()}, {"m.json", "{\"hidden_size\": 240,,}"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "m.json:1:", "not valid JSON", "syntax error"}},
      {"ModelHugeFloat",
       {{"s.yaml", model_scenario()},
        {"m.json", model_json("\"hidden_size\": 2048", "\"hidden_size\": 1e300")}},
       {"validate", "@DIR@/s.yaml"},
       {"m.json", "'hidden_size'", "expected an integer"}},
      {"ModelNumberOverflow",  // found by fuzzing: a number beyond a double's range
       {{"s.yaml", model_scenario()},
        {"m.json", model_json("\"hidden_size\": 2048", "\"hidden_size\": 2e4444")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "m.json", "not valid JSON", "number overflow"}},
      {"KernelsModelMissingField",
       {{"m.json", model_json("\"vocab_size\": 102400", "\"x\": 1")}},
       {"kernels", "--model", "@DIR@/m.json"},
       {"m.json", "'vocab_size'", "missing"}},
      {"TraceUnknownOpKind",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@KIND@", "teleport"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:10:", "workload.file", "t.json", "rank 1, op 0 'gemm'", "'teleport'"}},
      {"TraceMissingField",
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({{"@FIELDS@", R"("m": 64, "n": 64, "dtype": "bf16")"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "rank 1, op 0", "field 'k'"}},
      {"TraceDanglingDependency",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@DEPS@", "[7]"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "rank 1, op 2 'send_to_3'", "deps"}},
      {"TraceDependencyBeyond32Bits",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@DEPS@", "[4294967296]"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1, op 2", "4294967296"}},
      {"TraceWrongVersion",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@VERSION@", "2"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "version 2 is not supported"}},
      {"TraceVersionBeyond32Bits",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@VERSION@", "4294967297"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "version 4294967297 is not supported"}},
      {"TraceFormatNotAString",
       {{"s.yaml", kTraceScenario}, {"t.json", replace_all(trace({}), "\"mlasim-trace\"", "7")}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "'format'"}},
      {"TraceRankNotANumber",
       {{"s.yaml", kTraceScenario},
        {"t.json", replace_all(trace({}), "\"rank\": 0", "\"rank\": \"zero\"")}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 0", "'rank'"}},
      {"TraceOpNameNotAString",
       {{"s.yaml", kTraceScenario},
        {"t.json", replace_all(trace({}), "\"name\": \"recv_from_2\"", "\"name\": 5")}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 0, op 1", "field 'name'"}},
      {"TraceNumberOverflow",  // found by fuzzing
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@DEPS@", "[1e999]"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "invalid JSON", "number overflow"}},
      {"TraceDependencyCycle",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({{"@GEMMDEPS@", "[2]"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1: dependency cycle", "op 0 'gemm'", "op 2 'send_to_3'"}},
      {"TraceTruncated",
       {{"s.yaml", kTraceScenario}, {"t.json", trace({}).substr(0, 120)}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json:", "invalid JSON"}},
      {"TraceReceiveWithoutSend",
       {{"s.yaml", kTraceScenario},
        {"t.json", replace_all(trace({}), "\"peer\": 3, \"bytes\": 4096, \"tag\": 0}]},",
                               "\"peer\": 3, \"bytes\": 4096, \"tag\": 5}]},")}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "rank 3 op 0 'recv_from_1', field 'tag'",
        "from rank 1 to rank 3 with tag 0", "0 sends against 1 receives"}},
      // Sizes that differ name the receive and its bytes (they once named no op).
      {"TraceReceiveSizeDiffers",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         replace_all(trace({}),
                     R"("recv_from_2", "op": "recv", "deps": [], "peer": 2, "bytes": 4096)",
                     R"("recv_from_2", "op": "recv", "deps": [], "peer": 2, "bytes": 1000)")}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 0 op 1 'recv_from_2', field 'bytes'",
        "4096 B sent against 1000 B received"}},
      {"TraceDuplicateKey",
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({{"@FIELDS@", R"("m": 64, "n": 64, "k": 64, "dtype": "bf16", "m": 8)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "key 'm' appears twice"}},
      {"TraceAllToAllCellOverLimit",  // the receiver's own entry: in no compared row or column
       {{"s.yaml", kTraceScenario},
        {"t.json",
         trace({{"@KIND@", "all_to_all"},
                {"@FIELDS@",
                 R"("send_bytes": [0, 0, 0, 0], "recv_bytes": [0, 281474976710657, 0, 0], )"
                 R"("tag": 9, "gpus_per_node": 0, "nvlink_forwarding": false, "issuer": "sm")"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"workload.file", "t.json", "rank 1, op 0 'gemm', field 'recv_bytes'",
        "entry 1 = 281474976710657 B (row 1, column 1 of the matrix)", "limit of 2^48 bytes"}},
      // Trace ops that pass the type and size checks but describe no kernel, or another
      // cluster.
      {"TraceAttentionQueriesBeyondKeys",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         trace({{"@KIND@", "attention"},
                {"@FIELDS@",
                 R"("kernel": "mha_prefill", "batch": 1, "q_len": 8, "kv_len": 4, )"
                 R"("heads_q": 4, "heads_kv": 4, "head_dim_qk": 64, "head_dim_v": 64, )"
                 R"("dtype": "bf16", "kv_dtype": "bf16", "mask": "causal", "page_block": 64)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:10:", "t.json", "rank 1 op 0 'gemm'", "attention field 'q_len'", "kv_len 4"}},
      {"TraceAttentionWithoutKeys",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         trace({{"@KIND@", "attention"},
                {"@FIELDS@",
                 R"("kernel": "mha_prefill", "batch": 1, "q_len": 1, "kv_len": 0, )"
                 R"("heads_q": 4, "heads_kv": 4, "head_dim_qk": 64, "head_dim_v": 64, )"
                 R"("dtype": "bf16", "kv_dtype": "bf16", "mask": "causal", "page_block": 64)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1 op 0 'gemm'", "attention field 'kv_len': is 0"}},
      {"TraceAttentionWithoutHeads",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         trace({{"@KIND@", "attention"},
                {"@FIELDS@",
                 R"("kernel": "mha_prefill", "batch": 1, "q_len": 1, "kv_len": 4, )"
                 R"("heads_q": 0, "heads_kv": 4, "head_dim_qk": 64, "head_dim_v": 64, )"
                 R"("dtype": "bf16", "kv_dtype": "bf16", "mask": "causal", "page_block": 64)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1 op 0 'gemm'", "attention field 'heads_q': is 0"}},
      {"TraceAttentionPartialHeadGroups",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         trace({{"@KIND@", "attention"},
                {"@FIELDS@",
                 R"("kernel": "mha_prefill", "batch": 1, "q_len": 1, "kv_len": 4, )"
                 R"("heads_q": 6, "heads_kv": 4, "head_dim_qk": 64, "head_dim_v": 64, )"
                 R"("dtype": "bf16", "kv_dtype": "bf16", "mask": "causal", "page_block": 64)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "attention field 'heads_kv'", "4 does not divide heads_q 6"}},
      {"TraceGemmWithoutInnerDimension",
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({{"@FIELDS@", R"("m": 64, "n": 64, "k": 0, "dtype": "bf16")"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1 op 0 'gemm'", "gemm field 'k': is 0"}},
      {"TraceGroupedGemmWithoutGroups",
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({{"@KIND@", "grouped_gemm"},
                          {"@FIELDS@", R"("m": [], "n": 64, "k": 64, "dtype": "fp8", )"
                                       R"("layout": "contiguous", "max_m": 0)"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json", "rank 1 op 0 'gemm'", "grouped_gemm field 'm': is empty"}},
      // 0 stands for the node size only where the data stays within the node: rank 1 (node 0)
      // sends to rank 3 (node 1).
      {"TraceAllToAllUnknownNodeSize",
       {{"s.yaml", kTraceScenario},
        {"t.json",
         replace_all(
             trace({{"@KIND@", "all_to_all"},
                    {"@FIELDS@",
                     R"("send_bytes": [0, 0, 0, 64], "recv_bytes": [0, 0, 0, 0], "tag": 9, )"
                     R"("gpus_per_node": 0, "nvlink_forwarding": true, "issuer": "sm")"}}),
             R"("peer": 1, "bytes": 4096, "tag": 0}]}]})",
             R"("peer": 1, "bytes": 4096, "tag": 0}, {"name": "a2a", "op": "all_to_all", )"
             R"("deps": [], "send_bytes": [0, 0, 0, 0], "recv_bytes": [0, 64, 0, 0], "tag": 9, )"
             R"("gpus_per_node": 0, "nvlink_forwarding": true, "issuer": "sm"}]}]})")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:10:", "t.json: rank 1, op 0 'gemm', field 'gpus_per_node': 0",
        "cluster has 2 GPUs per node", "exchanges data within its node"}},
      {"TraceAllToAllOtherNodeSize",
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({{"@KIND@", "all_to_all"},
                          {"@FIELDS@",
                           R"("send_bytes": [0, 0, 0, 0], "recv_bytes": [0, 0, 0, 0], "tag": 9, )"
                           R"("gpus_per_node": 3, "nvlink_forwarding": true, "issuer": "sm")"}})}},
       {"validate", "@DIR@/s.yaml"},
       {"t.json: rank 1, op 0 'gemm', field 'gpus_per_node': 3", "cluster has 2 GPUs per node"}},
      {"TraceNotJson",  // FILE:LINE:COLUMN, without nlohmann's exception prefix
       {{"s.yaml", kTraceScenario},
        {"t.json", "{\"format\": \"mlasim-trace\",\n \"version\": 1,,\n \"ranks\": []}\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:10:", "workload.file", "t.json:2:", "invalid JSON: syntax error"}},
      {"TraceRelativePathMissing",  // resolved against the scenario's folder
       {{"s.yaml", replace_all(kTraceScenario, "@DIR@/t.json", "nope.json")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:10:", "workload.file", "nope.json: cannot open trace file (@DIR@/nope.json)"}},
      {"ModelUnknownType",
       {{"s.yaml", model_scenario()},
        {"m.json", model_json("\"model_type\": \"deepseek_v2\"", "\"model_type\": \"mamba\"")}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:3:", "m.json", "field 'model_type'", "'mamba'", "known: deepseek_v2"}},
      {"NumberBeyondADouble",
       {{"s.yaml", inc + "hardware:\n  memory:\n    bandwidth: 1e400TB/s\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.memory.bandwidth", "1e400 is out of range"}},
      {"YamlNestedTooDeep",
       {{"s.yaml", "x: " + std::string(3000, '[') + std::string(3000, ']') + "\n"}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml:1:", "invalid YAML: nesting too deep"}},
      {"FlagGivenAValue",
       {},
       {"validate", kDefault, "--print=3"},
       {"--print: a flag takes no value"}},
      {"TrafficKeyOfAnotherPattern",
       {},
       {"validate", kDefault, "--set",
        "workload={type: network_traffic, pattern: all_to_all, senders: 3}"},
       {"workload.senders", "applies to the incast pattern only (this pattern is all_to_all)"}},
      {"TrafficShiftAMultipleOfTheGpus",  // would silently draw a random permutation instead
       {},
       {"validate", kDefault, "--set",
        "workload={type: network_traffic, pattern: permutation, shift: 4}"},
       {"workload.shift", "4 is a multiple of the 4 GPUs"}},
      {"AttentionTpSplitsKvHeads",  // 8 GPUs would hold 2.5 K/V heads each
       {},
       {"validate", MLASIM_SOURCE_DIR "/configs/scenarios/llama-3.1-405b-decode-tp8.yaml", "--set",
        "workload.layers=2", "--set", "workload.model_overrides.num_attention_heads=40", "--set",
        "workload.model_overrides.num_key_value_heads=20", "--set",
        "workload.model_overrides.head_dim=128"},
       {"workload.attention_tp: 8 must divide the model's K/V heads (20)"}},
      {"TopologyScenarioUnknownKey",
       {{"s.yaml", inc + "hardware:\n  gpu:\n    colour: red\n"}},
       {"topology", "@DIR@/s.yaml"},
       {"s.yaml:4:", "hardware.gpu.colour", "unknown key"}},
      {"TopologyScenarioWithoutNic",  // as `run` refuses it: the cluster has NICs
       {{"s.yaml", kNoNicScenario}},
       {"topology", "@DIR@/s.yaml"},
       {"s.yaml: hardware.nic", "missing nic section"}},
      {"ScenarioWithoutNic",  // the same through `validate`
       {{"s.yaml", kNoNicScenario}},
       {"validate", "@DIR@/s.yaml"},
       {"s.yaml: hardware.nic", "missing nic section"}},
      {"SweepRelativeTraceMissing",  // a sweep's value: from the sweep file's folder
       {{"s.yaml", kTraceScenario},
        {"t.json", trace({})},
        {"w.yaml",
         "sweep:\n  name: t\n  base: s.yaml\n  axes:\n"
         "    - {key: workload.file, values: [t.json, nope.json]}\n"}},
       {"sweep", "@DIR@/w.yaml", "--out", "@DIR@/out"},
       {"w.yaml:5:", "sweep.axes[0]", "p0001", "workload.file",
        "nope.json: cannot open trace file (@DIR@/nope.json)"}},
      {"SweepMissingBase",
       {{"w.yaml",
         "sweep:\n  name: t\n  base: nope.yaml\n  axes:\n    - {key: seed, values: [1]}\n"}},
       {"sweep", "@DIR@/w.yaml"},
       {"w.yaml:3:", "sweep.base", "nope.yaml"}},
      {"SweepZeroJobs",
       {{"w.yaml", sweep("  axes:\n    - {key: seed, values: [1]}\n")}},
       {"sweep", "@DIR@/w.yaml", "--jobs", "0"},
       {"--jobs", ">= 1"}},
      {"ScenarioNameParentFolder",
       {},
       {"run", kDefault, "-q", "--no-plots", "--set", "name=.."},
       {"--set", "name", "'..' cannot name a results folder"}},
      {"ScenarioNameEmpty",
       {{"s.yaml", inc + "name: \"\"\n"}},
       {"run", "@DIR@/s.yaml", "-q", "--no-plots"},
       {"s.yaml:2:", "name", "must not be empty"}},
      {"ScenarioNameWithSlash",
       {},
       {"validate", kDefault, "--set", "name=a/b"},
       {"--set", "name", "'a/b'", "found '/'"}},
      {"SweepNameOutsideItsFolder",
       {{"w.yaml", "sweep:\n  name: ../../escape\n  base: " + kDefault +
                       "\n  axes:\n    - {key: seed, values: [1]}\n"}},
       {"sweep", "@DIR@/w.yaml", "--no-plots"},
       {"w.yaml:2:", "sweep.name", "'../../escape'", "found '/'"}},
      {"SweepOfAScenarioFile",
       {},
       {"sweep", kDefault, "--no-plots"},
       {"pairwise-exchange.yaml", "not a sweep file", "`sweep` key"}},
      {"RunOfAClusterPreset",
       {},
       {"run", MLASIM_SOURCE_DIR "/configs/clusters/ft2-k8.yaml", "-q", "--no-plots", "-o",
        "@DIR@/out"},
       {"ft2-k8.yaml: hardware:", "required section is missing", "is this a scenario file"}},
      {"UnknownSubcommand",
       {},
       {"calibrate", "dram"},
       {"calibrate: unknown subcommand 'dram'", "(one of: hbm)"}},
      {"MissingSubcommand", {}, {"calibrate"}, {"calibrate: a subcommand is required", "hbm"}},
      {"UnknownCliFlag", {}, {"run", "--frobnicate"}, {"--frobnicate"}},
      {"UnknownCommand", {}, {"frobnicate"}, {"unknown command 'frobnicate'", "run"}},
      {"NonexistentFile", {}, {"run", "@DIR@/missing.yaml"}, {"missing.yaml"}},
      {"MessageFidelityWithPacketModels",
       {},
       {"run", kTeaching, "-q", "--no-plots", "--out", "@DIR@/out", "--set",
        "network.fidelity=message"},
       {"network.fidelity: message", "is a packet-level model"}},
  };
}

class BadInputCase : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputCase, ExitsTwoWithOneLineNamingFileAndKey) {
  expect_bad_input("bad", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Malformed, BadInputCase, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The controls: the same inputs, well formed, are accepted (so a case above fails for its own
// mistake, not for a broken base).
TEST(BadInputControls, WellFormedBasesAreAccepted) {
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_bad_controls_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "t.json") << trace({});
  std::ofstream(dir / "s.yaml") << replace_all(kTraceScenario, "@DIR@", dir.string());
  std::ofstream(dir / "m.json") << model_json("", "");
  std::ofstream(dir / "ms.yaml") << replace_all(model_scenario(), "@DIR@", dir.string());
  std::ofstream(dir / "w.yaml") << sweep(
      "  axes:\n    - {key: workload.message, values: [1MiB, 2MiB]}\n");
  CliResult r = run_cli(
      {"run", "-q", "--no-plots", (dir / "s.yaml").string(), "--out", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"validate", "-q", (dir / "ms.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"sweep", (dir / "w.yaml").string(), "--out", (dir / "sw").string(), "--no-plots"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"kernels", "--model", (dir / "m.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// A relative trace path is taken from the scenario file's folder (as includes are), whatever the
// working folder; the resolved config names it absolutely, so that it loads from anywhere.
TEST(BadInputControls, RelativeTracePathFollowsTheScenario) {
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_trace_rel_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "scenarios");
  std::ofstream(dir / "t.json") << trace({});
  std::ofstream(dir / "scenarios" / "s.yaml")
      << replace_all(kTraceScenario, "@DIR@/t.json", "../t.json");
  CliResult r = run_cli({"validate", "--print", (dir / "scenarios" / "s.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(dir / "resolved.yaml") << r.out;
  r = run_cli({"validate", "-q", (dir / "resolved.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// Values written in a sweep file (its `set` and axis values) take a relative trace path from the
// sweep file's folder, as its `base` is, whatever the working folder; a --set on the command
// line takes it from the working folder, or from --set-dir's.
TEST(BadInputControls, RelativeTracePathInASweepFollowsTheSweepFile) {
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_sweep_trace_rel_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sweeps");
  fs::create_directories(dir / "traces");
  ASSERT_NE(fs::current_path(), dir / "sweeps");
  std::ofstream(dir / "traces" / "t.json") << trace({});
  std::ofstream(dir / "s.yaml") << replace_all(kTraceScenario, "@DIR@", dir.string());
  std::ofstream(dir / "sweeps" / "w.yaml")
      << "sweep:\n  name: t\n  base: ../s.yaml\n  set: [workload.file=../traces/t.json]\n"
         "  axes:\n    - {key: seed, values: [1]}\n";
  CliResult r = run_cli({"sweep", (dir / "sweeps" / "w.yaml").string(), "--out",
                         (dir / "out").string(), "--no-plots"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The point ran the trace the sweep names (the resolved config holds its absolute path).
  std::ifstream in(dir / "out" / "p0000" / "config.resolved.yaml");
  const std::string resolved((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_NE(resolved.find((dir / "sweeps" / ".." / "traces" / "t.json").string()),
            std::string::npos)
      << resolved;
  // From the command line: the working folder's t.json (none here), or --set-dir's.
  const std::vector<std::string> given{"validate", "-q", (dir / "s.yaml").string(), "--set",
                                       "workload.file=traces/t.json"};
  r = run_cli(given);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find((fs::current_path() / "traces" / "t.json").string()), std::string::npos)
      << r.err;
  std::vector<std::string> with_dir = given;
  with_dir.insert(with_dir.end(), {"--set-dir", dir.string()});
  r = run_cli(with_dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(dir);
}

// Settings of another traffic pattern are refused by comparison with the defaults, so a resolved
// config, which lists every key, still loads.
TEST(BadInputControls, ResolvedTrafficConfigsLoad) {
  const fs::path dir =
      fs::temp_directory_path() / ("mlasim_traffic_resolved_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"net-p2p-bandwidth.yaml", "net-incast.yaml", "net-a2a-mrft.yaml"}) {
    CliResult r = run_cli(
        {"validate", "--print", MLASIM_SOURCE_DIR "/configs/scenarios/" + std::string(name)});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    std::ofstream(dir / name) << r.out;
    r = run_cli({"validate", "-q", (dir / name).string()});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlasim
