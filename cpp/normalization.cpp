#include "normalization.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

namespace axonal {

namespace {

// Per-thread scratch of doubles and floats, grown to the largest width met and then reused.
double* double_scratch(int slot, int64_t count) {
  thread_local std::vector<double> buffers[2];
  std::vector<double>& buffer = buffers[slot];
  if (buffer.size() < static_cast<size_t>(count)) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

float* float_scratch(int slot, int64_t count) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& buffer = buffers[slot];
  if (buffer.size() < static_cast<size_t>(count)) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

// totals[s·C + c] = Σ_m of what row_term(m, acc) adds to acc[s·C + c], for S sums of C columns over M
// rows. The rows are cut into kReductionChunks chunks fixed by M alone; each chunk sums its rows in
// order into its own partials (in parallel above the work threshold) and the partials are added in
// chunk order, so the result has the same bits for any thread count.
template <int S, typename RowTerm>
void column_sums(double* totals, int64_t M, int64_t C, const RowTerm& row_term) {
  const int64_t chunk = (M + kReductionChunks - 1) / kReductionChunks;
  const int64_t chunks = (M + chunk - 1) / chunk;
  double* partials = double_scratch(0, chunks * S * C);
  parallel_for(chunks, M * C * S >= kParallelMinWork, [&](int64_t k) {
    double* acc = partials + k * S * C;
    std::fill(acc, acc + S * C, 0.0);
    const int64_t end = std::min(M, (k + 1) * chunk);
    for (int64_t m = k * chunk; m < end; ++m) row_term(m, acc);
  });
  std::fill(totals, totals + S * C, 0.0);
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t i = 0; i < S * C; ++i) totals[i] += partials[k * S * C + i];
}

// y (M, C) = x·a + b per column, rows in parallel above the work threshold.
void affine_columns(float* y, const float* x, const float* a, const float* b, int64_t M, int64_t C) {
  parallel_for(M, M * C >= kParallelMinWork, [&](int64_t m) {
    const float* xr = x + m * C;
    float* yr = y + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * a[c] + b[c];
  });
}

// a = gamma·inv_std (inv_std without gamma), b = beta − mean·a (−mean·a without beta): y = x·a + b.
void scale_shift(float* a, float* b, const float* mean, const float* inv_std, const float* gamma, const float* beta,
                 int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    a[c] = gamma ? gamma[c] * inv_std[c] : inv_std[c];
    const float shift = mean[c] * a[c];
    b[c] = beta ? beta[c] - shift : -shift;
  }
}

float inverse_std(double variance, double epsilon) { return static_cast<float>(1.0 / std::sqrt(variance + epsilon)); }

}  // namespace

void batch_norm_forward(float* y, float* mean, float* inv_std, float* moving_mean, float* moving_variance,
                        const float* x, const float* gamma, const float* beta, int64_t M, int64_t C, double momentum,
                        double epsilon) {
  if (M == 0 || C == 0) return;
  double* sums = double_scratch(1, C);
  column_sums<1>(sums, M, C, [&](int64_t m, double* acc) {
    const float* xr = x + m * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += xr[c];
  });
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(sums[c] / static_cast<double>(M));
  column_sums<1>(sums, M, C, [&](int64_t m, double* acc) {  // about the rounded mean, as the reference
    const float* xr = x + m * C;
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(xr[c]) - static_cast<double>(mean[c]);
      acc[c] += d * d;
    }
  });
  const float keep = static_cast<float>(momentum), take = static_cast<float>(1.0 - momentum);
  for (int64_t c = 0; c < C; ++c) {
    const double variance = sums[c] / static_cast<double>(M);
    inv_std[c] = inverse_std(variance, epsilon);
    moving_mean[c] = moving_mean[c] * keep + mean[c] * take;  // Keras' order
    moving_variance[c] = moving_variance[c] * keep + static_cast<float>(variance) * take;
  }
  float* a = float_scratch(0, C);
  float* b = float_scratch(1, C);
  scale_shift(a, b, mean, inv_std, gamma, beta, C);
  affine_columns(y, x, a, b, M, C);
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C) {
  if (M == 0 || C == 0) return;
  double* sums = double_scratch(1, 2 * C);  // Σ dy, then Σ dy·x̂
  column_sums<2>(sums, M, C, [&](int64_t m, double* acc) {
    const float *xr = x + m * C, *dr = dy + m * C;
    for (int64_t c = 0; c < C; ++c) {
      const float x_hat = (xr[c] - mean[c]) * inv_std[c];
      acc[c] += dr[c];
      acc[C + c] += static_cast<double>(dr[c]) * static_cast<double>(x_hat);
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    if (dbeta) dbeta[c] = static_cast<float>(sums[c]);
    if (dgamma) dgamma[c] = static_cast<float>(sums[C + c]);
  }
  if (!dx) return;
  float* k = float_scratch(0, C);
  float* means = float_scratch(1, 2 * C);  // mean of dy, mean of dy·x̂
  for (int64_t c = 0; c < C; ++c) {
    k[c] = gamma ? gamma[c] * inv_std[c] : inv_std[c];
    means[c] = static_cast<float>(sums[c] / static_cast<double>(M));
    means[C + c] = static_cast<float>(sums[C + c] / static_cast<double>(M));
  }
  parallel_for(M, M * C >= kParallelMinWork, [&](int64_t m) {
    const float *xr = x + m * C, *dr = dy + m * C;
    float* out = dx + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float x_hat = (xr[c] - mean[c]) * inv_std[c];
      out[c] = k[c] * ((dr[c] - means[c]) - x_hat * means[C + c]);
    }
  });
}

void batch_norm_inference_forward(float* y, const float* x, const float* moving_mean, const float* moving_variance,
                                  const float* gamma, const float* beta, int64_t M, int64_t C, double epsilon) {
  if (M == 0 || C == 0) return;
  float* inv = float_scratch(0, C);
  for (int64_t c = 0; c < C; ++c) inv[c] = inverse_std(moving_variance[c], epsilon);
  float* a = float_scratch(1, 2 * C);
  float* b = a + C;
  scale_shift(a, b, moving_mean, inv, gamma, beta, C);
  affine_columns(y, x, a, b, M, C);
}

void batch_norm_inference_backward(float* dx, const float* dy, const float* moving_variance, const float* gamma,
                                   int64_t M, int64_t C, double epsilon) {
  if (M == 0 || C == 0) return;
  float* a = float_scratch(0, C);
  for (int64_t c = 0; c < C; ++c) {
    const float inv = inverse_std(moving_variance[c], epsilon);
    a[c] = gamma ? gamma[c] * inv : inv;
  }
  parallel_for(M, M * C >= kParallelMinWork, [&](int64_t m) {
    const float* dr = dy + m * C;
    float* out = dx + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = dr[c] * a[c];
  });
}

void layer_norm_forward(float* y, float* mean, float* inv_std, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t K, double epsilon, bool rms) {
  if (R == 0 || K == 0) return;
  // One row per iteration, summed in order by one thread: the same bits for any thread count.
  parallel_for(R, R * K >= kParallelMinWork, [&](int64_t r) {
    const float* xr = x + r * K;
    float* yr = y + r * K;
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += xr[k];
    const float mu = static_cast<float>(sum / static_cast<double>(K));
    double squares = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      const double d = static_cast<double>(xr[k]) - static_cast<double>(mu);
      squares += d * d;
    }
    const float inv = inverse_std(squares / static_cast<double>(K), epsilon);
    mean[r] = mu;
    inv_std[r] = inv;
    for (int64_t k = 0; k < K; ++k) {
      const float a = gamma ? inv * gamma[k] : inv;
      if (rms) {
        yr[k] = xr[k] * a;
        continue;
      }
      const float shift = mu * a;
      yr[k] = xr[k] * a + (beta ? beta[k] - shift : -shift);
    }
  });
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t R, int64_t K, bool rms) {
  if (R == 0) return;
  if (dgamma || dbeta) {
    double* sums = double_scratch(1, 2 * K);  // Σ dy, then Σ dy·ẑ
    column_sums<2>(sums, R, K, [&](int64_t r, double* acc) {
      const float *xr = x + r * K, *dr = dy + r * K;
      const float mu = mean[r], inv = inv_std[r];
      for (int64_t k = 0; k < K; ++k) {
        const float z_hat = rms ? xr[k] * inv : (xr[k] - mu) * inv;
        acc[k] += dr[k];
        acc[K + k] += static_cast<double>(dr[k]) * static_cast<double>(z_hat);
      }
    });
    for (int64_t k = 0; k < K; ++k) {
      if (dbeta) dbeta[k] = rms ? 0.f : static_cast<float>(sums[k]);  // rms_scaling ignores beta
      if (dgamma) dgamma[k] = static_cast<float>(sums[K + k]);
    }
  }
  if (!dx || K == 0) return;
  parallel_for(R, R * K >= kParallelMinWork, [&](int64_t r) {
    const float *xr = x + r * K, *dr = dy + r * K;
    float* out = dx + r * K;
    const float mu = mean[r], inv = inv_std[r];
    double sum_h = 0.0, sum_hz = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      const float h = gamma ? dr[k] * gamma[k] : dr[k];
      const float z_hat = rms ? xr[k] * inv : (xr[k] - mu) * inv;
      sum_h += h;
      sum_hz += static_cast<double>(h) * static_cast<double>(z_hat);
    }
    const float mean_h = static_cast<float>(sum_h / static_cast<double>(K));
    const float mean_hz = static_cast<float>(sum_hz / static_cast<double>(K));
    for (int64_t k = 0; k < K; ++k) {
      const float h = gamma ? dr[k] * gamma[k] : dr[k];
      const float x_hat = (xr[k] - mu) * inv;
      out[k] = inv * ((rms ? h : h - mean_h) - x_hat * mean_hz);
    }
  });
}

}  // namespace axonal
