#include "peak.h"

#include "cpu_features.h"
#if AXONAL_X86
#include <immintrin.h>
#endif

#include <omp.h>

#include <chrono>
#include <cmath>

namespace axonal {
namespace {

// Each loop keeps `accumulators` independent accumulators in registers, more than the FMA latency (4
// cycles) times the two FMA ports, and few enough to stay in registers with the two constants:
// 16 of AVX-512's 32 registers, 12 of AVX2's 16 (16 AVX2 accumulators spill to the stack and
// measured 87 instead of 108 GFLOP/s a core on the Sapphire Rapids Xeon, which understated the
// AVX2 peak by a fifth). The multiplier is just below 1 so the values stay finite. It runs blocks
// of `accumulators` · 256 vector FMAs until `seconds` pass and returns the fp32 FMAs done.
#if AXONAL_X86
#define AXONAL_FMA_LOOP(Vec, lanes, accumulators, set1, fmadd, first_lane)                            \
  const Vec mul = set1(0.999999f), add = set1(1e-6f);                                                 \
  Vec acc[accumulators];                                                                              \
  for (int i = 0; i < accumulators; ++i) acc[i] = set1(1e-6f * static_cast<float>(i));                \
  const auto start = std::chrono::steady_clock::now();                                                \
  double blocks = 0;                                                                                  \
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) { \
    for (int repeat = 0; repeat < 256; ++repeat)                                                      \
      for (int i = 0; i < accumulators; ++i) acc[i] = fmadd(acc[i], mul, add);                        \
    blocks += 1;                                                                                      \
  }                                                                                                   \
  float sink = 0;                                                                                     \
  for (int i = 0; i < accumulators; ++i) sink += first_lane(acc[i]);                                  \
  volatile float keep = sink; /* used, so the loop is not optimised away */                           \
  (void)keep;                                                                                         \
  return blocks * accumulators * 256 * lanes;

__attribute__((target("avx512f"))) double loop_avx512(double seconds) {
  AXONAL_FMA_LOOP(__m512, 16, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
}

__attribute__((target("avx2,fma"))) double loop_avx2(double seconds) {
  AXONAL_FMA_LOOP(__m256, 8, 12, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
}
#endif

double loop_scalar(double seconds) {
  float acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = 1e-6f * static_cast<float>(i);
  const auto start = std::chrono::steady_clock::now();
  double fmas = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    for (int repeat = 0; repeat < 4096; ++repeat)
      for (int i = 0; i < 16; ++i) acc[i] = std::fmaf(acc[i], 0.999999f, 1e-6f);
    fmas += 4096 * 16;
  }
  volatile float keep = acc[0];
  (void)keep;
  return fmas;
}

}  // namespace

// fma_peak_isa() names the widest vectors the CPU runs, as cpu_features.h detects them (not capped
// by AXONAL_ISA: the machine's peak); fma_peak_gflops takes the ISA to measure, so that benchmarks
// can divide by the peak of the ISA the kernels use (benchmarks/bench/worker.py).
const char* fma_peak_isa() {
  switch (best_isa()) {
    case Isa::avx512: return "avx512f";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

double fma_peak_gflops(int threads, double seconds, Isa isa) {
  double fmas = 0;
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : fmas)
  {
#if AXONAL_X86
    if (isa == Isa::avx512) fmas += loop_avx512(seconds);
    else if (isa == Isa::avx2) fmas += loop_avx2(seconds);
    else fmas += loop_scalar(seconds);
#else
    (void)isa;
    fmas += loop_scalar(seconds);
#endif
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * fmas / elapsed / 1e9;
}

}  // namespace axonal
