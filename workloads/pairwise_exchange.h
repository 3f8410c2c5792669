// Walking-skeleton workload (`type: pairwise_exchange`): every GPU runs one GEMM, then sends a
// message to its partner GPU `peer_offset` ranks away (by default the same position on the next
// node) and waits for the partner's message. Small enough to check against a closed form.
#pragma once

#include "sim/dtype.h"
#include "sim/params.h"
#include "workloads/workload_generator.h"

namespace mlasim {

struct PairwiseExchangeParams {
  struct Gemm {
    uint64_t m = 4096, n = 4096, k = 4096;
    DType dtype = DType::BF16;
    template <class V>
    void visit(V& v) {
      v("m", m, "count", "rows of the activation (tokens)");
      v("n", n, "count", "columns of the weight (output features)");
      v("k", k, "count", "inner dimension (input features)");
      v("dtype", dtype, "-", "element type of inputs, weights and output");
    }
  } gemm;
  Bytes message = Bytes::parse("1MiB");
  int32_t peer_offset = -1;
  bool recv_before_send = false;
  template <class V>
  void visit(V& v) {
    v.group("gemm", gemm, "the GEMM each GPU runs first");
    v("message", message, "B", "size of the message each GPU sends to its partner");
    v("peer_offset", peer_offset, "count",
      "partner = (rank + peer_offset) mod ranks; -1 means GPUs per node (same slot, next node)");
    v("recv_before_send", recv_before_send, "-",
      "each GPU waits for its partner's message before sending its own: a deliberate deadlock "
      "that shows the watchdog");
  }
  void validate(const ParamCheck& c) const {
    c.require(message.count() > 0, "message", "must be > 0 bytes");
  }
};

class PairwiseExchange : public WorkloadGenerator {
 public:
  explicit PairwiseExchange(const PairwiseExchangeParams& params) : params_(params) {}
  Workload generate(const ClusterShape& cluster) const override;

 private:
  PairwiseExchangeParams params_;
};

}  // namespace mlasim
