// Pooling op family, channels_last, over the window geometry of conv.h (KH, KW = the pool size).
#pragma once
#include <cstdint>

#include "conv.h"

namespace axonal {

// x (N, H, W, C) -> y (N, OH, OW, C), argmax (N, OH, OW, C) = h·W + w of the first maximum in
// row-major window order; padded positions never win.
void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Window& g);

// dy, argmax (N, OH, OW, C) -> dx (N, H, W, C), overwritten: zeros, then each dy added at its argmax
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, const Window& g);

// x (N, H, W, C) -> y (N, OH, OW, C): the mean of each window's unpadded elements
void avg_pool2d_forward(float* y, const float* x, const Window& g);

// dy (N, OH, OW, C) -> dx (N, H, W, C), overwritten: each dy shared equally by its window's elements
void avg_pool2d_backward(float* dx, const float* dy, const Window& g);

}  // namespace axonal
