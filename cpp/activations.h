// Activation op family: y = act(x) row-wise, and dx = dy ⊙ act'(·) computed from y, or from the input
// z for the activations whose derivative needs it (derivative_from_input, activation_functors.h).
#pragma once
#include <cstdint>

#include "axonal/activation_functors.h"

namespace axonal {

// x (N, K) -> y (N, K); y may alias x. Softmax normalises each row.
void activation_forward(float* y, const float* x, int64_t N, int64_t K, Act act, float alpha);

// dy, y (N, K) -> dx (N, K); dx may alias dy. y is the output, or the input z where
// derivative_from_input(act).
void activation_backward(float* dx, const float* dy, const float* y, int64_t N, int64_t K, Act act,
                         float alpha);

// In place on y (N, K): y = act(y + b), b (K) or null. The epilogue of dense_forward.
void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t K, Act act, float alpha);

}  // namespace axonal
