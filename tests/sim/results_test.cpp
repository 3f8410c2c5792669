// The terminal summary table: headline and full forms, units from key suffixes; the fast CSV
// number writers against fmt's exact formatting; atomic files written piece by piece; the
// chunked record store.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "sim/chunked_vector.h"
#include "sim/errors.h"
#include "sim/results.h"
#include "tests/sim/temp_dir_fixture.h"

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

TEST(SummaryTable, CountsAndRatesSayWhatTheyCount) {
  EXPECT_EQ(unit_of_key("sim_events_per_wall_s"), "events/s");
  EXPECT_EQ(unit_of_key("packet_hops_per_cpu_s"), "hops/s");
  EXPECT_EQ(unit_of_key("systemc_timed_events_per_wall_s"), "events/s");
  EXPECT_EQ(unit_of_key("output_tokens_per_s_per_gpu"), "tokens/s");
  EXPECT_EQ(unit_of_key("net_goodput_per_gpu_bytes_per_s"), "B/s");
  EXPECT_EQ(unit_of_key("mtp_accepted_tokens_per_step"), "tokens/step");
  EXPECT_EQ(unit_of_key("kv_cache_bytes_per_token"), "B/token");
  EXPECT_EQ(unit_of_key("kv_cache_bytes_per_gpu"), "B");
  EXPECT_EQ(unit_of_key("net_injected_packets_count"), "packets");
  EXPECT_EQ(unit_of_key("fault_messages_failed_count"), "messages");  // the noun, not "failed"
  EXPECT_EQ(unit_of_key("gpu_count"), "GPUs");
  EXPECT_EQ(unit_of_key("fault_count"), "faults");
  EXPECT_EQ(unit_of_key("fault_before_run_count"), "faults");
  EXPECT_EQ(unit_of_key("sim_events"), "events");
  EXPECT_EQ(unit_of_key("p99_fct_slowdown"), "ratio");
  EXPECT_EQ(unit_of_key("expert_load_imbalance_max"), "ratio");
  EXPECT_EQ(unit_of_key("breakdown_rank"), "GPU rank");
  // Nothing in the name to go by.
  EXPECT_EQ(unit_of_key("widget_count"), "count");
  EXPECT_EQ(unit_of_key("widget_per_wall_s"), "1/s");
  EXPECT_EQ(unit_of_key("seed"), "-");
}

TEST(SummaryTable, NoPrintedFigureHasAVagueUnit) {
  nlohmann::ordered_json s;
  s["sim_events_per_wall_s"] = 1e6;
  s["packet_hops_per_wall_s"] = 2e6;
  s["mtp_accepted_tokens_per_step"] = 1.85;
  s["p99_fct_slowdown"] = 1.5;
  s["gpu_load_imbalance"] = 1.2;
  const std::string t = format_summary_table(s, true);
  for (const char* vague : {" 1/s\n", " -\n", " x\n"})
    EXPECT_EQ(t.find(vague), std::string::npos) << vague << "\n" << t;
  EXPECT_NE(t.find("events/s"), std::string::npos) << t;
  EXPECT_NE(t.find("tokens/step"), std::string::npos) << t;
}

TEST(SummaryTable, FullTableHasEveryKeyInOrder) {
  const auto s = inference_summary();
  const std::string t = format_summary_table(s, true);
  EXPECT_EQ(count_lines(t), 2 + static_cast<int>(s.size()));  // header, rule, one row per key
  EXPECT_LT(t.find("gpu0_busy_us"), t.find("step_time_ms"));
  EXPECT_EQ(t.find("more keys"), std::string::npos);
}

// A dense model's step has no router: its imbalance figures (1) are not headline figures.
TEST(SummaryTable, DenseStepLeavesRouterFiguresOutOfTheHeadline) {
  nlohmann::ordered_json s;
  s["step_time_ms"] = 2.5;
  s["expert_load_imbalance"] = 1.0;
  s["gpu_load_imbalance"] = 1.0;
  s["layers"] = nlohmann::ordered_json::array({nlohmann::ordered_json{{"layer", 0}}});
  const std::string dense = format_summary_table(s, false);
  EXPECT_EQ(dense.find("load_imbalance"), std::string::npos) << dense;
  s["layers"].push_back(nlohmann::ordered_json{{"layer", 1}, {"expert_load_imbalance", 1.2}});
  const std::string moe = format_summary_table(s, false);
  EXPECT_NE(moe.find("expert_load_imbalance"), std::string::npos) << moe;
  EXPECT_NE(moe.find("gpu_load_imbalance"), std::string::npos) << moe;
}

// The headline names the hot-spot link with its stall time (it is the most credit-stalled link,
// not the busiest), and leaves out the GPUs' busy share when they compute nothing.
TEST(SummaryTable, HotspotComesWithItsStallAndIdleGpusWithoutABusyShare) {
  nlohmann::ordered_json s;
  s["scenario"] = "net";
  s["gpu_busy_max_us"] = 0.0;
  s["gpu_busy_mean_fraction"] = 0.0;
  s["network_fidelity"] = "packet";
  s["fct_min_us"] = 1.2;
  s["hotspot_link"] = "leaf0->spine1";
  s["hotspot_credit_stall_us"] = 0.27;
  const std::string net = format_summary_table(s, false);
  EXPECT_NE(net.find("hotspot_credit_stall_us"), std::string::npos) << net;
  EXPECT_NE(net.find("fct_min_us"), std::string::npos) << net;
  EXPECT_EQ(net.find("gpu_busy_mean_fraction"), std::string::npos) << net;
  s["gpu_busy_max_us"] = 5.0;
  EXPECT_NE(format_summary_table(s, false).find("gpu_busy_mean_fraction"), std::string::npos);
}

// Below packet level there are no buffers: the headline leaves out the credit-stall figures
// (0 and "-" there, not measured). A value longer than the column widens it: every row's
// unit starts in one column.
TEST(SummaryTable, FlowLevelLeavesStallsOutAndLongValuesWidenTheColumn) {
  nlohmann::ordered_json s;
  s["scenario"] = "deepseek-v3-decode-ep144-flow";  // 29 characters
  s["network_fidelity"] = "flow";
  s["step_time_ms"] = 2.5;
  s["max_link_utilization"] = 0.5;
  s["credit_stall_fraction"] = 0.0;
  s["hotspot_link"] = "-";
  const std::string flow = format_summary_table(s, false);
  EXPECT_EQ(flow.find("credit_stall_fraction"), std::string::npos) << flow;
  EXPECT_EQ(flow.find("hotspot_link"), std::string::npos) << flow;
  EXPECT_NE(flow.find("max_link_utilization"), std::string::npos) << flow;
  s["network_fidelity"] = "packet";
  s["hotspot_link"] = "n0_nvswitch->n0_gpu0";
  const std::string packet = format_summary_table(s, true);
  EXPECT_NE(packet.find("credit_stall_fraction"), std::string::npos) << packet;
  std::istringstream lines(packet);
  std::string line;
  std::getline(lines, line);
  const size_t unit_column = line.find("unit");
  ASSERT_NE(unit_column, std::string::npos);
  std::getline(lines, line);  // the rule
  int rows = 0;
  while (std::getline(lines, line)) {  // each value ends where the header's "value" does
    ASSERT_GE(line.size(), unit_column) << packet;
    EXPECT_EQ(line.substr(unit_column - 2, 2), "  ") << packet;
    EXPECT_NE(line[unit_column - 3], ' ') << packet;
    ++rows;
  }
  EXPECT_EQ(rows, 6);
}

// A list (the per-layer breakdown) fits no row: the table says where it is instead of
// counting it among the figures --full would print.
TEST(SummaryTable, ListsAreNamedNotCountedAsLeftOut) {
  nlohmann::ordered_json s;
  s["step_time_ms"] = 2.5;
  s["ttft_p99_ms"] = 3.0;
  s["widget_count"] = 7;
  s["layers"] = nlohmann::ordered_json::array({nlohmann::ordered_json{{"layer", 0}}});
  const std::string full = format_summary_table(s, true);
  EXPECT_EQ(full.find("more keys"), std::string::npos) << full;
  EXPECT_NE(full.find("(lists in summary.json, not tabled here: layers)"), std::string::npos)
      << full;
  const std::string headline = format_summary_table(s, false);
  EXPECT_NE(headline.find("(1 more keys in summary.json"), std::string::npos) << headline;
  EXPECT_NE(headline.find("ttft_p99_ms"), std::string::npos) << headline;
  EXPECT_NE(headline.find("not tabled here: layers"), std::string::npos) << headline;
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

// put_fixed and put_us write exactly what fmt's "{:.3f}" / "{:.6f}" write (fmt rounds the
// double's exact binary value), over random values of several magnitudes, exact halves (ties),
// values just either side of a rounding boundary, and the special cases.
TEST(CsvNumbers, FixedAndMicrosecondsMatchFmtByteForByte) {
  auto fixed = [](double v, int places) {
    char buf[kFixedRoom];
    return std::string(buf, put_fixed(buf, v, places));
  };
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                0.5,
                                2.5,
                                0.0078125,  // 1/128: x 1e6 is exactly 7812.5, a tie
                                1.0 / 1024,
                                0.0000005,
                                0.0000015,
                                999999.9999995,
                                1e8 + 0.5,
                                1e9,
                                1e20,
                                -3.25,
                                std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::denorm_min()};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int i = 0; i < 20000; ++i) {
    values.push_back(unit(rng));
    values.push_back(unit(rng) * 1e6);
    values.push_back(std::exp(unit(rng) * 40 - 20));
    // Next to a boundary of the sixth decimal: k + 0.5 units, and its neighbouring doubles.
    // (Ties of the third decimal come with the exact binary fractions below.)
    const double tie = (std::floor(unit(rng) * 1e6) + 0.5) / 1e6;
    values.push_back(tie);
    values.push_back(std::nextafter(tie, 0.0));
    values.push_back(std::nextafter(tie, 1.0));
    values.push_back(static_cast<double>(rng() % (1u << 20)) / 1024.0);  // exact binary fractions
  }
  for (const double v : values) {
    for (const int d : {3, 6}) {
      ASSERT_EQ(fixed(v, d), fmt::format("{:.{}f}", v, d)) << "value " << v << ", " << d;
    }
  }
  for (int i = 0; i < 20000; ++i) {
    const auto ps = static_cast<int64_t>(rng() % 4'000'000'000'000ull) - 1'000'000'000'000;
    char buf[32];
    ASSERT_EQ(std::string(buf, put_us(buf, ps)),
              fmt::format("{:.6f}", static_cast<double>(ps) * 1e-6))
        << ps;
  }
}

class AtomicStream : public TempDirTest {
 protected:
  AtomicStream() : TempDirTest("atomic_stream") {}
  std::string read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  size_t files() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_))
      ++n;
    return n;
  }
};

TEST_F(AtomicStream, PiecesArriveInOrderAndWholeFileAppearsAtOnce) {
  const auto path = dir_ / "big.csv";
  std::string expect;
  write_file_atomic(path, [&](const AtomicSink& put) {
    for (int i = 0; i < 1000; ++i) {
      const std::string piece = fmt::format("row {},{}\n", i, std::string(i % 97, 'x'));
      expect += piece;
      put(piece);
      // Until the rename the final name does not exist: nothing half written is visible.
      if (i == 500) {
        EXPECT_FALSE(std::filesystem::exists(path));
      }
    }
    put("");
  });
  EXPECT_EQ(read(path), expect);
  EXPECT_EQ(files(), 1u);  // no temporary file left beside it
}

TEST_F(AtomicStream, FailureWhileFillingKeepsTheOldFileAndLeavesNoTemporary) {
  const auto path = write("out.csv", "old content\n");
  EXPECT_THROW(write_file_atomic(path,
                                 [](const AtomicSink& put) {
                                   put("new, partial\n");
                                   throw std::runtime_error("interrupted");
                                 }),
               std::runtime_error);
  EXPECT_EQ(read(path), "old content\n");
  EXPECT_EQ(files(), 1u);
}

// A file that cannot be written is named as the user gave it, with the system's reason (the
// message named the temporary file beside it and no reason).
TEST_F(AtomicStream, UnwritablePathIsNamedWithTheReason) {
  const auto blocker = write("afile", "x\n");
  const auto path = blocker / "sub" / "out.csv";
  try {
    write_file_atomic(path, [](const AtomicSink& put) { put("a\n"); });
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cannot write file (Not a directory)");
  }
}

TEST(ChunkedVectorTest, IndexingAndIterationMatchAVectorAcrossChunks) {
  ChunkedVector<uint64_t, 3> c;  // chunks of 8
  std::vector<uint64_t> v;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.begin(), c.end());
  const uint64_t* first = nullptr;
  for (uint64_t i = 0; i < 100; ++i) {
    const uint64_t x = i * 2654435761u % 1009;
    c.push_back(x);
    v.push_back(x);
    if (i == 0) first = &c[0];
    ASSERT_EQ(c.size(), v.size());
    ASSERT_EQ(c[i], x);
  }
  EXPECT_EQ(&c[0], first);  // growing never moves an entry
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(c[i], v[i]) << i;
  EXPECT_TRUE(std::equal(c.begin(), c.end(), v.begin(), v.end()));
  EXPECT_EQ(static_cast<size_t>(std::distance(c.begin(), c.end())), v.size());
  c[37] = 5;
  EXPECT_EQ(c[37], 5u);
  EXPECT_EQ(c[36], v[36]);  // a write touches its own entry only
  EXPECT_EQ(c[38], v[38]);
}

}  // namespace
}  // namespace mlasim
