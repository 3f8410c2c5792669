// PairwiseExchange generator (see pairwise_exchange.h).
#include "workloads/pairwise_exchange.h"

#include <fmt/format.h>

#include "sim/errors.h"

namespace mlasim {

Workload PairwiseExchange::generate(const ClusterShape& cluster) const {
  const int ranks = cluster.ranks();
  const int offset = params_.peer_offset < 0 ? cluster.gpus_per_node : params_.peer_offset;
  if (ranks < 2 || offset % ranks == 0) {
    throw InputError(
        fmt::format("workload.peer_offset: {} pairs every GPU with itself on a cluster of {} GPUs",
                    offset, ranks));
  }
  Workload w;
  w.ranks.resize(ranks);
  for (int r = 0; r < ranks; ++r) {
    const int to = (r + offset) % ranks;
    const int from = ((r - offset) % ranks + ranks) % ranks;
    auto& ops = w.ranks[r].ops;
    GemmOp g{params_.gemm.m, params_.gemm.n, params_.gemm.k, params_.gemm.dtype};
    ops.push_back(Op{"gemm", g, {}});
    ops.push_back(Op{fmt::format("recv_from_{}", from), RecvOp{from, params_.message, 0}, {}});
    std::vector<uint32_t> send_deps{0};
    if (params_.recv_before_send) send_deps.push_back(1);
    ops.push_back(Op{fmt::format("send_to_{}", to), SendOp{to, params_.message, 0}, send_deps});
  }
  return w;
}

}  // namespace mlasim
