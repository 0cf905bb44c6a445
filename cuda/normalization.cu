// Normalization kernels. Column statistics (BatchNormalization, and LayerNormalization's dgamma and
// dbeta) run one block per 32 columns: each warp lane owns a column, the block's 8 warps take every
// 8th row, and the 8 partial sums of a column are added in warp order through shared memory; the same
// block then writes its columns' outputs, so no partial sums leave the block. Row statistics
// (LayerNormalization) run one warp per row with butterfly sums. Every order is fixed: the same bits
// on every run for the same sizes.
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "normalization.cuh"

namespace axonal::cuda {

namespace {

constexpr int kRowGroups = kThreads / kWarp;  // rows taken in parallel by a column block
constexpr int kRowsPerBlock = kThreads / kWarp;  // rows of a warp-per-row launch's block

unsigned column_blocks(int64_t C) { return static_cast<unsigned>((C + kWarp - 1) / kWarp); }

// The sum of `mine` over the block's row groups for this thread's column, given to every thread of the
// column. All threads of the block call it (it holds barriers).
__device__ double column_total(double mine, double* shared) {
  const int lane = threadIdx.x % kWarp, group = threadIdx.x / kWarp;
  shared[group * kWarp + lane] = mine;
  __syncthreads();
  double total = 0.0;
  for (int g = 0; g < kRowGroups; ++g) total += shared[g * kWarp + lane];
  __syncthreads();  // the next call reuses `shared`
  return total;
}

__device__ float inverse_std(double variance, double epsilon) {
  return static_cast<float>(1.0 / sqrt(variance + epsilon));
}

__global__ void batch_norm_forward_kernel(float* y, float* mean, float* inv_std, float* moving_mean,
                                          float* moving_variance, const float* x, const float* gamma,
                                          const float* beta, int64_t M, int64_t C, float keep, float take,
                                          double epsilon) {
  __shared__ double shared[kThreads];
  const int group = threadIdx.x / kWarp;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x % kWarp;
  const bool active = c < C;
  double sum = 0.0;
  if (active)
    for (int64_t m = group; m < M; m += kRowGroups) sum += x[m * C + c];
  const float mu = static_cast<float>(column_total(sum, shared) / static_cast<double>(M));
  double squares = 0.0;  // about the rounded mean, as the reference
  if (active)
    for (int64_t m = group; m < M; m += kRowGroups) {
      const double d = static_cast<double>(x[m * C + c]) - static_cast<double>(mu);
      squares += d * d;
    }
  const double variance = column_total(squares, shared) / static_cast<double>(M);
  if (!active) return;  // after the last barrier
  const float inv = inverse_std(variance, epsilon);
  if (group == 0) {
    mean[c] = mu;
    inv_std[c] = inv;
    moving_mean[c] = moving_mean[c] * keep + mu * take;  // Keras' order
    moving_variance[c] = moving_variance[c] * keep + static_cast<float>(variance) * take;
  }
  const float a = gamma ? gamma[c] * inv : inv;
  const float shift = mu * a;
  const float b = beta ? beta[c] - shift : -shift;
  for (int64_t m = group; m < M; m += kRowGroups) y[m * C + c] = x[m * C + c] * a + b;
}

__global__ void batch_norm_backward_kernel(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                           const float* mean, const float* inv_std, const float* gamma, int64_t M,
                                           int64_t C) {
  __shared__ double shared[kThreads];
  const int group = threadIdx.x / kWarp;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x % kWarp;
  const bool active = c < C;
  const float mu = active ? mean[c] : 0.f, inv = active ? inv_std[c] : 0.f;
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  if (active)
    for (int64_t m = group; m < M; m += kRowGroups) {
      const float d = dy[m * C + c], x_hat = (x[m * C + c] - mu) * inv;
      sum_dy += d;
      sum_dy_xhat += static_cast<double>(d) * static_cast<double>(x_hat);
    }
  sum_dy = column_total(sum_dy, shared);
  sum_dy_xhat = column_total(sum_dy_xhat, shared);
  if (!active) return;
  if (group == 0) {
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
  }
  if (!dx) return;
  const float k = gamma ? gamma[c] * inv : inv;
  const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(M));
  const float mean_dy_xhat = static_cast<float>(sum_dy_xhat / static_cast<double>(M));
  for (int64_t m = group; m < M; m += kRowGroups) {
    const float x_hat = (x[m * C + c] - mu) * inv;
    dx[m * C + c] = k * ((dy[m * C + c] - mean_dy) - x_hat * mean_dy_xhat);
  }
}

// LayerNormalization's dgamma (Σ_rows dy·ẑ) and dbeta (Σ_rows dy, 0 with rms) per column.
__global__ void layer_norm_weight_grads_kernel(float* dgamma, float* dbeta, const float* dy, const float* x,
                                               const float* mean, const float* inv_std, int64_t R, int64_t K,
                                               bool rms) {
  __shared__ double shared[kThreads];
  const int group = threadIdx.x / kWarp;
  const int64_t k = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x % kWarp;
  const bool active = k < K;
  double sum_dy = 0.0, sum_dy_z = 0.0;
  if (active)
    for (int64_t r = group; r < R; r += kRowGroups) {
      const float d = dy[r * K + k], xv = x[r * K + k], inv = inv_std[r];
      const float z_hat = rms ? xv * inv : (xv - mean[r]) * inv;
      sum_dy += d;
      sum_dy_z += static_cast<double>(d) * static_cast<double>(z_hat);
    }
  sum_dy = column_total(sum_dy, shared);
  sum_dy_z = column_total(sum_dy_z, shared);
  if (!active || group != 0) return;
  if (dbeta) dbeta[k] = rms ? 0.f : static_cast<float>(sum_dy);
  if (dgamma) dgamma[k] = static_cast<float>(sum_dy_z);
}

__global__ void layer_norm_forward_kernel(float* y, float* mean, float* inv_std, const float* x, const float* gamma,
                                          const float* beta, int64_t R, int64_t K, double epsilon, bool rms) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < R;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const float* xr = x + r * K;
    float* yr = y + r * K;
    double sum = 0.0;
    for (int64_t k = lane; k < K; k += kWarp) sum += xr[k];
    const float mu = static_cast<float>(warp_sum(sum) / static_cast<double>(K));
    double squares = 0.0;
    for (int64_t k = lane; k < K; k += kWarp) {
      const double d = static_cast<double>(xr[k]) - static_cast<double>(mu);
      squares += d * d;
    }
    const float inv = inverse_std(warp_sum(squares) / static_cast<double>(K), epsilon);
    if (lane == 0) {
      mean[r] = mu;
      inv_std[r] = inv;
    }
    for (int64_t k = lane; k < K; k += kWarp) {
      const float a = gamma ? inv * gamma[k] : inv;
      if (rms) {
        yr[k] = xr[k] * a;
      } else {
        const float shift = mu * a;
        yr[k] = xr[k] * a + (beta ? beta[k] - shift : -shift);
      }
    }
  }
}

__global__ void layer_norm_backward_kernel(float* dx, const float* dy, const float* x, const float* mean,
                                           const float* inv_std, const float* gamma, int64_t R, int64_t K, bool rms) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < R;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const float *xr = x + r * K, *dr = dy + r * K;
    float* out = dx + r * K;
    const float mu = mean[r], inv = inv_std[r];
    double sum_h = 0.0, sum_hz = 0.0;
    for (int64_t k = lane; k < K; k += kWarp) {
      const float h = gamma ? dr[k] * gamma[k] : dr[k];
      const float z_hat = rms ? xr[k] * inv : (xr[k] - mu) * inv;
      sum_h += h;
      sum_hz += static_cast<double>(h) * static_cast<double>(z_hat);
    }
    const float mean_h = static_cast<float>(warp_sum(sum_h) / static_cast<double>(K));
    const float mean_hz = static_cast<float>(warp_sum(sum_hz) / static_cast<double>(K));
    for (int64_t k = lane; k < K; k += kWarp) {
      const float h = gamma ? dr[k] * gamma[k] : dr[k];
      const float x_hat = (xr[k] - mu) * inv;
      out[k] = inv * ((rms ? h : h - mean_h) - x_hat * mean_hz);
    }
  }
}

}  // namespace

void batch_norm_forward(float* y, float* mean, float* inv_std, float* moving_mean, float* moving_variance,
                        const float* x, const float* gamma, const float* beta, int64_t M, int64_t C, double momentum,
                        double epsilon, cudaStream_t stream) {
  if (M == 0 || C == 0) return;
  batch_norm_forward_kernel<<<column_blocks(C), kThreads, 0, stream>>>(
      y, mean, inv_std, moving_mean, moving_variance, x, gamma, beta, M, C, static_cast<float>(momentum),
      static_cast<float>(1.0 - momentum), epsilon);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C, cudaStream_t stream) {
  if (M == 0 || C == 0) return;
  batch_norm_backward_kernel<<<column_blocks(C), kThreads, 0, stream>>>(dx, dgamma, dbeta, dy, x, mean, inv_std,
                                                                        gamma, M, C);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_inference_forward(float* y, const float* x, const float* moving_mean, const float* moving_variance,
                                  const float* gamma, const float* beta, int64_t M, int64_t C, double epsilon,
                                  cudaStream_t stream) {
  if (M == 0 || C == 0) return;
  launch_elementwise(M * C, stream, [=] __device__(int64_t i) {
    const int64_t c = i % C;
    const float inv = inverse_std(moving_variance[c], epsilon);
    const float a = gamma ? gamma[c] * inv : inv;
    const float shift = moving_mean[c] * a;
    y[i] = x[i] * a + (beta ? beta[c] - shift : -shift);
  });
}

void batch_norm_inference_backward(float* dx, const float* dy, const float* moving_variance, const float* gamma,
                                   int64_t M, int64_t C, double epsilon, cudaStream_t stream) {
  if (M == 0 || C == 0) return;
  launch_elementwise(M * C, stream, [=] __device__(int64_t i) {
    const int64_t c = i % C;
    const float inv = inverse_std(moving_variance[c], epsilon);
    dx[i] = dy[i] * (gamma ? gamma[c] * inv : inv);
  });
}

void layer_norm_forward(float* y, float* mean, float* inv_std, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t K, double epsilon, bool rms, cudaStream_t stream) {
  if (R == 0 || K == 0) return;
  layer_norm_forward_kernel<<<blocks_for(R, kRowsPerBlock), kThreads, 0, stream>>>(y, mean, inv_std, x, gamma, beta,
                                                                                   R, K, epsilon, rms);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t R, int64_t K, bool rms,
                         cudaStream_t stream) {
  if (R == 0 || K == 0) return;
  if (dgamma || dbeta) {
    layer_norm_weight_grads_kernel<<<column_blocks(K), kThreads, 0, stream>>>(dgamma, dbeta, dy, x, mean, inv_std, R,
                                                                              K, rms);
    AXONAL_CUDA_CHECK(cudaGetLastError());
  }
  if (dx) {
    layer_norm_backward_kernel<<<blocks_for(R, kRowsPerBlock), kThreads, 0, stream>>>(dx, dy, x, mean, inv_std,
                                                                                      gamma, R, K, rms);
    AXONAL_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace axonal::cuda
