// The register tiles of the direct convolution, written once for any vector width. conv_direct.cpp
// includes this file inside each instruction-set namespace (avx512, avx2), after defining there:
//   Vec, kLanes (floats per Vec), kAccumulators (Vecs a tile may keep in registers),
//   vload, vstore, vset1, vzero, vfmadd (a·b + c, one rounding), vrelu (max(a, 0), NaN -> 0 like the
//   scalar ReLU).
// It includes nothing itself: everything it needs is included by conv_direct.cpp first.

// Pixels (forward) or kernel rows (dW) per tile for FV vectors of outputs each: the accumulators
// fill about three quarters of the registers, the rest hold the operands.
constexpr int tile_size(int FV) { return std::min(16, kAccumulators / FV); }

// The step both tiles repeat: acc[a][v] += x[a·stride] · vectors[v] for A rows of FV vectors, each x
// broadcast once and met by the FV vectors loaded once (A·FV FMAs for FV loads and A broadcasts).
template <int A, int FV>
inline void accumulate_outer(Vec (&acc)[A][FV], const float* x, int64_t stride, const float* vectors) {
  Vec vec[FV];
#pragma GCC unroll 4
  for (int v = 0; v < FV; ++v) vec[v] = vload(vectors + kLanes * v);
#pragma GCC unroll 16
  for (int a = 0; a < A; ++a) {
    const Vec xb = vset1(x[a * stride]);
#pragma GCC unroll 4
    for (int v = 0; v < FV; ++v) acc[a][v] = vfmadd(xb, vec[v], acc[a][v]);
  }
}

// y[r][f] (R pixels, FV·kLanes channels) = bias + Σ_{kh, j} x[kh·row_stride + r·C + j] · w[kh][j][f],
// j over KW·C, then ReLU'd when `relu`: a pixel's window row is one contiguous run of x
// (channels_last), so each weight vector is loaded once and meets R broadcast inputs.
template <int FV, int R>
struct ForwardTile {
  static void run(float* y, int64_t F, const float* x, int64_t C, int64_t row_stride, const float* w,
                  const float* bias, int64_t KH, int64_t KWC, bool relu) {
    Vec acc[R][FV];
#pragma GCC unroll 4
    for (int v = 0; v < FV; ++v) {
      const Vec start = bias ? vload(bias + kLanes * v) : vzero();
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][v] = start;
    }
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t j = 0; j < KWC; ++j) accumulate_outer(acc, x + kh * row_stride + j, C, w + (kh * KWC + j) * F);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < FV; ++v) vstore(y + r * F + kLanes * v, relu ? vrelu(acc[r][v]) : acc[r][v]);
  }
};

// The sweep both weight-gradient tiles make: acc (ROWS kernel rows × FV vectors of channels)
// loaded from dw, pixel(acc, x at the pixel, dz at the pixel) for every output pixel of `images`
// images in order, and acc stored back.
template <int ROWS, int FV, typename Pixel>
inline void sweep_weight_gradient(float* dw, int64_t F, const float* x, int64_t C, int64_t row_stride,
                                  int64_t image_stride, const float* dz, int64_t images, int64_t OH, int64_t OW,
                                  Pixel pixel) {
  Vec acc[ROWS][FV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < FV; ++v) acc[i][v] = vload(dw + i * F + kLanes * v);
  for (int64_t n = 0; n < images; ++n)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* xr = x + n * image_stride + oh * row_stride;
      const float* dr = dz + (n * OH + oh) * OW * F;
      for (int64_t ow = 0; ow < OW; ++ow) pixel(acc, xr + ow * C, dr + ow * F);
    }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < FV; ++v) vstore(dw + i * F + kLanes * v, acc[i][v]);
}

// dw[i][f] (CB kernel rows, FV·kLanes channels) += Σ_{n, oh, ow} x[n·image_stride + oh·row_stride + ow·C + i]
// · dz[n][oh][ow][f]: `images` images' share of dW for CB consecutive (kw, c) of one kh; each dz
// vector is loaded once per pixel and meets CB broadcast inputs.
template <int FV, int CB>
struct WeightGradientTile {
  static void run(float* dw, int64_t F, const float* x, int64_t C, int64_t row_stride, int64_t image_stride,
                  const float* dz, int64_t images, int64_t OH, int64_t OW) {
    sweep_weight_gradient<CB, FV>(dw, F, x, C, row_stride, image_stride, dz, images, OH, OW,
                                  [](Vec(&acc)[CB][FV], const float* xp, const float* dp) {
                                    accumulate_outer(acc, xp, 1, dp);
                                  });
  }
};

// dw[t][f] (KH·KWC kernel rows t = (kh, j): all of a small kernel, FV·kLanes channels) += the
// share of `images` images, as WeightGradientTile but for every kernel row at once: a one-channel
// 3×3 kernel (KWC = 3) otherwise gives tiles of 3 rows, 6 accumulators that wait on the FMA
// latency and 5 loads for 6 FMAs, and reads dz once per kernel row.
template <int FV, int KH, int KWC>
struct SmallKernelWeightGradientTile {
  static void run(float* dw, int64_t F, const float* x, int64_t C, int64_t row_stride, int64_t image_stride,
                  const float* dz, int64_t images, int64_t OH, int64_t OW) {
    sweep_weight_gradient<KH * KWC, FV>(
        dw, F, x, C, row_stride, image_stride, dz, images, OH, OW,
        [row_stride](Vec(&acc)[KH * KWC][FV], const float* xp, const float* dp) {
          Vec d[FV];
#pragma GCC unroll 4
          for (int v = 0; v < FV; ++v) d[v] = vload(dp + kLanes * v);
#pragma GCC unroll 4
          for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 16
            for (int j = 0; j < KWC; ++j) {
              const Vec xb = vset1(xp[kh * row_stride + j]);
#pragma GCC unroll 4
              for (int v = 0; v < FV; ++v) acc[kh * KWC + j][v] = vfmadd(xb, d[v], acc[kh * KWC + j][v]);
            }
        });
  }
};

// Tile<FV, size>::run(args...) for a run-time size in [1, MAX]: the tails of a row or of KW·C.
template <template <int, int> class Tile, int FV, int MAX, typename... Args>
void run_tile(int64_t size, Args... args) {
  if constexpr (MAX > 0) {
    if (size == MAX) return Tile<FV, MAX>::run(args...);
    run_tile<Tile, FV, MAX - 1>(size, args...);
  }
}

// Every tile along an axis of `count`, as few as the largest tile allows and of even sizes (26
// pixels: 9, 9, 8 rather than 12, 12, 2, whose 4 accumulators wait on the FMA latency):
// step(offset, tile) calls tile(args...) with the arguments of the tile at that offset.
template <template <int, int> class Tile, int FV, typename Step>
void run_tiles(int64_t count, Step step) {
  constexpr int largest = tile_size(FV);
  const int64_t tiles = (count + largest - 1) / largest, size = (count + tiles - 1) / tiles;
  for (int64_t at = 0; at < count; at += size) {
    step(at, [&](auto... args) { run_tile<Tile, FV, largest>(std::min<int64_t>(size, count - at), args...); });
  }
}

// body(f0, FV as a type) for each block of two vectors of the F output channels (one for an odd
// last vector). Blocks of four (64 channels with AVX-512) need fewer broadcasts per FMA but tiles of
// 6 pixels, which split the seed CNN's rows of 10 and 8 badly: measured no faster on its
// 64-channel layers, and slower on their dx.
template <typename Body>
void for_each_channel_block(int64_t F, Body body) {
  for (int64_t f0 = 0; f0 < F; f0 += 2 * kLanes) {
    if (F - f0 >= 2 * kLanes) {
      body(f0, std::integral_constant<int, 2>{});
    } else {
      body(f0, std::integral_constant<int, 1>{});
    }
  }
}

// One output row: y_row (OW, F) = bias + Σ over KH kernel rows (starting at x_row, w_rows) of the
// row's windows · w, ReLU'd when `relu`.
void correlate_row(float* y_row, const float* x_row, const float* w_rows, const float* bias, int64_t OW, int64_t F,
                   int64_t C, int64_t row_stride, int64_t KH, int64_t KWC, bool relu) {
  for_each_channel_block(F, [&](int64_t f0, auto fv) {
    run_tiles<ForwardTile, decltype(fv)::value>(OW, [&](int64_t ow, auto tile) {
      tile(y_row + ow * F + f0, F, x_row + ow * C, C, row_stride, w_rows + f0, bias ? bias + f0 : nullptr, KH, KWC,
           relu);
    });
  });
}

// dw (KH·KWC rows of F) += the share of `images` consecutive images of a 3×3 one-channel kernel,
// every kernel row at once (SmallKernelWeightGradientTile).
void accumulate_small_dW(float* dw, const float* x, int64_t image_stride, const float* dz, int64_t images, int64_t OH,
                         int64_t OW, int64_t F, int64_t C, int64_t row_stride) {
  for_each_channel_block(F, [&](int64_t f0, auto fv) {
    SmallKernelWeightGradientTile<decltype(fv)::value, 3, 3>::run(dw + f0, F, x, C, row_stride, image_stride, dz + f0,
                                                                   images, OH, OW);
  });
}

// dw[j0..j1) (rows of F) += the share of `images` consecutive images for one kernel row's columns
// [j0, j1) of KW·C: x the row's start in the first image's plane (images image_stride apart), dz the
// images' gradients.
void accumulate_dW(float* dw, const float* x, int64_t image_stride, const float* dz, int64_t images, int64_t OH,
                   int64_t OW, int64_t F, int64_t C, int64_t row_stride, int64_t j0, int64_t j1) {
  for_each_channel_block(F, [&](int64_t f0, auto fv) {
    run_tiles<WeightGradientTile, decltype(fv)::value>(j1 - j0, [&](int64_t j, auto tile) {
      tile(dw + (j0 + j) * F + f0, F, x + j0 + j, C, row_stride, image_stride, dz + f0, images, OH, OW);
    });
  });
}
