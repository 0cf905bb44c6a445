// Spatial dropout kernels: one thread per Philox block draws four keep bits of the (N, C) mask, as
// dropout.cu draws an (N, C) activation's (the mapping of docs/design.md, "Randomness", written once in
// philox.h); then one thread per element applies its channel's factor.
#include "axonal/philox.h"
#include "common.cuh"
#include "spatial_dropout.cuh"

namespace axonal::cuda {

namespace {

// mask (n): local map i is global map e = first + i (a data-parallel shard's place), drawn from word
// e % 4 of Philox block e / 4, as dropout.cu; one thread per global block.
__global__ void channel_mask_kernel(uint8_t* mask, int64_t n, uint64_t first, float rate, uint32_t seed,
                                    uint32_t layer_id, StepValue<uint64_t> step_value) {
  const uint64_t step = step_value.get();
  const int64_t first_block = static_cast<int64_t>(first / 4);
  const int64_t blocks = static_cast<int64_t>((first + n + 3) / 4) - first_block;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += stride) {
    const uint64_t block = static_cast<uint64_t>(first_block + b);
    const Philox4 words = dropout_block(block, seed, layer_id, step);
    for (int j = 0; j < 4; ++j) {
      const uint64_t e = 4 * block + j;
      if (e < first) continue;
      const int64_t i = static_cast<int64_t>(e - first);
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
                             cudaStream_t stream, uint64_t first_element) {
  const int64_t n = N * C;
  if (n <= 0) return;
  const int64_t blocks = static_cast<int64_t>((first_element + n + 3) / 4 - first_element / 4);
  channel_mask_kernel<<<blocks_for(blocks), kThreads, 0, stream>>>(mask, n, first_element, rate, seed, layer_id,
                                                                   step);
  AXONAL_CUDA_CHECK(cudaGetLastError());
  apply_channel_mask(y, x, mask, N, A, C, B, 1.f / (1.f - rate), stream);  // float, as cpp/spatial_dropout.cpp
}

void spatial_dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t N, int64_t A, int64_t C,
                              int64_t B, float rate, cudaStream_t stream) {
  apply_channel_mask(dx, dy, mask, N, A, C, B, 1.f / (1.f - rate), stream);
}

}  // namespace axonal::cuda
