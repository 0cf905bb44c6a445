// Dropout op family on the GPU: inverted dropout whose mask comes from the shared Philox header
// (cpp/include/axonal/philox.h), so a (seed, layer_id, step) gives the same mask bytes as the cpu and
// numpy backends, whatever the launch shape. Same signatures as cpp/dropout.h plus the stream; the
// step is a StepValue (common.cuh), a host number or a device counter read when the kernel runs, which
// gives the same mask for the same value.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "common.cuh"
#if defined(__CUDACC__)
#include "axonal/philox.h"
#endif

namespace axonal::cuda {

#if defined(__CUDACC__)
// The keep bits of mask elements first .. first + n − 1 (a data-parallel shard passes its first
// element's place in the global batch): global element e is word e % 4 of Philox block e / 4, one
// block per thread of a grid-stride loop over the blocks the range touches; body(i, keep) for local
// element i. Dropout's and spatial dropout's kernels both draw through it.
template <typename Body>
__device__ void for_each_keep_bit(int64_t n, uint64_t first, float rate, uint32_t seed, uint32_t layer_id,
                                  uint64_t step, const Body& body) {
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
      body(i, static_cast<uint8_t>(uniform24(words.v[j]) >= rate ? 1 : 0));
    }
  }
}
#endif

// x (n) -> y (n) = x ⊙ mask / (1 − rate), mask (n) uint8 with 1 = kept; element i draws the mask of
// element first_element + i (a data-parallel shard's place in its global batch, as cpp/dropout.h)
void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, StepValue<uint64_t> step, cudaStream_t stream, uint64_t first_element = 0);

// dy (n), mask (n) -> dx (n) = dy ⊙ mask / (1 − rate)
void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate, cudaStream_t stream);

}  // namespace axonal::cuda
