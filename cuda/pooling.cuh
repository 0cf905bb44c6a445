// Pooling op family on the GPU, channels_last, over the window geometry of conv.cuh (KH, KW = the
// pool size). One thread per output (forward) or per input (backward) element; every sum has a
// fixed order and nothing uses float atomics. Same signatures as cpp/pooling.h plus the stream.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "conv.cuh"

namespace axonal::cuda {

// x (N, H, W, C) -> y (N, OH, OW, C), argmax (N, OH, OW, C) = h·W + w of the first maximum in
// row-major window order; padded positions never win, NaN never wins.
void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Window& g, cudaStream_t stream);

// dy, argmax (N, OH, OW, C) -> dx (N, H, W, C), overwritten: zeros, then each dy added at its argmax
// (only N, H, W, C, OH, OW of g are used). argmax is not range-checked on the host (that would need
// a copy and a wait): an index outside [0, H·W) makes the (image, channel) plane of dx NaN.
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, const Window& g, cudaStream_t stream);

// x (N, H, W, C) -> y (N, OH, OW, C): the mean of each window's unpadded elements
void avg_pool2d_forward(float* y, const float* x, const Window& g, cudaStream_t stream);

// dy (N, OH, OW, C) -> dx (N, H, W, C), overwritten: each dy shared equally by its window's elements
void avg_pool2d_backward(float* dx, const float* dy, const Window& g, cudaStream_t stream);

}  // namespace axonal::cuda
