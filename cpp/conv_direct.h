// Direct (no im2col) kernels for stride-1 Conv2D, channels_last, for AVX-512 and AVX2 (the tiles are
// in conv_direct_tiles.h): register-tiled loops that read x where it lies instead of copying every
// window into a column matrix and calling a GEMM whose narrow output (F = 32 or 64 columns) MKL runs
// at ~50% of the FMA peak. conv.cpp uses them when they apply and im2col + GEMM otherwise (other
// strides or channel counts, the portable build). docs/performance.md ("W5") has the figures.
#pragma once
#include <cstdint>

#include "conv.h"

namespace axonal {

// The forward pass and dW need AVX-512 or AVX2, stride 1 and F a multiple of the vector width (16 or
// 8 floats); dx (the same kernel run on padded dz with the flipped kernel, C and F swapped) also
// needs C a multiple of it and an image not much wider than the output (W <= 9/8 OW).
bool direct_conv_applies(const Window& g, int64_t F);
bool direct_conv_dx_applies(const Window& g, int64_t F);

// x (N, H, W, C), Wk (KH, KW, C, F), b (F) or null -> y (N, OH, OW, F) = act(conv(x, Wk) + b)
void direct_conv_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                         float alpha);

// dz (N, OH, OW, F), Wk (KH, KW, C, F) -> dx (N, H, W, C)
void direct_conv_dx(float* dx, const float* dz, const float* Wk, const Window& g, int64_t F);

// dz (N, OH, OW, F), x (N, H, W, C) -> dW (KH, KW, C, F); the same bits for any thread count.
void direct_conv_dW(float* dW, const float* dz, const float* x, const Window& g, int64_t F);

}  // namespace axonal
