// HbmController: SystemC wrapper of HbmEngine (see hbm_controller.h).
#include "models/hbm/hbm_controller.h"

namespace mlasim {

HbmController::HbmController(const HbmParams& params, const ModuleEnv& env)
    : MemoryModel(env.module_name),
      actions_("actions", env.ctx),
      sink_(actions_),
      engine_(params, sink_),
      stats_(basename()) {
  stats_.formula(
      "peak_bandwidth", [this] { return peak_bandwidth().bytes_per_s(); }, "B/s",
      "pin peak of all pseudo-channels");
  engine_.register_stats(stats_);
}

}  // namespace mlasim
