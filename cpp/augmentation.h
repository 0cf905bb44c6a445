// Augmentation op family: the per-image random parameters of the augmentation layers and the maps
// they apply (affine resampling with Keras' fill modes, contrast), plus the preprocessing layers'
// per-feature maps (rescale, normalize), forward and backward, with the maths of
// backend/reference_augmentation.py. Every image array is float32 (N, H, W, C), row-major; params
// (N, 6) float64 (augmentation_functors.h). Plain entry points with raw pointers, callable from the
// bindings (augmentation_bindings.cpp) and the native training loop; they check nothing (the
// bindings do) and allocate nothing. Images run in parallel (OpenMP) above the work threshold; each
// image is computed by one thread in a fixed order, so the bits do not depend on the thread count.
#pragma once
#include <cstdint>

#include "axonal/augmentation_functors.h"

namespace axonal {

// params (N, 6) <- the draws of images first_image .. first_image+N−1 of (seed, layer_id, step); ranges
// (4): low0, high0, low1, high1. first_image: a data-parallel shard's first image in its global batch,
// so every rank draws what the one-process run draws for the same image (docs/distributed.md).
void augment_draw(double* params, AugmentKind kind, uint32_t seed, uint32_t layer_id, uint64_t step, int64_t N,
                  int64_t H, int64_t W, const double* ranges, uint64_t first_image = 0);

// x (N, H, W, C), params (N, 6) -> y (N, H, W, C): y[n, i, j] = Σ_taps w·x[n, tap], plus the fill
// value's share (1 − Σ w)·fill with FillMode::constant
void affine_forward(float* y, const float* x, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                    FillMode mode, bool bilinear, float fill_value);

// dy (N, H, W, C) -> dx (N, H, W, C): zeros, then dx[n, tap] += w·dy[n, i, j], pixels and taps in order
void affine_backward(float* dx, const float* dy, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                     FillMode mode, bool bilinear);

// x (N, H, W, C), params (N, 6) (factor c in column 0) -> y = clip((x − m)·c + m, low, high), m the
// mean of each image's channel (summed in double in pixel order); inside (N, H, W, C) = not clipped
void contrast_forward(float* y, uint8_t* inside, const float* x, const double* params, int64_t N, int64_t H, int64_t W,
                      int64_t C, float low, float high);

// dy, inside (N, H, W, C) -> dx = c·g + (1 − c)·mean(g), g = dy·inside
void contrast_backward(float* dx, const float* dy, const uint8_t* inside, const double* params, int64_t N, int64_t H,
                       int64_t W, int64_t C);

// x (N, K), a, b (K) -> y (N, K) = x·a + b (rescale) or (x − b) / a (normalize: a the deviation, b the mean)
void rescale_forward(float* y, const float* x, const float* scale, const float* offset, int64_t N, int64_t K);
void normalize_forward(float* y, const float* x, const float* mean, const float* deviation, int64_t N, int64_t K);
// dy (N, K) -> dx = dy·scale (rescale) or dy / deviation (normalize)
void rescale_backward(float* dx, const float* dy, const float* scale, int64_t N, int64_t K);
void normalize_backward(float* dx, const float* dy, const float* deviation, int64_t N, int64_t K);

}  // namespace axonal
