// `mlasim kernels` end to end: the built binary's JSON parses and carries the figures (the
// accounting, the roofline, the GPU model's time and achieved rates), the table has units,
// --explain shows the dimension flow, and bad options exit with 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "models/hbm/hbm_bandwidth_memory.h"

namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

RunResult run_mlasim(const std::string& args) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path err_file =
      std::filesystem::temp_directory_path() / (std::string("mlasim_cli_") + info->name() + ".err");
  const std::string cmd = std::string(MLASIM_BINARY) + " " + args + " 2>" + err_file.string();
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err_file);
  return r;
}

TEST(KernelCli, JsonCarriesEveryVariantsFigures) {
  const RunResult r = run_mlasim("kernels --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model"), "deepseek-v3");
  const auto& shape = j.at("shape");
  EXPECT_EQ(shape.at("phase"), "decode");
  EXPECT_EQ(shape.at("batch"), 1);
  EXPECT_EQ(shape.at("start_pos"), 4096);
  EXPECT_EQ(shape.at("new_tokens"), 1);
  EXPECT_EQ(shape.at("kv_len"), 4097);
  EXPECT_EQ(shape.at("dtype"), "bf16");
  const auto& variants = j.at("variants");
  ASSERT_EQ(variants.size(), 5u);
  std::vector<std::string> names;
  for (const auto& v : variants) {
    names.push_back(v.at("variant"));
    for (const char* key :
         {"kv_cache_bytes_per_token", "kv_cache_bytes_total", "bytes_read", "bytes_written",
          "flops", "arithmetic_intensity", "roofline_time_us", "time_us", "achieved_tb_per_s",
          "achieved_tflops", "gpu_hbm_bytes", "bound"}) {
      EXPECT_TRUE(v.contains(key)) << key;
    }
    const double bytes = v.at("bytes_read").get<double>() + v.at("bytes_written").get<double>();
    EXPECT_NEAR(v.at("arithmetic_intensity").get<double>(), v.at("flops").get<double>() / bytes,
                1e-9 * v.at("arithmetic_intensity").get<double>());
    // Roofline on the H100 preset: 989 TFLOP/s BF16, 3.35 TB/s.
    const double memory_us = bytes / 3.35e12 * 1e6;
    const double roofline_us = v.at("roofline_time_us").get<double>();
    EXPECT_NEAR(roofline_us, std::max(memory_us, v.at("compute_time_us").get<double>()),
                1e-6 * memory_us);
    EXPECT_EQ(v.at("bound"),
              roofline_us == v.at("compute_time_us").get<double>() ? "compute" : "memory");
    // time_us comes from the GPU model: no faster than the tensor peak allows for the FLOPs,
    // nor than the pin peak allows for the bytes its memory moved; the achieved rates are
    // those figures over its time.
    const double t = v.at("time_us").get<double>();
    const double hbm = v.at("gpu_hbm_bytes").get<double>();
    EXPECT_GE(t, v.at("compute_time_us").get<double>());
    EXPECT_GE(t, hbm / 3.3508e12 * 1e6);
    EXPECT_NEAR(v.at("achieved_tb_per_s").get<double>(), hbm / (t * 1e-6) * 1e-12, 1e-9);
    EXPECT_NEAR(v.at("achieved_tflops").get<double>(),
                v.at("flops").get<double>() / (t * 1e-6) * 1e-12, 1e-9);
    // Batch-1 decode streams weights and cache: most of the pin bandwidth, not all of it.
    EXPECT_GT(v.at("achieved_tb_per_s").get<double>(), 0.6 * 3.35);
    EXPECT_LT(v.at("achieved_tb_per_s").get<double>(), 3.35);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mla_absorbed", "mla_naive", "mha", "gqa", "mqa"}));
  EXPECT_EQ(variants[0].at("kv_cache_bytes_per_token"), 70272);
  EXPECT_EQ(variants[0].at("kv_cache_bytes_total"), 70272ull * 4097);
  EXPECT_EQ(variants[2].at("kv_cache_bytes_per_token"), 128 * 320 * 2 * 61);
  // Decode at batch 1 is memory bound, and naive MLA moves more bytes than absorbed.
  EXPECT_EQ(variants[0].at("bound"), "memory");
  EXPECT_GT(variants[1].at("bytes_read").get<double>(), variants[0].at("bytes_read").get<double>());
}

// A variant with more tile stages than the GPU model runs (here every one, of a model with a
// 1M-wide hidden state) is reported without a model time, with the reason, while its
// accounting and roofline stand: one heavy variant does not lose the whole report.
TEST(KernelCli, VariantsOverTheTileStageLimitAreReportedUntimed) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "mlasim_kernels_huge";
  std::filesystem::create_directories(dir);
  nlohmann::json model;
  {
    std::ifstream in(MLASIM_SOURCE_DIR "/configs/models/llama-3.1-405b.json");
    model = nlohmann::json::parse(in);
  }
  model["hidden_size"] = 1048576;
  std::ofstream(dir / "m.json") << model.dump();
  const RunResult r = run_mlasim("kernels --json --model " + (dir / "m.json").string());
  const RunResult table = run_mlasim("kernels --model " + (dir / "m.json").string());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j.at("variants").empty());
  for (const auto& v : j.at("variants")) {
    EXPECT_TRUE(v.at("time_us").is_null()) << v.at("variant");
    const std::string why = v.at("untimed_reason");
    EXPECT_NE(why.find("hidden_size 1048576"), std::string::npos) << why;
    EXPECT_NE(why.find("tile stages"), std::string::npos) << why;
    EXPECT_GT(v.at("roofline_time_us").get<double>(), 0.0);
    EXPECT_FALSE(v.contains("gpu_hbm_bytes"));
  }
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("no model time (time [us] shows -)"), std::string::npos) << table.out;
}

TEST(KernelCli, GqaModelShowsMhaGqaMqa) {
  const RunResult r = run_mlasim("kernels --model qwen2.5-72b --batch 8 --gpu h200 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("variants").size(), 3u);
  EXPECT_EQ(j.at("variants")[1].at("variant"), "gqa");
  EXPECT_EQ(j.at("variants")[1].at("kv_cache_bytes_per_token"), 327680);
  EXPECT_EQ(j.at("variants")[1].at("kv_cache_bytes_total"), 327680ull * 4097 * 8);
  EXPECT_EQ(j.at("shape").at("gpu"), "h200");
  // The H200's 4.8 TB/s lets the model go past the H100's 3.35 TB/s pin peak.
  double best = 0;
  for (const auto& v : j.at("variants"))
    best = std::max(best, v.at("achieved_tb_per_s").get<double>());
  EXPECT_GT(best, 3.35);
  EXPECT_LT(best, 4.8);
}

// FP8 runs: the projections at the FP8 rate, absorbed MLA's W_UK and W_UV products and the
// attention core at the BF16 rate (the activation dtype, as DeepSeek's code runs them), their
// weights read as BF16.
TEST(KernelCli, Fp8RunsAbsorbInBf16) {
  const RunResult r = run_mlasim("kernels --model deepseek-v3 --batch 64 --dtype fp8 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& v = j.at("variants")[0];
  ASSERT_EQ(v.at("variant"), "mla_absorbed");
  const double proj = v.at("projection_flops").get<double>();
  const double absorb = v.at("absorb_flops").get<double>();
  const double attn = v.at("attention_flops").get<double>();
  // 61 layers x 64 tokens x 128 heads x (128 x 512 + 512 x 128) multiply-adds.
  EXPECT_EQ(absorb, 2.0 * 61 * 64 * 128 * (128 * 512 + 512 * 128));
  EXPECT_NEAR(v.at("compute_time_us").get<double>(),
              (proj / 1979e12 + (absorb + attn) / 989e12) * 1e6, 1e-5);  // ps rounding
  // W_UK and W_UV: 128 x (128 + 128) x 512 BF16 per layer, among the weights read.
  EXPECT_GE(v.at("traffic").at("weight_bytes_read").get<double>(), 61.0 * 128 * 256 * 512 * 2);
}

// The bandwidth fidelity takes the efficiency and idle latency calibrated on the preset's own
// cycle-level HBM (as `mlasim calibrate hbm` prints them), not the H800's defaults.
TEST(KernelCli, BandwidthFidelityIsCalibratedOnThePresetsHbm) {
  for (const std::string gpu : {"h200", "h800"}) {
    const RunResult cal = run_mlasim("calibrate hbm --json --hardware " + gpu);
    const RunResult k = run_mlasim("kernels --model teaching --batch 1 --json --gpu " + gpu);
    ASSERT_EQ(cal.exit_code, 0) << cal.err;
    ASSERT_EQ(k.exit_code, 0) << k.err;
    const auto c = nlohmann::json::parse(cal.out);
    const std::string timer = nlohmann::json::parse(k.out).at("shape").at("timer");
    const double eff = std::round(c.at("stream_efficiency").get<double>() * 1e5) / 1e5;
    const double lat = std::round(c.at("idle_latency_ns").get<double>() * 100) / 100;
    EXPECT_NE(timer.find(fmt::format("efficiency {}, latency {}ns", eff, lat)), std::string::npos)
        << gpu << ": " << timer;
    if (gpu == "h800") {
      // The h800 preset's calibration is what the bandwidth fidelity's defaults hold.
      EXPECT_EQ(eff, mlasim::HbmBandwidthParams{}.efficiency);
      EXPECT_DOUBLE_EQ(lat, mlasim::HbmBandwidthParams{}.latency.to_ns());
    } else {
      EXPECT_LT(eff, mlasim::HbmBandwidthParams{}.efficiency);  // 0.8968 against 0.89704
      EXPECT_LT(lat, 49.0);                                     // 48.92 against 49.80 ns
    }
  }
}

TEST(KernelCli, CycleLevelMemoryTimesTheSameKernels) {
  const RunResult fast = run_mlasim("kernels --model teaching --batch 8 --json");
  const RunResult cycle = run_mlasim("kernels --model teaching --batch 8 --memory hbm --json");
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  ASSERT_EQ(cycle.exit_code, 0) << cycle.err;
  const auto jf = nlohmann::json::parse(fast.out), jc = nlohmann::json::parse(cycle.out);
  ASSERT_EQ(jf.at("variants").size(), jc.at("variants").size());
  for (size_t i = 0; i < jf.at("variants").size(); ++i) {
    const auto &f = jf.at("variants")[i], &c = jc.at("variants")[i];
    // Same accounting and roofline; the kernels move the same bytes whichever memory times them.
    EXPECT_EQ(f.at("bytes_read"), c.at("bytes_read"));
    EXPECT_EQ(f.at("roofline_time_us"), c.at("roofline_time_us"));
    EXPECT_EQ(f.at("gpu_hbm_bytes"), c.at("gpu_hbm_bytes"));
    // Small kernels at these sizes see row misses and latency; the calibrated bandwidth
    // fidelity stays within a factor of the cycle-level time.
    const double tf = f.at("time_us").get<double>(), tc = c.at("time_us").get<double>();
    EXPECT_GT(tc, 0.7 * tf) << f.at("variant");
    EXPECT_LT(tc, 1.5 * tf) << f.at("variant");
  }
  EXPECT_NE(jc.at("shape").at("timer").get<std::string>().find("cycle-level"), std::string::npos);
}

TEST(KernelCli, TableHasUnitsAndExplainShowsTheFlow) {
  const RunResult table = run_mlasim("kernels --model deepseek-v2-lite --dtype fp8");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* header : {"KV/token [B]", "KV total [MB]", "read [MB]", "written [MB]",
                             "compute [GFLOP]", "AI [FLOP/B]", "roofline [us]", "time [us]",
                             "HBM [TB/s]", "compute [TFLOP/s]", "KV heads"}) {
    EXPECT_NE(table.out.find(header), std::string::npos) << header;
  }
  const RunResult ex = run_mlasim("kernels --model teaching --context 100 --explain");
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  for (const char* text : {"kv_a_proj_with_mqa", "[1, 101, 120]", "q_nope . W_UK",
                           "kv_b_proj over the whole cache", "[1, 101, 10, 48]", "[240, 240]"}) {
    EXPECT_NE(ex.out.find(text), std::string::npos) << text << "\n" << ex.out;
  }
  const RunResult exj = run_mlasim("kernels --model teaching --explain --json");
  ASSERT_EQ(exj.exit_code, 0) << exj.err;
  EXPECT_EQ(nlohmann::json::parse(exj.out).at("explain").size(), 2u);
}

TEST(KernelCli, BadOptionsExitWith2AndOneLine) {
  for (const char* args : {"kernels --dtype fp7", "kernels --model no-such-model",
                           "kernels --batch 0", "kernels --gpu a100", "kernels --phase train",
                           "kernels --context 200000", "kernels --memory ddr5"}) {
    const RunResult r = run_mlasim(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_FALSE(r.err.empty()) << args;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << args << ": " << r.err;
  }
}

}  // namespace
