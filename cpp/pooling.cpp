#include "pooling.h"

#include <algorithm>
#include <limits>

#include "parallel.h"

namespace axonal {

namespace {

// The unpadded part [h0, h1) × [w0, w1) of the window of output (oh, ow).
struct Span {
  int64_t h0, h1, w0, w1;
  int64_t count() const { return (h1 - h0) * (w1 - w0); }
};

Span window_span(const Window& g, int64_t oh, int64_t ow) {
  const int64_t top = oh * g.stride_h - g.pad_top, left = ow * g.stride_w - g.pad_left;
  return {std::max<int64_t>(top, 0), std::min(top + g.KH, g.H), std::max<int64_t>(left, 0),
          std::min(left + g.KW, g.W)};
}

// Work of a sweep over every output element's window, for the threading threshold.
int64_t sweep_work(const Window& g) { return g.N * g.OH * g.OW * g.C * g.KH * g.KW; }

// Calls visit(image, span, out) for every output position (n, oh, ow): image is sample n of x,
// span the window's unpadded part, out the offset of the position's C outputs. Parallel over rows.
template <typename Visit>
void for_each_output(const Window& g, const float* x, Visit visit) {
#pragma omp parallel for schedule(static) if (sweep_work(g) >= kParallelMinWork)
  for (int64_t r = 0; r < g.N * g.OH; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    for (int64_t ow = 0; ow < g.OW; ++ow) visit(x + n * g.H * g.W * g.C, window_span(g, oh, ow), (r * g.OW + ow) * g.C);
  }
}

}  // namespace

void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Window& g) {
  for_each_output(g, x, [&](const float* image, const Span& s, int64_t offset) {
    float* out = y + offset;
    int32_t* where = argmax + offset;
    std::fill(out, out + g.C, -std::numeric_limits<float>::infinity());
    std::fill(where, where + g.C, static_cast<int32_t>(s.h0 * g.W + s.w0));
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t w = s.w0; w < s.w1; ++w) {
        const float* in = image + (h * g.W + w) * g.C;
        const int32_t position = static_cast<int32_t>(h * g.W + w);
        // Strict: the first maximum wins ties, and NaN never wins. The index is chosen with a
        // bit mask, not a select: GCC's baseline (SSE2) vectoriser if-converts only that form, and
        // the branchy scalar loop took 1.8 ms on one thread for the seed CNN's first pooling.
        for (int64_t c = 0; c < g.C; ++c) {
          const float best = out[c], candidate = in[c];
          const int32_t greater = -static_cast<int32_t>(candidate > best);  // all ones when greater
          out[c] = greater ? candidate : best;
          where[c] = (position & greater) | (where[c] & ~greater);
        }
      }
  });
}

void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, const Window& g) {
  // One image per thread: windows of an image may share their maximum, so they add up in order.
#pragma omp parallel for schedule(static) if (sweep_work(g) >= kParallelMinWork)
  for (int64_t n = 0; n < g.N; ++n) {
    float* image = dx + n * g.H * g.W * g.C;
    std::fill(image, image + g.H * g.W * g.C, 0.f);
    // Output positions in order, then channels: the channel is the inner index (no i % C per element).
    for (int64_t p = n * g.OH * g.OW; p < (n + 1) * g.OH * g.OW; ++p) {
      const int32_t* from = argmax + p * g.C;
      const float* grad = dy + p * g.C;
      for (int64_t c = 0; c < g.C; ++c) image[static_cast<int64_t>(from[c]) * g.C + c] += grad[c];
    }
  }
}

void avg_pool2d_forward(float* y, const float* x, const Window& g) {
  for_each_output(g, x, [&](const float* image, const Span& s, int64_t offset) {
    float* out = y + offset;
    std::fill(out, out + g.C, 0.f);
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t w = s.w0; w < s.w1; ++w) {
        const float* in = image + (h * g.W + w) * g.C;
#pragma omp simd
        for (int64_t c = 0; c < g.C; ++c) out[c] += in[c];
      }
    const float inv = 1.f / static_cast<float>(s.count());
    for (int64_t c = 0; c < g.C; ++c) out[c] *= inv;
  });
}

void avg_pool2d_backward(float* dx, const float* dy, const Window& g) {
#pragma omp parallel for schedule(static) if (sweep_work(g) >= kParallelMinWork)
  for (int64_t n = 0; n < g.N; ++n) {
    float* image = dx + n * g.H * g.W * g.C;
    std::fill(image, image + g.H * g.W * g.C, 0.f);
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const Span s = window_span(g, oh, ow);
        const float* grad = dy + ((n * g.OH + oh) * g.OW + ow) * g.C;
        const float inv = 1.f / static_cast<float>(s.count());
        for (int64_t h = s.h0; h < s.h1; ++h)
          for (int64_t w = s.w0; w < s.w1; ++w) {
            float* out = image + (h * g.W + w) * g.C;
#pragma omp simd
            for (int64_t c = 0; c < g.C; ++c) out[c] += grad[c] * inv;
          }
      }
  }
}

}  // namespace axonal
