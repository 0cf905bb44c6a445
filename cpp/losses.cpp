#include "losses.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace axonal {

namespace {

// Σ_{i<count} term(i) in double with a fixed chunking (parallel.h), so the result has the same bits
// for any thread count.
template <typename Term>
double chunked_sum(int64_t count, int64_t work_per_item, Term term) {
  double partial[kReductionChunks] = {0.0};
  const int64_t chunk = (count + kReductionChunks - 1) / kReductionChunks;
  parallel_for(kReductionChunks, count * work_per_item >= kParallelMinWork, [&](int64_t c) {
    const int64_t end = std::min(count, (c + 1) * chunk);
    double sum = 0.0;
    for (int64_t i = c * chunk; i < end; ++i) sum += term(i);
    partial[c] = sum;
  });
  double total = 0.0;
  for (int64_t c = 0; c < kReductionChunks; ++c) total += partial[c];
  return total;
}

// Writes softmax(z_row) − onehot/probabilities into d_row (unscaled) and returns the row's
// logsumexp(z) − Σ t·z. target(k) gives the row's target for class k.
template <typename Target>
double softmax_ce_row(float* d_row, const float* z_row, int64_t K, float scale, Target target) {
  float peak = z_row[0];
  for (int64_t k = 1; k < K; ++k) peak = std::max(peak, z_row[k]);
  // Everything that reads z comes before the first write to d: the two may be one array.
  double target_dot = 0.0, target_sum = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    const float t = target(k);
    target_dot += static_cast<double>(t) * (z_row[k] - peak);
    target_sum += t;
  }
  float total = 0.f;
  for (int64_t k = 0; k < K; ++k) {
    d_row[k] = std::exp(z_row[k] - peak);
    total += d_row[k];
  }
  const float inv = 1.f / total;
  for (int64_t k = 0; k < K; ++k) d_row[k] = (d_row[k] * inv - target(k)) * scale;
  // −Σ t log softmax = (Σ t)(log Σ e^(z−peak)) − Σ t (z − peak)
  return target_sum * std::log(static_cast<double>(total)) - target_dot;
}

}  // namespace

// The weight of sample n (1 without weights).
static inline float weight_of(const float* weights, int64_t n) { return weights ? weights[n] : 1.f; }

double softmax_cross_entropy(float* dlogits, const float* logits, const float* targets, const float* weights,
                             int64_t N, int64_t K) {
  const float scale = 1.f / static_cast<float>(N);
  const double sum = chunked_sum(N, K, [&](int64_t n) {
    const float* t = targets + n * K;
    const float w = weight_of(weights, n);
    return w * softmax_ce_row(dlogits + n * K, logits + n * K, K, w * scale, [t](int64_t k) { return t[k]; });
  });
  return sum / static_cast<double>(N);
}

template <typename Label>
double softmax_cross_entropy_sparse(float* dlogits, const float* logits, const Label* labels, const float* weights,
                                    int64_t N, int64_t K) {
  const float scale = 1.f / static_cast<float>(N);
  const double sum = chunked_sum(N, K, [&](int64_t n) {
    const int64_t label = static_cast<int64_t>(labels[n]);
    const float w = weight_of(weights, n);
    return w * softmax_ce_row(dlogits + n * K, logits + n * K, K, w * scale,
                              [label](int64_t k) { return k == label ? 1.f : 0.f; });
  });
  return sum / static_cast<double>(N);
}

template double softmax_cross_entropy_sparse<int32_t>(float*, const float*, const int32_t*, const float*, int64_t,
                                                      int64_t);
template double softmax_cross_entropy_sparse<int64_t>(float*, const float*, const int64_t*, const float*, int64_t,
                                                      int64_t);

double sigmoid_binary_cross_entropy(float* dlogits, const float* logits, const float* targets, const float* weights,
                                    int64_t N, int64_t K) {
  const int64_t n = N * K;
  const float scale = 1.f / static_cast<float>(n);
  const double sum = chunked_sum(n, 8, [&](int64_t i) {
    const float z = logits[i], t = targets[i], w = weight_of(weights, i / K);
    // softplus(z) − t·z = max(z, 0) − t·z + log1p(e^−|z|): finite for any z.
    const float e = std::exp(-std::fabs(z));
    const float sigmoid = z >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
    dlogits[i] = (sigmoid - t) * w * scale;
    return w * (static_cast<double>(std::max(z, 0.f) - t * z) + std::log1p(static_cast<double>(e)));
  });
  return sum / static_cast<double>(n);
}

double mean_squared_error(float* dpred, const float* pred, const float* target, const float* weights, int64_t N,
                          int64_t K) {
  const int64_t n = N * K;
  const float scale = 2.f / static_cast<float>(n);
  const double sum = chunked_sum(n, 1, [&](int64_t i) {
    const float diff = pred[i] - target[i], w = weight_of(weights, i / K);
    dpred[i] = diff * w * scale;
    return static_cast<double>(w) * diff * diff;
  });
  return sum / static_cast<double>(n);
}

}  // namespace axonal
