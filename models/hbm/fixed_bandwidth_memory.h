// Placeholder memory (`type: fixed_bandwidth`): requests are served one after another, each
// taking latency + size / bandwidth. No banks, rows, refresh or scheduling; the cycle-level
// HBM model replaces it through the registry.
#pragma once

#include "models/common/memory_model.h"
#include "models/common/module_env.h"
#include "sim/action_queue.h"
#include "sim/params.h"

namespace mlasim {

struct FixedBandwidthMemoryParams {
  Bandwidth bandwidth = Bandwidth::parse("3.35TB/s");
  Time latency = Time::ns(500);
  Bytes capacity = Bytes::parse("80GiB");
  template <class V>
  void visit(V& v) {
    v("bandwidth", bandwidth, "B/s",
      "bandwidth every request gets (the default, HBM3's pin peak, is an upper bound: type "
      "hbm_bandwidth applies the sustained fraction calibrated on the cycle-level model)");
    v("latency", latency, "s", "fixed latency added to each request");
    v("capacity", capacity, "B",
      "memory capacity (0: unknown; the run then reports no capacity figures: KV capacity, "
      "overcommit)");
  }
  void validate(const ParamCheck& c) const {
    c.require(bandwidth.bytes_per_s() > 0, "bandwidth", "must be > 0");
  }
};

class FixedBandwidthMemory : public MemoryModel {
 public:
  FixedBandwidthMemory(const FixedBandwidthMemoryParams& params, const ModuleEnv& env);
  void access(const MemRequest& request, Done done) override;
  Bandwidth peak_bandwidth() const override { return params_.bandwidth; }
  Bytes capacity() const override { return params_.capacity; }
  StatGroup& stats() override { return stats_; }

 private:
  FixedBandwidthMemoryParams params_;
  ActionQueue actions_;
  StatGroup stats_;
  Time busy_until_;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
  uint64_t requests_ = 0;
  uint64_t busy_ps_ = 0;
};

}  // namespace mlasim
