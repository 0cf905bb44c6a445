#include "spatial_dropout.h"

#include "axonal/philox.h"
#include "parallel.h"

namespace axonal {

namespace {
// out = in ⊙ mask[n, c] · scale over (N, A, C, B): a product, not a select, so a NaN in a dropped map
// stays NaN, as with Dropout. One task per (n, a) run of C·B values.
void apply_channel_mask(float* out, const float* in, const uint8_t* mask, int64_t N, int64_t A, int64_t C, int64_t B,
                        float scale) {
  const int64_t run = C * B;
  parallel_for(N * A, N * A * run >= kParallelMinWork, [&](int64_t r) {
    const uint8_t* keep = mask + (r / A) * C;
    const float* x = in + r * run;
    float* y = out + r * run;
    for (int64_t c = 0; c < C; ++c) {
      const float factor = static_cast<float>(keep[c]) * scale;
      for (int64_t b = 0; b < B; ++b) y[c * B + b] = x[c * B + b] * factor;
    }
  });
}
}  // namespace

void spatial_dropout_forward(float* y, uint8_t* mask, const float* x, int64_t N, int64_t A, int64_t C, int64_t B,
                             float rate, uint32_t seed, uint32_t layer_id, uint64_t step, uint64_t first_element) {
  // The (N, C) mask is small (one byte per feature map): drawn on the calling thread, a Philox block
  // of four elements at a time, exactly as Dropout draws element i of an (N, C) activation; with an
  // offset, mask[i] is element first_element + i of that numbering.
  const int64_t n = N * C;
  if (first_element != 0) {
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t e = first_element + static_cast<uint64_t>(i);
      mask[i] = uniform24(dropout_block(e / 4, seed, layer_id, step).v[e % 4]) >= rate ? 1 : 0;
    }
    apply_channel_mask(y, x, mask, N, A, C, B, 1.f / (1.f - rate));
    return;
  }
  for (int64_t block = 0; 4 * block < n; ++block) {
    const Philox4 words = dropout_block(static_cast<uint64_t>(block), seed, layer_id, step);
    for (int64_t j = 0; j < 4 && 4 * block + j < n; ++j) mask[4 * block + j] = uniform24(words.v[j]) >= rate ? 1 : 0;
  }
  apply_channel_mask(y, x, mask, N, A, C, B, 1.f / (1.f - rate));
}

void spatial_dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t N, int64_t A, int64_t C,
                              int64_t B, float rate) {
  apply_channel_mask(dx, dy, mask, N, A, C, B, 1.f / (1.f - rate));
}

}  // namespace axonal
