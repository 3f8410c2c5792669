// Dense building blocks of the functional kernels: matrix products, row dot products, axpy and
// RMSNorm, for float (FP32 accumulation) and double (the reference path).
//
// Matrices are row-major with explicit leading dimensions so that kernels can address heads
// and cache slices in place. The products are register- and cache-blocked and compiled for
// several x86 vector widths with run-time selection (GCC target_clones), so a plain build
// without -march=native still uses AVX2/AVX-512 where the CPU has them. Summation order is
// fixed by the blocking, so results are deterministic for a given shape.
#pragma once

#include <cstdint>

namespace mlasim::kernels {

// Y[m, n] = sum_k X[m, k] * W[n, k]   (X: [M, K] ld ldx; W: [N, K] ld ldw; Y: [M, N] ld ldy).
// The layout of a PyTorch Linear weight: y = x W^T.
void gemm_nt(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* W,
             int64_t ldw, float* Y, int64_t ldy);
void gemm_nt(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx, const double* W,
             int64_t ldw, double* Y, int64_t ldy);

// Y[m, n] = sum_k X[m, k] * W[k, n]   (W: [K, N] ld ldw).
void gemm_nn(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* W,
             int64_t ldw, float* Y, int64_t ldy);
void gemm_nn(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx, const double* W,
             int64_t ldw, double* Y, int64_t ldy);

// Y[m, n] += sum_k X[m, k] * W[k, n]   (accumulates into Y).
void gemm_nn_acc(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* W,
                 int64_t ldw, float* Y, int64_t ldy);
void gemm_nn_acc(int64_t M, int64_t N, int64_t K, const double* X, int64_t ldx, const double* W,
                 int64_t ldw, double* Y, int64_t ldy);

// out[j] = sum_i q[i] * K[j * ldk + i] for j < n_rows: one query against a block of keys.
void dot_rows(const float* q, const float* K, int64_t ldk, int64_t n_rows, int64_t dim, float* out);
void dot_rows(const double* q, const double* K, int64_t ldk, int64_t n_rows, int64_t dim,
              double* out);

// acc[i] += sum_j p[j] * V[j * ldv + i] for j < n_rows: weighted sum of a block of values.
void axpy_rows(const float* p, const float* V, int64_t ldv, int64_t n_rows, int64_t dim,
               float* acc);
void axpy_rows(const double* p, const double* V, int64_t ldv, int64_t n_rows, int64_t dim,
               double* acc);

// x[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight, for each of `rows` rows (ld ld).
void rms_norm_rows(float* x, int64_t rows, int64_t cols, int64_t ld, const float* weight,
                   double eps);
void rms_norm_rows(double* x, int64_t rows, int64_t cols, int64_t ld, const double* weight,
                   double eps);

}  // namespace mlasim::kernels
