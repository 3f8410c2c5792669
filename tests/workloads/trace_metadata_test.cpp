// The inference metadata block of a trace (what a replay needs to report like the generator):
// every field written and read back as given, and malformed blocks rejected with a message
// naming the field (see trace_test.cpp for the op graphs).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "sim/errors.h"
#include "workloads/inference_report.h"
#include "workloads/trace.h"

namespace mlasim {
namespace {

TEST(Trace, InferenceMetadataRoundTripAndErrors) {
  // Every field a value of its own, so that a swapped or dropped field shows.
  InferenceFacts f;
  f.phase = InferencePhase::Prefill;
  f.requests_per_gpu = 7;
  f.tokens_per_gpu = 1234;
  f.context_varied = true;
  f.mtp_accepted_tokens_per_step = 1.75;
  f.model_layers = 61;
  f.kv_bytes_per_token = 11;
  f.kv_bytes_per_token_per_gpu = 12;
  f.kv_cached_tokens_per_gpu = 13;
  f.kv_cached_tokens_max = 14;
  f.kv_bytes_per_gpu = 99;
  f.kv_bytes_per_gpu_max = 100;
  f.kv_mtp_bytes_per_token = 15;
  f.kv_mtp_bytes_per_gpu = 16;
  f.weight_bytes_per_gpu = 17;
  f.activation_bytes_per_gpu = 18;
  f.expert_imbalance = 1.25;
  f.expert_imbalance_max = 1.5;
  f.gpu_imbalance = 1.125;
  f.gpu_imbalance_max = 1.375;
  f.node_limit_overflows = 19;
  const nlohmann::json j = nlohmann::json::parse(inference_trace_metadata(f).dump());
  EXPECT_EQ(j["generator"], "deepseek_inference");
  EXPECT_EQ(j["phase"], "prefill");
  const InferenceFacts g = inference_facts_from_metadata(j, "t.json");
  EXPECT_EQ(g.phase, InferencePhase::Prefill);
  EXPECT_EQ(g.requests_per_gpu, 7u);
  EXPECT_EQ(g.tokens_per_gpu, 1234u);
  EXPECT_TRUE(g.context_varied);
  EXPECT_EQ(g.mtp_accepted_tokens_per_step, 1.75);
  EXPECT_EQ(g.model_layers, 61u);
  EXPECT_EQ(std::tuple(g.kv_bytes_per_token, g.kv_bytes_per_token_per_gpu,
                       g.kv_cached_tokens_per_gpu, g.kv_cached_tokens_max),
            std::tuple(11u, 12u, 13u, 14u));
  EXPECT_EQ(std::tuple(g.kv_bytes_per_gpu, g.kv_bytes_per_gpu_max, g.kv_mtp_bytes_per_token,
                       g.kv_mtp_bytes_per_gpu),
            std::tuple(99u, 100u, 15u, 16u));
  EXPECT_EQ(g.weight_bytes_per_gpu, 17u);
  EXPECT_EQ(g.activation_bytes_per_gpu, 18u);
  EXPECT_EQ(
      std::tuple(g.expert_imbalance, g.expert_imbalance_max, g.gpu_imbalance, g.gpu_imbalance_max),
      std::tuple(1.25, 1.5, 1.125, 1.375));
  EXPECT_EQ(g.node_limit_overflows, 19u);
  EXPECT_EQ(g.prefill_passes, 0u);
  EXPECT_TRUE(g.prompts_done.empty());
  auto error = [](nlohmann::json m) {
    try {
      inference_facts_from_metadata(m, "t.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json bad = j;
  bad["kv_bytes_per_gpu"] = "lots";
  EXPECT_NE(error(bad).find("t.json: metadata, field 'kv_bytes_per_gpu'"), std::string::npos)
      << error(bad);
  bad = j;
  bad["colour"] = 1;
  EXPECT_NE(error(bad).find("field 'colour': unknown field"), std::string::npos) << error(bad);
  bad = j;
  bad.erase("phase");
  EXPECT_NE(error(bad).find("field 'phase': missing field"), std::string::npos) << error(bad);
  bad = j;
  bad["mtp_accepted_tokens_per_step"] = 0;  // tpot divides by it
  EXPECT_NE(error(bad).find("field 'mtp_accepted_tokens_per_step': must be a finite number >= 1"),
            std::string::npos)
      << error(bad);
  bad = j;
  bad["gpu_imbalance"] = -1;
  EXPECT_NE(error(bad).find("field 'gpu_imbalance'"), std::string::npos) << error(bad);
  // Prefill prompt counts need a pass count that divides them (one per DP group and pass).
  InferenceFacts pf = f;
  pf.prefill_passes = 2;
  pf.prompts_done = {1, 2, 0, 3};
  const nlohmann::json pj = nlohmann::json::parse(inference_trace_metadata(pf).dump());
  EXPECT_EQ(inference_facts_from_metadata(pj, "t.json").prompts_done, pf.prompts_done);
  EXPECT_FALSE(j.contains("prompts_done"));  // left out when there are none
  try {                                      // in the metadata of a minor 1 trace
    inference_facts_from_metadata(pj, "t.json", 1);
    ADD_FAILURE() << "prefill_passes accepted in a minor 1 trace";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'prefill_passes': added in trace minor version 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(inference_facts_from_metadata(j, "t.json", 1).tokens_per_gpu, 1234u);
  bad = pj;
  bad["prefill_passes"] = uint64_t{3};
  EXPECT_NE(error(bad).find("field 'prompts_done'"), std::string::npos) << error(bad);
  // Carried prompts (minor 7): (group, pass, steps before) triples, each among its group's
  // prompts_done in that pass, 1 to kSteadyStep steps.
  InferenceFacts cf = pf;
  cf.carried_prompts = {0, 1, 3, 1, 1, kSteadyStep};
  const nlohmann::json cj = nlohmann::json::parse(inference_trace_metadata(cf).dump());
  EXPECT_EQ(inference_facts_from_metadata(cj, "t.json").carried_prompts, cf.carried_prompts);
  EXPECT_FALSE(pj.contains("carried_prompts"));
  try {
    inference_facts_from_metadata(cj, "t.json", 6);
    ADD_FAILURE() << "carried_prompts accepted in a minor 6 trace";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'carried_prompts': added in trace minor version 7"),
              std::string::npos)
        << e.what();
  }
  for (const std::vector<uint64_t>& wrong : {std::vector<uint64_t>{0, 1},
                                             {2, 0, 1},
                                             {0, 2, 1},
                                             {1, 0, 1},
                                             {0, 0, 1, 0, 0, 1},
                                             {0, 1, 0},
                                             {0, 1, kSteadyStep + 1}}) {
    bad = cj;
    bad["carried_prompts"] = wrong;
    EXPECT_NE(error(bad).find("field 'carried_prompts'"), std::string::npos)
        << nlohmann::json(wrong).dump() << ": " << error(bad);
  }
  bad = j;
  bad["model_layers"] = uint64_t{1} << 33;
  EXPECT_NE(error(bad).find("field 'model_layers': must be 1..4096"), std::string::npos)
      << error(bad);
  // Figures the report adds up and subtracts in 64 bits, and layer numbers it indexes with.
  for (const auto& [key, value, message] :
       {std::tuple{"model_layers", nlohmann::json(uint64_t{0}), "must be 1..4096"},
        {"weight_bytes_per_gpu", nlohmann::json(~uint64_t{0}), "out of range (at most 2^60)"},
        {"prompts_done",
         nlohmann::json{uint64_t{1} << 59, uint64_t{1} << 59, uint64_t{1}, uint64_t{1}},
         "out of range (at most 2^60 prompts in all)"}}) {
    bad = pj;
    bad[key] = value;
    EXPECT_NE(error(bad).find(fmt::format("field '{}': {}", key, message)), std::string::npos)
        << key << ": " << error(bad);
  }
  bad = pj;
  bad["phase"] = "decode";
  EXPECT_NE(error(bad).find("field 'prefill_passes': only for a prefill step"), std::string::npos)
      << error(bad);
  bad = j;
  bad["generator"] = "llama_magic";
  EXPECT_NE(error(bad).find("field 'generator'"), std::string::npos) << error(bad);
  // Per-layer router imbalance (minor 4): three lists of one length, figures finite and >= 0.
  InferenceFacts lf = f;
  lf.imbalance_layers = {3, 4, 61};
  lf.layer_expert_imbalance = {1.5, 2.25, 1.125};
  lf.layer_gpu_imbalance = {1.0625, 1.25, 1.0};
  const nlohmann::json lj = nlohmann::json::parse(inference_trace_metadata(lf).dump());
  const InferenceFacts lg = inference_facts_from_metadata(lj, "t.json");
  EXPECT_EQ(lg.imbalance_layers, lf.imbalance_layers);
  EXPECT_EQ(lg.layer_expert_imbalance, lf.layer_expert_imbalance);
  EXPECT_EQ(lg.layer_gpu_imbalance, lf.layer_gpu_imbalance);
  EXPECT_FALSE(j.contains("imbalance_layers"));  // left out when there are none
  bad = lj;
  bad["layer_gpu_imbalance"] = {1.0, 1.0};
  EXPECT_NE(error(bad).find("field 'imbalance_layers': needs as many entries"), std::string::npos)
      << error(bad);
  for (const auto& layers : {nlohmann::json{uint64_t{3}, uint64_t{3}, uint64_t{61}},
                             nlohmann::json{uint64_t{3}, uint64_t{4}, uint64_t{61 + 4096}}}) {
    bad = lj;
    bad["imbalance_layers"] = layers;
    EXPECT_NE(error(bad).find("layer numbers must increase and be below"), std::string::npos)
        << error(bad);
  }
  bad = lj;
  bad["layer_expert_imbalance"] = {1.5, -2.0, 1.0};
  EXPECT_NE(error(bad).find("field 'layer_expert_imbalance': expected a list of finite numbers"),
            std::string::npos)
      << error(bad);
  // Per-routing loads (minor 6): a layer of imbalance_layers per routing, load_experts and
  // load_gpus entries per routing.
  InferenceFacts rf = lf;
  rf.load_experts = 3;
  rf.load_gpus = 2;
  rf.load_layers = {3, 3, 61};
  rf.expert_loads = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  rf.gpu_loads = {10, 11, 12, 13, 14, 15};
  const nlohmann::json rj = nlohmann::json::parse(inference_trace_metadata(rf).dump());
  const InferenceFacts rg = inference_facts_from_metadata(rj, "t.json");
  EXPECT_EQ(std::tuple(rg.load_experts, rg.load_gpus), std::tuple(3u, 2u));
  EXPECT_EQ(rg.load_layers, rf.load_layers);
  EXPECT_EQ(rg.expert_loads, rf.expert_loads);
  EXPECT_EQ(rg.gpu_loads, rf.gpu_loads);
  EXPECT_FALSE(lj.contains("load_layers") || lj.contains("load_experts"));
  for (const auto& [key, value, message] :
       {std::tuple{"expert_loads", nlohmann::json::parse("[1, 2, 3, 4, 5, 6, 7, 8]"),
                   "field 'expert_loads': needs load_experts entries per routing (3) for each of "
                   "the 3 in load_layers, has 8"},
        std::tuple{"load_gpus", nlohmann::json::parse("0"), "field 'load_gpus': missing or 0"},
        std::tuple{"load_layers", nlohmann::json::parse("[3, 5, 61]"),
                   "field 'load_layers': entry 1 (5): not a layer of imbalance_layers"}}) {
    bad = rj;
    bad[key] = value;
    EXPECT_NE(error(bad).find(message), std::string::npos) << error(bad);
  }
  bad = rj;
  bad.erase("load_layers");
  EXPECT_NE(error(bad).find("field 'load_layers': missing"), std::string::npos) << error(bad);
  // Fields newer than the trace's declared minor: the loads (6) in a minor 5 trace, the
  // per-layer imbalance (4) in a minor 3 one.
  for (const auto& [meta, minor, added] : {std::tuple{&rj, 5, 6}, std::tuple{&lj, 3, 4}}) {
    try {
      inference_facts_from_metadata(*meta, "t.json", minor);
      ADD_FAILURE() << "a minor " << added << " field accepted in a minor " << minor << " trace";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("added in trace minor version {}", added)),
                std::string::npos)
          << e.what();
    }
  }
}

// Three ranks, one all_to_all (tag 1) each: send rows of the matrix [[1,5,6],[7,2,8],[9,10,3]]
// (diagonal kept), receive rows its columns; `edit` changes the JSON text first.

// A trace with metadata names no layer beyond metadata.model_layers in its op names (layers.csv
// would file such an op under an MTP module's row, or under none).
TEST(Trace, OpNamesStayWithinTheModelsLayers) {
  const auto p = std::filesystem::temp_directory_path() / "mlasim_trace_layer_names.json";
  Workload w;
  w.ranks.resize(1);
  for (const char* name : {"L0.mb0.attention", "L1.mb0.attention", "mtp0.mb0.attention"}) {
    Op op;
    op.name = name;
    op.payload = GemmOp{8, 8, 8, DType::BF16};
    w.ranks[0].ops.push_back(op);
  }
  InferenceFacts f;
  f.model_layers = 2;
  TraceWorkloadParams params;
  params.file = {p.string(), p};
  std::ofstream(p) << workload_to_json(w, inference_trace_metadata(f)).dump();
  EXPECT_EQ(TraceWorkload(params).generate(ClusterShape{1, 1}).ranks[0].ops.size(), 3u);
  for (const char* name : {"L2.mb0.attention", "c0.L2.mb0.attention", "mtp4096.mb0.attention",
                           "L99999999999.mb0.attention", "L99999999999999999999.mb0.attention",
                           "L000000000000000000002.mb0.attention"}) {
    Workload bad = w;
    bad.ranks[0].ops[1].name = name;
    std::ofstream(p) << workload_to_json(bad, inference_trace_metadata(f)).dump();
    try {
      TraceWorkload(params).generate(ClusterShape{1, 1});
      ADD_FAILURE() << name << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("rank 0, op 1 '{}', field 'name':", name)),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(" is beyond "), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove(p);
}

}  // namespace
}  // namespace mlasim
