// Image reshaping op family: zero padding and nearest-neighbour upsampling of 2-D images, forward and
// backward. They move values (the upsampling's backward also sums), so they are memory-bound copies.
//
// Both take images as (M, H, W, B): rows and columns on axes 1 and 2, with M images in front and B
// values per pixel behind. A channels_last batch (N, H, W, C) is (M, B) = (N, C); a channels_first
// batch (N, C, H, W) is (M, B) = (N·C, 1). So one kernel serves both data formats, without transposes.
// Plain entry points with raw pointers, callable from the bindings (reshaping_bindings.cpp) and from
// the native training loop; they allocate nothing. cuda/reshaping.cuh has the same signatures plus
// the stream.
#pragma once
#include <cstdint>

#include "axonal/image_resize.h"

namespace axonal {

// x (M, H, W, B) -> y (M, top + H + bottom, left + W + right, B): x in the interior, zeros around it.
void zero_pad2d_forward(float* y, const float* x, const ImageResize& g);

// dy (M, top + H + bottom, left + W + right, B) -> dx (M, H, W, B): the interior of dy.
void zero_pad2d_backward(float* dx, const float* dy, const ImageResize& g);

// x (M, H, W, B) -> y (M, H·SH, W·SW, B): y[m, h·SH + i, w·SW + j, b] = x[m, h, w, b].
void upsample2d_forward(float* y, const float* x, const ImageResize& g);

// dy (M, H·SH, W·SW, B) -> dx (M, H, W, B): each block of SH×SW gradients summed in float32, starting
// from the block's (0, 0) entry and adding (i, j) in row-major order: the reference's order.
void upsample2d_backward(float* dx, const float* dy, const ImageResize& g);

// x (N, R, C) -> y (N, C, R): each sample's (R, C) matrix transposed. The native training loop's
// channels_first steps ((N, C, H·W) <-> (N, H·W, C)); the layers transpose with NumPy/cupy themselves.
void transpose_samples(float* y, const float* x, int64_t N, int64_t R, int64_t C);

}  // namespace axonal
