// Normalization op family on the GPU: Keras' BatchNormalization (per channel over the rows of a batch)
// and LayerNormalization (per row over its features), with the signatures of cpp/normalization.h plus
// the stream, and the maths of backend/reference_normalization.py. Statistics are summed in double in
// a fixed order (a block per 32 channels, or a warp per row, with fixed-order combining), so results
// are the same on every run; nothing is allocated, copied or waited for (capturable in a CUDA graph).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace axonal::cuda {

// x (M, C), gamma, beta (C) or null -> y (M, C); mean, inv_std (C) the batch's; moving_mean,
// moving_variance (C) updated in place: moving·momentum + batch·(1 − momentum)
void batch_norm_forward(float* y, float* mean, float* inv_std, float* moving_mean, float* moving_variance,
                        const float* x, const float* gamma, const float* beta, int64_t M, int64_t C, double momentum,
                        double epsilon, cudaStream_t stream);

// dy, x (M, C), mean, inv_std, gamma (C) -> dx (M, C), dgamma, dbeta (C); null outputs skipped
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C, cudaStream_t stream);

// x (M, C), moving statistics, gamma, beta (C) -> y (M, C) normalised with the moving statistics
void batch_norm_inference_forward(float* y, const float* x, const float* moving_mean, const float* moving_variance,
                                  const float* gamma, const float* beta, int64_t M, int64_t C, double epsilon,
                                  cudaStream_t stream);

// dy (M, C), moving_variance, gamma (C) -> dx (M, C) = dy·gamma/sqrt(moving_variance + epsilon)
void batch_norm_inference_backward(float* dx, const float* dy, const float* moving_variance, const float* gamma,
                                   int64_t M, int64_t C, double epsilon, cudaStream_t stream);

// x (R, K), gamma, beta (K) or null -> y (R, K); mean, inv_std (R); rms: Keras' rms_scaling
void layer_norm_forward(float* y, float* mean, float* inv_std, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t K, double epsilon, bool rms, cudaStream_t stream);

// dy, x (R, K), mean, inv_std (R), gamma (K) -> dx (R, K), dgamma, dbeta (K); null outputs skipped
void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t R, int64_t K, bool rms,
                         cudaStream_t stream);

}  // namespace axonal::cuda
