// Loss op family on the GPU, each fused with its output activation where that is exact (as
// cpp/losses.h). The mean loss never leaves the device: a kernel writes it into the device scalar
// `loss` (float64) and, when `loss_sum` is not null, adds it to that running device sum (an epoch's
// total, read once at its end). Per-row maths is float, the reduction double, in a fixed order.
// `weights` (N) are optional per-sample weights (null: all 1), Keras' sum_over_batch_size.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace axonal::cuda {

// logits (N, K), targets (N, K) one-hot or probabilities -> dlogits (N, K) = w_n (softmax − t) / N
void softmax_cross_entropy(double* loss, double* loss_sum, float* dlogits, const float* logits,
                           const float* targets, const float* weights, int64_t N, int64_t K, cudaStream_t stream);

// logits (N, K), labels (N) class ids -> dlogits (N, K). A label outside [0, K) cannot be checked
// on the host without a copy: its row's gradient and the loss become NaN instead (never a stray read).
template <typename Label>
void softmax_cross_entropy_sparse(double* loss, double* loss_sum, float* dlogits, const float* logits,
                                  const Label* labels, const float* weights, int64_t N, int64_t K,
                                  cudaStream_t stream);

// logits, targets (N, K) -> dlogits (N, K) = w_n (σ(z) − t) / (N·K); loss = mean w·(softplus(z) − t·z)
void sigmoid_binary_cross_entropy(double* loss, double* loss_sum, float* dlogits, const float* logits,
                                  const float* targets, const float* weights, int64_t N, int64_t K,
                                  cudaStream_t stream);

// pred, target (N, K) -> dpred (N, K) = 2 w_n (p − t) / (N·K); loss = mean w·(p − t)²
void mean_squared_error(double* loss, double* loss_sum, float* dpred, const float* pred, const float* target,
                        const float* weights, int64_t N, int64_t K, cudaStream_t stream);

// A device scalar for callers that want the loss on the host (the Python op's float return): one per
// device and stream, made on first use (so not inside a CUDA graph capture).
double* default_loss_slot(cudaStream_t stream);

// *loss copied to the host once `stream` has computed it (waits for the stream).
double fetch_loss(const double* loss, cudaStream_t stream);

}  // namespace axonal::cuda
