// Loss op family, each fused with its output activation where that is exact. Every function returns
// the mean loss over the batch (as a double) and writes the gradient of that mean.
#pragma once
#include <cstdint>

namespace axonal {

// logits (N, K), targets (N, K) one-hot or probabilities -> dlogits (N, K) = (softmax − t) / N
double softmax_cross_entropy(float* dlogits, const float* logits, const float* targets, int64_t N, int64_t K);

// logits (N, K), labels (N) class ids in [0, K) -> dlogits (N, K). Labels are checked by the caller.
template <typename Label>
double softmax_cross_entropy_sparse(float* dlogits, const float* logits, const Label* labels, int64_t N,
                                    int64_t K);

// logits, targets (n) -> dlogits (n) = (σ(z) − t) / n; loss = mean softplus(z) − t·z
double sigmoid_binary_cross_entropy(float* dlogits, const float* logits, const float* targets, int64_t n);

// pred, target (n) -> dpred (n) = 2 (p − t) / n; loss = mean (p − t)²
double mean_squared_error(float* dpred, const float* pred, const float* target, int64_t n);

}  // namespace axonal
