#include "dropout.h"

#include <algorithm>

#include "axonal/philox.h"
#include "parallel.h"

namespace axonal {

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, uint64_t step) {
  const float scale = 1.f / (1.f - rate);
  const int64_t blocks = (n + 3) / 4;  // one Philox call yields the words of four elements
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork / 4)
  for (int64_t block = 0; block < blocks; ++block) {
    const Philox4 words = dropout_block(static_cast<uint64_t>(block), seed, layer_id, step);
    const int64_t first = block * 4, last = std::min(n, first + 4);
    for (int64_t i = first; i < last; ++i) {
      const uint8_t keep = uniform24(words.v[i - first]) >= rate ? 1 : 0;
      mask[i] = keep;
      y[i] = keep ? x[i] * scale : 0.f;
    }
  }
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate) {
  const float scale = 1.f / (1.f - rate);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? dy[i] * scale : 0.f;
}

}  // namespace axonal
