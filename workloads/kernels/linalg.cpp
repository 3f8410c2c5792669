// Blocked matrix products on GCC vector extensions. The public functions are compiled once per
// x86 level (target_clones) and everything below them is force-inlined so that each clone's
// inner loops use that level's registers; x86-64-v4 matters because AVX-512VL doubles the
// vector registers a 4x4 register tile needs.
#include "workloads/kernels/linalg.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The vector helpers pass 32-byte vectors by value; they are always inlined, so the ABI note
// GCC emits for the non-AVX clone does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(MLASIM_NO_TARGET_CLONES)
#define MLASIM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MLASIM_CLONES
#endif
#define MLASIM_INLINE __attribute__((always_inline)) inline

namespace mlasim::kernels {
namespace {

// 32 bytes of lanes: 8 floats or 4 doubles.
template <class T>
struct Lanes {
  static constexpr int64_t n = 32 / sizeof(T);
  typedef T vec __attribute__((vector_size(32)));
};
template <class T>
using Vec = typename Lanes<T>::vec;

template <class T>
MLASIM_INLINE Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
MLASIM_INLINE void store(T* p, const Vec<T>& v) {
  std::memcpy(p, &v, sizeof v);
}
template <class T>
MLASIM_INLINE T lane_sum(const Vec<T>& v) {
  T s = 0;
  for (int64_t i = 0; i < Lanes<T>::n; ++i)
    s += v[i];
  return s;
}

// An MR x NR tile of Y from MR rows of X and NR rows of W over kc elements of K, each dot
// product kept in its own vector of partial sums.
template <class T, int MR, int NR>
MLASIM_INLINE void tile_nt(int64_t kc, const T* X, int64_t ldx, const T* W, int64_t ldw, T* Y,
                           int64_t ldy, bool accumulate) {
  constexpr int64_t L = Lanes<T>::n;
  Vec<T> acc[MR][NR] = {};
  int64_t k = 0;
  for (; k + L <= kc; k += L) {
    Vec<T> w[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j)
      w[j] = load(W + j * ldw + k);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const Vec<T> x = load(X + i * ldx + k);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j)
        acc[i][j] += x * w[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      T s = lane_sum<T>(acc[i][j]);
      for (int64_t kk = k; kk < kc; ++kk)
        s += X[i * ldx + kk] * W[j * ldw + kk];
      T& y = Y[i * ldy + j];
      y = accumulate ? y + s : s;
    }
  }
}

template <class T>
MLASIM_INLINE void gemm_nt_impl(int64_t M, int64_t N, int64_t K, const T* X, int64_t ldx,
                                const T* W, int64_t ldw, T* Y, int64_t ldy) {
  constexpr int MR = 4, NR = 4;
  // 64 rows of W by 512 of K stay in L2 while every row block of X passes over them.
  constexpr int64_t MB = 64, NB = 64, KC = 512;
  if (K == 0) {
    for (int64_t m = 0; m < M; ++m)
      std::fill(Y + m * ldy, Y + m * ldy + N, T(0));
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    const bool acc = k0 > 0;
    for (int64_t n0 = 0; n0 < N; n0 += NB) {
      const int64_t n1 = std::min(N, n0 + NB);
      for (int64_t m0 = 0; m0 < M; m0 += MB) {
        const int64_t m1 = std::min(M, m0 + MB);
        int64_t m = m0;
        for (; m + MR <= m1; m += MR) {
          int64_t n = n0;
          for (; n + NR <= n1; n += NR) {
            tile_nt<T, MR, NR>(kc, X + m * ldx + k0, ldx, W + n * ldw + k0, ldw, Y + m * ldy + n,
                               ldy, acc);
          }
          for (; n < n1; ++n) {
            tile_nt<T, MR, 1>(kc, X + m * ldx + k0, ldx, W + n * ldw + k0, ldw, Y + m * ldy + n,
                              ldy, acc);
          }
        }
        for (; m < m1; ++m) {
          int64_t n = n0;
          for (; n + NR <= n1; n += NR) {
            tile_nt<T, 1, NR>(kc, X + m * ldx + k0, ldx, W + n * ldw + k0, ldw, Y + m * ldy + n,
                              ldy, acc);
          }
          for (; n < n1; ++n) {
            tile_nt<T, 1, 1>(kc, X + m * ldx + k0, ldx, W + n * ldw + k0, ldw, Y + m * ldy + n, ldy,
                             acc);
          }
        }
      }
    }
  }
}

template <class T>
MLASIM_INLINE void dot_rows_impl(const T* q, const T* K, int64_t ldk, int64_t n_rows, int64_t dim,
                                 T* out) {
  int64_t j = 0;
  for (; j + 4 <= n_rows; j += 4)
    tile_nt<T, 1, 4>(dim, q, dim, K + j * ldk, ldk, out + j, 1, false);
  for (; j < n_rows; ++j)
    tile_nt<T, 1, 1>(dim, q, dim, K + j * ldk, ldk, out + j, 1, false);
}

// acc += sum_j p[j] * V[j, :], 4 vectors of acc held in registers across the rows of V.
template <class T>
MLASIM_INLINE void axpy_rows_impl(const T* p, const T* V, int64_t ldv, int64_t n_rows, int64_t dim,
                                  T* acc) {
  constexpr int64_t L = Lanes<T>::n;
  constexpr int64_t W = 4 * L;
  int64_t i = 0;
  for (; i + W <= dim; i += W) {
    Vec<T> a0 = load(acc + i), a1 = load(acc + i + L), a2 = load(acc + i + 2 * L),
           a3 = load(acc + i + 3 * L);
    for (int64_t j = 0; j < n_rows; ++j) {
      const T* v = V + j * ldv + i;
      const T pj = p[j];
      a0 += pj * load(v);
      a1 += pj * load(v + L);
      a2 += pj * load(v + 2 * L);
      a3 += pj * load(v + 3 * L);
    }
    store(acc + i, a0);
    store(acc + i + L, a1);
    store(acc + i + 2 * L, a2);
    store(acc + i + 3 * L, a3);
  }
  for (; i + L <= dim; i += L) {
    Vec<T> a = load(acc + i);
    for (int64_t j = 0; j < n_rows; ++j)
      a += p[j] * load(V + j * ldv + i);
    store(acc + i, a);
  }
  for (; i < dim; ++i) {
    T a = acc[i];
    for (int64_t j = 0; j < n_rows; ++j)
      a += p[j] * V[j * ldv + i];
    acc[i] = a;
  }
}

// Y[MR rows, 4 vectors of columns] += X[MR rows, K] W[K, those columns]: each row of W is
// loaded once for MR rows of X.
template <class T, int MR>
MLASIM_INLINE void tile_nn_acc(int64_t K, const T* X, int64_t ldx, const T* W, int64_t ldw, T* Y,
                               int64_t ldy) {
  constexpr int64_t L = Lanes<T>::n;
  Vec<T> acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      acc[r][c] = load(Y + r * ldy + c * L);
  }
  for (int64_t k = 0; k < K; ++k) {
    const T* w = W + k * ldw;
    Vec<T> wv[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      wv[c] = load(w + c * L);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const T x = X[r * ldx + k];
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c)
        acc[r][c] += x * wv[c];
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      store(Y + r * ldy + c * L, acc[r][c]);
  }
}

template <class T>
MLASIM_INLINE void gemm_nn_acc_impl(int64_t M, int64_t N, int64_t K, const T* X, int64_t ldx,
                                    const T* W, int64_t ldw, T* Y, int64_t ldy) {
  constexpr int64_t L = Lanes<T>::n;
  constexpr int64_t NW = 4 * L;
  int64_t n = 0;
  for (; n + NW <= N; n += NW) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4)
      tile_nn_acc<T, 4>(K, X + m * ldx, ldx, W + n, ldw, Y + m * ldy + n, ldy);
    for (; m < M; ++m)
      tile_nn_acc<T, 1>(K, X + m * ldx, ldx, W + n, ldw, Y + m * ldy + n, ldy);
  }
  if (n < N) {  // leftover columns: row-wise axpy
    for (int64_t m = 0; m < M; ++m)
      axpy_rows_impl(X + m * ldx, W + n, ldw, K, N - n, Y + m * ldy + n);
  }
}

template <class T>
MLASIM_INLINE void gemm_nn_impl(int64_t M, int64_t N, int64_t K, const T* X, int64_t ldx,
                                const T* W, int64_t ldw, T* Y, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m)
    std::fill(Y + m * ldy, Y + m * ldy + N, T(0));
  gemm_nn_acc_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}

template <class T>
void rms_norm_impl(T* x, int64_t rows, int64_t cols, int64_t ld, const T* weight, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = x + r * ld;
    T sum_sq = 0;
    for (int64_t i = 0; i < cols; ++i)
      sum_sq += row[i] * row[i];
    const T inv = T(1) / std::sqrt(sum_sq / static_cast<T>(cols) + static_cast<T>(eps));
    for (int64_t i = 0; i < cols; ++i)
      row[i] = row[i] * inv * weight[i];
  }
}

}  // namespace

MLASIM_CLONES void gemm_nt(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx,
                           const float* W, int64_t ldw, float* Y, int64_t ldy) {
  gemm_nt_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void gemm_nt(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx,
                           const double* W, int64_t ldw, double* Y, int64_t ldy) {
  gemm_nt_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void gemm_nn(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx,
                           const float* W, int64_t ldw, float* Y, int64_t ldy) {
  gemm_nn_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void gemm_nn(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx,
                           const double* W, int64_t ldw, double* Y, int64_t ldy) {
  gemm_nn_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void gemm_nn_acc(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx,
                               const float* W, int64_t ldw, float* Y, int64_t ldy) {
  gemm_nn_acc_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void gemm_nn_acc(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx,
                               const double* W, int64_t ldw, double* Y, int64_t ldy) {
  gemm_nn_acc_impl(M, N, K, X, ldx, W, ldw, Y, ldy);
}
MLASIM_CLONES void dot_rows(const float* q, const float* K, int64_t ldk, int64_t n_rows,
                            int64_t dim, float* out) {
  dot_rows_impl(q, K, ldk, n_rows, dim, out);
}
MLASIM_CLONES void dot_rows(const double* q, const double* K, int64_t ldk, int64_t n_rows,
                            int64_t dim, double* out) {
  dot_rows_impl(q, K, ldk, n_rows, dim, out);
}
MLASIM_CLONES void axpy_rows(const float* p, const float* V, int64_t ldv, int64_t n_rows,
                             int64_t dim, float* acc) {
  axpy_rows_impl(p, V, ldv, n_rows, dim, acc);
}
MLASIM_CLONES void axpy_rows(const double* p, const double* V, int64_t ldv, int64_t n_rows,
                             int64_t dim, double* acc) {
  axpy_rows_impl(p, V, ldv, n_rows, dim, acc);
}

void rms_norm_rows(float* x, int64_t rows, int64_t cols, int64_t ld, const float* weight,
                   double eps) {
  rms_norm_impl(x, rows, cols, ld, weight, eps);
}
void rms_norm_rows(double* x, int64_t rows, int64_t cols, int64_t ld, const double* weight,
                   double eps) {
  rms_norm_impl(x, rows, cols, ld, weight, eps);
}

}  // namespace mlasim::kernels
