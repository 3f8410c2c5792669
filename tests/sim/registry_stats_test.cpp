// Registry lookup, `mlasim list` content, and the stats tree's JSON/CSV dump.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "sim/builtin_components.h"
#include "sim/stats.h"
#include "tests/sim/cli_runner.h"

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
