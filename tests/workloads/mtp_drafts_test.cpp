// Multi-token prediction at decode: each MTP module embeds the token drafted before it, so the
// step is a chain: the main model's LM head, then module 0 and its draft LM head, then module 1
// (whose input needs that draft), and so on; each draft head covers its own module's tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "tests/workloads/deepseek_inference_test_support.h"
#include "workloads/deepseek_inference.h"

namespace mlasim {
namespace {

TEST(MtpDrafts, EachModuleWaitsForTheTokenDraftedBeforeIt) {
  DeepSeekInferenceParams p = deepseek_test::lite(true, 2);
  p.layers = 3;
  p.context_length = 512;
  const Workload w = DeepSeekInference(p).generate(ClusterShape{2, 2});
  for (const RankProgram& r : w.ranks) {
    std::map<std::string, uint32_t> at;
    for (uint32_t i = 0; i < r.ops.size(); ++i)
      at[r.ops[i].name] = i;
    for (const char* head : {"lm_head", "mtp.lm_head", "mtp.lm_head1"})
      ASSERT_TRUE(at.count(head)) << head;
    auto rows = [&](const char* head) { return std::get<GemmOp>(r.ops[at[head]].payload).m; };
    EXPECT_EQ(rows("lm_head"), 3u * 16);  // the main model verifies 1 + 2 tokens per request
    EXPECT_EQ(rows("mtp.lm_head"), 16u);  // a module drafts one token per request
    EXPECT_EQ(rows("mtp.lm_head1"), 16u);
    // Module d's input projection depends on the head before it (the token it embeds).
    const std::vector<std::pair<std::string, std::string>> needs{{"mtp0.", "lm_head"},
                                                                 {"mtp1.", "mtp.lm_head"}};
    for (const auto& [module, head] : needs) {
      int seen = 0;
      for (const Op& op : r.ops) {
        if (!op.name.starts_with(module) || !op.name.ends_with(".eh_proj")) continue;
        ++seen;
        EXPECT_NE(std::find(op.deps.begin(), op.deps.end(), at[head]), op.deps.end())
            << op.name << " does not wait for " << head;
      }
      EXPECT_EQ(seen, 2) << module;  // one per micro-batch
    }
    // A draft head reads its own module's output: every dependency of mtp.lm_head is an op
    // of module 0.
    for (uint32_t d : r.ops[at["mtp.lm_head"]].deps)
      EXPECT_TRUE(r.ops[d].name.starts_with("mtp0.")) << r.ops[d].name;
  }
}

}  // namespace
}  // namespace mlasim
