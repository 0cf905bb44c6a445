#include "conv.h"

#include <algorithm>

#include "activations.h"
#include "blas.h"
#include "conv_direct.h"
#include "dense.h"
#include "parallel.h"
#include "scratch.h"

namespace axonal {

namespace {

// The batch is cut into chunks of whole images, sized so that a chunk's column matrix stays in L2
// (it is formed, multiplied and dropped while hot instead of streaming the whole batch's columns
// through memory), and into at least kMinChunks chunks so that both cores have work. The cut
// depends on the shapes only, and each chunk's GEMM runs on one thread, so results are the same bits
// for any thread count.
constexpr int64_t kColumnBytesPerChunk = 1 << 20;
constexpr int64_t kMinChunks = 8;

struct Chunking {
  int64_t images, count;  // images per chunk, number of chunks
};

Chunking chunking(const Window& g) {
  const int64_t column_bytes = g.OH * g.OW * g.KH * g.KW * g.C * static_cast<int64_t>(sizeof(float));
  int64_t images = std::max<int64_t>(1, kColumnBytesPerChunk / std::max<int64_t>(column_bytes, 1));
  images = std::min(images, std::max<int64_t>(1, (g.N + kMinChunks - 1) / kMinChunks));
  return {images, (g.N + images - 1) / images};
}

// Walks the column matrix of images [n0, n1) in order: row (n, oh, ow) holds the window of x in
// (kh, kw, c) order. For each window row (n, oh, ow, kh) the cells that fall inside x are one
// contiguous run of x (channels-last: neighbouring pixels are neighbours in memory), so
// visit(cell, pixel, first, count) is called once per window row: KW·C values start at `cell` of
// the columns, of which cells [first, first + count) come from x starting at offset `pixel`, and
// the others hang over the padding (count 0: the whole row does).
template <typename Visit>
void for_each_window_row(const Window& g, int64_t n0, int64_t n1, Visit visit) {
  int64_t cell = 0;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t w0 = ow * g.stride_w - g.pad_left;
        const int64_t first = std::max<int64_t>(0, -w0), last = std::min<int64_t>(g.KW, g.W - w0);
        for (int64_t kh = 0; kh < g.KH; ++kh, cell += g.KW * g.C) {
          const int64_t h = oh * g.stride_h - g.pad_top + kh;
          const bool inside = h >= 0 && h < g.H && last > first;
          visit(cell, inside ? ((n * g.H + h) * g.W + w0 + first) * g.C : 0, first, inside ? last - first : 0);
        }
      }
}

// cols (images·OH·OW, KH·KW·C) of images [n0, n1), zeros over the padding: the (KH, KW, C, F)
// kernel read as (KH·KW·C, F) multiplies it directly.
void im2col(float* cols, const float* x, const Window& g, int64_t n0, int64_t n1) {
  const int64_t row = g.KW * g.C;
  for_each_window_row(g, n0, n1, [&](int64_t cell, int64_t pixel, int64_t first, int64_t count) {
    // Plain loops, not memcpy/fill: a window row is short (KW·C = 96 floats in the seed CNN), and
    // the library calls cost more than the copy.
    float* out = cols + cell;
    const float* in = x + pixel;
    const int64_t begin = first * g.C, inside = count * g.C;
    for (int64_t i = 0; i < begin; ++i) out[i] = 0.f;
#pragma omp simd
    for (int64_t i = 0; i < inside; ++i) out[begin + i] = in[i];
    for (int64_t i = begin + inside; i < row; ++i) out[i] = 0.f;
  });
}

// dx of images [n0, n1) = Σ over windows of dcols: the adjoint of im2col, in a fixed order.
void col2im(float* dx, const float* dcols, const Window& g, int64_t n0, int64_t n1) {
  std::fill(dx + n0 * g.H * g.W * g.C, dx + n1 * g.H * g.W * g.C, 0.f);
  for_each_window_row(g, n0, n1, [&](int64_t cell, int64_t pixel, int64_t first, int64_t count) {
    const float* in = dcols + cell + first * g.C;
    float* out = dx + pixel;
#pragma omp simd
    for (int64_t i = 0; i < count * g.C; ++i) out[i] += in[i];
  });
}

// A 1×1 stride-1 unpadded convolution reads x itself as its column matrix.
bool is_pointwise(const Window& g) {
  return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.OH == g.H && g.OW == g.W;
}

// The column matrix of images [n0, n1): x itself for a pointwise convolution, else formed in the
// calling thread's Scratch::columns.
const float* columns(const float* x, const Window& g, int64_t n0, int64_t n1) {
  if (is_pointwise(g)) return x + n0 * g.H * g.W * g.C;
  float* cols = scratch(Scratch::columns, (n1 - n0) * g.OH * g.OW * g.KH * g.KW * g.C);
  im2col(cols, x, g, n0, n1);
  return cols;
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                    float alpha) {
  if (!is_pointwise(g) && direct_conv_applies(g, F)) return direct_conv_forward(y, x, Wk, b, g, F, act, alpha);
  const Chunking chunks = chunking(g);
  const int64_t K = g.KH * g.KW * g.C, pixels = g.OH * g.OW;
  const SerialRegion serial_gemms;  // each chunk's GEMMs run on its own thread
#pragma omp parallel for schedule(static) if (g.N * pixels * K * F >= kParallelMinWork)
  for (int64_t c = 0; c < chunks.count; ++c) {
    const int64_t n0 = c * chunks.images, n1 = std::min(g.N, n0 + chunks.images), rows = (n1 - n0) * pixels;
    float* y_chunk = y + n0 * pixels * F;
    sgemm_serial(false, false, rows, F, K, columns(x, g, n0, n1), Wk, 0.f, y_chunk);
    bias_activation_inplace(y_chunk, b, rows, F, act, alpha);  // nested: runs on this thread
  }
}

void conv2d_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* Wk,
                     const float* y, const Window& g, int64_t F, Act act, float alpha) {
  const int64_t K = g.KH * g.KW * g.C, pixels = g.OH * g.OW;
  activation_backward(dz, dy, y, g.N * pixels, F, act, alpha);
  if (db) bias_gradient(db, dz, g.N * pixels, F);
  // The direct kernels take what they can; the GEMMs below do the rest.
  const bool direct = !is_pointwise(g) && direct_conv_applies(g, F);
  const bool direct_dx = direct && direct_conv_dx_applies(g, F);
  if (dW && direct) direct_conv_dW(dW, dz, x, g, F);
  if (dx && direct_dx) direct_conv_dx(dx, dz, Wk, g, F);
  float* gemm_dW = direct ? nullptr : dW;
  float* gemm_dx = direct_dx ? nullptr : dx;
  if (!gemm_dW && !gemm_dx) return;

  const Chunking chunks = chunking(g);
  // Each chunk's share of dW goes to its own slice; the slices are added in chunk order below.
  float* dW_parts = gemm_dW ? scratch(Scratch::column_dW_parts, chunks.count * K * F) : nullptr;
  const SerialRegion serial_gemms;  // each chunk's GEMMs run on its own thread
#pragma omp parallel for schedule(static) if (g.N * pixels * K * F >= kParallelMinWork)
  for (int64_t c = 0; c < chunks.count; ++c) {
    const int64_t n0 = c * chunks.images, n1 = std::min(g.N, n0 + chunks.images), rows = (n1 - n0) * pixels;
    const float* dz_chunk = dz + n0 * pixels * F;
    if (gemm_dW) sgemm_serial(true, false, K, F, rows, columns(x, g, n0, n1), dz_chunk, 0.f, dW_parts + c * K * F);
    if (gemm_dx && is_pointwise(g)) {
      sgemm_serial(false, true, rows, K, F, dz_chunk, Wk, 0.f, gemm_dx + n0 * g.H * g.W * g.C);
    } else if (gemm_dx) {
      float* dcols = scratch(Scratch::columns, rows * K);  // the columns of x are no longer needed
      sgemm_serial(false, true, rows, K, F, dz_chunk, Wk, 0.f, dcols);
      col2im(gemm_dx, dcols, g, n0, n1);
    }
  }
  if (gemm_dW) {
#pragma omp parallel for schedule(static) if (chunks.count * K * F >= kParallelMinWork)
    for (int64_t i = 0; i < K * F; ++i) {
      float sum = 0.f;
      for (int64_t c = 0; c < chunks.count; ++c) sum += dW_parts[c * K * F + i];
      gemm_dW[i] = sum;
    }
  }
}

}  // namespace axonal
