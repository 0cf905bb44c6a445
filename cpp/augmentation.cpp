#include "augmentation.h"

#include "parallel.h"

namespace axonal {

namespace {

// Images in parallel when a batch holds enough work; each image by one thread.
template <typename Body>
void per_image(int64_t N, int64_t work, const Body& body) {
  parallel_for(N, work >= kParallelMinWork, body);
}

// Rows of (N, K) in parallel above the work threshold.
template <typename Body>
void per_row(int64_t N, int64_t K, const Body& body) {
  parallel_for(N, N * K >= kParallelMinWork, body);
}

// The mean of channel c of an (H·W, C) image, summed in double in pixel order, rounded once.
float channel_mean(const float* image, int64_t pixels, int64_t C, int64_t c) {
  double sum = 0.0;
  for (int64_t p = 0; p < pixels; ++p) sum += image[p * C + c];
  return static_cast<float>(sum / static_cast<double>(pixels));
}

}  // namespace

void augment_draw(double* params, AugmentKind kind, uint32_t seed, uint32_t layer_id, uint64_t step, int64_t N,
                  int64_t H, int64_t W, const double* ranges, uint64_t first_image) {
  for (int64_t n = 0; n < N; ++n)  // a few hundred Philox calls: not worth a thread team
    augment_draw_image(params + n * kAugmentParams, kind, ranges, H, W, seed, layer_id, step,
                       first_image + static_cast<uint64_t>(n));
}

void affine_forward(float* y, const float* x, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                    FillMode mode, bool bilinear, float fill_value) {
  const int64_t pixels = H * W;
  per_image(N, N * pixels * C * 4, [&](int64_t n) {
    const double* m = params + n * kAugmentParams;
    const float* image = x + n * pixels * C;
    float* out = y + n * pixels * C;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const AugmentTaps taps = augment_taps(m, i, j, H, W, mode, bilinear);
        float* o = out + (i * W + j) * C;
        float outside = 0.f;
        if (mode == FillMode::constant) {
          float total = taps.weight[0];
          for (int t = 1; t < taps.count; ++t) total += taps.weight[t];
          outside = (1.f - total) * fill_value;
        }
        for (int64_t c = 0; c < C; ++c) {
          float acc = 0.f;
          for (int t = 0; t < taps.count; ++t) acc += image[taps.pixel[t] * C + c] * taps.weight[t];
          if (mode == FillMode::constant) acc += outside;
          o[c] = acc;
        }
      }
  });
}

void affine_backward(float* dx, const float* dy, const double* params, int64_t N, int64_t H, int64_t W, int64_t C,
                     FillMode mode, bool bilinear) {
  const int64_t pixels = H * W;
  per_image(N, N * pixels * C * 4, [&](int64_t n) {
    const double* m = params + n * kAugmentParams;
    const float* grad = dy + n * pixels * C;
    float* out = dx + n * pixels * C;
    for (int64_t p = 0; p < pixels * C; ++p) out[p] = 0.f;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const AugmentTaps taps = augment_taps(m, i, j, H, W, mode, bilinear);
        const float* g = grad + (i * W + j) * C;
        for (int t = 0; t < taps.count; ++t)
          for (int64_t c = 0; c < C; ++c) out[taps.pixel[t] * C + c] += g[c] * taps.weight[t];
      }
  });
}

void contrast_forward(float* y, uint8_t* inside, const float* x, const double* params, int64_t N, int64_t H, int64_t W,
                      int64_t C, float low, float high) {
  const int64_t pixels = H * W;
  per_image(N, N * pixels * C * 2, [&](int64_t n) {
    const float factor = static_cast<float>(params[n * kAugmentParams]);
    const float* image = x + n * pixels * C;
    for (int64_t c = 0; c < C; ++c) {
      const float mean = channel_mean(image, pixels, C, c);
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t k = n * pixels * C + p * C + c;
        const float value = (x[k] - mean) * factor + mean;
        inside[k] = value >= low && value <= high ? 1 : 0;
        y[k] = value < low ? low : value > high ? high : value;  // NaN stays NaN, as np.clip
      }
    }
  });
}

void contrast_backward(float* dx, const float* dy, const uint8_t* inside, const double* params, int64_t N, int64_t H,
                       int64_t W, int64_t C) {
  const int64_t pixels = H * W;
  per_image(N, N * pixels * C * 2, [&](int64_t n) {
    const float factor = static_cast<float>(params[n * kAugmentParams]);
    const float keep = 1.f - factor;
    const int64_t base = n * pixels * C;
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int64_t p = 0; p < pixels; ++p) sum += dy[base + p * C + c] * static_cast<float>(inside[base + p * C + c]);
      const float mean = static_cast<float>(sum / static_cast<double>(pixels));
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t k = base + p * C + c;
        const float g = dy[k] * static_cast<float>(inside[k]);
        dx[k] = factor * g + keep * mean;
      }
    }
  });
}

void rescale_forward(float* y, const float* x, const float* scale, const float* offset, int64_t N, int64_t K) {
  per_row(N, K, [&](int64_t n) {
    for (int64_t k = 0; k < K; ++k) y[n * K + k] = x[n * K + k] * scale[k] + offset[k];
  });
}

void normalize_forward(float* y, const float* x, const float* mean, const float* deviation, int64_t N, int64_t K) {
  per_row(N, K, [&](int64_t n) {
    for (int64_t k = 0; k < K; ++k) y[n * K + k] = (x[n * K + k] - mean[k]) / deviation[k];
  });
}

void rescale_backward(float* dx, const float* dy, const float* scale, int64_t N, int64_t K) {
  per_row(N, K, [&](int64_t n) {
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = dy[n * K + k] * scale[k];
  });
}

void normalize_backward(float* dx, const float* dy, const float* deviation, int64_t N, int64_t K) {
  per_row(N, K, [&](int64_t n) {
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] = dy[n * K + k] / deviation[k];
  });
}

}  // namespace axonal
