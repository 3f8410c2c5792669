// FixedBandwidthMemory: serialised latency + size/bandwidth (see fixed_bandwidth_memory.h).
#include "models/hbm/fixed_bandwidth_memory.h"

namespace mlasim {

FixedBandwidthMemory::FixedBandwidthMemory(const FixedBandwidthMemoryParams& params,
                                           const ModuleEnv& env)
    : MemoryModel(env.module_name),
      params_(params),
      actions_("actions", env.ctx),
      stats_(basename()) {
  stats_.counter("bytes_read", &bytes_read_, "B", "bytes read");
  stats_.counter("bytes_written", &bytes_written_, "B", "bytes written");
  stats_.counter("requests", &requests_, "count", "requests served");
  stats_.counter("busy_time", &busy_ps_, "ps", "time spent transferring data");
}

void FixedBandwidthMemory::access(const MemRequest& request, Done done) {
  const Time now = sim_now();
  const Time start = busy_until_ > now ? busy_until_ : now;
  const Time transfer = params_.bandwidth.transfer_time(request.size);
  busy_until_ = start + transfer;
  busy_ps_ += static_cast<uint64_t>(transfer.ps());
  ++requests_;
  (request.write ? bytes_written_ : bytes_read_) += request.size.count();
  actions_.at(busy_until_ + params_.latency, std::move(done));
}

}  // namespace mlasim
