// One H800 HBM capacity everywhere: the cycle preset's organisation (configs/hardware/h800.yaml)
// fixes it (5 stacks of 16 GiB), and the fast memory models' defaults and every scenario that
// states a capacity must agree with it, to the byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/hbm/fixed_bandwidth_memory.h"
#include "models/hbm/hbm_bandwidth_memory.h"
#include "models/hbm/hbm_params.h"
#include "sim/config.h"
#include "sim/errors.h"
#include "sim/params.h"

namespace mlasim {
namespace {

namespace fs = std::filesystem;

uint64_t h800_capacity() {
  const ConfigNode root = load_config_file(fs::path(MLASIM_CONFIG_DIR) / "hardware" / "h800.yaml");
  return read_params<HbmParams>(root.find("memory"), "memory", {"type"}).capacity().count();
}

TEST(HbmCapacity, PresetDefaultsAndScenariosAgree) {
  const uint64_t cap = h800_capacity();
  EXPECT_EQ(cap, uint64_t{80} << 30);  // 5 stacks x 8 dies x 16 Gb
  EXPECT_EQ(HbmBandwidthParams{}.capacity.count(), cap);
  EXPECT_EQ(FixedBandwidthMemoryParams{}.capacity.count(), cap);
  int stated = 0;
  for (const auto& e : fs::directory_iterator(fs::path(MLASIM_CONFIG_DIR) / "scenarios")) {
    if (e.path().extension() != ".yaml") continue;
    const ConfigNode root = load_config_file(e.path());
    const ConfigNode* hw = root.find("hardware");
    const ConfigNode* mem = hw ? hw->find("memory") : nullptr;
    const ConfigNode* c = mem ? mem->find("capacity") : nullptr;
    if (c == nullptr) continue;
    ++stated;
    EXPECT_EQ(Bytes::parse(c->as_string()).count(), cap) << e.path().filename();
  }
  EXPECT_GE(stated, 7);  // the H800 DeepSeek and Llama scenarios
}

// The H200 exposes 141 GiB of the 6 x 24 GiB its organisation addresses: the preset says so and
// the model reports it; without `capacity` the organisation's whole size counts, and more than
// that is refused.
TEST(HbmCapacity, ExposedCapacityOverridesTheOrganisationsSize) {
  const ConfigNode root = load_config_file(fs::path(MLASIM_CONFIG_DIR) / "hardware" / "h200.yaml");
  const HbmParams h200 = read_params<HbmParams>(root.find("memory"), "memory", {"type"});
  EXPECT_EQ(h200.organisation_capacity().count(), uint64_t{144} << 30);
  EXPECT_EQ(h200.capacity().count(), uint64_t{141} << 30);
  HbmParams whole = h200;
  whole.exposed = Bytes(0);
  EXPECT_EQ(whole.capacity().count(), uint64_t{144} << 30);
  const ConfigNode too_big = load_config_string("memory: {capacity: 145GiB}\n", "t.yaml", ".");
  EXPECT_THROW(read_params<HbmParams>(too_big.find("memory"), "memory"), InputError);
}

}  // namespace
}  // namespace mlasim
