// Normalization op family: Keras' BatchNormalization (per channel, over the rows of a batch) and
// LayerNormalization (per row, over its features), forward and backward, with the maths of
// backend/reference_normalization.py. Every array is float32, row-major. Plain entry points with raw
// pointers, callable from the bindings (normalization_bindings.cpp) and from the native training
// loop; they check nothing (the bindings do) and allocate nothing after their first call with a
// given width (per-thread scratch). Statistics are summed in double over a fixed chunking of the
// rows (bits independent of the thread count) and rounded once to float; no rows: nothing is written.
#pragma once
#include <cstdint>

namespace axonal {

// x (M, C), gamma, beta (C) or null -> y (M, C) = x·a + b, a = gamma·inv_std, b = beta − mean·a;
// mean, inv_std (C) = the batch's mean and 1/sqrt(biased variance + epsilon);
// moving_mean, moving_variance (C) updated in place: moving·momentum + batch·(1 − momentum)
void batch_norm_forward(float* y, float* mean, float* inv_std, float* moving_mean, float* moving_variance,
                        const float* x, const float* gamma, const float* beta, int64_t M, int64_t C, double momentum,
                        double epsilon);

// dy, x (M, C), mean, inv_std (C) from batch_norm_forward, gamma (C) or null -> dbeta (C) = Σ dy,
// dgamma (C) = Σ dy·x̂, dx (M, C) = gamma·inv_std·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·inv_std;
// each output may be null (skipped)
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C);

// x (M, C), moving_mean, moving_variance, gamma, beta (C) (gamma, beta may be null) -> y (M, C),
// normalised with the moving statistics
void batch_norm_inference_forward(float* y, const float* x, const float* moving_mean, const float* moving_variance,
                                  const float* gamma, const float* beta, int64_t M, int64_t C, double epsilon);

// dy (M, C), moving_variance, gamma (C) (gamma may be null) -> dx (M, C) = dy·gamma/sqrt(moving_variance + ε)
void batch_norm_inference_backward(float* dx, const float* dy, const float* moving_variance, const float* gamma,
                                   int64_t M, int64_t C, double epsilon);

// x (R, K), gamma, beta (K) or null -> y (R, K); mean, inv_std (R) per row. rms: y = x·inv_std·gamma
// (Keras 3.15's deprecated rms_scaling: no centring, beta ignored)
void layer_norm_forward(float* y, float* mean, float* inv_std, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t K, double epsilon, bool rms);

// dy, x (R, K), mean, inv_std (R), gamma (K) or null -> dx (R, K), dgamma (K) = Σ_rows dy·ẑ,
// dbeta (K) = Σ_rows dy (0 with rms), each may be null. h = dy·gamma, x̂ = (x − mean)·inv_std,
// ẑ = x̂ (x·inv_std with rms): dx = inv_std·(h − mean(h) − x̂·mean(h·ẑ)) (no mean(h) term with rms)
void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t R, int64_t K, bool rms);

}  // namespace axonal
