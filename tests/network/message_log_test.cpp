// The fabric's bounded message bookkeeping: logarithmic-histogram quantiles against exact order
// statistics; the message log's busy slices against a merge of every interval sorted by start;
// kept rows, slot reuse and undelivered messages; and a whole run whose figures do not depend
// on how many message rows it keeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "models/common/message.h"
#include "models/common/message_log.h"
#include "sim/stats.h"
#include "tests/network/network_test_util.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

// Half a bin of relative error, plus rounding.
constexpr double kRelTol = 1.0 / (1 << (LogHistogram::kSubBits + 1)) + 1e-12;

// p-quantile (0..1) by the definition: linear interpolation between the order statistics of a
// sorted copy; 0 when empty.
double quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

void expect_close(double got, double want, const std::string& what) {
  EXPECT_LE(std::abs(got - want), kRelTol * std::abs(want))
      << what << ": " << got << " vs " << want;
}

TEST(LogHistogram, QuantilesWithinHalfABinOfTheExactOnes) {
  std::mt19937_64 rng(11);
  // Log-uniform over 18 decades, so the bins grow both ways many times.
  std::uniform_real_distribution<double> exponent(-9.0, 9.0);
  for (size_t n : {1u, 2u, 3u, 10u, 101u, 5000u}) {
    std::vector<double> v(n);
    for (double& x : v)
      x = std::pow(10.0, exponent(rng));
    LogHistogram h;
    for (double x : v)
      h.sample(x);
    ASSERT_EQ(h.count(), n);
    EXPECT_EQ(h.min(), *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end()));
    for (double p : {0.0, 0.01, 0.5, 0.9, 0.99, 1.0}) {
      // Each order statistic is within half a bin, so is any interpolation between two.
      expect_close(h.quantile(p), quantile(v, p), "n " + std::to_string(n));
    }
    EXPECT_EQ(h.quantile(0.0), h.min());
    EXPECT_EQ(h.quantile(1.0), h.max());
  }
}

TEST(LogHistogram, OrderOfSamplesDoesNotMatterAndZerosCount) {
  std::mt19937_64 rng(3);
  std::vector<double> v;
  for (int i = 0; i < 2000; ++i)
    v.push_back(i % 7 == 0 ? 0.0 : std::exp(static_cast<double>(rng() % 4000) / 100.0 - 20.0));
  LogHistogram a, b;
  for (double x : v)
    a.sample(x);
  std::shuffle(v.begin(), v.end(), rng);
  for (double x : v)
    b.sample(x);
  for (double p : {0.0, 0.05, 0.1, 0.5, 0.99, 1.0}) {
    EXPECT_EQ(a.quantile(p), b.quantile(p)) << p;
    const double exact = quantile(v, p);
    if (exact == 0) {
      EXPECT_EQ(a.quantile(p), 0.0) << p;
    } else {
      expect_close(a.quantile(p), exact, "p " + std::to_string(p));
    }
  }
  EXPECT_EQ(a.min(), 0.0);
  LogHistogram empty;
  EXPECT_EQ(empty.quantile(0.5), 0.0);
  EXPECT_EQ(empty.max(), 0.0);
}

Message message(uint64_t id, int32_t src, int32_t dst, uint64_t bytes) {
  Message m;
  m.id = id;
  m.src = src;
  m.dst = dst;
  m.bytes = Bytes(bytes);
  return m;
}

// Reference: the connected components of the intervals under "overlaps or touches" (closed
// intervals), found pairwise, each a slice from its first start to its last end, in start order.
std::vector<BusySlice> reference_merge(const std::vector<BusySlice>& v) {
  std::vector<size_t> comp(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    comp[i] = i;
  auto root = [&](size_t i) {
    while (comp[i] != i)
      i = comp[i];
    return i;
  };
  for (size_t i = 0; i < v.size(); ++i) {
    for (size_t j = i + 1; j < v.size(); ++j) {
      if (v[i].start <= v[j].end && v[j].start <= v[i].end) comp[root(j)] = root(i);
    }
  }
  std::vector<BusySlice> out;
  std::vector<size_t> slice_of(v.size(), SIZE_MAX);
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t r = root(i);
    if (slice_of[r] == SIZE_MAX) {
      slice_of[r] = out.size();
      out.push_back({v[i].start, v[i].end, 0, 0});
    }
    BusySlice& s = out[slice_of[r]];
    s.start = std::min(s.start, v[i].start);
    s.end = std::max(s.end, v[i].end);
    s.messages += v[i].messages;
    s.bytes += v[i].bytes;
  }
  std::sort(out.begin(), out.end(),
            [](const BusySlice& a, const BusySlice& b) { return a.start < b.start; });
  return out;
}

TEST(MessageLog, BusySlicesMatchAMergeOfAllIntervalsWhateverTheDeliveryOrder) {
  std::mt19937_64 rng(5);
  constexpr int kGpus = 6, kPerNode = 3;
  MessageLog log(4);
  log.set_gpus_per_node(kPerNode);
  struct Open {
    uint32_t slot;
    int32_t src, dst;
    int64_t start, end;
    uint64_t bytes;
  };
  std::vector<Open> open;
  std::vector<Open> all;
  size_t peak_in_flight = 0;
  int64_t now = 0;
  uint64_t id = 0;
  std::vector<double> fct;
  for (int step = 0; step < 3000; ++step) {
    now += static_cast<int64_t>(rng() % 50);
    if (rng() % 2 == 0 || open.empty()) {
      const auto src = static_cast<int32_t>(rng() % kGpus);
      const auto dst = static_cast<int32_t>(rng() % kGpus);
      const uint64_t bytes = 1 + rng() % 1000;
      const uint32_t slot = log.open(message(id++, src, dst, bytes), now, 100);
      open.push_back({slot, src, dst, now, -1, bytes});
    } else {
      // Any message in flight may be delivered next.
      const size_t i = rng() % open.size();
      Open o = open[i];
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
      log.close(o.slot, now);
      o.end = now;
      all.push_back(o);
      fct.push_back(static_cast<double>(o.end - o.start) * 1e-6);
    }
    peak_in_flight = std::max(peak_in_flight, open.size());
    EXPECT_EQ(log.in_flight(), open.size());
  }
  ASSERT_FALSE(open.empty());  // some are never delivered: they stay out of every figure
  EXPECT_EQ(log.closed(), all.size());
  EXPECT_EQ(log.opened(), id);
  EXPECT_EQ(log.fct_us().count(), all.size());
  EXPECT_EQ(log.fct_us().max(), *std::max_element(fct.begin(), fct.end()));
  expect_close(log.fct_us().quantile(0.5), quantile(fct, 0.5), "fct p50");
  // Four rows kept, the first four opened, whatever became of them.
  ASSERT_EQ(log.rows().size(), 4u);
  for (uint64_t i = 0; i < 4; ++i)
    EXPECT_EQ(log.rows()[i].id, i);
  for (int32_t g = 0; g < kGpus; ++g) {
    for (bool same : {false, true}) {
      std::vector<BusySlice> want;
      for (const Open& o : all) {
        if (o.src == g && (o.src / kPerNode == o.dst / kPerNode) == same)
          want.push_back({o.start, o.end, 1, o.bytes});
      }
      const auto got = log.busy(g, same);
      const auto ref = reference_merge(want);
      ASSERT_EQ(got.size(), ref.size()) << g << same;
      for (size_t k = 0; k < ref.size(); ++k) {
        EXPECT_EQ(got[k].start, ref[k].start);
        EXPECT_EQ(got[k].end, ref[k].end);
        EXPECT_EQ(got[k].messages, ref[k].messages);
        EXPECT_EQ(got[k].bytes, ref[k].bytes);
      }
    }
  }
  EXPECT_TRUE(log.busy(kGpus + 5, false).empty());
  EXPECT_TRUE(log.busy(-1, false).empty());
  // Slots are reused: never more than the peak of messages in flight.
  for (int i = 0; i < 10; ++i) {
    const uint32_t s = log.open(message(id++, 0, 1, 8), now, 0);
    EXPECT_LT(s, peak_in_flight + 1);
    log.close(s, now + 7);
  }
  // Those ten had an ideal time of 0, which counts as a slowdown of 1; the others took
  // their fct over 100 ps.
  EXPECT_EQ(log.slowdown().count(), all.size() + 10);
  EXPECT_DOUBLE_EQ(log.slowdown().max(),
                   std::max(1.0, *std::max_element(fct.begin(), fct.end()) * 1e4));
}

// The network summary and timeline do not depend on how many message rows are kept: every
// message counts in them, kept or not.
TEST(MessageLog, RunFiguresDoNotDependOnTheRowsKept) {
  auto run = [](const std::string& rows, const std::string& tag) {
    const fs::path dir = nettest::temp_dir("message_log_" + tag);
    CliResult r =
        run_cli({"run", (fs::path(MLASIM_CONFIG_DIR) / "scenarios" / "net-a2a-mpft.yaml").string(),
                 "--no-plots", "-q", "--out", dir.string(), "--set", "network.fidelity=flow",
                 "--set", "cluster.nodes=2", "--set", "network.report.max_message_rows=" + rows});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir;
  };
  const fs::path all = run("1000000", "all"), few = run("3", "few");
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto a = nlohmann::json::parse(read(all / "summary.json"));
  const auto b = nlohmann::json::parse(read(few / "summary.json"));
  for (const char* key :
       {"fct_min_us", "fct_p50_us", "fct_p99_us", "fct_max_us", "p50_fct_slowdown",
        "p99_fct_slowdown", "max_fct_slowdown", "network_end_us", "net_goodput_bytes_per_s"}) {
    ASSERT_TRUE(a.contains(key)) << key;
    EXPECT_EQ(a[key], b[key]) << key;
  }
  const std::string timeline = read(all / "timeline.json");
  EXPECT_NE(timeline.find("\"nic busy\""), std::string::npos);
  EXPECT_NE(timeline.find("\"nvlink busy\""), std::string::npos);
  EXPECT_EQ(timeline, read(few / "timeline.json"));
  // 16 GPUs, each to the 15 others: all rows, then 3 (and the header).
  const std::string rows_all = read(all / "messages.csv"), rows_few = read(few / "messages.csv");
  EXPECT_EQ(std::count(rows_all.begin(), rows_all.end(), '\n'), 1 + 16 * 15);
  EXPECT_EQ(std::count(rows_few.begin(), rows_few.end(), '\n'), 1 + 3);
  EXPECT_EQ(rows_all.substr(0, rows_few.size()), rows_few);
  // The percentiles are those of the full rows, to half a bin.
  std::vector<double> fct;
  std::istringstream in(rows_all);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    // id,src,dst,bytes,injected_us,completed_us,fct_us,...
    size_t at = 0;
    for (int comma = 0; comma < 6; ++comma)
      at = line.find(',', at) + 1;
    fct.push_back(std::stod(line.substr(at)));
  }
  expect_close(a["fct_p50_us"].get<double>(), quantile(fct, 0.5), "p50");
  expect_close(a["fct_p99_us"].get<double>(), quantile(fct, 0.99), "p99");
  EXPECT_NEAR(a["fct_max_us"].get<double>(), *std::max_element(fct.begin(), fct.end()), 1e-6);
}

}  // namespace
}  // namespace mlasim
