// Shared all-to-all matrices: every access path (entry, row, column, sums, the ops' send and
// receive views, transposed or not) against a plain dense reference; value widths up to 64 bits;
// memory proportional to the non-zero entries; validation of ops that do not share a matrix.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "sim/errors.h"
#include "workloads/a2a_matrix.h"
#include "workloads/op_graph.h"

namespace mlasim {
namespace {

// A dense reference with roughly `fill` of its entries non-zero, values up to `max_value`.
std::vector<uint64_t> random_dense(uint32_t n, double fill, uint64_t max_value, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> coin(0, 1);
  std::uniform_int_distribution<uint64_t> value(1, max_value);
  std::vector<uint64_t> d(size_t{n} * n, 0);
  for (auto& x : d)
    x = coin(rng) < fill ? value(rng) : 0;
  return d;
}

std::shared_ptr<const A2AMatrix> build(uint32_t n, const std::vector<uint64_t>& dense) {
  A2AMatrix::Builder b(n);
  // Rows in reverse order, to check that the builder does not rely on the order of entries.
  for (uint32_t src = n; src-- > 0;)
    b.add_row(src, std::span(dense).subspan(size_t{src} * n, n));
  return b.build();
}

void expect_matches(const A2AMatrix& m, const std::vector<uint64_t>& d, uint32_t n) {
  ASSERT_EQ(m.ranks(), n);
  uint64_t nnz = 0;
  for (uint32_t s = 0; s < n; ++s) {
    uint64_t row = 0, col = 0;
    for (uint32_t t = 0; t < n; ++t) {
      EXPECT_EQ(m.at(s, t), d[size_t{s} * n + t]) << s << "->" << t;
      row += d[size_t{s} * n + t];
      col += d[size_t{t} * n + s];
      nnz += d[size_t{s} * n + t] != 0;
    }
    EXPECT_EQ(m.row_sum(s), row);
    EXPECT_EQ(m.col_sum(s), col);
    std::vector<uint64_t> r(n, 0), c(n, 0);
    int64_t last = -1;
    m.for_each_in_row(s, [&](uint32_t t, uint64_t v) {
      EXPECT_GT(static_cast<int64_t>(t), last);  // increasing, each entry once
      last = t;
      r[t] = v;
    });
    last = -1;
    m.for_each_in_col(s, [&](uint32_t t, uint64_t v) {
      EXPECT_GT(static_cast<int64_t>(t), last);
      last = t;
      c[t] = v;
    });
    for (uint32_t t = 0; t < n; ++t) {
      EXPECT_EQ(r[t], d[size_t{s} * n + t]);
      EXPECT_EQ(c[t], d[size_t{t} * n + s]);
    }
  }
  EXPECT_EQ(m.non_zeros(), nnz);
}

TEST(A2AMatrix, EveryAccessAgreesWithADenseReferenceAtEveryValueWidth) {
  const uint32_t n = 37;
  const uint64_t maxima[] = {200, 60000, 4000000000ull, std::numeric_limits<uint64_t>::max() / 4};
  uint32_t seed = 1;
  for (const uint64_t max_value : maxima) {
    const auto d = random_dense(n, 0.3, max_value, seed++);
    expect_matches(*build(n, d), d, n);
  }
  // from_dense (the router's uint32 copy counts) gives the same matrix.
  const auto d = random_dense(n, 0.5, 1000, 9);
  const std::vector<uint32_t> d32(d.begin(), d.end());
  expect_matches(*A2AMatrix::from_dense(n, d32), d, n);
}

TEST(A2AMatrix, RepeatedEntriesAddUpAndZerosAreNotStored) {
  A2AMatrix::Builder b(4);
  b.add(1, 2, 5);
  b.add(3, 0, 7);
  b.add(1, 2, 6);
  b.add(2, 2, 0);
  const auto m = b.build();
  EXPECT_EQ(m->at(1, 2), 11u);
  EXPECT_EQ(m->at(3, 0), 7u);
  EXPECT_EQ(m->at(2, 2), 0u);
  EXPECT_EQ(m->non_zeros(), 2u);
  EXPECT_EQ(m->col_sum(2), 11u);
}

TEST(A2AMatrix, MemoryFollowsTheNonZeroEntriesNotTheSquareOfTheRanks) {
  // 2,048 ranks, each sending to 8 others (a decode-sized row): a dense uint64 matrix would
  // take 32 MiB. The sparse one holds, per direction (rows and columns), n + 1 uint64 offsets and
  // per entry a 16-bit rank and its value in the narrowest of 1, 2, 4 or 8 bytes that holds
  // the largest, plus n uint64 row sums and n column sums.
  const uint32_t n = 2048;
  auto expected = [&](uint64_t nnz, uint64_t width) {
    return 2 * uint64_t{n} * 8 + 2 * ((uint64_t{n} + 1) * 8 + nnz * (2 + width));
  };
  for (const auto& [value, width] :
       {std::pair<uint64_t, uint64_t>{3, 1}, {300, 2}, {70'000, 4}, {uint64_t{1} << 33, 8}}) {
    A2AMatrix::Builder b(n);
    for (uint32_t s = 0; s < n; ++s) {
      for (uint32_t j = 1; j <= 8; ++j)
        b.add(s, (s + 97 * j) % n, value);  // 8 distinct others (97 j < n)
    }
    const auto m = b.build();
    EXPECT_EQ(m->non_zeros(), 8u * n);
    EXPECT_EQ(m->memory_bytes(), expected(8u * n, width)) << "values of " << value;
  }
}

// Diagonal blocks land at their offsets; everything off them is zero; the blocks must divide
// the ranks and each be a square of the block size.
TEST(A2AMatrix, DenseBlocksFormABlockDiagonalMatrix) {
  const std::vector<uint32_t> b0{1, 2, 3, 0}, b1{0, 5, 6, 7};
  const std::span<const uint32_t> blocks[2] = {b0, b1};
  const auto m = A2AMatrix::from_dense_blocks(4, blocks);
  for (uint32_t src = 0; src < 4; ++src) {
    for (uint32_t dst = 0; dst < 4; ++dst) {
      uint64_t want = 0;
      if (src / 2 == dst / 2) want = (src < 2 ? b0 : b1)[(src % 2) * 2 + dst % 2];
      EXPECT_EQ(m->at(src, dst), want) << src << "->" << dst;
    }
  }
  EXPECT_EQ(m->non_zeros(), 6u);
  EXPECT_EQ(m->row_sum(2), 5u);
  EXPECT_EQ(m->col_sum(3), 12u);
  EXPECT_THROW((void)A2AMatrix::from_dense_blocks(5, blocks), InputError);
  const std::vector<uint32_t> wrong{1, 2, 3};
  const std::span<const uint32_t> bad[2] = {b0, wrong};
  EXPECT_THROW((void)A2AMatrix::from_dense_blocks(4, bad), InputError);
}

TEST(A2AMatrix, TooManyRanksIsAnInputError) {
  EXPECT_THROW(A2AMatrix::Builder(A2AMatrix::kMaxRanks + 1), InputError);
}

TEST(AllToAllOp, SendAndReceiveViewsOfASharedMatrix) {
  const uint32_t n = 11;
  const auto d = random_dense(n, 0.6, 300, 5);
  const auto m = build(n, d);
  for (const bool transposed : {false, true}) {
    for (int32_t r = 0; r < static_cast<int32_t>(n); ++r) {
      AllToAllOp op;
      op.matrix = m;
      op.rank = r;
      op.transposed = transposed;
      op.unit_bytes = 42;
      uint64_t sent = 0, received = 0;
      for (int32_t q = 0; q < static_cast<int32_t>(n); ++q) {
        // Not transposed: row r out, column r in; transposed: the other way round.
        const uint64_t out = transposed ? d[size_t(q) * n + r] : d[size_t(r) * n + q];
        const uint64_t in = transposed ? d[size_t(r) * n + q] : d[size_t(q) * n + r];
        EXPECT_EQ(op.send_bytes(q), 42 * out);
        EXPECT_EQ(op.recv_bytes(q), 42 * in);
        EXPECT_EQ(op.dense_send_bytes()[q], 42 * out);
        EXPECT_EQ(op.dense_recv_bytes()[q], 42 * in);
        sent += 42 * out;
        received += 42 * in;
      }
      EXPECT_EQ(op.total_send_bytes(), sent);
      EXPECT_EQ(op.total_recv_bytes(), received);
    }
  }
}

// Ops that each hold their own matrix are checked pairwise: what a sends b must expect.
TEST(AllToAllOp, ValidationComparesRanksThatDoNotShareAMatrix) {
  const uint32_t n = 3;
  std::vector<uint64_t> d = {0, 5, 6, 7, 0, 8, 9, 10, 0};
  auto workload = [&](const std::vector<uint64_t>& view_of_rank_2) {
    Workload w;
    w.ranks.resize(n);
    for (uint32_t r = 0; r < n; ++r) {
      AllToAllOp op;
      op.matrix = build(n, r == 2 ? view_of_rank_2 : d);
      op.rank = static_cast<int32_t>(r);
      op.tag = 4;
      w.ranks[r].ops.push_back(Op{"a2a", op, {}});
    }
    return w;
  };
  EXPECT_NO_THROW(validate_workload(workload(d)));
  std::vector<uint64_t> other = d;
  other[1 * n + 2] = 3;  // rank 2 expects 3 B from rank 1, which sends 8 B
  try {
    validate_workload(workload(other));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("all_to_all tag 4: rank 1 op 0 'a2a' (field 'send_bytes') "
                                         "sends 8 B to rank 2, but rank 2 op 0 "
                                         "'a2a' (field 'recv_bytes') expects 3 B"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mlasim
