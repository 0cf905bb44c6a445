#include "conv_direct.h"

#include <algorithm>
#include <type_traits>

#include "activations.h"
#include "cpu_features.h"
#include "parallel.h"
#include "scratch.h"

#if AXONAL_X86
#include <immintrin.h>
#endif

namespace axonal {

#if AXONAL_X86
// The tiles compiled twice, for AVX-512 (32 registers of 16 floats) and AVX2 + FMA (16 of 8).
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
using Vec = __m512;
constexpr int kLanes = 16, kAccumulators = 24;
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
// max(a, 0) through the masked form: GCC's _mm512_max_ps passes an undefined vector as the unmasked
// source and -Wmaybe-uninitialized warns about it.
inline Vec vrelu(Vec a) { return _mm512_mask_max_ps(_mm512_setzero_ps(), 0xFFFF, a, _mm512_setzero_ps()); }
#include "conv_direct_tiles.h"
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
using Vec = __m256;
constexpr int kLanes = 8, kAccumulators = 12;
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vrelu(Vec a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
#include "conv_direct_tiles.h"
}  // namespace avx2
#pragma GCC pop_options
#endif  // AXONAL_X86

namespace {

#if AXONAL_X86
// Images laid out (N, rows, cols, channels), contiguous: x, or x zero-padded, or dz padded for dx.
// Rows outside [first_row, last_row) are padding (zeros), which the forward kernel skips.
struct Plane {
  const float* data;
  int64_t rows, cols, channels;
  int64_t first_row, last_row;
  int64_t row_stride() const { return cols * channels; }
  int64_t image_stride() const { return rows * cols * channels; }
};

// dst (N, rows, cols, ch)[i][j] = src (N, src_rows, src_cols, ch)[i - top][j - left], zero where that
// falls outside src (top/left may be negative: src is then cropped).
void pad_images(float* dst, const float* src, int64_t N, int64_t src_rows, int64_t src_cols, int64_t ch, int64_t top,
                int64_t left, int64_t rows, int64_t cols) {
  const int64_t j0 = std::clamp<int64_t>(left, 0, cols), j1 = std::clamp<int64_t>(left + src_cols, 0, cols);
  parallel_for(N, N * rows * cols * ch >= kParallelMinWork, [&](int64_t n) {
    for (int64_t i = 0; i < rows; ++i) {
      float* out = dst + (n * rows + i) * cols * ch;
      const int64_t h = i - top;
      if (h < 0 || h >= src_rows || j1 <= j0) {
        std::fill(out, out + cols * ch, 0.f);
        continue;
      }
      const float* in = src + ((n * src_rows + h) * src_cols + (j0 - left)) * ch;
      std::fill(out, out + j0 * ch, 0.f);
      std::copy(in, in + (j1 - j0) * ch, out + j0 * ch);
      std::fill(out + j1 * ch, out + cols * ch, 0.f);
    }
  });
}

// x as the plane a valid correlation reads: itself when the convolution has no padding, else a
// zero-padded copy in Scratch::direct_input.
Plane input_plane(const float* x, const Window& g) {
  const int64_t rows = g.OH + g.KH - 1, cols = g.OW + g.KW - 1;
  if (g.pad_top == 0 && g.pad_left == 0 && rows == g.H && cols == g.W) return {x, rows, cols, g.C, 0, rows};
  float* padded = scratch(Scratch::direct_input, g.N * rows * cols * g.C);
  pad_images(padded, x, g.N, g.H, g.W, g.C, g.pad_top, g.pad_left, rows, cols);
  return {padded, rows, cols, g.C, g.pad_top, std::min(rows, g.pad_top + g.H)};
}

// y (N, OH, OW, F) = act(valid stride-1 correlation of the plane with w (KH, KW, C, F) + bias): the
// forward pass, and dx on the padded dz. Each output row is one task, summing only the kernel rows
// that meet data rows (for dx, KH − 1 of each image's rows are padding); ReLU is applied in the
// tiles' registers, another activation to the row while it is still in L1.
void correlate(float* y, const Plane& in, const float* w, const float* bias, int64_t N, int64_t OH, int64_t OW,
               int64_t KH, int64_t KW, int64_t F, Act act, float alpha) {
  const int64_t C = in.channels, KWC = KW * C;
  const bool wide = active_isa() == Isa::avx512;
  parallel_for(N * OH, N * OH * OW * KH * KWC * F >= kParallelMinWork, [&](int64_t task) {
    const int64_t n = task / OH, oh = task % OH;
    const int64_t kh0 = std::max<int64_t>(0, in.first_row - oh), kh1 = std::max(kh0, std::min(KH, in.last_row - oh));
    const float* x_row = in.data + n * in.image_stride() + (oh + kh0) * in.row_stride();
    float* y_row = y + task * OW * F;
    (wide ? avx512::correlate_row : avx2::correlate_row)(y_row, x_row, w + kh0 * KWC * F, bias, OW, F, C,
                                                         in.row_stride(), kh1 - kh0, KWC, act == Act::relu);
    if (act != Act::linear && act != Act::relu) activation_forward(y_row, y_row, OW, F, act, alpha);  // this thread
  });
}

// dW is summed in shares of whole images, each share's images and their dz about 1 MB so that they
// stay in L2 through the share's passes (one per kernel row and channel block), and the shares'
// partial sums are added in order: the cut depends on the shapes alone, so the bits do not depend
// on the thread count. Few shares: each costs a zeroed and re-read copy of dW (with 16 shares,
// 0.27 of the 0.84 ms of the seed CNN's last dW on 2 threads).
constexpr int64_t kWeightGradientShareBytes = 1 << 20;
// ... and no more shares than keep their partial sums within 8 MB: a large kernel (3×3×512×512 is
// 9.4 MB) gets one share and its parallelism from the (kernel row, columns) tasks alone.
constexpr int64_t kWeightGradientPartsBytes = 8 << 20;
// Columns of KW·C per dW task: four AVX-512 tiles of 12.
constexpr int64_t kColumnsPerTask = 48;
#endif  // AXONAL_X86

bool stride_one(const Window& g) { return g.stride_h == 1 && g.stride_w == 1; }

// Floats per vector of the active tiles (0: none, the portable build); output channels must fill
// whole vectors.
int64_t vector_lanes() {
  const Isa isa = AXONAL_X86 ? active_isa() : Isa::portable;
  return isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 0;
}

}  // namespace

bool direct_conv_applies(const Window& g, int64_t F) {
  const int64_t lanes = vector_lanes();
  return lanes > 0 && stride_one(g) && F > 0 && F % lanes == 0;
}

bool direct_conv_dx_applies(const Window& g, int64_t F) {
  // dx sweeps all W columns of padded dz where only OW hold data: past 1/8 of wasted columns (the
  // seed CNN's 12- and 10-pixel images: 20%, 25%) the GEMM + col2im path was faster (measured).
  return direct_conv_applies(g, F) && g.C % vector_lanes() == 0 && 8 * g.W <= 9 * g.OW;
}

#if AXONAL_X86
void direct_conv_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                         float alpha) {
  correlate(y, input_plane(x, g), Wk, b, g.N, g.OH, g.OW, g.KH, g.KW, F, act, alpha);
}

void direct_conv_dx(float* dx, const float* dz, const float* Wk, const Window& g, int64_t F) {
  // dx[h][w][c] = Σ dz[h + pad_top − kh][w + pad_left − kw][f] · Wk[kh][kw][c][f]: a valid correlation of
  // dz padded by (KH − 1 − pad_top, KW − 1 − pad_left) with the kernel flipped in (kh, kw) and
  // transposed in (c, f).
  const int64_t rows = g.H + g.KH - 1, cols = g.W + g.KW - 1;
  float* padded = scratch(Scratch::direct_work, g.N * rows * cols * F);
  pad_images(padded, dz, g.N, g.OH, g.OW, F, g.KH - 1 - g.pad_top, g.KW - 1 - g.pad_left, rows, cols);
  float* flipped = scratch(Scratch::direct_kernel, g.KH * g.KW * g.C * F);
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const float* from = Wk + ((g.KH - 1 - kh) * g.KW + (g.KW - 1 - kw)) * g.C * F;
      float* to = flipped + (kh * g.KW + kw) * F * g.C;
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t f = 0; f < F; ++f) to[f * g.C + c] = from[c * F + f];
    }
  const int64_t first_row = g.KH - 1 - g.pad_top;
  const Plane dz_plane{padded, rows, cols, F, first_row, std::min(rows, first_row + g.OH)};
  correlate(dx, dz_plane, flipped, nullptr, g.N, g.H, g.W, g.KH, g.KW, g.C, Act::linear, 0.f);
}

void direct_conv_dW(float* dW, const float* dz, const float* x, const Window& g, int64_t F) {
  const Plane in = input_plane(x, g);
  const int64_t size = g.KH * g.KW * g.C * F;
  // A 3×3 one-channel kernel (an image model's first layer on grey images) takes all its kernel
  // rows in one tile; its dW (9 × F) is small, so each image is a share of its own: 32 tasks rather
  // than 3 shares × 3 kernel rows for two threads.
  const bool all_rows = g.KH == 3 && g.KW == 3 && g.C == 1;
  const int64_t image_bytes = (in.image_stride() + g.OH * g.OW * F) * static_cast<int64_t>(sizeof(float));
  const int64_t most_per_share = std::clamp<int64_t>(kWeightGradientShareBytes / image_bytes, 1, g.N);
  const int64_t size_bytes = size * static_cast<int64_t>(sizeof(float));
  const int64_t most_shares = std::max<int64_t>(1, kWeightGradientPartsBytes / size_bytes);
  const int64_t shares = all_rows ? g.N : std::min((g.N + most_per_share - 1) / most_per_share, most_shares);
  float* parts = shares == 1 ? dW : scratch(Scratch::direct_work, shares * size);
  const bool wide = active_isa() == Isa::avx512;
  // One task per (share, kernel row, group of columns): tasks write disjoint blocks of the shares'
  // partial sums, and there are enough of them to balance the threads whatever the shares' sizes.
  const int64_t KWC = g.KW * g.C, row_tasks = all_rows ? 1 : g.KH;
  const int64_t groups = all_rows ? 1 : (KWC + kColumnsPerTask - 1) / kColumnsPerTask;
  parallel_for(shares * row_tasks * groups, g.N * g.OH * g.OW * size >= kParallelMinWork, [&](int64_t task) {
    const int64_t s = task / (row_tasks * groups), kh = task / groups % row_tasks, group = task % groups;
    // Share s holds images [s·N/shares, (s+1)·N/shares): sizes differ by one at most (5 or 6 of 32).
    const int64_t n0 = s * g.N / shares, images = (s + 1) * g.N / shares - n0;
    const float* dz_share = dz + n0 * g.OH * g.OW * F;
    if (all_rows) {
      float* part = parts + s * size;
      std::fill(part, part + size, 0.f);
      (wide ? avx512::accumulate_small_dW : avx2::accumulate_small_dW)(part, in.data + n0 * in.image_stride(),
                                                                       in.image_stride(), dz_share, images, g.OH,
                                                                       g.OW, F, g.C, in.row_stride());
      return;
    }
    const int64_t j0 = group * kColumnsPerTask, j1 = std::min(KWC, j0 + kColumnsPerTask);
    float* part = parts + s * size + kh * KWC * F;
    std::fill(part + j0 * F, part + j1 * F, 0.f);
    (wide ? avx512::accumulate_dW : avx2::accumulate_dW)(part, in.data + n0 * in.image_stride() + kh * in.row_stride(),
                                                         in.image_stride(), dz_share, images, g.OH, g.OW, F, g.C,
                                                         in.row_stride(), j0, j1);
  });
  if (shares == 1) return;
  parallel_for((size + kElementwiseSpan - 1) / kElementwiseSpan, shares * size >= kParallelMinWork, [&](int64_t c) {
    const int64_t first = c * kElementwiseSpan, last = std::min(size, first + kElementwiseSpan);
    for (int64_t i = first; i < last; ++i) {
      float sum = 0.f;
      for (int64_t s = 0; s < shares; ++s) sum += parts[s * size + i];
      dW[i] = sum;
    }
  });
}
#else
// Never called: direct_conv_applies is false without x86-64.
void direct_conv_forward(float*, const float*, const float*, const float*, const Window&, int64_t, Act, float) {}
void direct_conv_dx(float*, const float*, const float*, const Window&, int64_t) {}
void direct_conv_dW(float*, const float*, const float*, const Window&, int64_t) {}
#endif  // AXONAL_X86

}  // namespace axonal
