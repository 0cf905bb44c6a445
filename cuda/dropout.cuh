// Dropout op family on the GPU: inverted dropout whose mask comes from the shared Philox header
// (cpp/include/axonal/philox.h), so a (seed, layer_id, step) gives the same mask bytes as the cpu and
// numpy backends, whatever the launch shape. Same signatures as cpp/dropout.h plus the stream; the
// step is a StepValue (common.cuh), a host number or a device counter read when the kernel runs, which
// gives the same mask for the same value.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "common.cuh"

namespace axonal::cuda {

// x (n) -> y (n) = x ⊙ mask / (1 − rate), mask (n) uint8 with 1 = kept; element i draws the mask of
// element first_element + i (a data-parallel shard's place in its global batch, as cpp/dropout.h)
void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, StepValue<uint64_t> step, cudaStream_t stream, uint64_t first_element = 0);

// dy (n), mask (n) -> dx (n) = dy ⊙ mask / (1 − rate)
void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate, cudaStream_t stream);

}  // namespace axonal::cuda
