// Op emitters for one rank's transformer layers (DeepSeekInference): the attention block (MLA
// absorbed for decode, MLA in MHA form for prefill, MHA/GQA), the dense MLP and the LM head, each
// with sequence-parallel TP collectives when attention_tp > 1. RankBuilder chains a rank's
// compute ops on one stream in emission order (the schedule), on top of their data dependencies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workloads/deepseek_inference.h"
#include "workloads/model_config.h"
#include "workloads/op_graph.h"
#include "workloads/step_batches.h"

namespace mlasim {

// Appends ops to one rank's program: compute ops on stream 0, chained in emission order;
// communication ops of micro-batch i on stream 1 + i.
class RankBuilder {
 public:
  explicit RankBuilder(RankProgram& prog) : prog_(prog) {}
  uint32_t compute(std::string name, OpPayload p, std::vector<uint32_t> deps, int32_t mb);
  uint32_t comm(std::string name, OpPayload p, std::vector<uint32_t> deps, int32_t mb);

 private:
  uint32_t add(std::string name, OpPayload p, std::vector<uint32_t> deps, int32_t mb,
               int32_t stream);
  RankProgram& prog_;
  std::optional<uint32_t> last_compute_;
};

// Shapes shared by every rank.
struct LayerShape {
  const ModelConfig* m = nullptr;
  const DeepSeekInferenceParams* p = nullptr;
  uint32_t tp = 1;
  uint32_t ranks = 0, gpus_per_node = 0;
  uint64_t h = 0;
  uint64_t heads = 0;  // query heads per rank
};

// A config.json size as an unsigned count (negative: 0).
inline uint64_t config_count(int64_t v) {
  return static_cast<uint64_t>(v > 0 ? v : 0);
}
inline GemmOp gemm_op(uint64_t m, uint64_t n, uint64_t k, DType t) {
  return GemmOp{m, n, k, t};
}
inline ElementwiseOp elementwise_op(ElementwiseFunction f, uint64_t in, uint64_t out,
                                    double flops) {
  return ElementwiseOp{f, Bytes(in), Bytes(out), flops};
}

// A block in three parts, split where its TP collectives are, so that two micro-batches' parts
// can be emitted in turn (one's collective then runs beside the other's compute): Pre (the
// input norm if any, then the all-gather with TP), Core (the GEMMs and attention, then the
// reduce-scatter with TP), Post (the residual add or norm).
enum class BlockPart { Pre, Core, Post };

// The attention block, from the layer input to the post-attention norm (SP share), one part at
// a time: `last` is the op the part follows, and becomes its last op. `tag` numbers the rank's
// collectives.
void attention_part(RankBuilder& b, const LayerShape& s, const MicroBatch& mb, int32_t mbi,
                    uint32_t rank, BlockPart part, uint32_t& last, const std::string& pre,
                    int32_t& tag);
// The dense MLP on this rank's `tokens`, a part at a time; with attention_tp > 1 the TP group
// all-gathers its tokens (Pre), runs column/row-sharded GEMMs and reduce-scatters back to the
// sequence-parallel shares (Core), then adds the residual (Post).
void dense_mlp_part(RankBuilder& b, const LayerShape& s, uint64_t tokens, int32_t mbi,
                    BlockPart part, uint32_t& last, const std::string& pre, uint32_t rank,
                    int32_t& tag);
// Embedding lookup of this rank's `tokens` (BF16 rows). With TP the table is sharded by
// vocabulary (as the LM head): each rank looks up its group's tokens in its shard and a
// reduce-scatter leaves each rank its own tokens' rows. Returns the last op.
uint32_t embedding(RankBuilder& b, const LayerShape& s, uint64_t tokens, const std::string& name,
                   int32_t mbi, uint32_t rank, int32_t& tag);
// LM head over `tokens` rows; with TP the group all-gathers them and each rank computes its
// vocabulary shard. Returns the GEMM.
uint32_t lm_head(RankBuilder& b, const LayerShape& s, uint64_t tokens, std::vector<uint32_t> deps,
                 const std::string& name, uint32_t rank, int32_t& tag);

}  // namespace mlasim
