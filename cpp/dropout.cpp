#include "dropout.h"

#include <algorithm>

#include "axonal/philox.h"
#include "parallel.h"

namespace axonal {

namespace {
// Elements per parallel chunk: a multiple of 4 (one Philox call covers four elements), small enough
// to stay in L1 between drawing the mask and applying it.
constexpr int64_t kChunk = 4096;

// mask[i] for i in [first, last), with first a multiple of 4.
void draw_mask(uint8_t* mask, int64_t first, int64_t last, float rate, uint32_t seed, uint32_t layer_id,
               uint64_t step) {
  for (int64_t base = first; base < last; base += 4) {
    const Philox4 words = dropout_block(static_cast<uint64_t>(base / 4), seed, layer_id, step);
    const int64_t count = std::min<int64_t>(4, last - base);
    for (int64_t j = 0; j < count; ++j) mask[base + j] = uniform24(words.v[j]) >= rate ? 1 : 0;
  }
}

// out = in ⊙ mask · scale. A product rather than a select, so the loop vectorises and a NaN in a
// dropped position stays NaN, as in the reference.
void apply_mask(float* out, const float* in, const uint8_t* mask, int64_t first, int64_t last, float scale) {
#pragma omp simd
  for (int64_t i = first; i < last; ++i) out[i] = in[i] * (static_cast<float>(mask[i]) * scale);
}
}  // namespace

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, uint64_t step) {
  const float scale = 1.f / (1.f - rate);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, n >= kParallelMinWork / 4, [&](int64_t c) {
    const int64_t first = c * kChunk, last = std::min(n, first + kChunk);
    draw_mask(mask, first, last, rate, seed, layer_id, step);
    apply_mask(y, x, mask, first, last, scale);
  });
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate) {
  const float scale = 1.f / (1.f - rate);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, n >= kParallelMinWork, [&](int64_t c) {
    apply_mask(dx, dy, mask, c * kChunk, std::min(n, (c + 1) * kChunk), scale);
  });
}

}  // namespace axonal
