// HbmController (`type: hbm`): the cycle-level HBM model as a SystemC memory module. A thin
// wrapper: the timing lives in HbmEngine (plain C++), driven here by the module's ActionQueue.
#pragma once

#include "models/common/memory_model.h"
#include "models/common/module_env.h"
#include "models/hbm/event_sink.h"
#include "models/hbm/hbm_engine.h"
#include "models/hbm/hbm_params.h"
#include "sim/action_queue.h"

namespace mlasim {

class HbmController : public MemoryModel {
 public:
  HbmController(const HbmParams& params, const ModuleEnv& env);
  void access(const MemRequest& request, Done done) override {
    engine_.access(request, std::move(done));
  }
  Bandwidth peak_bandwidth() const override { return engine_.peak_bandwidth(); }
  Bytes capacity() const override { return engine_.params().capacity(); }
  StatGroup& stats() override { return stats_; }
  HbmEngine& engine() { return engine_; }

 private:
  ActionQueue actions_;
  ActionQueueSink sink_;
  HbmEngine engine_;
  StatGroup stats_;
};

}  // namespace mlasim
