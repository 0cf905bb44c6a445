#include "reshaping.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace axonal {

namespace {
// Runs body(m, h) over every image row of the input: one task per row, in parallel above the
// elementwise work threshold (each row writes its own part of the output, so the bits do not depend
// on the thread count).
template <typename Body>
void each_row(const ImageResize& g, int64_t work, const Body& body) {
  parallel_for(g.M * g.H, work >= kParallelMinWork, [&](int64_t r) { body(r / g.H, r % g.H); });
}
}  // namespace

void zero_pad2d_forward(float* y, const float* x, const ImageResize& g) {
  const int64_t PH = g.padded_h(), PW = g.padded_w(), row = g.W * g.B, padded_row = PW * g.B;
  const size_t image_bytes = static_cast<size_t>(PH * padded_row) * sizeof(float);
  parallel_for(g.M, g.M * PH * padded_row >= kParallelMinWork, [&](int64_t m) {
    float* out = y + m * PH * padded_row;
    if (g.top + g.bottom + g.left + g.right > 0) std::memset(out, 0, image_bytes);
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(out + (g.top + h) * padded_row + g.left * g.B, x + (m * g.H + h) * row, row * sizeof(float));
  });
}

void zero_pad2d_backward(float* dx, const float* dy, const ImageResize& g) {
  const int64_t PH = g.padded_h(), PW = g.padded_w(), row = g.W * g.B, padded_row = PW * g.B;
  each_row(g, g.M * g.H * row, [&](int64_t m, int64_t h) {
    std::memcpy(dx + (m * g.H + h) * row, dy + (m * PH + g.top + h) * padded_row + g.left * g.B, row * sizeof(float));
  });
}

void upsample2d_forward(float* y, const float* x, const ImageResize& g) {
  const int64_t OW = g.W * g.SW, out_row = OW * g.B;
  each_row(g, g.M * g.H * g.SH * out_row, [&](int64_t m, int64_t h) {
    const float* in = x + (m * g.H + h) * g.W * g.B;
    float* first = y + (m * g.H * g.SH + h * g.SH) * out_row;
    for (int64_t w = 0; w < g.W; ++w)
      for (int64_t j = 0; j < g.SW; ++j) std::memcpy(first + (w * g.SW + j) * g.B, in + w * g.B, g.B * sizeof(float));
    for (int64_t i = 1; i < g.SH; ++i) std::memcpy(first + i * out_row, first, out_row * sizeof(float));
  });
}

void upsample2d_backward(float* dx, const float* dy, const ImageResize& g) {
  const int64_t OW = g.W * g.SW, out_row = OW * g.B;
  each_row(g, g.M * g.H * g.SH * out_row, [&](int64_t m, int64_t h) {
    float* out = dx + (m * g.H + h) * g.W * g.B;
    const float* block_rows = dy + (m * g.H * g.SH + h * g.SH) * out_row;
    for (int64_t w = 0; w < g.W; ++w) {
      float* o = out + w * g.B;
      for (int64_t i = 0; i < g.SH; ++i)
        for (int64_t j = 0; j < g.SW; ++j) {
          const float* d = block_rows + i * out_row + (w * g.SW + j) * g.B;
          if (i == 0 && j == 0) {
            for (int64_t b = 0; b < g.B; ++b) o[b] = d[b];
          } else {
            for (int64_t b = 0; b < g.B; ++b) o[b] += d[b];
          }
        }
    }
  });
}

void transpose_samples(float* y, const float* x, int64_t N, int64_t R, int64_t C) {
  // Tiles of 32x32 keep both sides' cache lines in use; every element is one copy, so the result is
  // exact whatever the order.
  constexpr int64_t kTile = 32;
  const int64_t tiles_r = (R + kTile - 1) / kTile, tiles_c = (C + kTile - 1) / kTile;
  parallel_for(N * tiles_r, N * R * C >= kParallelMinWork, [&](int64_t task) {
    const int64_t n = task / tiles_r, r0 = (task % tiles_r) * kTile, r1 = std::min(R, r0 + kTile);
    const float* in = x + n * R * C;
    float* out = y + n * R * C;
    for (int64_t t = 0; t < tiles_c; ++t) {
      const int64_t c0 = t * kTile, c1 = std::min(C, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) out[c * R + r] = in[r * C + c];
    }
  });
}

}  // namespace axonal
