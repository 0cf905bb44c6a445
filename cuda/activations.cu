// Activation kernels. Elementwise activations run one thread per element (grid-stride), the
// activation picked inside the kernel by with_activation(); softmax runs one warp per row, so a
// row's max and sum are warp shuffles with no shared memory or block barrier. The maths is
// activation_functors.h, shared with cpp/, so both backends round alike.
#include "activations.cuh"
#include "common.cuh"

namespace axonal::cuda {

namespace {

constexpr int kRowsPerBlock = kThreads / kWarp;  // one warp per row

// The row a warp owns first, and the stride to its next one (grid-stride over rows).
__device__ __forceinline__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}
__device__ __forceinline__ int64_t row_stride() { return static_cast<int64_t>(gridDim.x) * kRowsPerBlock; }

// x (N, K), b (K) or null -> y (N, K) = act(x + b) elementwise (n = N·K); y may equal x. The
// activation is chosen once per thread by the shared dispatcher (a device-side switch), so the loop
// itself holds no branch on it.
__global__ void bias_act_kernel(float* y, const float* x, const float* b, int64_t n, int64_t K, Act act,
                                float alpha) {
  with_activation(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
      y[i] = act_forward<A>(b ? x[i] + b[i % K] : x[i], alpha);
  });
}

// x (N, K), b (K) or null -> y (N, K) = softmax(x + b) per row, max subtracted so that no exponent
// overflows; y may equal x (each lane reads an element before it writes that same element, and the
// row's max is complete before the first write).
__global__ void softmax_rows_kernel(float* y, const float* x, const float* b, int64_t N, int64_t K) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t row = first_row(); row < N; row += row_stride()) {
    const float* xr = x + row * K;
    float* yr = y + row * K;
    float peak = -INFINITY;
    for (int64_t k = lane; k < K; k += kWarp) peak = fmaxf(peak, b ? xr[k] + b[k] : xr[k]);
    peak = warp_max(peak);
    float total = 0.f;
    for (int64_t k = lane; k < K; k += kWarp) {
      const float e = expf((b ? xr[k] + b[k] : xr[k]) - peak);
      yr[k] = e;
      total += e;
    }
    const float inv = 1.f / warp_sum(total);
    for (int64_t k = lane; k < K; k += kWarp) yr[k] *= inv;
  }
}

// dy, y (N, K) -> dx (N, K) = dy ⊙ act'(y) elementwise (n = N·K); dx may equal dy.
__global__ void act_backward_kernel(float* dx, const float* dy, const float* y, int64_t n, Act act, float alpha) {
  with_activation(act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
      dx[i] = dy[i] * act_derivative<A>(y[i], alpha);
  });
}

// dy, y (N, K) -> dx (N, K) = y ⊙ (dy − Σ_k dy⊙y) per row: the softmax Jacobian applied to dy
// without forming it. One warp per row; the dot is complete before any write, so dx may equal dy.
__global__ void softmax_backward_kernel(float* dx, const float* dy, const float* y, int64_t N, int64_t K) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t row = first_row(); row < N; row += row_stride()) {
    const float* dyr = dy + row * K;
    const float* yr = y + row * K;
    float dot = 0.f;
    for (int64_t k = lane; k < K; k += kWarp) dot += dyr[k] * yr[k];
    dot = warp_sum(dot);
    for (int64_t k = lane; k < K; k += kWarp) dx[row * K + k] = yr[k] * (dyr[k] - dot);
  }
}

// y = act(x + b) for any activation: the one launch behind activation_forward and the dense epilogue.
void bias_activation(float* y, const float* x, const float* b, int64_t N, int64_t K, Act act, float alpha,
                     cudaStream_t stream) {
  if (N <= 0 || K <= 0) return;
  if (act == Act::softmax)
    softmax_rows_kernel<<<blocks_for(N, kRowsPerBlock), kThreads, 0, stream>>>(y, x, b, N, K);
  else
    bias_act_kernel<<<blocks_for(N * K), kThreads, 0, stream>>>(y, x, b, N * K, K, act, alpha);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void activation_forward(float* y, const float* x, int64_t N, int64_t K, Act act, float alpha, cudaStream_t stream) {
  bias_activation(y, x, nullptr, N, K, act, alpha, stream);
}

void bias_activation_inplace(float* y, const float* b, int64_t N, int64_t K, Act act, float alpha,
                             cudaStream_t stream) {
  if (act == Act::linear && !b) return;  // y = y: nothing to launch
  bias_activation(y, y, b, N, K, act, alpha, stream);
}

void activation_backward(float* dx, const float* dy, const float* y, int64_t N, int64_t K, Act act, float alpha,
                         cudaStream_t stream) {
  if (N <= 0 || K <= 0) return;
  if (act == Act::softmax)
    softmax_backward_kernel<<<blocks_for(N, kRowsPerBlock), kThreads, 0, stream>>>(dx, dy, y, N, K);
  else
    act_backward_kernel<<<blocks_for(N * K), kThreads, 0, stream>>>(dx, dy, y, N * K, act, alpha);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace axonal::cuda
