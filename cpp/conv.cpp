#include "conv.h"

#include <algorithm>
#include <vector>

#include "activations.h"
#include "blas.h"
#include "dense.h"
#include "parallel.h"

namespace axonal {

namespace {

// Per-thread scratch for the column matrix: grown when a larger layer comes, then reused, so the
// step loop does not allocate; thread-local so two models may train in two Python threads.
float* workspace(size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

// cols (N·OH·OW, KH·KW·C): row (n, oh, ow) holds the window of x in (kh, kw, c) order, zeros where
// the window hangs over the padding. Matches the (KH, KW, C, F) kernel read as (KH·KW·C, F).
void im2col(float* cols, const float* x, const Window& g) {
  const int64_t row_length = g.KH * g.KW * g.C, rows = g.N * g.OH;
#pragma omp parallel for schedule(static) if (rows * g.OW * row_length >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      float* out = cols + ((r * g.OW) + ow) * row_length;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t h = oh * g.stride_h - g.pad_top + kh;
        for (int64_t kw = 0; kw < g.KW; ++kw, out += g.C) {
          const int64_t w = ow * g.stride_w - g.pad_left + kw;
          // Plain loops rather than memcpy/fill: C is often tiny (1 or 3 for the first layer).
          if (h < 0 || h >= g.H || w < 0 || w >= g.W) {
            for (int64_t c = 0; c < g.C; ++c) out[c] = 0.f;
          } else {
            const float* in = x + ((n * g.H + h) * g.W + w) * g.C;
            for (int64_t c = 0; c < g.C; ++c) out[c] = in[c];
          }
        }
      }
    }
  }
}

// dx (N, H, W, C) = Σ over windows of dcols, the adjoint of im2col. Each image is summed by one
// thread in a fixed order, so overlapping windows add up to the same bits for any thread count.
void col2im(float* dx, const float* dcols, const Window& g) {
  const int64_t row_length = g.KH * g.KW * g.C;
#pragma omp parallel for schedule(static) if (g.N * g.OH * g.OW * row_length >= kParallelMinWork)
  for (int64_t n = 0; n < g.N; ++n) {
    float* image = dx + n * g.H * g.W * g.C;
    std::fill(image, image + g.H * g.W * g.C, 0.f);
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const float* in = dcols + ((n * g.OH + oh) * g.OW + ow) * row_length;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t h = oh * g.stride_h - g.pad_top + kh;
          for (int64_t kw = 0; kw < g.KW; ++kw, in += g.C) {
            const int64_t w = ow * g.stride_w - g.pad_left + kw;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            float* out = image + (h * g.W + w) * g.C;
#pragma omp simd
            for (int64_t c = 0; c < g.C; ++c) out[c] += in[c];
          }
        }
      }
    }
  }
}

// A 1×1 stride-1 unpadded convolution reads x itself as its column matrix.
bool is_pointwise(const Window& g) {
  return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.OH == g.H && g.OW == g.W;
}

const float* columns_of(const float* x, const Window& g) {
  if (is_pointwise(g)) return x;
  float* cols = workspace(static_cast<size_t>(g.N * g.OH * g.OW * g.KH * g.KW * g.C));
  im2col(cols, x, g);
  return cols;
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                    float alpha) {
  const int64_t M = g.N * g.OH * g.OW, K = g.KH * g.KW * g.C;
  const float* cols = columns_of(x, g);
  sgemm(false, false, M, F, K, cols, Wk, 0.f, y);
  bias_activation_inplace(y, b, M, F, act, alpha);
}

void conv2d_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* Wk,
                     const float* y, const Window& g, int64_t F, Act act, float alpha) {
  const int64_t M = g.N * g.OH * g.OW, K = g.KH * g.KW * g.C;
  activation_backward(dz, dy, y, M, F, act, alpha);
  if (db) bias_gradient(db, dz, M, F);
  if (dx && is_pointwise(g)) {
    sgemm(false, true, M, K, F, dz, Wk, 0.f, dx);
  } else if (dx) {
    // dcols reuses the workspace, so it is formed and folded back before the columns of x are.
    float* dcols = workspace(static_cast<size_t>(M * K));
    sgemm(false, true, M, K, F, dz, Wk, 0.f, dcols);
    col2im(dx, dcols, g);
  }
  if (dW) sgemm(true, false, K, F, M, columns_of(x, g), dz, 0.f, dW);
}

}  // namespace axonal
