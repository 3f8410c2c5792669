// Cluster builders: counts against ISCA'25 Table 3 and the fat-tree closed forms, cost per
// endpoint against the table, node internals, plane/rail wiring, params validation, and every
// file in configs/clusters building through the registry.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "sim/config.h"
#include "sim/registry.h"
#include "topology/cluster_builders.h"
#include "topology/count_models.h"
#include "topology/fat_tree_builders.h"
#include "topology/metrics.h"
#include "topology/single_switch.h"

namespace mlasim {
namespace {

// ISCA'25 Table 3 cost per endpoint in USD (cost / endpoints of the table's own columns).
constexpr double kTableFt2PerEndpoint = 4390;
constexpr double kTableFt3PerEndpoint = 7500;
constexpr double kTableSlimFlyPerEndpoint = 4400;
constexpr double kTableDragonflyPerEndpoint = 5800;

double per_endpoint(const FabricCounts& c, const CostParams& prices) {
  return price_fabric(c, prices).total_usd() / static_cast<double>(c.endpoints);
}

TEST(Builders, Ft2K64MatchesIscaTable3) {
  const ClusterGraph c = Ft2Builder(Ft2Params{}).build();
  const GraphCounts n = count_graph(c);
  EXPECT_EQ(n.fabric.endpoints, 2048);
  EXPECT_EQ(n.fabric.switches, 96);
  EXPECT_EQ(n.fabric.links, 2048);
  EXPECT_EQ(n.leaf_switches, 64);
  EXPECT_EQ(n.spine_switches, 32);
  EXPECT_EQ(n.gpus, 2048);
  EXPECT_EQ(c.nodes, 256);
  EXPECT_NEAR(per_endpoint(n.fabric, CostParams{}), kTableFt2PerEndpoint,
              0.02 * kTableFt2PerEndpoint);
}

TEST(Builders, MpftK64MatchesIscaTable3) {
  const ClusterGraph c = MpftBuilder(MpftParams{}).build();
  const GraphCounts n = count_graph(c);
  EXPECT_EQ(n.fabric.endpoints, 16384);
  EXPECT_EQ(n.fabric.switches, 768);
  EXPECT_EQ(n.fabric.links, 16384);
  EXPECT_EQ(n.gpus, 16384);
  EXPECT_EQ(c.nodes, 2048);
  EXPECT_EQ(n.nvlink_links, 16384);  // one per GPU into its node's NVSwitch
  EXPECT_EQ(n.pcie_links, 16384);    // one per GPU to its own NIC
  // Same cost per endpoint as FT2: eight copies of it.
  EXPECT_NEAR(per_endpoint(n.fabric, CostParams{}), kTableFt2PerEndpoint,
              0.02 * kTableFt2PerEndpoint);
}

TEST(Builders, Ft3K64MatchesIscaTable3) {
  const ClusterGraph c = Ft3Builder(Ft3Params{}).build();
  const GraphCounts n = count_graph(c);
  EXPECT_EQ(n.fabric.endpoints, 65536);
  EXPECT_EQ(n.fabric.switches, 5120);
  EXPECT_EQ(n.fabric.links, 131072);
  EXPECT_EQ(n.core_switches, 1024);
  EXPECT_NEAR(per_endpoint(n.fabric, CostParams{}), kTableFt3PerEndpoint,
              0.02 * kTableFt3PerEndpoint);
}

TEST(Builders, SlimFlyAndDragonflyCountModelsMatchIscaTable3) {
  const FabricCounts sf = slim_fly_counts(SlimFlyParams{});  // q chosen from k = 64
  EXPECT_EQ(sf.endpoints, 32928);
  EXPECT_EQ(sf.switches, 1568);
  EXPECT_EQ(sf.links, 32928);
  EXPECT_EQ(sf.diameter_hops, 2);
  EXPECT_NEAR(per_endpoint(sf, CostParams{}), kTableSlimFlyPerEndpoint,
              0.02 * kTableSlimFlyPerEndpoint);
  DragonflyParams dp;
  dp.groups = 511;
  const FabricCounts df = dragonfly_counts(dp);
  EXPECT_EQ(df.endpoints, 261632);
  EXPECT_EQ(df.switches, 16352);
  EXPECT_EQ(df.links, 384272);
  EXPECT_EQ(df.diameter_hops, 3);
  EXPECT_NEAR(per_endpoint(df, CostParams{}), kTableDragonflyPerEndpoint,
              0.02 * kTableDragonflyPerEndpoint);
}

TEST(Builders, FatTreeClosedFormsForSmallRadices) {
  for (int k : {4, 8, 16}) {
    Ft2Params p2;
    p2.k = k;
    p2.node = {4, 4, true};
    const GraphCounts ft2 = count_graph(Ft2Builder(p2).build());
    EXPECT_EQ(ft2.fabric.endpoints, k * k / 2) << "k=" << k;
    EXPECT_EQ(ft2.fabric.switches, 3 * k / 2) << "k=" << k;
    EXPECT_EQ(ft2.fabric.links, k * k / 2) << "k=" << k;
    Ft3Params p3;
    p3.k = k;
    p3.node = {4, 4, true};
    const GraphCounts ft3 = count_graph(Ft3Builder(p3).build());
    EXPECT_EQ(ft3.fabric.endpoints, k * k * k / 4) << "k=" << k;
    EXPECT_EQ(ft3.fabric.switches, 5 * k * k / 4) << "k=" << k;
    EXPECT_EQ(ft3.fabric.links, k * k * k / 2) << "k=" << k;
  }
}

// A part-filled three-tier fabric builds what carries traffic, as the two-tier ones do: the leaves
// the NICs need, k/2 spines per pod once there are two leaves, the (k/2)^2 cores once there are two
// pods. k = 8: 4 NICs per leaf, 4 leaves per pod.
TEST(Builders, PartFilledFt3LeavesOutWhatCarriesNothing) {
  struct Case {
    int32_t nodes;
    int64_t leaves, spines, cores, links;
  };
  // 8 NICs per node: 1 node = 2 leaves of one pod; 2 nodes = 4 leaves, still one pod; 3 nodes =
  // 6 leaves in 2 pods (the second holding 2), spines 4 per pod, every core, spine-core links
  // 2 pods x 4 spines x 4 cores each.
  for (const Case& c :
       {Case{1, 2, 4, 0, 2 * 4}, Case{2, 4, 4, 0, 4 * 4}, Case{3, 6, 8, 16, 6 * 4 + 2 * 4 * 4}}) {
    Ft3Params p;
    p.k = 8;
    p.nodes = c.nodes;
    p.node = {8, 8, true};
    const GraphCounts n = count_graph(Ft3Builder(p).build());
    EXPECT_EQ(n.leaf_switches, c.leaves) << c.nodes << " nodes";
    EXPECT_EQ(n.spine_switches, c.spines) << c.nodes << " nodes";
    EXPECT_EQ(n.core_switches, c.cores) << c.nodes << " nodes";
    EXPECT_EQ(n.fabric.links, c.links) << c.nodes << " nodes";
    EXPECT_EQ(p.size().switches, n.fabric.switches) << c.nodes << " nodes";
    EXPECT_EQ(p.size().links, n.fabric.links) << c.nodes << " nodes";
    // Every GPU still reaches every other.
    const RoutingTables r(Ft3Builder(p).build());
    EXPECT_EQ(check_reachability(r, int64_t{1} << 20).unreachable, 0) << c.nodes << " nodes";
  }
  // 4 NICs: one leaf and nothing above it.
  Ft3Params one;
  one.k = 8;
  one.nodes = 1;
  one.node = {4, 4, true};
  const GraphCounts n = count_graph(Ft3Builder(one).build());
  EXPECT_EQ(n.fabric.switches, 1);
  EXPECT_EQ(n.fabric.links, 0);
}

TEST(Builders, CostUsesUnitPricesPerSwitchAndCableClass) {
  const GraphCounts n = count_graph(Ft2Builder(Ft2Params{}).build());
  const CostBreakdown cost = price_fabric(n.fabric, CostParams{1000, 10, 100});
  EXPECT_DOUBLE_EQ(cost.switches_usd, 96 * 1000.0);
  EXPECT_DOUBLE_EQ(cost.electric_cables_usd, 2048 * 10.0);  // NIC to leaf
  EXPECT_DOUBLE_EQ(cost.optical_cables_usd, 2048 * 100.0);  // leaf to spine
}

TEST(Builders, NodeInternalsOneNvSwitchAndOneNicPerGpu) {
  Ft2Params p;
  p.k = 8;
  const ClusterGraph c = Ft2Builder(p).build();
  ASSERT_EQ(c.num_gpus(), 32u);
  for (size_t rank = 0; rank < c.num_gpus(); ++rank) {
    const Vertex gpu = c.gpus[rank];
    std::map<LinkKind, int> links;
    for (auto [it, end] = boost::out_edges(gpu, c.g); it != end; ++it)
      ++links[c.g[*it].kind];
    EXPECT_EQ(links[LinkKind::NvLink], 1);
    EXPECT_EQ(links[LinkKind::Pcie], 1);
    const Vertex nic = c.nic_of_gpu(rank);
    ASSERT_NE(nic, ClusterGraph::null_vertex());
    EXPECT_EQ(c.g[nic].node, c.g[gpu].node);
    EXPECT_EQ(c.g[nic].index, static_cast<int>(rank));  // 8 NICs per 8 GPUs: GPU i, NIC i
  }
  auto e = boost::edge(c.gpus[0], c.nic_of_gpu(0), c.g).first;
  EXPECT_EQ(c.g[e].bandwidth, Bandwidth::parse("63GB/s"));
}

TEST(Builders, TwoGpusShareANicWhenNicsAreFewer) {
  Ft2Params p;
  p.k = 8;
  p.node = {8, 4, true};
  const ClusterGraph c = Ft2Builder(p).build();
  EXPECT_EQ(c.nodes, 8);  // 8 leaves x 4 NIC ports / 4 NICs per node
  EXPECT_EQ(c.nic_of_gpu(0), c.nic_of_gpu(1));
  EXPECT_NE(c.nic_of_gpu(1), c.nic_of_gpu(2));
}

TEST(Builders, MpftPlanesAreDisjointAndHoldNicIOfEveryNode) {
  MpftParams p;
  p.k = 4;
  const ClusterGraph c = MpftBuilder(p).build();
  EXPECT_EQ(c.nodes, 8);
  EXPECT_EQ(c.planes, 8);
  for (auto [it, end] = boost::edges(c.g); it != end; ++it) {
    const VertexProps& a = c.g[boost::source(*it, c.g)];
    const VertexProps& b = c.g[boost::target(*it, c.g)];
    if (c.g[*it].kind == LinkKind::InfiniBand) {
      EXPECT_EQ(a.plane, b.plane) << a.name << " - " << b.name;
    }
  }
  for (size_t x = 0; x < c.nics.size(); ++x)
    EXPECT_EQ(c.g[c.nics[x]].plane, int(x % 8));
}

TEST(Builders, MrftPutsNicIOnARailILeafAndAllLeavesOnAllSpines) {
  MrftParams p;
  p.k = 8;
  const ClusterGraph c = MrftBuilder(p).build();
  EXPECT_EQ(c.nodes, 4);
  for (size_t x = 0; x < c.nics.size(); ++x) {
    for (auto [it, end] = boost::out_edges(c.nics[x], c.g); it != end; ++it) {
      const VertexProps& leaf = c.g[boost::target(*it, c.g)];
      if (leaf.kind == VertexKind::Leaf) {
        EXPECT_EQ(leaf.plane, int(x % 8));
      }
    }
  }
  const GraphCounts n = count_graph(c);
  EXPECT_EQ(n.fabric.links, 8 * 4);  // 8 leaves x 4 spines
}

TEST(Builders, OversubscriptionSplitsLeafPorts) {
  EXPECT_EQ(split_leaf_ports(64, 1).down, 32);
  EXPECT_EQ(split_leaf_ports(64, 3).down, 48);
  EXPECT_EQ(split_leaf_ports(64, 3).up, 16);
  Ft2Params p;
  p.k = 8;
  p.oversubscription = 3;  // 6 NIC ports, 2 uplinks
  const GraphCounts n = count_graph(Ft2Builder(p).build());
  EXPECT_EQ(n.fabric.endpoints, 48);
  EXPECT_EQ(n.spine_switches, 2);
  EXPECT_EQ(n.fabric.links, 16);
}

TEST(Builders, SingleSwitchWiresEveryNicToOneSwitch) {
  SingleSwitchParams p;
  p.nodes = 3;
  p.gpus_per_node = 4;
  p.nvswitch = true;
  const GraphCounts n = count_graph(SingleSwitchBuilder(p).build());
  EXPECT_EQ(n.fabric.switches, 1);
  EXPECT_EQ(n.fabric.endpoints, 12);
  EXPECT_EQ(n.fabric.links, 0);
  EXPECT_EQ(n.nvlink_links, 12);
}

ComponentTable<ClusterBuilder> builder_table() {
  ComponentTable<ClusterBuilder> t("cluster");
  register_cluster_builders(t);
  return t;
}

TEST(Builders, RegistryRejectsTooManyNodesWithThePath) {
  const auto table = builder_table();
  const ConfigNode cfg =
      load_config_string("cluster: {type: ft2, k: 8, nodes: 5}\n", "test.yaml", ".");
  try {
    table.create(cfg.find("cluster"), "cluster");
    FAIL() << "5 nodes of 8 NICs do not fit a k=8 FT2 (32 ports)";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.nodes"), std::string::npos) << e.what();
  }
  const ConfigNode typo = load_config_string("cluster: {type: mpft, plane: 4}\n", "t.yaml", ".");
  EXPECT_THROW(table.create(typo.find("cluster"), "cluster"), InputError);
}

TEST(Builders, EveryShippedClusterConfigBuildsOrCounts) {
  const auto table = builder_table();
  const std::filesystem::path dir = std::filesystem::path(MLASIM_CONFIG_DIR) / "clusters";
  // The count models' closed forms (count_models.h) at the files' parameters. Slim Fly q = 28
  // (d = 0): 2q^2 switches of radix k' = 3q/2 = 42 with 21 endpoints each, q^2 k' links.
  // Dragonfly g = 511 groups of a = 32 routers, p = h = 16: g a switches, g a p endpoints,
  // g a (a - 1) / 2 + g a h / 2 links.
  const std::map<std::string, FabricCounts> counted{
      {"slimfly-k64.yaml", {2 * 28 * 28 * 21, 2 * 28 * 28, 28 * 28 * 42, 0, 2}},
      {"dragonfly-k64.yaml",
       {511 * 32 * 16, 511 * 32, 511 * 32 * 31 / 2 + 511 * 32 * 16 / 2, 0, 3}}};
  std::set<std::string> seen, seen_counted;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string name = entry.path().filename().string();
    const ConfigNode root = load_config_file(entry.path());
    const ConfigNode* section = root.find("cluster") ? root.find("cluster") : &root;
    auto made = table.create(section, "cluster");
    seen.insert(name);
    if (const std::optional<FabricCounts> c = made.product->count_model()) {
      EXPECT_GT(c->endpoints, 0) << name;
      EXPECT_GT(c->switches, 0) << name;
      EXPECT_GT(c->links, 0) << name;
      if (const auto it = counted.find(name); it != counted.end()) {
        seen_counted.insert(name);
        EXPECT_EQ(c->endpoints, it->second.endpoints) << name;
        EXPECT_EQ(c->switches, it->second.switches) << name;
        EXPECT_EQ(c->links, it->second.links) << name;
        EXPECT_EQ(c->diameter_hops, it->second.diameter_hops) << name;
      }
      continue;
    }
    if (name == "ft3-k64.yaml") {
      // The slowest to build: it is Ft3Params{}, which Ft3K64MatchesIscaTable3 builds and counts.
      const ConfigNode defaults = load_config_string("cluster: {type: ft3}\n", "d.yaml", ".");
      EXPECT_EQ(made.resolved.to_yaml(),
                table.create(defaults.find("cluster"), "cluster").resolved.to_yaml());
      continue;
    }
    const ClusterGraph c = made.product->build();
    EXPECT_GT(c.num_gpus(), 0u) << entry.path();
  }
  for (const char* required :
       {"ft2-k64.yaml", "mpft-k64.yaml", "mrft-k64.yaml", "ft3-k64.yaml", "ft2-k8.yaml"}) {
    EXPECT_TRUE(seen.count(required)) << required;
  }
  EXPECT_EQ(seen_counted.size(), counted.size());
}

}  // namespace
}  // namespace mlasim
