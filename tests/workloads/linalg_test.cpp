// The functional kernels' matrix products against a plain triple loop in double precision, on
// shapes that cross every blocking boundary of linalg.cpp: K over several 512-wide blocks (the
// later blocks add into the result), M and N over the 64-row blocks and off the 4 x 4 register
// tiles, strided rows (leading dimensions wider than the data).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "workloads/kernels/linalg.h"

namespace mlasim::kernels {
namespace {

struct Shape {
  int64_t m, n, k;
};
constexpr Shape kShapes[] = {{7, 9, 1100}, {70, 66, 1030}, {1, 1, 513}, {5, 130, 512}};

std::vector<double> uniform(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v)
    x = u(gen);
  return v;
}

// Y = X W^T (nt) or X W (nn) by the definition; `bound` gets sum |x w| per element, which
// bounds the rounding error of any summation order.
void reference(const Shape& s, bool nt, const std::vector<double>& x, int64_t ldx,
               const std::vector<double>& w, int64_t ldw, std::vector<double>& y,
               std::vector<double>& bound) {
  y.assign(static_cast<size_t>(s.m * s.n), 0.0);
  bound.assign(y.size(), 0.0);
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double sum = 0, abs = 0;
      for (int64_t k = 0; k < s.k; ++k) {
        const double p = x[i * ldx + k] * (nt ? w[j * ldw + k] : w[k * ldw + j]);
        sum += p;
        abs += std::fabs(p);
      }
      y[i * s.n + j] = sum;
      bound[i * s.n + j] = abs;
    }
  }
}

template <class T, class U>
std::vector<T> as(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
void check_products(double rel) {
  for (const Shape& s : kShapes) {
    const int64_t ldx = s.k + 3, ldw_nt = s.k + 5, ldw_nn = s.n + 2, ldy = s.n + 1;
    const std::vector<double> x = uniform(static_cast<size_t>(s.m * ldx), 1);
    const std::vector<double> w_nt = uniform(static_cast<size_t>(s.n * ldw_nt), 2);
    const std::vector<double> w_nn = uniform(static_cast<size_t>(s.k * ldw_nn), 3);
    const std::vector<T> xt = as<T>(x), wt_nt = as<T>(w_nt), wt_nn = as<T>(w_nn);
    std::vector<double> ref, bound;
    for (const bool nt : {true, false}) {
      // (The float inputs are the double ones rounded: the reference takes them as they are.)
      reference(s, nt, as<double>(xt), ldx, as<double>(nt ? wt_nt : wt_nn), nt ? ldw_nt : ldw_nn,
                ref, bound);
      std::vector<T> y(static_cast<size_t>(s.m * ldy), T(7));
      if (nt) {
        gemm_nt(s.m, s.n, s.k, xt.data(), ldx, wt_nt.data(), ldw_nt, y.data(), ldy);
      } else {
        gemm_nn(s.m, s.n, s.k, xt.data(), ldx, wt_nn.data(), ldw_nn, y.data(), ldy);
      }
      // gemm_nn_acc adds onto what is there: 1 + X W.
      std::vector<T> acc(static_cast<size_t>(s.m * ldy), T(1));
      if (!nt) gemm_nn_acc(s.m, s.n, s.k, xt.data(), ldx, wt_nn.data(), ldw_nn, acc.data(), ldy);
      for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
          const double want = ref[i * s.n + j], tol = rel * bound[i * s.n + j];
          ASSERT_NEAR(y[i * ldy + j], want, tol) << (nt ? "gemm_nt " : "gemm_nn ") << s.m << "x"
                                                 << s.n << "x" << s.k << " at " << i << "," << j;
          if (!nt) {
            ASSERT_NEAR(acc[i * ldy + j], 1.0 + want, tol + rel)
                << "gemm_nn_acc " << s.m << "x" << s.n << "x" << s.k << " at " << i << "," << j;
          }
        }
        // Columns past N (inside the leading dimension) are left alone.
        for (int64_t j = s.n; j < ldy; ++j)
          ASSERT_EQ(y[i * ldy + j], T(7));
      }
    }
  }
}

TEST(KernelLinalg, FloatProductsMatchTheDefinitionAcrossBlocks) {
  check_products<float>(4e-7 * 1100);  // unit roundoff x the longest sum
}

TEST(KernelLinalg, DoubleProductsMatchTheDefinitionAcrossBlocks) {
  check_products<double>(1e-15 * 1100);
}

}  // namespace
}  // namespace mlasim::kernels
