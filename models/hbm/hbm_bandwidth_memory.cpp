// HbmBandwidthMemory: latency + size / (efficiency x peak) (see hbm_bandwidth_memory.h).
#include "models/hbm/hbm_bandwidth_memory.h"

namespace mlasim {

void HbmBandwidthEngine::access(const MemRequest& request, Done done) {
  const Time now = events_.now();
  const Time start = busy_until_ > now ? busy_until_ : now;
  const Time transfer = rate_.transfer_time(request.size);
  busy_until_ = start + transfer;
  busy_ps_ += static_cast<uint64_t>(transfer.ps());
  ++requests_;
  bytes_[request.write ? 1 : 0] += request.size.count();
  events_.at(busy_until_ + params_.latency, std::move(done));
}

void HbmBandwidthEngine::register_stats(StatGroup& g) {
  g.counter("bytes_read", &bytes_[0], "B", "bytes read");
  g.counter("bytes_written", &bytes_[1], "B", "bytes written");
  g.counter("requests", &requests_, "count", "requests served");
  g.counter("busy_time", &busy_ps_, "ps", "time the pipe was transferring data");
  g.formula(
      "achieved_bandwidth",
      [this] {
        return busy_ps_ ? static_cast<double>(bytes_[0] + bytes_[1]) /
                              (static_cast<double>(busy_ps_) * 1e-12)
                        : 0.0;
      },
      "B/s", "bytes / busy time (= efficiency x peak when busy)");
}

HbmBandwidthMemory::HbmBandwidthMemory(const HbmBandwidthParams& params, const ModuleEnv& env)
    : MemoryModel(env.module_name),
      actions_("actions", env.ctx),
      sink_(actions_),
      engine_(params, sink_),
      stats_(basename()) {
  engine_.register_stats(stats_);
}

}  // namespace mlasim
