#include "dense.h"

#include "activations.h"
#include "blas.h"

namespace axonal {

void dense_forward(float* y, const float* x, const float* W, const float* b, int64_t N, int64_t C, int64_t K,
                   Act act, float alpha) {
  sgemm(false, false, N, K, C, x, W, 0.f, y);
  bias_activation_inplace(y, b, N, K, act, alpha);
}

void bias_gradient(float* db, const float* dz, int64_t N, int64_t K) {
  for (int64_t k = 0; k < K; ++k) db[k] = 0.f;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = dz + n * K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) db[k] += row[k];
  }
}

void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* W,
                    const float* y, int64_t N, int64_t C, int64_t K, Act act, float alpha) {
  activation_backward(dz, dy, y, N, K, act, alpha);
  sgemm(true, false, C, K, N, x, dz, 0.f, dW);
  if (db) bias_gradient(db, dz, N, K);
  if (dx) sgemm(false, true, N, C, K, dz, W, 0.f, dx);
}

}  // namespace axonal
