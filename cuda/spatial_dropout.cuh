// Spatial (channel) dropout op family on the GPU (cpp/spatial_dropout.h): the (N, C) keep mask is
// Dropout's Philox mask of an (N, C) activation, so it is the cpu and numpy backends' mask byte for
// byte. Same signatures as cpp/spatial_dropout.h plus the stream; the step is a StepValue
// (common.cuh), a host number or a device counter read when the kernel runs (capturable).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "common.cuh"

namespace axonal::cuda {

// x (N, A, C, B) -> mask (N, C) uint8 (1 = kept), y (N, A, C, B) = x ⊙ mask[n, c] / (1 − rate); map
// (n, c) draws the mask of map first_element + n·C + c (a data-parallel shard's place in its global batch)
void spatial_dropout_forward(float* y, uint8_t* mask, const float* x, int64_t N, int64_t A, int64_t C, int64_t B,
                             float rate, uint32_t seed, uint32_t layer_id, StepValue<uint64_t> step,
                             cudaStream_t stream, uint64_t first_element = 0);

// dy (N, A, C, B), mask (N, C) -> dx (N, A, C, B) = dy ⊙ mask[n, c] / (1 − rate)
void spatial_dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t N, int64_t A, int64_t C,
                              int64_t B, float rate, cudaStream_t stream);

}  // namespace axonal::cuda
