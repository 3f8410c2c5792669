// Shared sparse all-to-all matrix (see a2a_matrix.h).
#include "workloads/a2a_matrix.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sim/errors.h"

namespace mlasim {

namespace {

uint8_t width_for(uint64_t max_value) {
  if (max_value <= 0xFF) return 1;
  if (max_value <= 0xFFFF) return 2;
  if (max_value <= 0xFFFFFFFFu) return 4;
  return 8;
}

void put(std::vector<uint8_t>& out, uint64_t i, uint8_t width, uint64_t v) {
  for (uint8_t b = 0; b < width; ++b)
    out[i * width + b] = static_cast<uint8_t>(v >> (8 * b));
}

void check_ranks(uint64_t ranks) {
  if (ranks > A2AMatrix::kMaxRanks) {
    throw InputError(fmt::format("an all-to-all over {} ranks exceeds the supported {}", ranks,
                                 A2AMatrix::kMaxRanks));
  }
}

}  // namespace

// Both directions from entries sorted by (src, dst), all distinct and non-zero.
std::shared_ptr<const A2AMatrix> A2AMatrix::assemble(uint32_t ranks, std::span<const uint64_t> keys,
                                                     std::span<const uint64_t> values) {
  auto m = std::make_shared<A2AMatrix>(Private{});
  m->ranks_ = ranks;
  const uint64_t nnz = keys.size();
  const uint64_t max_value = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
  m->width_ = width_for(max_value);
  m->row_sum_.assign(ranks, 0);
  m->col_sum_.assign(ranks, 0);
  for (Compressed* c : {&m->rows_, &m->cols_}) {
    c->begin.assign(uint64_t{ranks} + 1, 0);
    c->index.resize(nnz);
    c->values.resize(nnz * m->width_);
  }
  for (uint64_t i = 0; i < nnz; ++i) {
    const auto src = static_cast<uint32_t>(keys[i] >> 16),
               dst = static_cast<uint32_t>(keys[i] & 0xFFFF);
    ++m->rows_.begin[src + 1];
    ++m->cols_.begin[dst + 1];
    m->row_sum_[src] += values[i];
    m->col_sum_[dst] += values[i];
  }
  for (Compressed* c : {&m->rows_, &m->cols_})
    std::partial_sum(c->begin.begin(), c->begin.end(), c->begin.begin());
  // Rows come in order; each column receives its sources in increasing order too.
  std::vector<uint64_t> next(m->cols_.begin.begin(), m->cols_.begin.end() - 1);
  for (uint64_t i = 0; i < nnz; ++i) {
    const auto src = static_cast<uint16_t>(keys[i] >> 16),
               dst = static_cast<uint16_t>(keys[i] & 0xFFFF);
    m->rows_.index[i] = dst;
    put(m->rows_.values, i, m->width_, values[i]);
    const uint64_t j = next[dst]++;
    m->cols_.index[j] = src;
    put(m->cols_.values, j, m->width_, values[i]);
  }
  return m;
}

A2AMatrix::Builder::Builder(uint32_t ranks) : ranks_(ranks) {
  check_ranks(ranks);
}

void A2AMatrix::Builder::add(uint32_t src, uint32_t dst, uint64_t value) {
  if (value == 0) return;
  entries_.push_back(uint64_t{src} << 16 | dst);
  values_.push_back(value);
}

void A2AMatrix::Builder::add_row(uint32_t src, std::span<const uint64_t> row) {
  for (uint32_t dst = 0; dst < row.size(); ++dst)
    add(src, dst, row[dst]);
}

std::shared_ptr<const A2AMatrix> A2AMatrix::Builder::build() {
  std::vector<uint64_t> order(entries_.size());
  std::iota(order.begin(), order.end(), uint64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](uint64_t a, uint64_t b) { return entries_[a] < entries_[b]; });
  std::vector<uint64_t> keys, values;
  for (uint64_t i : order) {
    if (!keys.empty() && keys.back() == entries_[i]) {
      values.back() += values_[i];
    } else {
      keys.push_back(entries_[i]);
      values.push_back(values_[i]);
    }
  }
  entries_.clear();
  values_.clear();
  return assemble(ranks_, keys, values);
}

std::shared_ptr<const A2AMatrix> A2AMatrix::from_dense(uint32_t ranks,
                                                       std::span<const uint32_t> dense) {
  const std::span<const uint32_t> one[1] = {dense};
  return from_dense_blocks(ranks, one);
}

std::shared_ptr<const A2AMatrix> A2AMatrix::from_dense_blocks(
    uint32_t ranks, std::span<const std::span<const uint32_t>> blocks) {
  check_ranks(ranks);
  const uint64_t b = blocks.empty() ? 0 : ranks / blocks.size();
  if (blocks.empty() || b * blocks.size() != ranks) {
    throw InputError(fmt::format("all-to-all matrix: {} diagonal blocks do not divide {} ranks",
                                 blocks.size(), ranks));
  }
  std::vector<uint64_t> keys, values;
  for (uint64_t k = 0; k < blocks.size(); ++k) {
    const std::span<const uint32_t> dense = blocks[k];
    if (dense.size() != b * b) {
      throw InputError(fmt::format("all-to-all matrix: {} entries for {} ranks (expected {})",
                                   dense.size(), b, b * b));
    }
    const uint64_t base = k * b;
    for (uint64_t src = 0; src < b; ++src) {
      const uint32_t* row = dense.data() + src * b;
      for (uint64_t dst = 0; dst < b; ++dst) {
        if (row[dst] == 0) continue;
        keys.push_back((base + src) << 16 | (base + dst));
        values.push_back(row[dst]);
      }
    }
  }
  return assemble(ranks, keys, values);
}

uint64_t A2AMatrix::value(const Compressed& c, uint64_t i) const {
  const uint8_t* p = c.values.data() + i * width_;
  uint64_t v = 0;
  for (uint8_t b = 0; b < width_; ++b)
    v |= uint64_t{p[b]} << (8 * b);
  return v;
}

uint64_t A2AMatrix::at(uint32_t src, uint32_t dst) const {
  const auto first = rows_.index.begin() + static_cast<std::ptrdiff_t>(rows_.begin[src]);
  const auto last = rows_.index.begin() + static_cast<std::ptrdiff_t>(rows_.begin[src + 1]);
  const auto it = std::lower_bound(first, last, dst);
  if (it == last || *it != dst) return 0;
  return value(rows_, static_cast<uint64_t>(it - rows_.index.begin()));
}

uint64_t A2AMatrix::memory_bytes() const {
  uint64_t b = (row_sum_.capacity() + col_sum_.capacity()) * sizeof(uint64_t);
  for (const Compressed* c : {&rows_, &cols_}) {
    b += c->begin.capacity() * sizeof(uint64_t) + c->index.capacity() * sizeof(uint16_t) +
         c->values.capacity();
  }
  return b;
}

}  // namespace mlasim
