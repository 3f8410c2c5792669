// ChunkedVector: an append-only sequence stored in fixed-size chunks, for logs that grow to
// millions of entries (one record per network message) and tables of large records. Unlike
// std::vector it never moves what it holds: growing allocates one more chunk instead of copying
// everything into a buffer twice the size, so the peak memory is the entries plus at most one
// partly used chunk (a vector's peak while it grows holds the old buffer and the new one, twice as
// large, at once), no time goes into the copies, and references to entries stay valid.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <vector>

namespace mlasim {

template <class T, size_t kChunkBits = 14>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = size_t{1} << kChunkBits;  // entries per chunk

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }

  void push_back(const T& v) { emplace_back() = v; }
  // The entry at the end, as its chunk built it (value-initialised, the whole chunk at once when
  // it was allocated; entries are never removed, so it was never used before). Unlike
  // std::vector's, it takes no constructor arguments.
  T& emplace_back() {
    if ((size_ & (kChunk - 1)) == 0 && (size_ >> kChunkBits) == chunks_.size())
      chunks_.push_back(std::make_unique<T[]>(kChunk));
    return (*this)[size_++];
  }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;
    const_iterator() = default;
    const_iterator(const ChunkedVector* v, size_t i) : v_(v), i_(i) {}
    reference operator*() const { return (*v_)[i_]; }
    pointer operator->() const { return &(*v_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    const ChunkedVector* v_ = nullptr;
    size_t i_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace mlasim
