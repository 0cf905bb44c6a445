// Spatial dropout kernels: one thread per Philox block draws four keep bits of the (N, C) mask, as
// dropout.cu draws an (N, C) activation's (the mapping of docs/design.md, "Randomness", written once in
// philox.h); then one thread per element applies its channel's factor.
#include "axonal/philox.h"
#include "common.cuh"
#include "spatial_dropout.cuh"

namespace axonal::cuda {

namespace {

__global__ void channel_mask_kernel(uint8_t* mask, int64_t n, float rate, uint32_t seed, uint32_t layer_id,
                                    StepValue<uint64_t> step_value) {
  const uint64_t step = step_value.get();
  const int64_t blocks = (n + 3) / 4, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += stride) {
    const Philox4 words = dropout_block(static_cast<uint64_t>(b), seed, layer_id, step);
    for (int j = 0; j < 4; ++j) {
      const int64_t i = 4 * b + j;
      if (i >= n) break;
      mask[i] = uniform24(words.v[j]) >= rate ? 1 : 0;
    }
  }
}

// out[n, a, c, b] = in[n, a, c, b] · (mask[n, c] · scale): a product, so NaN stays NaN
void apply_channel_mask(float* out, const float* in, const uint8_t* mask, int64_t N, int64_t A, int64_t C, int64_t B,
                        float scale, cudaStream_t stream) {
  launch_elementwise(N * A * C * B, stream, [=] __device__(int64_t e) {
    const int64_t c = (e / B) % C, n = e / (A * C * B);
    out[e] = in[e] * (static_cast<float>(mask[n * C + c]) * scale);
  });
}

}  // namespace

void spatial_dropout_forward(float* y, uint8_t* mask, const float* x, int64_t N, int64_t A, int64_t C, int64_t B,
                             float rate, uint32_t seed, uint32_t layer_id, StepValue<uint64_t> step,
                             cudaStream_t stream) {
  const int64_t n = N * C;
  if (n <= 0) return;
  channel_mask_kernel<<<blocks_for((n + 3) / 4), kThreads, 0, stream>>>(mask, n, rate, seed, layer_id, step);
  AXONAL_CUDA_CHECK(cudaGetLastError());
  apply_channel_mask(y, x, mask, N, A, C, B, 1.f / (1.f - rate), stream);  // float, as cpp/spatial_dropout.cpp
}

void spatial_dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t N, int64_t A, int64_t C,
                              int64_t B, float rate, cudaStream_t stream) {
  apply_channel_mask(dx, dy, mask, N, A, C, B, 1.f / (1.f - rate), stream);
}

}  // namespace axonal::cuda
