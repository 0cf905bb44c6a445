// Dense op family: y = act(x W + b) with the bias and activation fused into the GEMM's epilogue.
#pragma once
#include <cstdint>

#include "axonal/activation_functors.h"

namespace axonal {

// x (N, C), W (C, K), b (K) or null -> y (N, K)
void dense_forward(float* y, const float* x, const float* W, const float* b, int64_t N, int64_t C, int64_t K,
                   Act act, float alpha);

// dy, y (N, K), x (N, C), W (C, K) -> dz (N, K) = dy ⊙ act'(y), dW (C, K) = xᵀ dz (null: frozen),
// db (K) = Σ_n dz (null: no bias), dx (N, C) = dz Wᵀ (null: not needed, e.g. the first layer)
void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* W,
                    const float* y, int64_t N, int64_t C, int64_t K, Act act, float alpha);

// dz (N, K) -> db (K) = Σ_n dz, with a fixed chunking so that the bits never depend on the thread
// count. Shared with the conv family.
void bias_gradient(float* db, const float* dz, int64_t N, int64_t K);

}  // namespace axonal
