// The terminal summary table: headline and full forms, units from key suffixes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <utility>

#include "sim/results.h"

namespace mlasim {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s)
    n += c == '\n';
  return n;
}

nlohmann::ordered_json inference_summary() {
  nlohmann::ordered_json s;
  s["scenario"] = "x";
  s["sim_time_us"] = 12.5;
  s["gpu0_busy_us"] = 3.0;
  s["link_bytes"] = 1000;
  s["time_attention_ms"] = 0.5;
  s["step_time_ms"] = 2.25;
  s["max_link_utilization"] = 0.75;
  return s;
}

TEST(SummaryTable, UnitsComeFromKeySuffixes) {
  EXPECT_EQ(unit_of_key("tpot_ms"), "ms");
  EXPECT_EQ(unit_of_key("link_bytes"), "B");
  EXPECT_EQ(unit_of_key("gpu_busy_mean_fraction"), "fraction");
}

TEST(SummaryTable, FullTableHasEveryKeyInOrder) {
  const auto s = inference_summary();
  const std::string t = format_summary_table(s, true);
  EXPECT_EQ(count_lines(t), 2 + static_cast<int>(s.size()));  // header, rule, one row per key
  EXPECT_LT(t.find("gpu0_busy_us"), t.find("step_time_ms"));
  EXPECT_EQ(t.find("more keys"), std::string::npos);
}

TEST(SummaryTable, HeadlineTableLeavesOutDetailAndCountsIt) {
  const std::string t = format_summary_table(inference_summary(), false);
  EXPECT_EQ(t.find("gpu0_busy_us"), std::string::npos);
  EXPECT_EQ(t.find("link_bytes"), std::string::npos);
  // Headline keys in reading order: step time before the network, breakdown last.
  EXPECT_LT(t.find("step_time_ms"), t.find("max_link_utilization"));
  EXPECT_LT(t.find("max_link_utilization"), t.find("time_attention_ms"));
  EXPECT_NE(t.find("(2 more keys in summary.json"), std::string::npos);
  EXPECT_EQ(count_lines(t), 2 + 5 + 1);
  // Every row carries the unit its key's suffix names.
  std::istringstream in(t);
  std::string line;
  int rows = 0;
  for (const auto& [key, unit] : {std::pair{"sim_time_us", "us"},
                                  {"step_time_ms", "ms"},
                                  {"max_link_utilization", "fraction"},
                                  {"time_attention_ms", "ms"}}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line)) {
      if (!line.starts_with(std::string(key) + " ")) continue;
      ++rows;
      EXPECT_TRUE(line.ends_with(std::string("  ") + unit)) << line;
    }
  }
  EXPECT_EQ(rows, 4);
}

TEST(SummaryTable, RunOnlySummaryIsShownWhole) {
  nlohmann::ordered_json s;
  s["scenario"] = "x";
  s["sim_time_us"] = 1.0;
  s["network_fidelity"] = "message";
  s["gpu0_busy_us"] = 1.0;
  EXPECT_EQ(format_summary_table(s, false), format_summary_table(s, true));
}

}  // namespace
}  // namespace mlasim
