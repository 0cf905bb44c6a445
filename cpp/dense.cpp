#include "dense.h"

#include <algorithm>

#include "activations.h"
#include "blas.h"
#include "parallel.h"
#include "scratch.h"

namespace axonal {

void dense_forward(float* y, const float* x, const float* W, const float* b, int64_t N, int64_t C, int64_t K,
                   Act act, float alpha) {
  sgemm(false, false, N, K, C, x, W, 0.f, y);
  bias_activation_inplace(y, b, N, K, act, alpha);
}

void bias_gradient(float* db, const float* dz, int64_t N, int64_t K) {
  // Rows are cut into kReductionChunks fixed chunks (one a row below that many rows: no empty
  // chunks to zero and add: a quarter of a churn-model step otherwise) whose partial sums are added
  // in chunk order: the bits depend on N and K only, never on the thread count.
  const int64_t chunks = std::clamp<int64_t>(N, 1, kReductionChunks), chunk = (N + chunks - 1) / chunks;
  float* partial = scratch(Scratch::bias_partials, chunks * K);
  parallel_for(chunks, N * K >= kParallelMinWork, [&](int64_t c) {
    float* sum = partial + c * K;
    for (int64_t k = 0; k < K; ++k) sum[k] = 0.f;
    for (int64_t n = c * chunk; n < std::min(N, (c + 1) * chunk); ++n) {
      const float* row = dz + n * K;
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) sum[k] += row[k];
    }
  });
  for (int64_t k = 0; k < K; ++k) db[k] = 0.f;
  for (int64_t c = 0; c < chunks; ++c) {
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) db[k] += partial[c * K + k];
  }
}

void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* W,
                    const float* y, int64_t N, int64_t C, int64_t K, Act act, float alpha) {
  activation_backward(dz, dy, y, N, K, act, alpha);
  if (dW) sgemm(true, false, C, K, N, x, dz, 0.f, dW);
  if (db) bias_gradient(db, dz, N, K);
  if (dx) sgemm(false, true, N, C, K, dz, W, 0.f, dx);
}

}  // namespace axonal
