// Expert placement: primaries contiguous, as few per GPU as can be; replicas of the hottest
// experts on the least loaded GPUs; swaps that make room on few GPUs; placements given slot by
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

// The primaries in expert order, ceil(256 / 144) = 2 per GPU: expert e on GPU e / 2, the routed
// experts on GPUs 0-127 (nodes 0-15, each group of 32 on 2 nodes) and the 32 replicas on the
// other 16, as DeepSeek's decode gives redundant experts GPUs of their own.
TEST(Router, ContiguousPlacementWithRedundantExperts) {
  const ExpertPlacement pl = ep144();
  EXPECT_EQ(pl.num_nodes(), 18u);
  EXPECT_EQ(pl.slots_per_gpu(), 2u);
  for (uint32_t e = 0; e < 256; ++e) {
    EXPECT_EQ(pl.slot_gpu(pl.replicas(e)[0]), e / 2) << "expert " << e;
    for (uint32_t s : pl.replicas(e).subspan(1))
      EXPECT_GE(pl.slot_gpu(s), 128u) << "expert " << e;
  }
  // EP32 with 32 redundant: 9 slots per GPU, 8 primaries and 1 replica each (DeepSeek's prefill).
  const ExpertPlacement ep32 = ExpertPlacement::build(256, 32, 8, 32, ReplicaPolicy::LeastLoaded);
  for (uint32_t g = 0; g < 32; ++g) {
    uint32_t primaries = 0;
    for (uint32_t s : ep32.slots_of_gpu(g))
      primaries += s < 256 ? 1 : 0;
    EXPECT_EQ(primaries, 8u) << "GPU " << g;
  }
  uint32_t replicated = 0;
  for (uint32_t e = 0; e < 256; ++e) {
    const auto reps = pl.replicas(e);
    if (reps.size() == 2) {
      ++replicated;
      EXPECT_NE(pl.slot_gpu(reps[0]), pl.slot_gpu(reps[1]));
    }
  }
  EXPECT_EQ(replicated, 32u);
  // The same with EPLB's estimate, keeping the primaries: replicas of the hottest experts, still
  // on GPUs 128-143.
  std::vector<double> est(256);
  for (uint32_t e = 0; e < 256; ++e)
    est[e] = 1.0 + (e * 37) % 256;
  const ExpertPlacement eplb =
      ExpertPlacement::build(256, 144, 8, 32, ReplicaPolicy::LeastLoaded, est, true);
  for (uint32_t e = 0; e < 256; ++e) {
    EXPECT_EQ(eplb.slot_gpu(eplb.replicas(e)[0]), e / 2) << "expert " << e;
    for (uint32_t s : eplb.replicas(e).subspan(1))
      EXPECT_GE(eplb.slot_gpu(s), 128u) << "expert " << e;
  }
  EXPECT_THROW(ExpertPlacement::build(256, 144, 8, 0, ReplicaPolicy::LeastLoaded), InputError);
}

// Experts that do not divide over the GPUs, and fewer experts than GPUs: ceil(n / GPUs) primaries
// on each GPU from GPU 0, the last GPUs holding fewer or none and taking the replicas.
TEST(Router, PrimariesFillFromTheFirstGpuWhenTheyDoNotDivide) {
  auto experts_on = [](const ExpertPlacement& pl, uint32_t g) {
    std::vector<uint32_t> out;
    for (uint32_t s : pl.slots_of_gpu(g))
      out.push_back(pl.slot_expert(s));
    std::sort(out.begin(), out.end());
    return out;
  };
  // 60 experts + 4 evenly spaced replicas (0, 15, 30, 45) on 8 GPUs of 8 slots: GPUs 0-6 hold 8
  // primaries each, GPU 7 primaries 56-59 and the four replicas.
  const ExpertPlacement odd = ExpertPlacement::build(60, 8, 8, 4, ReplicaPolicy::LeastLoaded);
  for (uint32_t g = 0; g < 7; ++g) {
    std::vector<uint32_t> expect(8);
    std::iota(expect.begin(), expect.end(), 8 * g);
    EXPECT_EQ(experts_on(odd, g), expect) << "GPU " << g;
  }
  EXPECT_EQ(experts_on(odd, 7), (std::vector<uint32_t>{0, 15, 30, 45, 56, 57, 58, 59}));
  // 8 experts + 8 replicas on 16 GPUs of one slot: expert g on GPU g, its replica on GPU 8 + g.
  const ExpertPlacement few = ExpertPlacement::build(8, 16, 8, 8, ReplicaPolicy::LeastLoaded);
  for (uint32_t e = 0; e < 8; ++e) {
    ASSERT_EQ(few.replicas(e).size(), 2u);
    EXPECT_EQ(few.slot_gpu(few.replicas(e)[0]), e);
    EXPECT_EQ(few.slot_gpu(few.replicas(e)[1]), 8 + e);
  }
}

// Few GPUs: every layout with fewer copies of an expert than GPUs fits, a slot of another expert
// making way where the GPUs with room already host the expert (the keep-primaries layouts of the
// Zipf estimate below need such swaps, as does the small case at the end). Checked: slots per
// GPU, no expert twice on a GPU, each expert's copy count, and slots_of_gpu against slot_gpu.
TEST(Router, ReplicasFitOnFewGpusBySwappingSlots) {
  for (const uint32_t gpus : {2U, 4U}) {
    for (const int layout : {0, 1, 2}) {  // evenly spaced; by load; by load keeping primaries
      SCOPED_TRACE(testing::Message() << gpus << " GPUs, layout " << layout);
      std::vector<double> est;
      if (layout > 0) {
        for (uint32_t e = 0; e < 256; ++e)
          est.push_back(1.0 / (1 + e));  // the hottest experts share the first GPU
      }
      const ExpertPlacement pl =
          ExpertPlacement::build(256, gpus, gpus, 32, ReplicaPolicy::LeastLoaded, est, layout == 2);
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
  // Experts 0-1 on GPU 0, 2-3 on GPU 1, one free slot each; expert 0 (estimate 4) gets a replica,
  // which only GPU 1 can take, then expert 1 (first of the rest) one, which only GPU 0 has room
  // for, and it hosts expert 1: the first slot of GPU 1, expert 2's primary, moves to GPU 0 and
  // the replica takes its place.
  const std::vector<double> hot{4, 1, 1, 1};
  const ExpertPlacement swap =
      ExpertPlacement::build(4, 2, 2, 2, ReplicaPolicy::LeastLoaded, hot, true);
  auto experts_on = [&](uint32_t g) {
    std::vector<uint32_t> out;
    for (uint32_t s : swap.slots_of_gpu(g))
      out.push_back(swap.slot_expert(s));
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(experts_on(0), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(experts_on(1), (std::vector<uint32_t>{0, 1, 3}));
  EXPECT_EQ(swap.slot_gpu(swap.replicas(2)[0]), 0u);  // the primary the swap moved
  // An expert cannot have more copies than GPUs: 2 GPUs, 256 redundant slots give some expert
  // a third copy (evenly spaced, wrapping), which no swap can place.
  try {
    (void)ExpertPlacement::build(256, 2, 2, 512, ReplicaPolicy::LeastLoaded);
    ADD_FAILURE() << "three copies of an expert on two GPUs were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("redundant_experts"), std::string::npos) << e.what();
  }
}

// Keeping the primaries: expert e stays on GPU e / 16 (node-limited routing sees the contiguous
// layout), the replicas are the experts with the most estimated load per copy, and each, heaviest
// first, goes to the GPU with the least estimated load among those with room that lack it (ties:
// the lowest GPU). Both checked against a plain re-enactment of those rules.
TEST(Router, LoadAwareReplicasKeepThePrimariesContiguous) {
  // Uneven estimates, scattered: 1 to 4.98.
  std::vector<double> est(256);
  for (uint32_t e = 0; e < 256; ++e)
    est[e] = 1.0 + static_cast<double>((e * 37) % 256) / 64.0;
  const ExpertPlacement pl =
      ExpertPlacement::build(256, 16, 8, 32, ReplicaPolicy::LeastLoaded, est, true);
  ASSERT_EQ(pl.slots_per_gpu(), 18u);
  for (uint32_t e = 0; e < 256; ++e)
    EXPECT_EQ(pl.slot_gpu(pl.replicas(e)[0]), e / 16) << "expert " << e;
  // Greedy replication by load per copy: 32 times take the expert with the most load per copy.
  std::vector<uint32_t> copies(256, 1), replica_expert;
  for (int i = 0; i < 32; ++i) {
    uint32_t best = 0;
    for (uint32_t e = 1; e < 256; ++e)
      if (est[e] / copies[e] > est[best] / copies[best]) best = e;
    ++copies[best];
    replica_expert.push_back(best);
  }
  for (uint32_t e = 0; e < 256; ++e)
    EXPECT_EQ(pl.replicas(e).size(), copies[e]) << "expert " << e;
  // The replicas in the order they are placed: heaviest per copy first, ties in creation order.
  std::vector<uint32_t> order(32);
  std::iota(order.begin(), order.end(), 0U);
  auto per_copy = [&](uint32_t i) { return est[replica_expert[i]] / copies[replica_expert[i]]; };
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return per_copy(a) > per_copy(b); });
  std::vector<double> load(16, 0.0);
  std::vector<std::vector<uint32_t>> hosted(16);
  for (uint32_t e = 0; e < 256; ++e) {
    load[e / 16] += est[e] / copies[e];
    hosted[e / 16].push_back(e);
  }
  for (uint32_t i : order) {
    const uint32_t e = replica_expert[i];
    int best = -1;
    for (uint32_t g = 0; g < 16; ++g) {
      const bool room = hosted[g].size() < 18;
      const bool lacks = std::find(hosted[g].begin(), hosted[g].end(), e) == hosted[g].end();
      if (room && lacks && (best < 0 || load[g] < load[static_cast<uint32_t>(best)])) {
        best = static_cast<int>(g);
      }
    }
    ASSERT_GE(best, 0) << "replica " << i << " of expert " << e << " found no GPU";
    load[static_cast<uint32_t>(best)] += per_copy(i);
    hosted[static_cast<uint32_t>(best)].push_back(e);
    // Slot 256 + i holds the i-th replica made.
    EXPECT_EQ(pl.slot_expert(256 + i), e);
    EXPECT_EQ(pl.slot_gpu(256 + i), static_cast<uint32_t>(best)) << "replica " << i;
  }
}

// A placement given slot by slot is indexed as a built one, and refused where it breaks the rules.
TEST(Router, PlacementFromSlots) {
  // 4 experts on 2 GPUs of one node, 3 slots each: expert 0 and 3 twice.
  const ExpertPlacement pl = ExpertPlacement::from_slots(4, {0, 1, 3, 2, 3, 0}, {0, 0, 0, 1, 1, 1},
                                                         2, 2, ReplicaPolicy::RoundRobin);
  EXPECT_EQ(pl.num_experts(), 4u);
  EXPECT_EQ(pl.slots_per_gpu(), 3u);
  EXPECT_EQ(pl.replicas(0).size(), 2u);
  EXPECT_EQ(pl.replicas(0)[0], 0u);  // the primary: the first slot holding it
  EXPECT_EQ(pl.slot_gpu(pl.replicas(3)[1]), 1u);
  EXPECT_EQ(pl.experts_on_node(0).size(), 4u);
  auto error = [](std::vector<uint32_t> experts, std::vector<uint32_t> gpus) {
    try {
      (void)ExpertPlacement::from_slots(4, std::move(experts), std::move(gpus), 2, 2,
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
  EXPECT_NE(error({0, 1, 2}, {0, 1, 0}).find("3 slots do not divide evenly over 2 GPUs"),
            std::string::npos);
  EXPECT_NE(error({0, 1, 2, 3}, {0, 1, 0}).find("4 slot experts but 3 slot GPUs"),
            std::string::npos);
  EXPECT_NE(error({0, 1, 2, 4}, {0, 0, 1, 1}).find("slot 3 holds expert 4 of 4"),
            std::string::npos);
  EXPECT_NE(error({0, 1, 2, 0xFFFFFFFF}, {0, 0, 1, 1}).find("holds expert 4294967295 of 4"),
            std::string::npos);
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
