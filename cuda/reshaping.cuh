// Image reshaping op family on the GPU: zero padding and nearest-neighbour upsampling of images
// (M, H, W, B), forward and backward (cpp/reshaping.h: one geometry serves channels_last and
// channels_first). Same signatures as cpp/reshaping.h plus the stream; nothing is allocated or waited
// for, so the launches can be captured in a CUDA graph.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/image_resize.h"

namespace axonal::cuda {

// x (M, H, W, B) -> y (M, top + H + bottom, left + W + right, B)
void zero_pad2d_forward(float* y, const float* x, const ImageResize& g, cudaStream_t stream);
// dy (M, top + H + bottom, left + W + right, B) -> dx (M, H, W, B)
void zero_pad2d_backward(float* dx, const float* dy, const ImageResize& g, cudaStream_t stream);
// x (M, H, W, B) -> y (M, H·SH, W·SW, B)
void upsample2d_forward(float* y, const float* x, const ImageResize& g, cudaStream_t stream);
// dy (M, H·SH, W·SW, B) -> dx (M, H, W, B): each block summed from its (0, 0) entry in row-major order
void upsample2d_backward(float* dx, const float* dy, const ImageResize& g, cudaStream_t stream);

// x (N, R, C) -> y (N, C, R): each sample's matrix transposed
void transpose_samples(float* y, const float* x, int64_t N, int64_t R, int64_t C, cudaStream_t stream);

}  // namespace axonal::cuda
