// Expert placement: primaries contiguous with an even share per GPU, replicas of the hottest
// experts on the least loaded GPUs, swaps that make room on few GPUs, placements given slot by
// slot.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "sim/errors.h"
#include "tests/workloads/router_test_support.h"
#include "workloads/expert_placement.h"

namespace mlasim {
namespace {

using namespace router_test;

// The primaries in expert order, an even share per GPU: expert e on GPU floor(144 e / 256), so 2
// primaries on 112 GPUs and 1 on 32, which leaves one slot on each of those for the 32 replicas.
TEST(Router, ContiguousPlacementWithRedundantExperts) {
  const ExpertPlacement pl = ep144();
  EXPECT_EQ(pl.num_nodes(), 18u);
  EXPECT_EQ(pl.slots_per_gpu(), 2u);
  std::vector<uint32_t> primaries(144, 0);
  for (uint32_t e = 0; e < 256; ++e) {
    const uint32_t g = pl.slot_gpu(pl.replicas(e)[0]);
    EXPECT_LE(256 * g, 144 * e) << "expert " << e;
    EXPECT_LT(144 * e, 256 * (g + 1)) << "expert " << e;
    ++primaries[g];
  }
  EXPECT_EQ(std::count(primaries.begin(), primaries.end(), 2U), 112);
  EXPECT_EQ(std::count(primaries.begin(), primaries.end(), 1U), 32);
  uint32_t replicated = 0;
  for (uint32_t e = 0; e < 256; ++e) {
    const auto reps = pl.replicas(e);
    if (reps.size() == 2) {
      ++replicated;
      EXPECT_NE(pl.slot_gpu(reps[0]), pl.slot_gpu(reps[1]));
    }
  }
  EXPECT_EQ(replicated, 32u);
  std::vector<uint32_t> per_gpu(144, 0);
  for (uint32_t s = 0; s < pl.num_slots(); ++s)
    ++per_gpu[pl.slot_gpu(s)];
  EXPECT_EQ(*std::min_element(per_gpu.begin(), per_gpu.end()), 2u);
  EXPECT_EQ(*std::max_element(per_gpu.begin(), per_gpu.end()), 2u);
  EXPECT_THROW(ExpertPlacement::build(256, 144, 8, 0, ReplicaPolicy::LeastLoaded), InputError);
}

// Few GPUs: the contiguous experts leave room only on the last GPU, which already hosts the
// experts whose replicas land there; a slot of another expert makes way, so every layout with
// fewer copies of an expert than GPUs fits. Checked: slots per GPU, no expert twice on a GPU,
// each expert's copy count, and slots_of_gpu against slot_gpu.
TEST(Router, ReplicasFitOnFewGpusBySwappingSlots) {
  for (const uint32_t gpus : {2U, 4U}) {
    for (const bool load_aware : {false, true}) {
      SCOPED_TRACE(testing::Message() << gpus << " GPUs, load aware " << load_aware);
      std::vector<double> est;
      if (load_aware) {
        for (uint32_t e = 0; e < 256; ++e)
          est.push_back(1.0 / (1 + e));  // the hottest experts share the first GPU
      }
      const ExpertPlacement pl =
          ExpertPlacement::build(256, gpus, gpus, 32, ReplicaPolicy::LeastLoaded, est);
      ASSERT_EQ(pl.slots_per_gpu(), 288 / gpus);
      uint32_t copies = 0;
      for (uint32_t e = 0; e < 256; ++e) {
        std::vector<uint32_t> hosts;
        for (uint32_t s : pl.replicas(e))
          hosts.push_back(pl.slot_gpu(s));
        std::sort(hosts.begin(), hosts.end());
        EXPECT_EQ(std::adjacent_find(hosts.begin(), hosts.end()), hosts.end()) << "expert " << e;
        copies += static_cast<uint32_t>(hosts.size());
      }
      EXPECT_EQ(copies, 288u);
      for (uint32_t g = 0; g < gpus; ++g) {
        const auto slots = pl.slots_of_gpu(g);
        EXPECT_EQ(slots.size(), 288u / gpus);
        EXPECT_TRUE(std::is_sorted(slots.begin(), slots.end()));
        for (uint32_t s : slots)
          EXPECT_EQ(pl.slot_gpu(s), g);
      }
    }
  }
  // An expert cannot have more copies than GPUs: 2 GPUs, 256 redundant slots give some expert
  // a third copy (evenly spaced, wrapping), which no swap can place.
  try {
    (void)ExpertPlacement::build(256, 2, 2, 512, ReplicaPolicy::LeastLoaded);
    ADD_FAILURE() << "three copies of an expert on two GPUs were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("redundant_experts"), std::string::npos) << e.what();
  }
}

// Keeping the primaries: expert e stays on GPU e / (experts per GPU) (node-limited routing sees
// the contiguous layout), the replicas are the experts with the most estimated load per copy, and
// each goes to the GPU with the least estimated load among those with room.
TEST(Router, LoadAwareReplicasKeepThePrimariesContiguous) {
  // 32 scattered experts twice as hot as the rest: each gets one replica (then every expert
  // has the same load per copy), and the 32 replicas fill the 2 slots left on each GPU.
  std::vector<double> est(256, 1.0);
  for (uint32_t i = 0; i < 32; ++i)
    est[(i * 37) % 252] = 2.0;
  const ExpertPlacement pl =
      ExpertPlacement::build(256, 16, 8, 32, ReplicaPolicy::LeastLoaded, est, true);
  ASSERT_EQ(pl.slots_per_gpu(), 18u);
  for (uint32_t e = 0; e < 256; ++e)
    EXPECT_EQ(pl.slot_gpu(pl.replicas(e)[0]), e / 16) << "expert " << e;
  // Greedy replication by load per copy, the independent way: 32 times take the expert with
  // the most load per copy.
  std::vector<uint32_t> copies(256, 1);
  for (int i = 0; i < 32; ++i) {
    uint32_t best = 0;
    for (uint32_t e = 1; e < 256; ++e)
      if (est[e] / copies[e] > est[best] / copies[best]) best = e;
    ++copies[best];
  }
  for (uint32_t e = 0; e < 256; ++e)
    EXPECT_EQ(pl.replicas(e).size(), copies[e]) << "expert " << e;
  // Every copy now carries load 1, so each GPU starts at 16; the least loaded GPU first takes
  // each replica of load 1, and every GPU ends with 2 of them: load 18 on each, no replica on the
  // GPU of its primary.
  std::vector<double> load(16, 0.0);
  for (uint32_t e = 0; e < 256; ++e) {
    for (uint32_t s : pl.replicas(e))
      load[pl.slot_gpu(s)] += est[e] / static_cast<double>(pl.replicas(e).size());
    if (pl.replicas(e).size() == 2) {
      EXPECT_NE(pl.slot_gpu(pl.replicas(e)[1]), pl.slot_gpu(pl.replicas(e)[0])) << "expert " << e;
    }
  }
  for (uint32_t g = 0; g < 16; ++g)
    EXPECT_DOUBLE_EQ(load[g], 18.0) << "GPU " << g;
}

// A placement given slot by slot is indexed as a built one, and refused where it breaks the rules.
TEST(Router, PlacementFromSlots) {
  // 4 experts on 2 GPUs of one node, 3 slots each: expert 0 and 3 twice.
  const ExpertPlacement pl = ExpertPlacement::from_slots({0, 1, 3, 2, 3, 0}, {0, 0, 0, 1, 1, 1}, 2,
                                                         2, ReplicaPolicy::RoundRobin);
  EXPECT_EQ(pl.num_experts(), 4u);
  EXPECT_EQ(pl.slots_per_gpu(), 3u);
  EXPECT_EQ(pl.replicas(0).size(), 2u);
  EXPECT_EQ(pl.replicas(0)[0], 0u);  // the primary: the first slot holding it
  EXPECT_EQ(pl.slot_gpu(pl.replicas(3)[1]), 1u);
  EXPECT_EQ(pl.experts_on_node(0).size(), 4u);
  auto error = [](std::vector<uint32_t> experts, std::vector<uint32_t> gpus) {
    try {
      (void)ExpertPlacement::from_slots(std::move(experts), std::move(gpus), 2, 2,
                                        ReplicaPolicy::RoundRobin);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error({0, 0, 1, 2}, {0, 0, 1, 1}).find("expert 0 twice on GPU 0"), std::string::npos);
  EXPECT_NE(error({0, 2, 2, 3}, {0, 1, 0, 1}).find("expert 1 of 4 has no slot"), std::string::npos);
  EXPECT_NE(error({0, 1, 2, 3}, {0, 0, 0, 1}).find("different numbers of slots"),
            std::string::npos);
  EXPECT_NE(error({0, 1, 2, 3}, {0, 1, 2, 1}).find("on GPU 2 of 2"), std::string::npos);
  EXPECT_NE(error({0, 1, 2}, {0, 1, 0}).find("do not divide evenly"), std::string::npos);
}

TEST(Router, LoadAwarePlacementEvensOutEstimatedGpuLoad) {
  // Zipf(1) estimated loads: the contiguous layout piles the hottest experts where they fall.
  std::vector<double> est(256);
  for (uint32_t e = 0; e < 256; ++e)
    est[e] = 1.0 / (1 + (e * 37) % 256);
  auto gpu_max_over_mean = [&](const ExpertPlacement& pl) {
    std::vector<double> load(pl.num_gpus(), 0.0);
    for (uint32_t e = 0; e < 256; ++e) {
      for (uint32_t s : pl.replicas(e))
        load[pl.slot_gpu(s)] += est[e] / pl.replicas(e).size();
    }
    const double mean = std::accumulate(load.begin(), load.end(), 0.0) / load.size();
    return *std::max_element(load.begin(), load.end()) / mean;
  };
  const ExpertPlacement plain = ExpertPlacement::build(256, 32, 8, 32, ReplicaPolicy::LeastLoaded);
  const ExpertPlacement eplb =
      ExpertPlacement::build(256, 32, 8, 32, ReplicaPolicy::LeastLoaded, est);
  // The hottest expert (e = 0, share 1/H_256 = 16%) gets the most replicas.
  EXPECT_GT(eplb.replicas(0).size(), 2u);
  EXPECT_LT(gpu_max_over_mean(eplb), 1.1);
  EXPECT_GT(gpu_max_over_mean(plain), 2.0);
}

}  // namespace
}  // namespace mlasim
