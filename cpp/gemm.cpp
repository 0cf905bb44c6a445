#include "gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "cpu_features.h"
#include "denormals.h"
#include "gemm_choice.h"
#include "scratch.h"

#if AXONAL_X86
#include <immintrin.h>
#endif

namespace axonal {
namespace {

// The blocking of a BLIS-style GEMM, sized for a core with 48 KiB of L1 and 1 MiB of L2 (Zen 5):
// a micro-tile of kMR rows × kNR columns of C lives in 16 zmm accumulators; the packed B
// micro-panel it reads (kc × kNR floats, at most 32 KiB) stays in L1 while the tiles of kMC rows
// of A (at most 256 KiB) stream past it from L2; kNC panels of B are packed at a time.
constexpr int kMR = 8;
constexpr int64_t kNR = 32;
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 256;
constexpr int64_t kNC = 8;  // panels packed at a time: 256 columns, at most 256 KiB
// Below this many multiply-adds a GEMM stays on one thread (W1's 10-column layer, 655k, gains from
// two: its epoch went 0.555 -> 0.528 s when the bar moved from 2^20 to 2^18).
constexpr int64_t kParallelMinMacs = 1 << 18;

// op(A) element (i, k) is a[i·rs + k·cs]; op(B) element (k, n) is b[k·rs + n·cs].
struct Matrix {
  const float* data;
  int64_t rs, cs;
};

struct Problem {
  Matrix a, b;
  int64_t M, N, K, kc;
  float beta;
  float* c;
};

#if AXONAL_X86
// C[i][0..32) (i < MR; columns masked by m0, m1) = beta·C + Σ_k a(i, k) · bp[k][0..32): the sum is one
// FMA chain per element from zero in k order, then beta·C is added in one more FMA; beta == 0 never
// reads C (it may hold NaN).
// a (MR, kc) at strides (rs, cs), bp (kc, 32) packed, c (MR, 32) at row stride ldc.
template <int MR>
__attribute__((target("avx512f"))) void micro_tile(int64_t kc, const float* a, int64_t rs, int64_t cs, const float* bp,
                                                   float* c, int64_t ldc, float beta, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[MR], acc1[MR];
  const float* row[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc0[i] = acc1[i] = _mm512_setzero_ps();
    row[i] = a + i * rs;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp + k * kNR), b1 = _mm512_load_ps(bp + k * kNR + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(row[i][k * cs]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* out = c + i * ldc;
    if (beta != 0.f) {
      acc0[i] = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m0, out), acc0[i]);
      acc1[i] = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m1, out + 16), acc1[i]);
    }
    _mm512_mask_storeu_ps(out, m0, acc0[i]);
    _mm512_mask_storeu_ps(out + 16, m1, acc1[i]);
  }
}

// The sixteen rows r[0..16) become the sixteen columns, in place (three rounds of shuffles).
__attribute__((target("avx512f"))) inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // per 128-bit lane: r(2i)0 r(2i+1)0 r(2i)1 r(2i+1)1, and elements 2, 3
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {  // lane L of r[4j + e] now holds element 4L + e of rows 4j..4j+3
    r[4 * j + 0] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0x44);
    r[4 * j + 1] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0xEE);
    r[4 * j + 2] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0x44);
    r[4 * j + 3] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0xEE);
  }
  for (int e = 0; e < 4; ++e) {  // gather lane L of the four row groups: column 4L + e
    const __m512 d0 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x88), d1 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xDD);
    const __m512 e0 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x88),
                 e1 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xDD);
    t[e] = _mm512_shuffle_f32x4(d0, e0, 0x88);
    t[4 + e] = _mm512_shuffle_f32x4(d1, e1, 0x88);
    t[8 + e] = _mm512_shuffle_f32x4(d0, e0, 0xDD);
    t[12 + e] = _mm512_shuffle_f32x4(d1, e1, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

inline __mmask16 lanes(int64_t valid) {
  return valid >= 16 ? __mmask16(0xFFFF) : valid <= 0 ? __mmask16(0) : __mmask16((1u << valid) - 1);
}

// bp[p − p0] (kc, 32) = rows [k0, k0 + kc) of op(B)'s columns [32p, 32p + 32), zero beyond N.
// When op(B)'s columns are contiguous (cs == 1) rows are copied; when its rows are (rs == 1, B
// stored transposed) 16 × 16 blocks are transposed in registers.
__attribute__((target("avx512f"))) void pack_b(float* bp, const Problem& pr, int64_t k0, int64_t kc, int64_t p0,
                                               int64_t p1) {
  const Matrix& b = pr.b;
  if (b.cs == 1) {  // row by row: each row's run of the group's columns is read in one sweep
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = b.data + (k0 + k) * b.rs;
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n0 = p * kNR, valid = std::min(kNR, pr.N - n0);
        float* dst = bp + ((p - p0) * kc + k) * kNR;
        _mm512_store_ps(dst, _mm512_maskz_loadu_ps(lanes(valid), src + n0));
        _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(lanes(valid - 16), src + n0 + 16));
      }
    }
    return;
  }
  for (int64_t p = p0; p < p1; ++p) {
    float* dst = bp + (p - p0) * kc * kNR;
    const int64_t n0 = p * kNR, valid = std::min(kNR, pr.N - n0);
    for (int64_t half = 0; half < kNR; half += 16)
      for (int64_t kb = 0; kb < kc; kb += 16) {
        const __mmask16 kmask = lanes(kc - kb);
        __m512 r[16];
        for (int64_t j = 0; j < 16; ++j)
          r[j] = half + j < valid ? _mm512_maskz_loadu_ps(kmask, b.data + (n0 + half + j) * b.cs + (k0 + kb))
                                  : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t t = 0; t < std::min<int64_t>(16, kc - kb); ++t) _mm512_store_ps(dst + (kb + t) * kNR + half, r[t]);
      }
  }
}

template <int MR>
void run_tile(int mr, int64_t kc, const float* a, int64_t rs, int64_t cs, const float* bp, float* c, int64_t ldc,
              float beta, __mmask16 m0, __mmask16 m1) {
  if constexpr (MR > 1) {
    if (mr < MR) return run_tile<MR - 1>(mr, kc, a, rs, cs, bp, c, ldc, beta, m0, m1);
  }
  micro_tile<MR>(kc, a, rs, cs, bp, c, ldc, beta, m0, m1);
}

// One thread's share: rows [m0, m1) × panels [p0, p1) of C, every k block in order, B packed kNC
// panels at a time (so that the packed group and the A block share the L2). With one block of rows
// the groups go outermost: a group's C tiles then stay in cache across the k blocks instead of
// making a round trip through L3 for each (width 2048: C is 1 MiB, k runs over 8 blocks). With
// more, the k blocks do, so that each A block stays in L2 across the groups. Same sums either way.
void gemm_part(const Problem& pr, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  if (m0 >= m1 || p0 >= p1) return;
  // 64-byte aligned packed group: the micro-kernel's B loads are aligned.
  float* raw = scratch(Scratch::gemm_packed_b, pr.kc * kNC * kNR + 16);
  float* bp = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
  const auto block = [&](int64_t k0, int64_t g0) {
    const int64_t kc = std::min(pr.kc, pr.K - k0), g1 = std::min(p1, g0 + kNC);
    const float beta = k0 == 0 ? pr.beta : 1.f;  // later blocks add to the sums so far
    pack_b(bp, pr, k0, kc, g0, g1);
    for (int64_t i0 = m0; i0 < m1; i0 += kMC) {
      const int64_t i1 = std::min(m1, i0 + kMC);
      for (int64_t p = g0; p < g1; ++p) {
        const int64_t valid = std::min(kNR, pr.N - p * kNR);
        const __mmask16 mask0 = lanes(valid), mask1 = lanes(valid - 16);
        const float* panel = bp + (p - g0) * kc * kNR;
        for (int64_t i = i0; i < i1; i += kMR)
          run_tile<kMR>(static_cast<int>(std::min<int64_t>(kMR, i1 - i)), kc,
                        pr.a.data + i * pr.a.rs + k0 * pr.a.cs, pr.a.rs, pr.a.cs, panel, pr.c + i * pr.N + p * kNR,
                        pr.N, beta, mask0, mask1);
      }
    }
  };
  if (m1 - m0 <= kMC) {
    for (int64_t g0 = p0; g0 < p1; g0 += kNC)
      for (int64_t k0 = 0; k0 < pr.K; k0 += pr.kc) block(k0, g0);
  } else {
    for (int64_t k0 = 0; k0 < pr.K; k0 += pr.kc)
      for (int64_t g0 = p0; g0 < p1; g0 += kNC) block(k0, g0);
  }
}
#endif  // AXONAL_X86

// kUndecided until the first caller of gemm_impl() measures (gemm_choice.h), unless AXONAL_GEMM
// names a GEMM at load: that one is pinned.
constexpr int kUndecided = -1;

int initial_choice() {
  GemmImpl impl;
  const char* requested = std::getenv("AXONAL_GEMM");
  if (requested != nullptr && parse_gemm_impl(requested, &impl)) return static_cast<int>(impl);
  return kUndecided;  // unset, or an unknown name: measured as if unset
}

std::atomic<int> chosen{initial_choice()};
std::mutex pinned_why_mutex;
// Why the GEMM is pinned (reported by gemm_choice_text); empty while it is the measured one.
std::string pinned_why = chosen.load() == kUndecided
                             ? std::string()
                             : std::string("pinned by AXONAL_GEMM=") + gemm_impl_name(static_cast<GemmImpl>(chosen.load()));
std::once_flag measured_once;
GemmChoice measured;  // written once, inside measured_once

int decide() {
  std::call_once(measured_once, [] {
    measured = choose_gemm_by_measurement();
    if (const char* requested = std::getenv("AXONAL_GEMM"); requested != nullptr && *requested != '\0')
      measured.how = "AXONAL_GEMM=" + std::string(requested) + " is neither blas nor own, so it was ignored; " +
                     measured.how;
    int undecided = kUndecided;  // set_gemm_impl may have pinned one meanwhile: it wins
    chosen.compare_exchange_strong(undecided, static_cast<int>(measured.impl));
  });
  return chosen.load();
}

}  // namespace

bool own_gemm_available() { return AXONAL_X86 && active_isa() == Isa::avx512; }

GemmImpl gemm_impl() {
  int current = chosen.load(std::memory_order_relaxed);
  if (current == kUndecided) current = decide();
  const auto impl = static_cast<GemmImpl>(current);
  return impl == GemmImpl::own && !own_gemm_available() ? GemmImpl::blas : impl;
}

void set_gemm_impl(GemmImpl impl, const std::string& why) {
  const std::lock_guard<std::mutex> lock(pinned_why_mutex);
  pinned_why = why;
  chosen.store(static_cast<int>(impl));
}

std::string gemm_choice_text() {
  {
    const std::lock_guard<std::mutex> lock(pinned_why_mutex);
    if (!pinned_why.empty()) return pinned_why;
  }
  decide();
  return measured.how;
}

const char* gemm_impl_name(GemmImpl impl) { return impl == GemmImpl::own ? "own" : "blas"; }

bool parse_gemm_impl(const char* name, GemmImpl* impl) {
  for (GemmImpl candidate : {GemmImpl::blas, GemmImpl::own})
    if (std::strcmp(name, gemm_impl_name(candidate)) == 0) {
      *impl = candidate;
      return true;
    }
  return false;
}

void own_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
               float beta, float* C, bool parallel) {
#if AXONAL_X86
  const int64_t blocks = (K + kKC - 1) / kKC;
  const Problem pr{trans_a ? Matrix{A, 1, M} : Matrix{A, K, 1}, trans_b ? Matrix{B, 1, K} : Matrix{B, N, 1},
                   M, N, K, (K + blocks - 1) / blocks, beta, C};
  const int64_t panels = (N + kNR - 1) / kNR, row_tiles = (M + kMR - 1) / kMR;
  const bool threaded = parallel && !omp_in_parallel() && omp_get_max_threads() > 1 && M * N * K >= kParallelMinMacs;
  if (!threaded) return gemm_part(pr, 0, M, 0, panels);
  // Threads split the columns when they are at least as many as the rows (each packs only its own
  // panels of B; all read A), else the rows (each packs all of B, the smaller operand then).
  const bool split_columns = (M <= N && panels >= 2) || row_tiles < 2;
#pragma omp parallel
  {
    FlushDenormals flush;
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    if (split_columns) {
      gemm_part(pr, 0, M, t * panels / T, (t + 1) * panels / T);
    } else {
      gemm_part(pr, t * row_tiles / T * kMR, std::min(M, (t + 1) * row_tiles / T * kMR), 0, panels);
    }
  }
#else
  (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)A, (void)B, (void)beta, (void)C, (void)parallel;
  throw std::logic_error("own_sgemm: built without x86-64 vector code");
#endif
}

}  // namespace axonal
