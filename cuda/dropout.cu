// Dropout kernels. One thread draws one Philox block (four mask elements) with dropout_block() and
// keeps element j when uniform24(word j) >= rate: the mapping of docs/design.md ("Randomness"),
// written once in philox.h, so masks are bit-identical to cpu/numpy.
#include "axonal/philox.h"
#include "common.cuh"
#include "dropout.cuh"

namespace axonal::cuda {

namespace {

// x (n) -> y (n), mask (n): local element i is global element e = first + i, drawn from word e % 4
// of Philox block e / 4 (a data-parallel shard passes its first row's place in the global batch, so
// its masks are the 1-rank run's); one thread per global block. y may equal x. The product (not a
// select) keeps a NaN in a dropped position NaN, as the reference does. The step is read once per
// thread, from device memory when it is there (a replayed CUDA graph's current step).
__global__ void dropout_forward_kernel(float* y, uint8_t* mask, const float* x, int64_t n, uint64_t first, float rate,
                                       float scale, uint32_t seed, uint32_t layer_id, StepValue<uint64_t> step_value) {
  for_each_keep_bit(n, first, rate, seed, layer_id, step_value.get(), [&](int64_t i, uint8_t keep) {
    mask[i] = keep;
    y[i] = x[i] * (static_cast<float>(keep) * scale);
  });
}

}  // namespace

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, StepValue<uint64_t> step, cudaStream_t stream, uint64_t first_element) {
  if (n <= 0) return;
  const float scale = 1.f / (1.f - rate);  // float, as cpp/dropout.cpp
  const int64_t blocks = static_cast<int64_t>((first_element + n + 3) / 4 - first_element / 4);
  dropout_forward_kernel<<<blocks_for(blocks), kThreads, 0, stream>>>(y, mask, x, n, first_element, rate, scale, seed,
                                                                      layer_id, step);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate, cudaStream_t stream) {
  const float scale = 1.f / (1.f - rate);
  // dx (n) = dy ⊙ mask · scale; dx may equal dy
  launch_elementwise(n, stream, [=] __device__(int64_t i) { dx[i] = dy[i] * (static_cast<float>(mask[i]) * scale); });
}

}  // namespace axonal::cuda
