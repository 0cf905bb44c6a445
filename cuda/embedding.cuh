// Embedding op family on the GPU: Keras' Embedding lookup as a gather (forward) and a scatter-add
// (backward). Same signatures as cpp/embedding.h plus the stream, and the same bits: the backward
// pass gives each block its own rows of dW and adds a row's lookups in increasing order (no atomics),
// so its sums have the order of the reference's np.add.at. Nothing is allocated, copied or waited for:
// both launches can be captured in a CUDA graph. The indices are not checked here (that would need a
// read back); an index outside [0, V) gives a row of zeros and adds nothing. The model checks its
// data on the host before it reaches the device (layers/embedding.py).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace axonal::cuda {

// indices (M) int32, W (V, D) -> y (M, D): row m of y is row indices[m] of W
void embedding_forward(float* y, const int32_t* indices, const float* W, int64_t M, int64_t V, int64_t D,
                       cudaStream_t stream);

// dy (M, D), indices (M) -> dW (V, D), overwritten: zeros, then dW[indices[m]] += dy[m] in order of m
void embedding_backward(float* dW, const float* dy, const int32_t* indices, int64_t M, int64_t V, int64_t D,
                        cudaStream_t stream);

}  // namespace axonal::cuda
