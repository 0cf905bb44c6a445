#include "merge.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace axonal {

namespace {

// Elements per chunk. An n-input op makes several passes over a chunk (one per input, and per
// output in the backward), so a chunk of every array it touches (at most 8 inputs, 8 outputs and
// dy: 17 × 4 KiB) stays in L2 between passes while each pass is a plain vectorisable loop.
constexpr int64_t kChunk = 1024;

// body(first, last) over [0, count) in chunks of kChunk, on the OpenMP team when `work` (elements
// read and written) reaches kParallelMinWork. Chunks are independent: results do not depend on the
// thread count.
template <typename Body>
void over_chunks(int64_t count, int64_t work, const Body& body) {
  parallel_for((count + kChunk - 1) / kChunk, work >= kParallelMinWork, [&](int64_t c) {
    const int64_t first = c * kChunk;
    body(first, std::min(count, first + kChunk));
  });
}

void copy_span(float* out, const float* in, int64_t first, int64_t last) {
  std::memcpy(out + first, in + first, static_cast<size_t>(last - first) * sizeof(float));
}

// y = x0 ⊕ x1 ⊕ … over [first, last), left to right; y overlaps no input, so each pass is one loop
// over independent elements.
template <typename Combine>
void fold_span(float* y, const float* const* inputs, int n, int64_t first, int64_t last, Combine combine) {
  copy_span(y, inputs[0], first, last);
  for (int i = 1; i < n; ++i) {
    const float* x = inputs[i];
#pragma omp simd
    for (int64_t e = first; e < last; ++e) y[e] = combine(y[e], x[e]);
  }
}

// best[l], chosen[l] for element first + l: the value and index of the input merge_takes picks.
template <MergeOp Op>
void choose_span(float* best, int32_t* chosen, const float* const* inputs, int n, int64_t first, int64_t last) {
  const int64_t length = last - first;
  std::memcpy(best, inputs[0] + first, static_cast<size_t>(length) * sizeof(float));
  std::fill(chosen, chosen + length, 0);
  for (int i = 1; i < n; ++i) {
    const float* x = inputs[i] + first;
#pragma omp simd
    for (int64_t l = 0; l < length; ++l) {
      const bool take = merge_takes<Op>(x[l], best[l]);
      best[l] = take ? x[l] : best[l];
      chosen[l] = take ? i : chosen[l];
    }
  }
}

template <MergeOp Op>
void extreme_forward(float* y, const float* const* inputs, int n, int64_t count) {
  over_chunks(count, count * (n + 1), [&](int64_t first, int64_t last) {
    copy_span(y, inputs[0], first, last);
    for (int i = 1; i < n; ++i) {
      const float* x = inputs[i];
#pragma omp simd
      for (int64_t e = first; e < last; ++e) y[e] = merge_takes<Op>(x[e], y[e]) ? x[e] : y[e];
    }
  });
}

template <MergeOp Op>
void extreme_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count) {
  over_chunks(count, count * (2 * n + 1), [&](int64_t first, int64_t last) {
    // The choice of one chunk, on the stack (8 KiB): the kernel allocates nothing.
    float best[kChunk];
    int32_t chosen[kChunk];
    choose_span<Op>(best, chosen, inputs, n, first, last);
    for (int i = 0; i < n; ++i) {
      if (!dxs[i]) continue;
      float* dx = dxs[i] + first;
      const float* g = dy + first;
      // A select, not dy · (chosen == i), so that a NaN in dy reaches the chosen input only; dy is
      // loaded unconditionally, which lets the select vectorise.
#pragma omp simd
      for (int64_t l = 0; l < last - first; ++l) {
        const float gradient = g[l];
        dx[l] = chosen[l] == i ? gradient : 0.f;
      }
    }
  });
}

// dx_i = dy · Π_{j≠i} x_j: the others' product left to right (written into dx_i), then times dy.
void multiply_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count) {
  over_chunks(count, count * (n * n + 1), [&](int64_t first, int64_t last) {
    for (int i = 0; i < n; ++i) {
      float* dx = dxs[i];
      if (!dx) continue;
      if (n == 1) {  // an empty product: dx = dy · 1
        copy_span(dx, dy, first, last);
        continue;
      }
      const int j0 = i == 0 ? 1 : 0;
      copy_span(dx, inputs[j0], first, last);
      for (int j = j0 + 1; j < n; ++j) {
        if (j == i) continue;
        const float* x = inputs[j];
#pragma omp simd
        for (int64_t e = first; e < last; ++e) dx[e] = dx[e] * x[e];
      }
#pragma omp simd
      for (int64_t e = first; e < last; ++e) dx[e] = dy[e] * dx[e];
    }
  });
}

}  // namespace

void merge_forward(float* y, const float* const* inputs, int n, int64_t count, MergeOp op) {
  const int64_t work = count * (n + 1);
  switch (op) {
    case MergeOp::add:
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        fold_span(y, inputs, n, first, last, [](float a, float b) { return a + b; });
      });
    case MergeOp::subtract:  // n == 2
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        fold_span(y, inputs, n, first, last, [](float a, float b) { return a - b; });
      });
    case MergeOp::multiply:
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        fold_span(y, inputs, n, first, last, [](float a, float b) { return a * b; });
      });
    case MergeOp::average: {
      // A division, as Keras' Average and the reference do (sum / n), not a product with 1/n.
      const float count_f = static_cast<float>(n);
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        fold_span(y, inputs, n, first, last, [](float a, float b) { return a + b; });
#pragma omp simd
        for (int64_t e = first; e < last; ++e) y[e] = y[e] / count_f;
      });
    }
    case MergeOp::maximum: return extreme_forward<MergeOp::maximum>(y, inputs, n, count);
    case MergeOp::minimum: return extreme_forward<MergeOp::minimum>(y, inputs, n, count);
  }
}

void merge_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count,
                    MergeOp op) {
  const int64_t work = count * (n + 1);
  switch (op) {
    case MergeOp::add:
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        for (int i = 0; i < n; ++i)
          if (dxs[i]) copy_span(dxs[i], dy, first, last);
      });
    case MergeOp::subtract:  // n == 2: dx0 = dy, dx1 = −dy
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        if (dxs[0]) copy_span(dxs[0], dy, first, last);
        if (float* dx = dxs[1]) {
#pragma omp simd
          for (int64_t e = first; e < last; ++e) dx[e] = -dy[e];
        }
      });
    case MergeOp::average: {
      const float count_f = static_cast<float>(n);
      return over_chunks(count, work, [&](int64_t first, int64_t last) {
        for (int i = 0; i < n; ++i) {
          float* dx = dxs[i];
          if (!dx) continue;
#pragma omp simd
          for (int64_t e = first; e < last; ++e) dx[e] = dy[e] / count_f;
        }
      });
    }
    case MergeOp::multiply: return multiply_backward(dxs, dy, inputs, n, count);
    case MergeOp::maximum: return extreme_backward<MergeOp::maximum>(dxs, dy, inputs, n, count);
    case MergeOp::minimum: return extreme_backward<MergeOp::minimum>(dxs, dy, inputs, n, count);
  }
}

void concat_forward(float* y, const float* const* inputs, const int64_t* widths, int n, int64_t rows) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += widths[i];
  // One row per iteration: each input's row is one contiguous run of y's row.
  parallel_for(rows, rows * total >= kParallelMinWork, [&](int64_t r) {
    float* out = y + r * total;
    for (int i = 0; i < n; ++i) {
      const int64_t width = widths[i];
      if (width > 0) std::memcpy(out, inputs[i] + r * width, static_cast<size_t>(width) * sizeof(float));
      out += width;
    }
  });
}

void concat_backward(float* const* dxs, const float* dy, const int64_t* widths, int n, int64_t rows) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += widths[i];
  parallel_for(rows, rows * total >= kParallelMinWork, [&](int64_t r) {
    const float* in = dy + r * total;
    for (int i = 0; i < n; ++i) {
      const int64_t width = widths[i];
      if (dxs[i] && width > 0) std::memcpy(dxs[i] + r * width, in, static_cast<size_t>(width) * sizeof(float));
      in += width;
    }
  });
}

void accumulate(float* y, const float* x, int64_t count) {
  over_chunks(count, 2 * count, [&](int64_t first, int64_t last) {
#pragma omp simd
    for (int64_t e = first; e < last; ++e) y[e] = y[e] + x[e];
  });
}

void scale(float* y, const float* x, int64_t count, float factor) {
  // Element e is read before it is written, so y == x is safe.
  over_chunks(count, 2 * count, [&](int64_t first, int64_t last) {
#pragma omp simd
    for (int64_t e = first; e < last; ++e) y[e] = factor * x[e];
  });
}

}  // namespace axonal
