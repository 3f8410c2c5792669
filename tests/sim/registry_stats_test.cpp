// Registry lookup, `mlasim list` content, and the stats tree's JSON/CSV dump.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/builtin_components.h"
#include "sim/stats.h"
#include "tests/sim/cli_runner.h"
#include "workloads/expert_placement.h"

namespace mlasim {
namespace {

TEST(Registry, CreatesByTypeAndRejectsUnknownTypes) {
  Components comps = make_builtin_components();
  EXPECT_TRUE(comps.memory.contains("fixed_bandwidth"));
  EXPECT_TRUE(comps.gpu.contains("roofline"));
  EXPECT_FALSE(comps.gpu.contains("fixed_bandwidth"));
  ConfigNode section =
      load_config_string("type: single_switch\nnodes: 3\ngpus_per_node: 2\n", "c.yaml", ".");
  auto made = comps.cluster.create(&section, "cluster");
  ClusterGraph g = made.product->build();
  EXPECT_EQ(g.num_gpus(), 6u);
  EXPECT_EQ(made.resolved.find("type")->as_string(), "single_switch");
  ConfigNode bad = load_config_string("type: torus\n", "c.yaml", ".");
  try {
    comps.cluster.create(&bad, "cluster");
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:1: cluster.type: unknown cluster type 'torus'"),
              std::string::npos)
        << e.what();
  }
}

TEST(Registry, EveryParamHasUnitAndDescription) {
  Components comps = make_builtin_components();
  for (const auto& c : comps.infos()) {
    EXPECT_FALSE(c.description.empty()) << c.kind << "/" << c.type;
    for (const auto& p : c.params) {
      EXPECT_FALSE(p.description.empty()) << c.type << "." << p.key;
      EXPECT_FALSE(p.default_value.empty()) << c.type << "." << p.key;
      EXPECT_FALSE(p.type.empty()) << c.type << "." << p.key;
    }
  }
}

TEST(Registry, ListCommandShowsPlaceholderParams) {
  CliResult r = run_cli({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  bool found = false;
  for (const auto& c : j) {
    if (c["kind"] == "memory" && c["type"] == "fixed_bandwidth") {
      found = true;
      bool bw = false;
      for (const auto& p : c["params"]) {
        if (p["name"] == "bandwidth") {
          bw = true;
          EXPECT_EQ(p["default"], "3.35TB/s");
          EXPECT_EQ(p["unit"], "B/s");
        }
      }
      EXPECT_TRUE(bw);
    }
  }
  EXPECT_TRUE(found);
  CliResult text = run_cli({"list"});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("memory / type: fixed_bandwidth"), std::string::npos);
  EXPECT_NE(text.out.find("gpu / type: roofline"), std::string::npos);
  EXPECT_NE(text.out.find("workload / type: pairwise_exchange"), std::string::npos);
}

// (kind, type, key) -> the listed param, from `mlasim list --json`.
std::map<std::string, nlohmann::json> listed_params() {
  const CliResult r = run_cli({"list", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, nlohmann::json> out;
  for (const auto& c : nlohmann::json::parse(r.out)) {
    for (const auto& p : c["params"]) {
      out[c["kind"].get<std::string>() + "/" + c["type"].get<std::string>() + "/" +
          p["name"].get<std::string>()] = p;
    }
  }
  return out;
}

// Keys the workload fills in itself are not listed as settable (giving one is an error that
// says where the value comes from).
TEST(Registry, ListNamesOnlyKeysAUserMaySet) {
  const auto params = listed_params();
  EXPECT_TRUE(params.count("workload/deepseek_inference/ep_size"));
  EXPECT_TRUE(params.count("workload/deepseek_inference/placement.redundant_experts"));
  EXPECT_FALSE(params.count("workload/deepseek_inference/placement.ep_size"));
  EXPECT_FALSE(params.count("workload/deepseek_inference/placement.gpus_per_node"));
  ConfigNode placement = load_config_string("ep_size: 4\n", "p.yaml", ".");
  try {
    read_params<ExpertPlacementParams>(&placement, "workload.placement");
    ADD_FAILURE() << "placement.ep_size accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "p.yaml:1: workload.placement.ep_size: not a key here: the expert-parallel "
              "group's size is workload.ep_size");
  }
}

// Each listed description says what the value may be: its limit where validation sets one,
// the values of an enumeration, and a unit that names what the number is.
TEST(Registry, ListedDescriptionsGiveLimitsChoicesAndUnits) {
  const auto params = listed_params();
  auto description = [&](const std::string& key) {
    const auto it = params.find(key);
    if (it == params.end()) {
      ADD_FAILURE() << key << " is not listed";
      return std::string();
    }
    return it->second["description"].get<std::string>();
  };
  auto unit = [&](const std::string& key) {
    const auto it = params.find(key);
    return it == params.end() ? std::string("(not listed)") : it->second["unit"].get<std::string>();
  };
  const std::string ds = "workload/deepseek_inference/";
  for (const auto& [key, limit] : std::vector<std::pair<std::string, std::string>>{
           {"switch/infiniband/shared_alpha", "(0, 64]"},
           {ds + "router.skew", "[0, 20]"},
           {"memory/hbm/controller.threads", "1 to 64"},
           {ds + "placement.redundant_experts", "at most 65535"},
           {ds + "context_distribution.min", "2^32"},
           {ds + "context_distribution.max", "2^32"},
           {ds + "mtp.acceptance_rate", "[0, 1]"},
           {"memory/hbm_bandwidth/efficiency", "(0, 1]"}}) {
    EXPECT_NE(description(key).find(limit), std::string::npos) << key << ": " << description(key);
  }
  for (const std::string& key :
       {ds + "dtypes.gemm", ds + "dtypes.dispatch", ds + "dtypes.kv_cache", ds + "dtypes.lm_head",
        std::string("workload/pairwise_exchange/gemm.dtype")}) {
    for (const char* value : {"fp8", "bf16", "fp16", "fp32"})
      EXPECT_NE(description(key).find(value), std::string::npos) << key << ": " << description(key);
  }
  for (const char* value : {"least_loaded", "round_robin"}) {
    EXPECT_NE(description(ds + "placement.replica_policy").find(value), std::string::npos);
  }
  EXPECT_EQ(unit(ds + "mtp.acceptance_rate"), "fraction");
  EXPECT_EQ(unit("switch/infiniband/shared_alpha"), "ratio");
  // The scenario seed salts the ECMP flow hash only; the draws have seeds of their own.
  const std::string seed = description("section/scenario/seed");
  EXPECT_NE(seed.find("ECMP"), std::string::npos) << seed;
  EXPECT_NE(seed.find("workload.router.seed"), std::string::npos) << seed;
  EXPECT_EQ(seed.find("every random choice"), std::string::npos) << seed;
  // The calibrated default is given as a figure, and the capacity as the preset sets it.
  EXPECT_NE(description("memory/hbm_bandwidth/efficiency").find("0.89704"), std::string::npos);
  EXPECT_NE(description("memory/hbm/capacity").find("141GiB"), std::string::npos);
}

enum class Colour : uint8_t { Red, Green };
}  // namespace
template <>
struct EnumNames<Colour> {
  static constexpr std::array<std::pair<Colour, std::string_view>, 2> values{
      {{Colour::Red, "red"}, {Colour::Green, "green"}}};
};
namespace {

struct Paint {
  Colour wall = Colour::Red;
  Colour door = Colour::Green;
  template <class V>
  void visit(V& v) {
    v("wall", wall, "-", "the wall's colour");
    v("door", door, "-", "red or green, the door's");
  }
};

// An enumeration whose description leaves a value out is listed with its values appended; one
// that names them all is listed as written.
TEST(Registry, EnumDescriptionsAlwaysNameTheirValues) {
  const std::vector<ParamInfo> info = describe_params<Paint>();
  ASSERT_EQ(info.size(), 2u);
  EXPECT_EQ(info[0].description, "the wall's colour (one of: red, green)");
  EXPECT_EQ(info[1].description, "red or green, the door's");
}

TEST(Stats, JsonRoundTripKeepsValuesUnitsAndTree) {
  StatGroup root("root");
  StatGroup gpu("gpu0");
  uint64_t bytes = 123456789012ULL;
  double level = 2.5;
  Histogram h(10.0, 4);
  for (double v : {1.0, 15.0, 15.0, 99.0})
    h.sample(v);
  gpu.counter("bytes", &bytes, "B", "bytes moved");
  gpu.value("level", &level, "count", "a level");
  gpu.formula(
      "twice", [&] { return 2.0 * level; }, "count", "derived at dump time");
  gpu.histogram("lat", &h, "ns", "latency");
  root.attach(&gpu);
  root.child("net").counter("bytes", &bytes, "B", "same counter elsewhere");
  level = 4.0;  // formulas see the value at dump time

  auto j = nlohmann::json::parse(root.to_json().dump());
  const auto& s = j["groups"]["gpu0"]["stats"];
  EXPECT_EQ(s["bytes"]["value"].get<uint64_t>(), bytes);
  EXPECT_EQ(s["bytes"]["unit"], "B");
  EXPECT_EQ(s["level"]["value"].get<double>(), 4.0);
  EXPECT_EQ(s["twice"]["value"].get<double>(), 8.0);
  EXPECT_EQ(s["lat"]["count"].get<uint64_t>(), 4u);
  EXPECT_EQ(s["lat"]["bins"], nlohmann::json({1, 2, 0, 1}));
  EXPECT_DOUBLE_EQ(s["lat"]["mean"].get<double>(), 32.5);
  EXPECT_EQ(j["groups"]["net"]["stats"]["bytes"]["value"].get<uint64_t>(), bytes);
  EXPECT_DOUBLE_EQ(root.lookup("gpu0.twice"), 8.0);

  std::ostringstream csv;
  write_stats_csv_header(csv);
  root.to_csv(csv);
  EXPECT_NE(csv.str().find("root.gpu0,bytes,123456789012,B,bytes moved"), std::string::npos)
      << csv.str();
}

TEST(Stats, TimeWeightedAverage) {
  TimeWeighted q;
  q.set(2, Time::ps(0));
  q.set(6, Time::ps(100));
  // 2 for 100 ps, then 6 for 300 ps: mean (200 + 1800) / 400 = 5.
  EXPECT_DOUBLE_EQ(q.mean(Time::ps(400)), 5.0);
  EXPECT_DOUBLE_EQ(q.peak(), 6.0);
}

}  // namespace
}  // namespace mlasim
