// make_memory_engine (see memory_engines.h).
#include "models/hbm/memory_engines.h"

#include <fmt/format.h>

#include "models/hbm/fixed_bandwidth_memory.h"
#include "models/hbm/hbm_bandwidth_memory.h"
#include "models/hbm/hbm_engine.h"
#include "sim/errors.h"
#include "sim/params.h"

namespace mlasim {

std::unique_ptr<MemoryPort> make_memory_engine(const ConfigNode& section, const std::string& path,
                                               EventSink& events) {
  const ConfigNode* type = section.find("type");
  const std::string t = type ? type->as_string() : "";
  if (t == "hbm") {
    return std::make_unique<HbmEngine>(read_params<HbmParams>(&section, path, {"type"}), events);
  }
  if (t == "hbm_bandwidth") {
    return std::make_unique<HbmBandwidthEngine>(
        read_params<HbmBandwidthParams>(&section, path, {"type"}), events);
  }
  if (t == "fixed_bandwidth") {
    const auto f = read_params<FixedBandwidthMemoryParams>(&section, path, {"type"});
    HbmBandwidthParams b;
    b.peak = f.bandwidth;
    b.efficiency = 1.0;
    b.latency = f.latency;
    return std::make_unique<HbmBandwidthEngine>(b, events);
  }
  throw InputError(
      fmt::format("{}.type: '{}' has no standalone engine (hbm, hbm_bandwidth, "
                  "fixed_bandwidth)",
                  path, t));
}

}  // namespace mlasim
