// The bandwidth fidelity of HBM (`type: hbm_bandwidth`): every request takes
// latency + size / (efficiency x peak), requests sharing the pipe in arrival order. No banks,
// rows or refresh: their average cost is folded into `efficiency`, which
// `mlasim calibrate hbm` measures on the cycle-level model (stream_efficiency), and `latency`
// (idle_latency_ns). A test keeps the two fidelities within 5% on streaming traffic.
//
// Leaves out: any dependence on access pattern (random small accesses run at the streaming
// efficiency unless `efficiency` is set to the calibrated random_efficiency).
#pragma once

#include "models/common/memory_model.h"
#include "models/common/module_env.h"
#include "models/hbm/event_sink.h"
#include "sim/action_queue.h"
#include "sim/params.h"

namespace mlasim {

struct HbmBandwidthParams {
  // Pin peak of the H800/H100 cycle preset: 160 pseudo-channels x 32 B / (2 x 764 ps).
  Bandwidth peak = Bandwidth::bytes_per_s(3.350785e12);
  // `mlasim calibrate hbm --json` on configs/hardware/h800.yaml: stream_efficiency
  // 0.8970419..., kept to five digits (a test holds the two together).
  double efficiency = 0.89704;
  // From `mlasim calibrate hbm` (idle_latency_ns): ACT, tRCD + CL + BL at 764 ps, + 15 ns.
  Time latency = Time::ps(49800);
  Bytes capacity = Bytes::parse("80GiB");
  template <class V>
  void visit(V& v) {
    v("peak", peak, "B/s", "pin peak bandwidth of the memory");
    v("efficiency", efficiency, "fraction",
      "sustained fraction of the peak, in (0, 1]; the default is the stream_efficiency "
      "`mlasim calibrate hbm` measures on the h800 preset's cycle-level HBM, 0.89704");
    v("latency", latency, "s", "unloaded latency (calibrated: idle_latency_ns)");
    v("capacity", capacity, "B",
      "memory capacity (0: unknown; the run then reports no capacity figures: KV capacity, "
      "overcommit)");
  }
  void validate(const ParamCheck& c) const {
    c.require(peak.bytes_per_s() > 0, "peak", "must be > 0");
    c.require(efficiency > 0 && efficiency <= 1, "efficiency", "must be in (0, 1]");
    // The sustained rate, as every rate a config gives (units.h): at least 1 B/s.
    if (!(peak.bytes_per_s() * efficiency >= 1.0)) {
      c.fail("efficiency", fmt::format("{:g} x peak ({}) is below 1 B/s", efficiency, peak.str()));
    }
  }
};

// The timing engine, usable without SystemC.
class HbmBandwidthEngine final : public MemoryPort {
 public:
  HbmBandwidthEngine(const HbmBandwidthParams& params, EventSink& events)
      : params_(params),
        events_(events),
        rate_(Bandwidth::bytes_per_s(params.peak.bytes_per_s() * params.efficiency)) {}
  void access(const MemRequest& request, Done done) override;
  Bandwidth peak_bandwidth() const override { return params_.peak; }
  Bytes capacity() const { return params_.capacity; }
  void register_stats(StatGroup& g);

 private:
  HbmBandwidthParams params_;
  EventSink& events_;
  Bandwidth rate_;
  Time busy_until_;
  uint64_t bytes_[2] = {0, 0};
  uint64_t requests_ = 0;
  uint64_t busy_ps_ = 0;
};

class HbmBandwidthMemory : public MemoryModel {
 public:
  HbmBandwidthMemory(const HbmBandwidthParams& params, const ModuleEnv& env);
  void access(const MemRequest& request, Done done) override {
    engine_.access(request, std::move(done));
  }
  Bandwidth peak_bandwidth() const override { return engine_.peak_bandwidth(); }
  Bytes capacity() const override { return engine_.capacity(); }
  StatGroup& stats() override { return stats_; }

 private:
  ActionQueue actions_;
  ActionQueueSink sink_;
  HbmBandwidthEngine engine_;
  StatGroup stats_;
};

}  // namespace mlasim
