// Spatial (channel) dropout op family: Keras' SpatialDropout2D, which drops whole feature maps. Each
// (image, channel) pair is kept or dropped as one element of a Dropout mask of an (N, C) activation:
// the keep bit of pair (n, c) is Philox element n·C + c of (seed, layer_id, step) (docs/design.md,
// "Randomness"), so every backend draws the same mask. The kept maps are scaled by 1 / (1 − rate)
// (computed in float32, as dropout.cpp does).
//
// Images are (N, A, C, B): C channels, with the pixels in A (channels_last: (N, H·W, C, 1)) or in
// B (channels_first: (N, 1, C, H·W)). cuda/spatial_dropout.cuh has the same signatures plus the stream.
#pragma once
#include <cstdint>

namespace axonal {

// x (N, A, C, B) -> mask (N, C) uint8 (1 = kept), y (N, A, C, B) = x ⊙ mask[n, c] / (1 − rate). Pair (n, c)
// draws mask element first_element + n·C + c: a data-parallel shard passes its first image's place in
// the global batch times C, and draws that part of the one-process mask (docs/distributed.md).
void spatial_dropout_forward(float* y, uint8_t* mask, const float* x, int64_t N, int64_t A, int64_t C, int64_t B,
                             float rate, uint32_t seed, uint32_t layer_id, uint64_t step, uint64_t first_element = 0);

// dy (N, A, C, B), mask (N, C) -> dx (N, A, C, B) = dy ⊙ mask[n, c] / (1 − rate).
void spatial_dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t N, int64_t A, int64_t C,
                              int64_t B, float rate);

}  // namespace axonal
