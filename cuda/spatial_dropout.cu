// Spatial dropout kernels: one thread per Philox block draws four keep bits of the (N, C) mask, as
// dropout.cu draws an (N, C) activation's (the mapping of docs/design.md, "Randomness", written once in
// philox.h); then one thread per element applies its channel's factor.
#include "axonal/philox.h"
#include "common.cuh"
#include "dropout.cuh"
#include "spatial_dropout.cuh"

namespace axonal::cuda {

namespace {

// mask (n): local map i is global map first + i (a data-parallel shard's place), drawn as dropout.cu
// draws an element; one thread per global block.
__global__ void channel_mask_kernel(uint8_t* mask, int64_t n, uint64_t first, float rate, uint32_t seed,
                                    uint32_t layer_id, StepValue<uint64_t> step_value) {
  for_each_keep_bit(n, first, rate, seed, layer_id, step_value.get(), [&](int64_t i, uint8_t keep) { mask[i] = keep; });
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
