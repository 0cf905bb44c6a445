// Activation op family on the GPU: y = act(x) row-wise and dx = dy ⊙ act'(·) computed from y. Same
// signatures as cpp/activations.h plus the stream every kernel is queued on.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/activation_functors.h"

namespace axonal::cuda {

// x (N, K) -> y (N, K); y may alias x. Softmax normalises each row.
void activation_forward(float* y, const float* x, int64_t N, int64_t K, Act act, float alpha, cudaStream_t stream);

// dy, y (N, K) -> dx (N, K); dx may alias dy.
void activation_backward(float* dx, const float* dy, const float* y, int64_t N, int64_t K, Act act, float alpha,
                         cudaStream_t stream);

// In place on y (N, K): y = act(y + b), b (K) or null. The epilogue of dense_forward.
void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t K, Act act, float alpha,
                             cudaStream_t stream);

}  // namespace axonal::cuda
