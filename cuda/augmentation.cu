// Augmentation kernels (augmentation.cuh). The per-image maths is augmentation_functors.h, shared
// with cpp/augmentation.cpp; each kernel computes what the C++ loop computes in the same order, so
// cpu and cuda give the same bits (built with --fmad=false).
#include "augmentation.cuh"

namespace axonal::cuda {

namespace {

struct Ranges {
  double v[4];
};

// One thread per image: its Philox block and parameters; the step read once per thread.
__global__ void augment_draw_kernel(double* params, AugmentKind kind, uint32_t seed, uint32_t layer_id,
                                    StepValue<uint64_t> step_value, int64_t N, int64_t H, int64_t W, Ranges ranges,
                                    uint64_t first_image) {
  const uint64_t step = step_value.get();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < N; n += stride)
    augment_draw_image(params + n * kAugmentParams, kind, ranges.v, H, W, seed, layer_id, step,
                       first_image + static_cast<uint64_t>(n));
}

// One thread per output pixel (n, i, j): its taps, then every channel, as the C++ loop.
__global__ void affine_forward_kernel(float* y, const float* x, const double* params, int64_t N, int64_t H, int64_t W,
                                      int64_t C, FillMode mode, bool bilinear, float fill_value) {
  const int64_t pixels = H * W, total = N * pixels;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < total; q += stride) {
    const int64_t n = q / pixels, p = q % pixels;
    const AugmentTaps taps = augment_taps(params + n * kAugmentParams, p / W, p % W, H, W, mode, bilinear);
    const float* image = x + n * pixels * C;
    float outside = 0.f;
    if (mode == FillMode::constant) {
      float sum = taps.weight[0];
      for (int t = 1; t < taps.count; ++t) sum += taps.weight[t];
      outside = (1.f - sum) * fill_value;
    }
    for (int64_t c = 0; c < C; ++c) {
      float acc = 0.f;
      for (int t = 0; t < taps.count; ++t) acc += image[taps.pixel[t] * C + c] * taps.weight[t];
      if (mode == FillMode::constant) acc += outside;
      y[q * C + c] = acc;
    }
  }
}

// One thread per (image, channel): zeros, then every pixel's taps in order (no atomics).
__global__ void affine_backward_kernel(float* dx, const float* dy, const double* params, int64_t N, int64_t H,
                                       int64_t W, int64_t C, FillMode mode, bool bilinear) {
  const int64_t pixels = H * W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < N * C; q += stride) {
    const int64_t n = q / C, c = q % C;
    const double* m = params + n * kAugmentParams;
    float* out = dx + n * pixels * C + c;
    const float* grad = dy + n * pixels * C + c;
    for (int64_t p = 0; p < pixels; ++p) out[p * C] = 0.f;
    for (int64_t p = 0; p < pixels; ++p) {
      const AugmentTaps taps = augment_taps(m, p / W, p % W, H, W, mode, bilinear);
      for (int t = 0; t < taps.count; ++t) out[taps.pixel[t] * C] += grad[p * C] * taps.weight[t];
    }
  }
}

// One thread per (image, channel): the mean in double in pixel order, then the channel's values.
__global__ void contrast_forward_kernel(float* y, uint8_t* inside, const float* x, const double* params, int64_t N,
                                        int64_t pixels, int64_t C, float low, float high) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < N * C; q += stride) {
    const int64_t n = q / C, c = q % C, base = n * pixels * C + c;
    const float factor = static_cast<float>(params[n * kAugmentParams]);
    double sum = 0.0;
    for (int64_t p = 0; p < pixels; ++p) sum += x[base + p * C];
    const float mean = static_cast<float>(sum / static_cast<double>(pixels));
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t k = base + p * C;
      const float value = (x[k] - mean) * factor + mean;
      inside[k] = value >= low && value <= high ? 1 : 0;
      y[k] = value < low ? low : value > high ? high : value;
    }
  }
}

__global__ void contrast_backward_kernel(float* dx, const float* dy, const uint8_t* inside, const double* params,
                                         int64_t N, int64_t pixels, int64_t C) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < N * C; q += stride) {
    const int64_t n = q / C, c = q % C, base = n * pixels * C + c;
    const float factor = static_cast<float>(params[n * kAugmentParams]);
    const float keep = 1.f - factor;
    double sum = 0.0;
    for (int64_t p = 0; p < pixels; ++p) sum += dy[base + p * C] * static_cast<float>(inside[base + p * C]);
    const float mean = static_cast<float>(sum / static_cast<double>(pixels));
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t k = base + p * C;
      dx[k] = factor * (dy[k] * static_cast<float>(inside[k])) + keep * mean;
    }
  }
}

}  // namespace

void augment_draw(double* params, AugmentKind kind, uint32_t seed, uint32_t layer_id, StepValue<uint64_t> step,
                  int64_t N, int64_t H, int64_t W, const double ranges[4], uint64_t first_image,
                  cudaStream_t stream) {
  if (N <= 0) return;
  const Ranges r{{ranges[0], ranges[1], ranges[2], ranges[3]}};
  augment_draw_kernel<<<blocks_for(N), kThreads, 0, stream>>>(params, kind, seed, layer_id, step, N, H, W, r,
                                                              first_image);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void affine_forward(float* y, const float* x, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                    FillMode mode, bool bilinear, float fill_value, cudaStream_t stream) {
  if (N * H * W * C <= 0) return;
  affine_forward_kernel<<<blocks_for(N * H * W), kThreads, 0, stream>>>(y, x, params, N, H, W, C, mode, bilinear,
                                                                        fill_value);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void affine_backward(float* dx, const float* dy, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                     FillMode mode, bool bilinear, cudaStream_t stream) {
  if (N * H * W * C <= 0) return;
  affine_backward_kernel<<<blocks_for(N * C), kThreads, 0, stream>>>(dx, dy, params, N, H, W, C, mode, bilinear);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void contrast_forward(float* y, uint8_t* inside, const float* x, const double* params, int64_t N, int64_t H, int64_t W,
                      int64_t C, float low, float high, cudaStream_t stream) {
  if (N * H * W * C <= 0) return;
  contrast_forward_kernel<<<blocks_for(N * C), kThreads, 0, stream>>>(y, inside, x, params, N, H * W, C, low, high);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void contrast_backward(float* dx, const float* dy, const uint8_t* inside, const double* params, int64_t N, int64_t H,
                       int64_t W, int64_t C, cudaStream_t stream) {
  if (N * H * W * C <= 0) return;
  contrast_backward_kernel<<<blocks_for(N * C), kThreads, 0, stream>>>(dx, dy, inside, params, N, H * W, C);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void rescale_forward(float* y, const float* x, const float* scale, const float* offset, int64_t N, int64_t K,
                     cudaStream_t stream) {
  launch_elementwise(N * K, stream, [=] __device__(int64_t i) { y[i] = x[i] * scale[i % K] + offset[i % K]; });
}

void normalize_forward(float* y, const float* x, const float* mean, const float* deviation, int64_t N, int64_t K,
                       cudaStream_t stream) {
  launch_elementwise(N * K, stream, [=] __device__(int64_t i) { y[i] = (x[i] - mean[i % K]) / deviation[i % K]; });
}

void rescale_backward(float* dx, const float* dy, const float* scale, int64_t N, int64_t K, cudaStream_t stream) {
  launch_elementwise(N * K, stream, [=] __device__(int64_t i) { dx[i] = dy[i] * scale[i % K]; });
}

void normalize_backward(float* dx, const float* dy, const float* deviation, int64_t N, int64_t K,
                        cudaStream_t stream) {
  launch_elementwise(N * K, stream, [=] __device__(int64_t i) { dx[i] = dy[i] / deviation[i % K]; });
}

}  // namespace axonal::cuda
