// Conv2D op family, channels_last: y = act(conv(x, W) + b). Stride-1 convolutions with 16k output
// channels run the direct AVX-512 kernels of conv_direct.h; the others im2col + one GEMM + the fused
// bias/activation epilogue of the dense family, and backward GEMMs + col2im.
#pragma once
#include <cstdint>

#include "axonal/activation_functors.h"
#include "axonal/window.h"

namespace axonal {

// x (N, H, W, C), Wk (KH, KW, C, F), b (F) or null -> y (N, OH, OW, F)
void conv2d_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                    float alpha);

// dy, y (N, OH, OW, F), x (N, H, W, C), Wk (KH, KW, C, F) -> dz (N, OH, OW, F) = dy ⊙ act'(y),
// dW (KH, KW, C, F) or null (frozen), db (F) or null, dx (N, H, W, C) or null
void conv2d_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* Wk,
                     const float* y, const Window& g, int64_t F, Act act, float alpha);

}  // namespace axonal
