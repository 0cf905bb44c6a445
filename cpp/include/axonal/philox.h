// Philox4x32-10 counter-based RNG (Salmon et al., SC'11), usable from C++ and CUDA.
// The dropout mask mapping (seed, layer id, step, element index) -> keep bit is written down in
// docs/design.md; philox_keep() below is its one implementation, shared by cpp/ and cuda/.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define AXONAL_HD __host__ __device__ __forceinline__
#else
#define AXONAL_HD inline
#endif

namespace axonal {

struct Philox4 { uint32_t v[4]; };

AXONAL_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// counter (4 words), key (2 words) -> 4 random words; ten rounds, Random123's constants.
AXONAL_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  const uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  const uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kMul0, ctr.v[0], &hi0, &lo0);
    mulhilo32(kMul1, ctr.v[2], &hi1, &lo1);
    Philox4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    ctr = next;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return ctr;
}

// The four words for elements 4b .. 4b+3 of a dropout mask (docs/design.md, "Randomness").
AXONAL_HD Philox4 dropout_block(uint64_t block, uint32_t seed, uint32_t layer_id, uint64_t step) {
  Philox4 ctr = {{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                  static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32)}};
  return philox4x32_10(ctr, seed, layer_id);
}

// A word -> uniform float in [0, 1) with 24 exact bits; keep the element when u >= rate.
AXONAL_HD float uniform24(uint32_t word) { return static_cast<float>(word >> 8) * (1.0f / 16777216.0f); }

}  // namespace axonal
