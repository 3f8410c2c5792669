// The bandwidth fidelity against the cycle-level model, its calibration, and both as SystemC
// memory modules created through the registry.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <systemc>

#include "models/hbm/hbm_bandwidth_memory.h"
#include "models/hbm/hbm_calibration.h"
#include "models/hbm/hbm_controller.h"
#include "models/hbm/hbm_traffic.h"
#include "sim/builtin_components.h"
#include "tests/sim/cli_runner.h"

namespace mlasim {
namespace {

TEST(HbmCalibration, MeasuresTheCycleModel) {
  // The options `mlasim calibrate hbm` uses by default.
  const HbmCalibration c = calibrate_hbm(HbmParams{});
  std::printf("stream %.5f random %.5f idle %.3f ns\n", c.stream_efficiency, c.random_efficiency,
              c.idle_latency_ns);
  EXPECT_GT(c.stream_efficiency, 0.85);
  EXPECT_LT(c.stream_efficiency, 0.95);
  EXPECT_LT(c.random_efficiency, 0.5 * c.stream_efficiency);
  // Idle read: ACT, tRCD, CL, BL at 764 ps plus the controller latency.
  const HbmParams p;
  const double expect = (p.timing.rcd_rd + p.timing.cl + p.timing.bl) * p.org.tck.to_ns() +
                        p.controller.latency.to_ns();
  // (The median of reads at random times: arrivals wait up to a cycle for the clock edge.)
  EXPECT_GE(c.idle_latency_ns, expect - 1e-6);
  EXPECT_LE(c.idle_latency_ns, expect + p.org.tck.to_ns());
  // The bandwidth fidelity's defaults are these measurements (REFERENCE: calibrate, not fit);
  // the efficiency to the five digits its description quotes.
  const HbmBandwidthParams b;
  EXPECT_NEAR(b.efficiency, c.stream_efficiency, 5e-6);
  EXPECT_NEAR(b.latency.to_ns(), c.idle_latency_ns, 1.0);
  EXPECT_NEAR(b.peak.bytes_per_s(), c.peak_bytes_per_s, 1e6);
}

// The command's table gives each figure its unit (efficiencies are fractions of the pin
// peak), its help the defaults of its measurement sizes, and it checks the whole hardware file:
// a misspelt key outside the memory section is an error, not ignored.
TEST(HbmCalibration, TheCommandNamesUnitsDefaultsAndChecksTheWholeFile) {
  const CliResult r =
      run_cli({"calibrate", "hbm", "--stream-mib", "4", "--random-requests", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stream efficiency   0."), std::string::npos) << r.out;
  for (const char* line : {"stream efficiency", "random efficiency"}) {
    const size_t at = r.out.find(line);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string text = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(text.find(" fraction "), std::string::npos) << text;
  }
  const CliResult help = run_cli({"calibrate", "hbm", "--help"});
  EXPECT_NE(help.out.find("]=256"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("]=200000"), std::string::npos) << help.out;

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mlasim_calibrate_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string preset = MLASIM_CONFIG_DIR "/hardware/h800.yaml";
  std::ofstream(dir / "gpu.yaml") << "include: " << preset << "\ngpu:\n  launch_overhed: 1us\n";
  std::ofstream(dir / "top.yaml") << "include: " << preset << "\ngpux: 1\n";
  const CliResult gpu = run_cli({"calibrate", "hbm", "--hardware", (dir / "gpu.yaml").string()});
  const CliResult top = run_cli({"calibrate", "hbm", "--hardware", (dir / "top.yaml").string()});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(gpu.exit_code, 2) << gpu.err;
  EXPECT_NE(gpu.err.find("gpu.yaml:3: gpu.launch_overhed: unknown key (did you mean "
                         "'launch_overhead'?)"),
            std::string::npos)
      << gpu.err;
  EXPECT_EQ(top.exit_code, 2) << top.err;
  EXPECT_NE(top.err.find("top.yaml:2: gpux: unknown key (did you mean 'gpu'?)"), std::string::npos)
      << top.err;
}

TEST(HbmBandwidthFidelity, WithinFivePercentOfCycleModelOnStreams) {
  // Several streaming shapes: one long stream, many concurrent medium requests, writes mixed in.
  const HbmParams p;
  const HbmBandwidthParams b;
  for (const auto& [req, outstanding, writes] :
       {std::tuple{4u << 20, 4u, 0.0}, std::tuple{256u << 10, 64u, 0.0},
        std::tuple{64u << 10, 128u, 0.0}, std::tuple{1u << 20, 16u, 0.25}}) {
    HbmTrafficSpec s;
    s.total_bytes = 96ull << 20;
    s.request_bytes = req;
    s.outstanding = outstanding;
    s.write_fraction = writes;
    const auto cycle = run_hbm_traffic(p, s);
    const auto fast = run_memory_traffic(
        [&b](EventSink& e) { return std::make_unique<HbmBandwidthEngine>(b, e); }, s);
    const double ratio = fast.elapsed.to_seconds() / cycle.elapsed.to_seconds();
    std::printf("req %u outstanding %u writes %.2f: cycle %s bandwidth %s ratio %.4f\n", req,
                outstanding, writes, cycle.elapsed.str().c_str(), fast.elapsed.str().c_str(),
                ratio);
    EXPECT_NEAR(ratio, 1.0, 0.05);
  }
}

// Both fidelities as SystemC modules made by the registry from a config section.
double module_time_for(const std::string& type) {
  Components comps = make_builtin_components();
  SimContext ctx;
  ConfigNode section = ConfigNode::map();
  section.set("type", ConfigNode::scalar(type));
  sc_core::sc_module_name n("mem");
  ModuleEnv env{n, ctx, 0, nullptr};
  auto made = comps.memory.create(&section, "hardware.memory", env);
  MemoryModel& mem = *made.product;
  Time done;
  int left = 8;
  for (int i = 0; i < 8; ++i) {
    mem.access(MemRequest{static_cast<uint64_t>(i) << 23, Bytes(8u << 20), false}, [&] {
      if (--left == 0) done = sim_now();
    });
  }
  sc_core::sc_start();
  EXPECT_EQ(left, 0);
  EXPECT_GT(mem.stats().lookup("achieved_bandwidth"), 0.8 * mem.peak_bandwidth().bytes_per_s());
  return done.to_seconds();
}

TEST(HbmModules, CycleModelRunsUnderSystemC) {
  const double t = module_time_for("hbm");
  // 64 MiB at ~90% of 3.35 TB/s: about 22 us.
  EXPECT_NEAR(t, 64.0 * (1 << 20) / (0.9 * 3.3508e12), 0.05 * t);
}

TEST(HbmModules, BandwidthModelRunsUnderSystemC) {
  const HbmBandwidthParams b;
  const double t = module_time_for("hbm_bandwidth");
  EXPECT_NEAR(t, 64.0 * (1 << 20) / (b.efficiency * b.peak.bytes_per_s()) + b.latency.to_seconds(),
              1e-9);
}

}  // namespace
}  // namespace mlasim
