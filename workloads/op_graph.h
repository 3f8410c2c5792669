// Per-rank op graphs: what each GPU executes, as typed ops with explicit dependencies and
// optional stream / micro-batch tags. Generators build them; the GPU model replays them; the
// trace format writes and reads the same structure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/dtype.h"
#include "sim/units.h"

namespace mlasim {

// C[m, n] = A[m, k] x B[k, n]; B is the weight, read from memory.
struct GemmOp {
  uint64_t m = 0, n = 0, k = 0;
  DType dtype = DType::BF16;
  double flops() const { return 2.0 * static_cast<double>(m) * n * k; }
  // Bytes moved through memory: A and B read, C written.
  uint64_t bytes_read() const { return (m * k + k * n) * dtype_bytes(dtype); }
  uint64_t bytes_written() const { return m * n * dtype_bytes(dtype); }
};

// Sends `bytes` to GPU `peer`; completes when the last byte has left this GPU.
struct SendOp {
  int32_t peer = -1;
  Bytes bytes;
  int32_t tag = 0;
};

// Waits for the message with `tag` from GPU `peer`; completes when it has fully arrived.
struct RecvOp {
  int32_t peer = -1;
  Bytes bytes;
  int32_t tag = 0;
};

using OpPayload = std::variant<GemmOp, SendOp, RecvOp>;

struct Op {
  std::string name;
  OpPayload payload;
  std::vector<uint32_t> deps;  // indices of ops of the same rank that must finish first
  int32_t stream = 0;          // ops on one stream of a compute engine run one at a time
  int32_t micro_batch = 0;
};

std::string_view op_kind_name(const OpPayload& p);
bool is_compute(const OpPayload& p);

struct RankProgram {
  std::vector<Op> ops;
};

struct Workload {
  std::vector<RankProgram> ranks;
};

// Checks dependencies (in range, acyclic) and that every send has a matching receive of the
// same size. Throws InputError naming the rank and op.
void validate_workload(const Workload& w);

}  // namespace mlasim
