// Dropout op family: inverted dropout whose mask comes from Philox (axonal/philox.h), so the same
// (seed, layer_id, step) gives the same mask on every backend and for any thread count.
#pragma once
#include <cstdint>

namespace axonal {

// x (n) -> y (n) = x ⊙ mask / (1 − rate), mask (n) uint8 with 1 = kept. Element i draws the mask
// element of index first_element + i: a data-parallel shard passes its first row's place in the
// global batch, so its mask is that part of the one-process mask (docs/distributed.md).
void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, uint64_t step, uint64_t first_element = 0);

// dy (n), mask (n) -> dx (n) = dy ⊙ mask / (1 − rate)
void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float rate);

}  // namespace axonal
