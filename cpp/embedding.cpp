#include "embedding.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace axonal {

namespace {
// Rows of dW per thread share in the backward pass: every share scans all M indices, so shares stay
// few (a fixed count: the results do not depend on it, only the work split does).
constexpr int64_t kRowShares = 16;
}  // namespace

int64_t first_bad_index(const int32_t* indices, int64_t M, int64_t V) {
  for (int64_t m = 0; m < M; ++m)
    if (indices[m] < 0 || indices[m] >= V) return m;
  return -1;
}

void embedding_forward(float* y, const int32_t* indices, const float* W, int64_t M, int64_t V, int64_t D) {
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
  parallel_for(M, M * D >= kParallelMinWork, [&](int64_t m) {
    const int64_t v = indices[m];
    if (v >= 0 && v < V) std::memcpy(y + m * D, W + v * D, row_bytes);
    else std::memset(y + m * D, 0, row_bytes);
  });
}

void embedding_backward(float* dW, const float* dy, const int32_t* indices, int64_t M, int64_t V, int64_t D) {
  const int64_t shares = std::min<int64_t>(kRowShares, V);
  const int64_t rows_per_share = (V + shares - 1) / shares;
  // Work: zeroing V·D plus, per share, M index reads; threads only when the sums are large.
  parallel_for(shares, (V + M) * D >= kParallelMinWork, [&](int64_t s) {
    const int64_t first = s * rows_per_share, last = std::min(V, first + rows_per_share);
    if (first >= last) return;
    std::memset(dW + first * D, 0, static_cast<size_t>((last - first) * D) * sizeof(float));
    for (int64_t m = 0; m < M; ++m) {
      const int64_t v = indices[m];
      if (v < first || v >= last) continue;
      float* row = dW + v * D;
      const float* g = dy + m * D;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) row[d] += g[d];
    }
  });
}

}  // namespace axonal
