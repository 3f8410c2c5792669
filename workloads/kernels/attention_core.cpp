// Blocked online-softmax attention. For each (sequence, KV head) the query rows of all heads
// sharing that KV head are gathered into one matrix, and each block of keys is met with two
// small matrix products (scores = Q K^T, then acc += P V), so every key and value row loaded
// serves all the rows (in chunks of 256 rows, which bounds the scratch of long prefills). On the
// diagonal block of a causal step the masked scores are computed and discarded; the visited-pair
// count returned is the visible pairs only.
#include "workloads/kernels/attention_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "workloads/kernels/linalg.h"
#include "workloads/kernels/numerics.h"

namespace mlasim::kernels {

template <class T>
uint64_t attention_core(const CoreShape& shape, const HeadView<T>& q_main,
                        const HeadView<T>& q_rope, const HeadView<T>& k_main,
                        const HeadView<T>& k_rope, const HeadView<T>& v, T* out) {
  constexpr int64_t kKeyBlock = 64;
  constexpr int64_t kRowBlock = 256;  // bounds the scratch for long prefills
  const int64_t group = shape.n_heads / shape.n_kv_heads;
  const int64_t rows = shape.q_len * group;  // row r: token r / group, head g*group + r % group
  const int64_t dm = q_main.dim, dr = q_rope.dim, dv = v.dim;
  const T scale = static_cast<T>(shape.scale);
  const bool round_probs = shape.operand == DType::BF16;
  const T neg_inf = -std::numeric_limits<T>::infinity();

  std::vector<int64_t> limit(static_cast<size_t>(shape.q_len));
  uint64_t pairs_per_sequence = 0;
  for (int64_t i = 0; i < shape.q_len; ++i) {
    const int64_t lim = shape.causal ? std::min(shape.kv_len, shape.q_start + i + 1) : shape.kv_len;
    limit[i] = std::max<int64_t>(lim, 0);
    pairs_per_sequence += static_cast<uint64_t>(limit[i]);
  }

  const int64_t chunk = std::min(rows, kRowBlock);
  std::vector<T> qm(static_cast<size_t>(chunk * dm)), qr(static_cast<size_t>(chunk * dr));
  std::vector<T> scores(static_cast<size_t>(chunk * kKeyBlock));
  std::vector<T> rope_scores(static_cast<size_t>(chunk * kKeyBlock));
  std::vector<T> run_max(chunk), run_sum(chunk), acc(static_cast<size_t>(chunk * dv));
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t g = 0; g < shape.n_kv_heads; ++g) {
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t nr = std::min(chunk, rows - r0);
        int64_t max_limit = 0;
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t i = (r0 + r) / group, h = g * group + (r0 + r) % group;
          std::copy_n(q_main.at(b, i, h), dm, qm.begin() + r * dm);
          std::copy_n(q_rope.at(b, i, h), dr, qr.begin() + r * dr);
          max_limit = std::max(max_limit, limit[i]);
        }
        std::fill(run_max.begin(), run_max.end(), neg_inf);
        std::fill(run_sum.begin(), run_sum.end(), T(0));
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t j0 = 0; j0 < max_limit; j0 += kKeyBlock) {
          const int64_t n = std::min(kKeyBlock, max_limit - j0);
          gemm_nt(nr, n, dm, qm.data(), dm, k_main.at(b, j0, g), k_main.token_stride, scores.data(),
                  kKeyBlock);
          if (dr > 0) {
            gemm_nt(nr, n, dr, qr.data(), dr, k_rope.at(b, j0, g), k_rope.token_stride,
                    rope_scores.data(), kKeyBlock);
          }
          for (int64_t r = 0; r < nr; ++r) {
            T* s = scores.data() + r * kKeyBlock;
            const int64_t visible = std::clamp<int64_t>(limit[(r0 + r) / group] - j0, 0, n);
            if (visible == 0) {
              std::fill_n(s, n, T(0));
              continue;
            }
            T block_max = neg_inf;
            for (int64_t j = 0; j < visible; ++j) {
              if (dr > 0) s[j] += rope_scores[r * kKeyBlock + j];
              s[j] *= scale;
              block_max = std::max(block_max, s[j]);
            }
            // Rescale what was accumulated under the old maximum (exp(-inf) = 0 at the start).
            const T new_max = std::max(run_max[r], block_max);
            const T correction = std::exp(run_max[r] - new_max);
            T block_sum = 0;
            for (int64_t j = 0; j < visible; ++j) {
              s[j] = std::exp(s[j] - new_max);
              block_sum += s[j];
            }
            std::fill(s + visible, s + n, T(0));
            if (round_probs) {  // tensor cores take P in BF16; the row sum keeps FP32
              for (int64_t j = 0; j < visible; ++j) {
                s[j] = static_cast<T>(round_bf16(static_cast<float>(s[j])));
              }
            }
            run_sum[r] = run_sum[r] * correction + block_sum;
            run_max[r] = new_max;
            if (correction != T(1)) {
              T* a = acc.data() + r * dv;
              for (int64_t e = 0; e < dv; ++e)
                a[e] *= correction;
            }
          }
          gemm_nn_acc(nr, dv, n, scores.data(), kKeyBlock, v.at(b, j0, g), v.token_stride,
                      acc.data(), dv);
        }
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t i = (r0 + r) / group, h = g * group + (r0 + r) % group;
          T* o = out + ((b * shape.q_len + i) * shape.n_heads + h) * dv;
          const T inv = run_sum[r] > T(0) ? T(1) / run_sum[r] : T(0);
          for (int64_t e = 0; e < dv; ++e)
            o[e] = acc[r * dv + e] * inv;
        }
      }
    }
  }
  return pairs_per_sequence * static_cast<uint64_t>(shape.batch);
}

template uint64_t attention_core<float>(const CoreShape&, const HeadView<float>&,
                                        const HeadView<float>&, const HeadView<float>&,
                                        const HeadView<float>&, const HeadView<float>&, float*);
template uint64_t attention_core<double>(const CoreShape&, const HeadView<double>&,
                                         const HeadView<double>&, const HeadView<double>&,
                                         const HeadView<double>&, const HeadView<double>&, double*);

}  // namespace mlasim::kernels
