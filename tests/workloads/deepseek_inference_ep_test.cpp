// DeepSeekInference expert parallelism: the ep_comm settings on the all-to-alls, DeepEP-style
// forwarding across nodes, several EP groups, dedicated shared-expert GPUs, router warm-up and
// EPLB layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "sim/errors.h"
#include "tests/workloads/deepseek_inference_test_support.h"
#include "workloads/deepseek_inference.h"

namespace mlasim {
namespace {

using namespace deepseek_test;

// The dispatch and combine all-to-alls carry the ep_comm settings: DeepEP forwarding across
// nodes, the issuer, and a virtual lane each.
TEST(DeepSeekInference, EpCommSettingsReachTheAllToAlls) {
  DeepSeekInferenceParams p = lite(true, 0);
  p.ep_comm.nvlink_forwarding = true;
  p.ep_comm.issuer = CommIssuer::Nic;
  p.ep_comm.dispatch_vl = 2;
  p.ep_comm.combine_vl = 3;
  for (const ClusterShape cluster : {kCluster, ClusterShape{1, 4}}) {
    const Workload w = DeepSeekInference(p).generate(cluster);
    EXPECT_NO_THROW(validate_workload(w));
    size_t seen = 0;
    for (const RankProgram& r : w.ranks) {
      for (const std::string kind : {".dispatch", ".combine"}) {
        for (const Op* op : ops_named(r, kind)) {
          const auto& a = std::get<AllToAllOp>(op->payload);
          // Forwarding needs another node to forward from.
          EXPECT_EQ(a.nvlink_forwarding, cluster.nodes > 1) << op->name;
          EXPECT_EQ(a.issuer, CommIssuer::Nic) << op->name;
          EXPECT_EQ(a.vl, kind == ".dispatch" ? 2 : 3) << op->name;
          ++seen;
        }
      }
    }
    EXPECT_GT(seen, 0u);
  }
  EXPECT_NO_THROW(p.validate(ParamCheck(nullptr, "workload")));
  p.ep_comm.combine_vl = kMaxVl + 1;
  EXPECT_THROW(p.validate(ParamCheck(nullptr, "workload")), InputError);
}

// With forwarding across nodes, dispatch sends each token once per other node (the relay
// matrix) and combine sums back the same tokens: at node level too, bytes dispatched match
// bytes combined back, each payload at its own size; per-expert copies cannot be forwarded.
TEST(DeepSeekInference, ForwardingDeduplicatesPerNodeBothWays) {
  DeepSeekInferenceParams p = lite(true, 1);
  p.ep_comm.nvlink_forwarding = true;
  p.shared_expert.placement = SharedExpertPlacement::Dedicated;
  p.shared_expert.gpus = 1;
  const ClusterShape cluster{2, 4};
  const Workload w = DeepSeekInference(p).generate(cluster);
  EXPECT_NO_THROW(validate_workload(w));
  const int32_t ranks = 8, g = 4;
  size_t pairs = 0;
  uint64_t relay_total = 0, remote_total = 0;
  for (int32_t r = 0; r < ranks; ++r) {
    const auto dispatches = ops_named(w.ranks[r], ".dispatch");
    const auto combines = ops_named(w.ranks[r], ".combine");
    ASSERT_EQ(dispatches.size(), combines.size());
    for (size_t i = 0; i < dispatches.size(); ++i) {
      const auto& d = std::get<AllToAllOp>(dispatches[i]->payload);
      const auto& c = std::get<AllToAllOp>(combines[i]->payload);
      ASSERT_TRUE(d.relay && c.relay);
      EXPECT_FALSE(d.reduce);
      EXPECT_TRUE(c.reduce);
      for (int32_t q = 0; q < ranks; ++q) {
        // What r sends relay q for q's node comes back from q summed, as combine payload.
        EXPECT_EQ(d.relay_send_bytes(q) * c.unit_bytes, c.relay_recv_bytes(q) * d.unit_bytes);
        if (q / g != r / g) remote_total += d.send_bytes(q);
        relay_total += d.relay_send_bytes(q);
        pairs += d.relay_send_bytes(q) > 0 ? 1 : 0;
      }
      // The dedicated host (the group's last GPU) gets every token of the other node's GPUs:
      // their relay there carries each token of the micro-batch (the gate's rows) once.
      if (r / g == 0) {
        const std::string gate_name =
            dispatches[i]->name.substr(0, dispatches[i]->name.size() - 8) + "gate";
        const auto gates = ops_named(w.ranks[r], gate_name);
        ASSERT_EQ(gates.size(), 1u) << gate_name;
        const uint64_t tokens = std::get<GemmOp>(gates[0]->payload).m;
        EXPECT_EQ(d.relay_send_bytes(g + r % g), tokens * d.unit_bytes) << dispatches[i]->name;
      }
    }
  }
  EXPECT_GT(pairs, 0u);
  EXPECT_LT(relay_total, remote_total);  // some tokens have several GPUs on one node
  p.moe_traffic.copies = DispatchCopies::PerExpert;
  EXPECT_THROW(p.validate(ParamCheck(nullptr, "workload")), InputError);
}

// Several EP groups (ep_size below the GPU count): each group holds every expert, routes its
// own GPUs' tokens (with its own affinities) and its all-to-alls never leave it.
TEST(DeepSeekInference, EpGroupsKeepTokensAndTrafficInside) {
  const ModelConfig model = resolve_model("deepseek-v2-lite");
  const uint64_t k = model.num_experts_per_tok;
  const ClusterShape cluster{2, 4};  // 8 GPUs
  for (uint32_t ep : {2u, 4u, 8u}) {
    DeepSeekInferenceParams p = lite(false, 0);
    p.ep_size = ep;
    p.placement.redundant_experts = 0;  // 32 more would not fit two GPUs (replicas apart)
    const Workload w = DeepSeekInference(p).generate(cluster);
    ASSERT_EQ(w.ranks.size(), 8u);
    EXPECT_NO_THROW(validate_workload(w));
    std::vector<uint64_t> group_rows(8 / ep, 0);
    for (uint32_t rank = 0; rank < 8; ++rank) {
      const RankProgram& r = w.ranks[rank];
      for (const Op* op : ops_named(r, ".dispatch")) {
        const auto& a = std::get<AllToAllOp>(op->payload);
        uint64_t inside = 0;
        for (int32_t b = 0; b < 8; ++b) {
          if (static_cast<uint32_t>(b) / ep != rank / ep) {
            EXPECT_EQ(a.send_bytes(b), 0u) << op->name << " rank " << rank << " to " << b;
            EXPECT_EQ(a.recv_bytes(b), 0u) << op->name << " rank " << rank << " from " << b;
          } else {
            inside += a.send_bytes(b);
          }
        }
        EXPECT_GT(inside, 0u) << op->name;
        // A group inside one node uses no node-level options.
        EXPECT_EQ(a.gpus_per_node, ep > 4 ? 4 : 0) << op->name;
      }
      for (const Op* op : ops_named(r, ".experts_gate_up")) {
        const auto& g = std::get<GroupedGemmOp>(op->payload);
        EXPECT_EQ(g.m.size(), model.n_routed_experts / ep) << "experts per GPU, ep " << ep;
        if (op->name.starts_with("L1.")) group_rows[rank / ep] += g.total_m();
      }
    }
    // Each group computes k copies of its own GPUs' tokens, no more, no fewer.
    for (uint64_t rows : group_rows)
      EXPECT_EQ(rows, ep * p.requests_per_gpu * k) << "ep " << ep;
    if (ep < 8) {
      // The groups' routings differ (their own affinities): group 1's L1 dispatch row of its
      // first GPU is not group 0's shifted by ep.
      auto row = [&](uint32_t rank) {
        std::vector<uint64_t> v;
        const auto& a = std::get<AllToAllOp>(ops_named(w.ranks[rank], ".dispatch")[0]->payload);
        for (uint32_t b = 0; b < ep; ++b)
          v.push_back(a.send_bytes(static_cast<int32_t>(rank / ep * ep + b)));
        return v;
      };
      bool differ = false;
      for (uint32_t g = 0; g < ep; ++g)
        differ |= row(g) != row(ep + g);
      EXPECT_TRUE(differ) << "ep " << ep;
    }
  }
  // A group that is neither whole nodes nor part of one, or does not divide the GPUs: refused.
  for (uint32_t ep : {3u, 6u, 16u}) {
    DeepSeekInferenceParams p = lite(false, 0);
    p.ep_size = ep;
    try {
      (void)DeepSeekInference(p).generate(cluster);
      ADD_FAILURE() << "ep_size " << ep << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("workload.ep_size"), std::string::npos) << e.what();
    }
  }
}

// Dedicated shared-expert GPUs: against the local placement with the same routing, each
// GPU's dispatch to its host carries exactly its tokens more (one copy each), only hosts run the
// shared expert, over their senders' tokens, and the combine waits for it.
TEST(DeepSeekInference, DedicatedSharedExpertHostsTakeEveryTokenOnce) {
  const ModelConfig model = resolve_model("deepseek-v2-lite");
  const ClusterShape cluster{2, 4};  // 8 GPUs, one EP group
  DeepSeekInferenceParams local = lite(false, 0);
  DeepSeekInferenceParams ded = local;
  ded.shared_expert.placement = SharedExpertPlacement::Dedicated;
  ded.shared_expert.gpus = 3;  // GPUs 5, 6, 7; GPU g < 5 sends to 5 + g % 3
  const Workload wl = DeepSeekInference(local).generate(cluster);
  const Workload wd = DeepSeekInference(ded).generate(cluster);
  EXPECT_NO_THROW(validate_workload(wd));
  const uint64_t tokens = local.requests_per_gpu;
  auto host_of = [](uint32_t g) { return g >= 5 ? g : 5 + g % 3; };
  std::vector<uint64_t> senders(8, 0);
  for (uint32_t g = 0; g < 8; ++g)
    ++senders[host_of(g)];
  for (uint32_t rank = 0; rank < 8; ++rank) {
    const auto dl = ops_named(wl.ranks[rank], ".dispatch");
    const auto dd = ops_named(wd.ranks[rank], ".dispatch");
    ASSERT_EQ(dl.size(), dd.size());
    ASSERT_FALSE(dd.empty());
    for (size_t i = 0; i < dd.size(); ++i) {
      const auto& a = std::get<AllToAllOp>(dl[i]->payload);
      const auto& b = std::get<AllToAllOp>(dd[i]->payload);
      for (int32_t dst = 0; dst < 8; ++dst) {
        const uint64_t extra = static_cast<uint32_t>(dst) == host_of(rank) ? tokens : 0;
        EXPECT_EQ(b.send_bytes(dst), a.send_bytes(dst) + extra * b.unit_bytes)
            << dd[i]->name << " to " << dst;
      }
    }
    const auto shared = ops_named(wd.ranks[rank], ".shared_gate_up");
    if (senders[rank] == 0) {
      EXPECT_TRUE(shared.empty()) << "rank " << rank;
      continue;
    }
    ASSERT_EQ(shared.size(), dd.size()) << "rank " << rank;
    for (const Op* op : shared) {
      const auto& g = std::get<GemmOp>(op->payload);
      EXPECT_EQ(g.m, senders[rank] * tokens) << op->name;
      EXPECT_EQ(g.n, 2 * model.moe_intermediate_size * model.n_shared_experts) << op->name;
    }
    // The combine depends on the host's shared_down.
    const RankProgram& r = wd.ranks[rank];
    for (const Op* c : ops_named(r, ".combine")) {
      bool waits = false;
      for (uint32_t d : c->deps)
        waits |= r.ops[d].name.ends_with(".shared_down");
      EXPECT_TRUE(waits) << c->name;
    }
  }
  // The local placement runs it everywhere; more hosts than the group's GPUs are refused.
  for (const RankProgram& r : wl.ranks)
    EXPECT_EQ(ops_named(r, ".shared_gate_up").size(), ops_named(r, ".dispatch").size());
  ded.shared_expert.gpus = 9;
  EXPECT_THROW((void)DeepSeekInference(ded).generate(cluster), InputError);
}

// Aux-loss-free balancing through the generator: routing steps run before the simulated one
// (router_warmup_steps) move the biases, and the step's expert load is more even for it.
// A node limit of at least the EP group's nodes limits nothing: said, where it used to pass
// silently (kCluster: EP4 over 2 nodes of 2 GPUs).
TEST(DeepSeekInference, NodeLimitThatLimitsNothingIsWarnedAbout) {
  DeepSeekInferenceParams p = lite(true, 1);
  p.router.max_nodes_per_token = 1;
  EXPECT_TRUE(DeepSeekInference(p).build(kCluster).warnings.empty());
  p.router.max_nodes_per_token = 2;
  const auto warnings = DeepSeekInference(p).build(kCluster).warnings;
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "workload.router.max_nodes_per_token 2 limits nothing: the EP group of 4 GPUs spans "
            "2 nodes (0 switches the limit off)");
}

TEST(DeepSeekInference, RouterWarmupLowersTheStepsImbalance) {
  DeepSeekInferenceParams p;  // DeepSeek-V3: noaux_tc gate
  p.layers = 4;               // three dense layers, then one MoE layer
  p.requests_per_gpu = 64;
  p.router.skew = 1.0;
  p.router.bias_update_speed = 0.01;
  p.placement.layout = ReplicaLayout::Spread;  // the biases alone (EPLB is tested below)
  const ClusterShape cluster{2, 8};
  const RoutingImbalance cold = DeepSeekInference(p).imbalance(cluster);
  p.router_warmup_steps = 100;
  const RoutingImbalance warm = DeepSeekInference(p).imbalance(cluster);
  EXPECT_EQ(cold.routed_layers, 2u);  // one MoE layer, routed for each of two micro-batches
  EXPECT_GT(cold.expert_mean, 2.0) << "a Zipf skew of 1 should be uneven to begin with";
  EXPECT_LT(warm.expert_mean, 0.5 * cold.expert_mean)
      << cold.expert_mean << " -> " << warm.expert_mean << "; gpu " << cold.gpu_mean << " -> "
      << warm.gpu_mean;
  EXPECT_LT(warm.gpu_mean, cold.gpu_mean);
}

// EPLB's layouts give each layer's redundant slots to its hottest experts (from a step routed
// before the measured one), on the least loaded GPUs with room (`eplb`) or with every slot
// packed by load (`eplb_global`): under a Zipf skew the GPUs' loads are more even than with
// replicas of evenly spaced experts (`spread`).
TEST(DeepSeekInference, EplbLayoutEvensOutGpuLoadsUnderSkew) {
  DeepSeekInferenceParams p;  // DeepSeek-V3, 256 experts + 32 redundant on 16 GPUs
  p.layers = 5;               // three dense layers, then two MoE layers
  p.requests_per_gpu = 128;
  p.router.skew = 1.0;
  const ClusterShape cluster{2, 8};
  p.placement.layout = ReplicaLayout::Spread;
  const RoutingImbalance spread = DeepSeekInference(p).imbalance(cluster);
  p.placement.layout = ReplicaLayout::Eplb;
  const RoutingImbalance eplb = DeepSeekInference(p).imbalance(cluster);
  p.placement.layout = ReplicaLayout::EplbGlobal;
  const RoutingImbalance global = DeepSeekInference(p).imbalance(cluster);
  EXPECT_EQ(eplb.routed_layers, 4u);  // two MoE layers, two micro-batches
  EXPECT_GT(spread.gpu_mean, 1.5) << "a Zipf skew of 1 should load some GPUs far more";
  // Replicas alone (32 slots on the two GPUs the primaries leave room on) relieve the hottest
  // experts' GPUs; packing every slot by load evens the GPUs out much further.
  EXPECT_LT(eplb.gpu_mean, 0.85 * spread.gpu_mean)
      << "gpu imbalance " << spread.gpu_mean << " -> " << eplb.gpu_mean;
  EXPECT_LT(global.gpu_mean - 1, 0.5 * (spread.gpu_mean - 1))
      << "gpu imbalance " << spread.gpu_mean << " -> " << global.gpu_mean;
  EXPECT_GT(eplb.expert_mean, 2.0) << "replicas do not change how many tokens an expert gets";
  // Without redundant slots there is nothing to place: both layouts are the same.
  p.placement.redundant_experts = 0;
  const RoutingImbalance none_eplb = DeepSeekInference(p).imbalance(cluster);
  p.placement.layout = ReplicaLayout::Spread;
  const RoutingImbalance none_spread = DeepSeekInference(p).imbalance(cluster);
  EXPECT_EQ(none_eplb.gpu_mean, none_spread.gpu_mean);
}

}  // namespace
}  // namespace mlasim
