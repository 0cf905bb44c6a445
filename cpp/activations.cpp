#include "activations.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace axonal {

namespace {

// One row of softmax in place: subtract the max so exp never overflows.
inline void softmax_row(float* row, int64_t K) {
  float peak = row[0];
  for (int64_t k = 1; k < K; ++k) peak = std::max(peak, row[k]);
  float total = 0.f;
  for (int64_t k = 0; k < K; ++k) {
    row[k] = std::exp(row[k] - peak);
    total += row[k];
  }
  const float inv = 1.f / total;
  for (int64_t k = 0; k < K; ++k) row[k] *= inv;
}

// y (N, K) = act(x + b) with b (K) or null; x may equal y.
template <Act A>
void bias_act_rows(float* y, const float* x, const float* b, int64_t N, int64_t K, float alpha) {
  parallel_for(N, N * K >= kParallelMinWork, [&](int64_t n) {
    const float* xr = x + n * K;
    float* yr = y + n * K;
    if constexpr (A == Act::softmax) {
      for (int64_t k = 0; k < K; ++k) yr[k] = xr[k] + (b ? b[k] : 0.f);
      softmax_row(yr, K);
    } else if (b) {
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) yr[k] = act_forward<A>(xr[k] + b[k], alpha);
    } else {
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) yr[k] = act_forward<A>(xr[k], alpha);
    }
  });
}

}  // namespace

void activation_forward(float* y, const float* x, int64_t N, int64_t K, Act act, float alpha) {
  with_activation(act, [&](auto tag) { bias_act_rows<decltype(tag)::value>(y, x, nullptr, N, K, alpha); });
}

void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t K, Act act, float alpha) {
  with_activation(act, [&](auto tag) { bias_act_rows<decltype(tag)::value>(y, y, b, N, K, alpha); });
}

void activation_backward(float* dx, const float* dy, const float* y, int64_t N, int64_t K, Act act,
                         float alpha) {
  with_activation(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    parallel_for(N, N * K >= kParallelMinWork, [&](int64_t n) {
      const float* dyr = dy + n * K;
      const float* yr = y + n * K;
      float* dxr = dx + n * K;
      if constexpr (A == Act::softmax) {
        // dz = y ⊙ (dy − Σ dy⊙y): the softmax Jacobian applied to dy without forming it.
        float dot = 0.f;
        for (int64_t k = 0; k < K; ++k) dot += dyr[k] * yr[k];
        for (int64_t k = 0; k < K; ++k) dxr[k] = yr[k] * (dyr[k] - dot);
      } else {  // yr holds z instead of y where derivative_from_input(A): act_derivative reads either
#pragma omp simd
        for (int64_t k = 0; k < K; ++k) dxr[k] = dyr[k] * act_derivative<A>(yr[k], alpha);
      }
    });
  });
}

}  // namespace axonal
