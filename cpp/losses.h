// Loss op family, each fused with its output activation where that is exact. Every function returns
// the mean loss over the batch (as a double) and writes the gradient of that mean. `weights` (N) are
// optional per-sample weights (null: all 1): loss = Σ_n w_n·l_n / N and row n of the gradient is
// scaled by w_n (Keras' sum_over_batch_size reduction); l_n is a sample's mean over its K outputs.
#pragma once
#include <cstdint>

namespace axonal {

// logits (N, K), targets (N, K) one-hot or probabilities -> dlogits (N, K) = (softmax − t) / N
double softmax_cross_entropy(float* dlogits, const float* logits, const float* targets, const float* weights,
                             int64_t N, int64_t K);

// logits (N, K), labels (N) class ids in [0, K) -> dlogits (N, K). Labels are checked by the caller.
template <typename Label>
double softmax_cross_entropy_sparse(float* dlogits, const float* logits, const Label* labels, const float* weights,
                                    int64_t N, int64_t K);

// logits, targets (N, K) -> dlogits (N, K) = w_n (σ(z) − t) / (N·K); loss = mean w·(softplus(z) − t·z)
double sigmoid_binary_cross_entropy(float* dlogits, const float* logits, const float* targets, const float* weights,
                                    int64_t N, int64_t K);

// pred, target (N, K) -> dpred (N, K) = 2 w_n (p − t) / (N·K); loss = mean w·(p − t)²
double mean_squared_error(float* dpred, const float* pred, const float* target, const float* weights, int64_t N,
                          int64_t K);

}  // namespace axonal
