// Dense row-major tensors for the functional attention kernels.
//
// A shape and a contiguous buffer, nothing more: no views, broadcasting or autograd. Kernels
// address sub-blocks with explicit strides. Element type is float (the FP32/BF16/FP8 paths,
// which store rounded values in float) or double (the float64 reference path).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace mlasim::kernels {

template <class T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape, T fill = T(0))
      : shape_(std::move(shape)), data_(element_count(shape_), fill) {}

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(size_t i) const { return shape_.at(i); }
  int64_t size() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T& operator[](int64_t i) { return data_[static_cast<size_t>(i)]; }
  const T& operator[](int64_t i) const { return data_[static_cast<size_t>(i)]; }
  std::span<T> span() { return data_; }
  std::span<const T> span() const { return data_; }

 private:
  static size_t element_count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d < 0) throw std::invalid_argument("Tensor: negative dimension");
      n *= d;
    }
    return static_cast<size_t>(n);
  }

  std::vector<int64_t> shape_;
  std::vector<T> data_;
};

template <class To, class From>
Tensor<To> tensor_cast(const Tensor<From>& t) {
  if (t.empty()) return {};  // an unset tensor stays unset (a rank-0 shape would mean a scalar)
  Tensor<To> out(t.shape());
  for (int64_t i = 0; i < t.size(); ++i)
    out[i] = static_cast<To>(t[i]);
  return out;
}

// Fills with independent N(mean, stddev^2) draws.
template <class T>
void fill_normal(Tensor<T>& t, std::mt19937_64& rng, double stddev, double mean = 0.0) {
  std::normal_distribution<double> dist(mean, stddev);
  for (auto& x : t.span())
    x = static_cast<T>(dist(rng));
}

}  // namespace mlasim::kernels
