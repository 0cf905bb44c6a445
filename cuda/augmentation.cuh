// Augmentation op family on the GPU: the per-image draws of the augmentation layers and their maps,
// and the preprocessing layers' per-feature maps, with the signatures of cpp/augmentation.h plus the
// stream. The draws and the resampling taps come from the shared header
// (cpp/include/axonal/augmentation_functors.h), so parameters are bit-identical to cpu and numpy and
// the float32 results to cpu's. The step is a StepValue (common.cuh): a host number or a device
// counter read when the kernel runs, so a step is capturable as a CUDA graph. Deterministic: the
// backward scatter and the per-image means run one thread per (image, channel) in pixel order (no
// atomics), which is slow for large images but only runs when a trainable layer precedes the
// augmentation (an augmentation on the model's input has no backward pass).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/augmentation_functors.h"
#include "common.cuh"

namespace axonal::cuda {

// params (N, 6) <- the draws of images first_image .. first_image+N−1 of (seed, layer_id, step); ranges:
// low0, high0, low1, high1
void augment_draw(double* params, AugmentKind kind, uint32_t seed, uint32_t layer_id, StepValue<uint64_t> step,
                  int64_t N, int64_t H, int64_t W, const double ranges[4], uint64_t first_image, cudaStream_t stream);

// x (N, H, W, C), params (N, 6) -> y (N, H, W, C), one thread per output pixel
void affine_forward(float* y, const float* x, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                    FillMode mode, bool bilinear, float fill_value, cudaStream_t stream);

// dy (N, H, W, C) -> dx (N, H, W, C): zeros, then the transposed taps, one thread per (image, channel)
void affine_backward(float* dx, const float* dy, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                     FillMode mode, bool bilinear, cudaStream_t stream);

// x (N, H, W, C) -> y = clip((x − m)·c + m, low, high), inside = not clipped; one thread per (image, channel)
void contrast_forward(float* y, uint8_t* inside, const float* x, const double* params, int64_t N, int64_t H, int64_t W,
                      int64_t C, float low, float high, cudaStream_t stream);

// dy, inside (N, H, W, C) -> dx = c·g + (1 − c)·mean(g), g = dy·inside
void contrast_backward(float* dx, const float* dy, const uint8_t* inside, const double* params, int64_t N, int64_t H,
                       int64_t W, int64_t C, cudaStream_t stream);

// x (N, K) -> y = x·scale + offset | (x − mean) / deviation; dy -> dx = dy·scale | dy / deviation
void rescale_forward(float* y, const float* x, const float* scale, const float* offset, int64_t N, int64_t K,
                     cudaStream_t stream);
void normalize_forward(float* y, const float* x, const float* mean, const float* deviation, int64_t N, int64_t K,
                       cudaStream_t stream);
void rescale_backward(float* dx, const float* dy, const float* scale, int64_t N, int64_t K, cudaStream_t stream);
void normalize_backward(float* dx, const float* dy, const float* deviation, int64_t N, int64_t K,
                        cudaStream_t stream);

}  // namespace axonal::cuda
