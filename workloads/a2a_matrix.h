// The rank-to-rank matrix of one all-to-all (EP dispatch or combine), built once and shared by
// every rank's AllToAllOp (op_graph.h) instead of a dense row and column copied into each rank:
// at 2,048 GPUs a dense uint64 row pair is 32 KiB per rank and op, 16 GB over a DeepSeek-V3
// decode step, where this matrix holds only its non-zero entries, once.
//
// Storage: compressed sparse rows and columns (each non-zero entry once per direction, with a
// 16-bit rank index), the values in the narrowest width of 1, 2, 4 or 8 bytes that holds the
// largest, plus every row and column sum. A dispatch matrix of token copies serves its combine
// too: the combine sends along the columns (AllToAllOp::transposed), with its own bytes per copy.
// Immutable once built, so the shared pointer may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace mlasim {

class A2AMatrix {
  struct Private {};

 public:
  explicit A2AMatrix(Private) {}
  static constexpr uint64_t kMaxRanks = 65536;  // ranks are indexed by 16 bits

  // Collects non-zero entries (src, dst, value), in any order; an entry given twice adds up.
  class Builder {
   public:
    explicit Builder(uint32_t ranks);  // throws InputError beyond kMaxRanks
    void add(uint32_t src, uint32_t dst, uint64_t value);
    // A whole dense row [dst] of source `src`.
    void add_row(uint32_t src, std::span<const uint64_t> row);
    std::shared_ptr<const A2AMatrix> build();

   private:
    uint32_t ranks_;
    std::vector<uint64_t> entries_;  // src << 16 | dst
    std::vector<uint64_t> values_;
  };
  // From a dense row-major matrix [src * ranks + dst] (such as LayerRouting::copies).
  static std::shared_ptr<const A2AMatrix> from_dense(uint32_t ranks,
                                                     std::span<const uint32_t> dense);
  // Block diagonal: `blocks` equal dense row-major squares along the diagonal (block k covers
  // ranks k*b .. (k+1)*b - 1, b = ranks / blocks.size()), zero elsewhere: one all-to-all per
  // group of ranks (EP groups).
  static std::shared_ptr<const A2AMatrix> from_dense_blocks(
      uint32_t ranks, std::span<const std::span<const uint32_t>> blocks);

  uint32_t ranks() const { return ranks_; }
  uint64_t at(uint32_t src, uint32_t dst) const;
  uint64_t row_sum(uint32_t src) const { return row_sum_[src]; }
  uint64_t col_sum(uint32_t dst) const { return col_sum_[dst]; }
  uint64_t non_zeros() const { return rows_.index.size(); }
  // Heap bytes held (for reports and benchmarks).
  uint64_t memory_bytes() const;

  // Calls f(dst, value) for each non-zero entry of row `src` (f(src, value) down column `dst`),
  // in increasing rank order.
  template <class F>
  void for_each_in_row(uint32_t src, F&& f) const {
    for_each(rows_, src, f);
  }
  template <class F>
  void for_each_in_col(uint32_t dst, F&& f) const {
    for_each(cols_, dst, f);
  }

 private:
  static std::shared_ptr<const A2AMatrix> assemble(uint32_t ranks, std::span<const uint64_t> keys,
                                                   std::span<const uint64_t> values);
  struct Compressed {
    std::vector<uint64_t> begin;  // [line]: first entry; [ranks]: the number of entries
    std::vector<uint16_t> index;  // the other rank of each entry
    std::vector<uint8_t> values;  // `width` bytes per entry, little-endian
  };
  uint64_t value(const Compressed& c, uint64_t i) const;
  template <class F>
  void for_each(const Compressed& c, uint32_t line, F& f) const {
    for (uint64_t i = c.begin[line]; i < c.begin[line + 1]; ++i)
      f(static_cast<uint32_t>(c.index[i]), value(c, i));
  }

  uint32_t ranks_ = 0;
  uint8_t width_ = 1;
  Compressed rows_, cols_;
  std::vector<uint64_t> row_sum_, col_sum_;
};

}  // namespace mlasim
