#include "dropout.h"

#include <algorithm>
#include <cmath>

#include "axonal/philox.h"
#include "cpu_features.h"
#include "parallel.h"

#if AXONAL_X86
#include <immintrin.h>
#endif

namespace axonal {

namespace {
// Elements per parallel chunk: a multiple of 4 (one Philox call covers four elements), small enough
// to stay in L1 between drawing the mask and applying it.
constexpr int64_t kChunk = 4096;

// mask[i] for i in [first, last), with first a multiple of 4: the shared scalar Philox.
void draw_mask_portable(uint8_t* mask, int64_t first, int64_t last, float rate, uint32_t seed, uint32_t layer_id,
                        uint64_t step) {
  for (int64_t base = first; base < last; base += 4) {
    const Philox4 words = dropout_block(static_cast<uint64_t>(base / 4), seed, layer_id, step);
    const int64_t count = std::min<int64_t>(4, last - base);
    for (int64_t j = 0; j < count; ++j) mask[base + j] = uniform24(words.v[j]) >= rate ? 1 : 0;
  }
}

#if AXONAL_X86
// uniform24(word) >= rate  <=>  (word >> 8) >= ceil(rate · 2^24): both sides are exact, so the
// vector paths compare integers and keep exactly the elements the scalar path keeps.
uint32_t keep_threshold(float rate) { return static_cast<uint32_t>(std::ceil(static_cast<double>(rate) * 16777216.0)); }

// Blocks b .. b+lanes-1 share the high counter word unless the low word wraps inside the group;
// such a group (once per 2^32 blocks) goes to the scalar path.
bool low_word_wraps(uint64_t block, int lanes) { return static_cast<uint32_t>(block) > 0xFFFFFFFFu - lanes; }

// Sixteen Philox4x32-10 streams at once (lanes = consecutive blocks), 64 mask bytes per iteration.
__attribute__((target("avx512f"))) void draw_mask_avx512(uint8_t* mask, int64_t first, int64_t last, float rate,
                                                         uint32_t seed, uint32_t layer_id, uint64_t step) {
  const __m512i mul0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i mul1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i threshold = _mm512_set1_epi32(static_cast<int>(keep_threshold(rate)));
  int64_t base = first;
  for (; base + 64 <= last; base += 64) {
    const uint64_t block = static_cast<uint64_t>(base / 4);
    if (low_word_wraps(block, 16)) break;
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(block)), lanes);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(block >> 32));
    __m512i c2 = _mm512_set1_epi32(static_cast<int>(step)), c3 = _mm512_set1_epi32(static_cast<int>(step >> 32));
    uint32_t k0 = seed, k1 = layer_id;
    for (int round = 0; round < 10; ++round) {
      // 32×32 -> 64-bit products of the even lanes, then of the odd lanes shifted down.
      const __m512i p0_even = _mm512_mul_epu32(c0, mul0), p0_odd = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), mul0);
      const __m512i p1_even = _mm512_mul_epu32(c2, mul1), p1_odd = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), mul1);
      const __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(p0_even, 32), p0_odd);
      const __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, p0_even, _mm512_slli_epi64(p0_odd, 32));
      const __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(p1_even, 32), p1_odd);
      const __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, p1_even, _mm512_slli_epi64(p1_odd, 32));
      c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(k0)));
      c1 = lo1;
      c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // Lane l holds the words of elements 4l .. 4l+3: byte j of its output dword is word j's keep bit.
    const __m512i bytes = _mm512_or_si512(
        _mm512_or_si512(_mm512_maskz_mov_epi32(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c0, 8), threshold),
                                               _mm512_set1_epi32(0x1)),
                        _mm512_maskz_mov_epi32(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c1, 8), threshold),
                                               _mm512_set1_epi32(0x100))),
        _mm512_or_si512(_mm512_maskz_mov_epi32(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c2, 8), threshold),
                                               _mm512_set1_epi32(0x10000)),
                        _mm512_maskz_mov_epi32(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c3, 8), threshold),
                                               _mm512_set1_epi32(0x1000000))));
    _mm512_storeu_si512(mask + base, bytes);
  }
  draw_mask_portable(mask, base, last, rate, seed, layer_id, step);
}

// Byte `byte` of each lane: 1 where (word >> 8) > below.
__attribute__((target("avx2"))) inline __m256i keep_bytes_avx2(__m256i word, __m256i below, int byte) {
  const __m256i kept = _mm256_cmpgt_epi32(_mm256_srli_epi32(word, 8), below);
  return _mm256_and_si256(kept, _mm256_set1_epi32(1 << (8 * byte)));
}

// Eight streams at once with AVX2, 32 mask bytes per iteration; the same scheme as above.
__attribute__((target("avx2"))) void draw_mask_avx2(uint8_t* mask, int64_t first, int64_t last, float rate,
                                                    uint32_t seed, uint32_t layer_id, uint64_t step) {
  const __m256i mul0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i mul1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // (word >> 8) >= T  <=>  (word >> 8) > T − 1, a signed compare: both sides lie in [−1, 2^24].
  const __m256i below = _mm256_set1_epi32(static_cast<int>(keep_threshold(rate)) - 1);
  int64_t base = first;
  for (; base + 32 <= last; base += 32) {
    const uint64_t block = static_cast<uint64_t>(base / 4);
    if (low_word_wraps(block, 8)) break;
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(block)), lanes);
    __m256i c1 = _mm256_set1_epi32(static_cast<int>(block >> 32));
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(step)), c3 = _mm256_set1_epi32(static_cast<int>(step >> 32));
    uint32_t k0 = seed, k1 = layer_id;
    for (int round = 0; round < 10; ++round) {
      const __m256i p0_even = _mm256_mul_epu32(c0, mul0), p0_odd = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), mul0);
      const __m256i p1_even = _mm256_mul_epu32(c2, mul1), p1_odd = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), mul1);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(p0_even, 32), p0_odd, 0xAA);
      const __m256i lo0 = _mm256_blend_epi32(p0_even, _mm256_slli_epi64(p0_odd, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(p1_even, 32), p1_odd, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(p1_even, _mm256_slli_epi64(p1_odd, 32), 0xAA);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const __m256i bytes = _mm256_or_si256(_mm256_or_si256(keep_bytes_avx2(c0, below, 0), keep_bytes_avx2(c1, below, 1)),
                                          _mm256_or_si256(keep_bytes_avx2(c2, below, 2), keep_bytes_avx2(c3, below, 3)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(mask + base), bytes);
  }
  draw_mask_portable(mask, base, last, rate, seed, layer_id, step);
}

#endif  // AXONAL_X86

void draw_mask(uint8_t* mask, int64_t first, int64_t last, float rate, uint32_t seed, uint32_t layer_id,
               uint64_t step) {
#if AXONAL_X86
  switch (active_isa()) {
    case Isa::avx512: return draw_mask_avx512(mask, first, last, rate, seed, layer_id, step);
    case Isa::avx2: return draw_mask_avx2(mask, first, last, rate, seed, layer_id, step);
    default: break;
  }
#endif
  draw_mask_portable(mask, first, last, rate, seed, layer_id, step);
}

// out[0, count) = the mask elements of global indices [first, first + count), first a multiple of 4:
// draw_mask writes mask[index] for global indices, so it is given the address that global index 0
// would have, formed in integers (only out[0, count) is ever written).
void draw_mask_at(uint8_t* out, uint64_t first, int64_t count, float rate, uint32_t seed, uint32_t layer_id,
                  uint64_t step) {
  auto* origin = reinterpret_cast<uint8_t*>(reinterpret_cast<uintptr_t>(out) - static_cast<uintptr_t>(first));
  draw_mask(origin, static_cast<int64_t>(first), static_cast<int64_t>(first) + count, rate, seed, layer_id, step);
}

// out = in ⊙ mask · scale. A product rather than a select, so the loop vectorises and a NaN in a
// dropped position stays NaN, as in the reference.
void apply_mask(float* out, const float* in, const uint8_t* mask, int64_t first, int64_t last, float scale) {
#pragma omp simd
  for (int64_t i = first; i < last; ++i) out[i] = in[i] * (static_cast<float>(mask[i]) * scale);
}
}  // namespace

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float rate, uint32_t seed,
                     uint32_t layer_id, uint64_t step, uint64_t first_element) {
  const float scale = 1.f / (1.f - rate);
  if (first_element != 0) {
    // Mask elements [first_element, first_element + n): the draws index elements globally and want
    // chunks starting on a multiple of 4, so the few elements before the first such index are drawn
    // one by one, and the rest through the usual chunks over a view whose index 0 is global index
    // `aligned` (a plain offset into mask, no out-of-range pointer).
    const uint64_t aligned = std::min<uint64_t>((first_element + 3) / 4 * 4, first_element + n);
    const int64_t head = static_cast<int64_t>(aligned - first_element);
    for (int64_t i = 0; i < head; ++i) {
      const uint64_t e = first_element + i;
      const Philox4 words = dropout_block(e / 4, seed, layer_id, step);
      mask[i] = uniform24(words.v[e % 4]) >= rate ? 1 : 0;
    }
    apply_mask(y, x, mask, 0, head, scale);
    const int64_t rest = n - head;
    if (rest <= 0) return;
    // The view's element j is global element aligned + j: draw_mask numbers from a block index, so
    // the view's chunks are drawn with their global start, written at their local place.
    uint8_t* view_mask = mask + head;
    const int64_t chunks = (rest + kChunk - 1) / kChunk;
    parallel_for(chunks, rest >= kParallelMinWork / 4, [&](int64_t c) {
      const int64_t first = c * kChunk, last = std::min(rest, first + kChunk);
      draw_mask_at(view_mask + first, aligned + first, last - first, rate, seed, layer_id, step);
      apply_mask(y + head, x + head, view_mask, first, last, scale);
    });
    return;
  }
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
