// Threading policy for the elementwise and row kernels: OpenMP, but only above a work threshold,
// because waking a thread team costs a few microseconds and most tensors of a small model are tiny.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "denormals.h"

namespace axonal {

// Elements (or row-elements) below which a kernel stays on the calling thread.
constexpr int64_t kParallelMinWork = 1 << 15;

// Fixed chunk count for reductions: partial sums are formed per chunk and added in chunk order,
// so a reduction gives the same bits whatever the number of threads.
constexpr int64_t kReductionChunks = 64;

// Runs body(i) for i in [0, count): on the OpenMP team when `parallel` (and not already inside a
// parallel region, where a nested team would have one thread), else on the calling thread
// without entering an OpenMP region at all. An `if(false)` region is not free: libgomp still builds
// and frees a one-thread team (~0.2 µs, measured), which is most of a small model's kernel and
// ~3 µs of a churn-model step over its ~16 kernels.
template <typename Body>
inline void parallel_for(int64_t count, bool parallel, const Body& body) {
  if (parallel && !omp_in_parallel()) {
#pragma omp parallel
    {
      FlushDenormals flush;  // also on a worker the pool started after the last thread-count change
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; ++i) body(i);
    }
  } else {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

// Elements per chunk of `elementwise` (a multiple of every vector width; 32 KiB of floats).
constexpr int64_t kElementwiseSpan = 8192;

// body(i) over [first, last), vectorised for one instruction set: the body, inlined here, is
// compiled once per target. -ffp-contract=off (CMakeLists.txt) keeps every version's rounding
// identical: no version may fuse a multiply and an add that another keeps apart.
template <typename Body>
inline void span_portable(int64_t first, int64_t last, const Body& body) {
#pragma omp simd
  for (int64_t i = first; i < last; ++i) body(i);
}
#if AXONAL_X86
template <typename Body>
__attribute__((target("avx2"))) void span_avx2(int64_t first, int64_t last, const Body& body) {
#pragma omp simd
  for (int64_t i = first; i < last; ++i) body(i);
}
template <typename Body>
__attribute__((target("avx512f"))) void span_avx512(int64_t first, int64_t last, const Body& body) {
#pragma omp simd
  for (int64_t i = first; i < last; ++i) body(i);
}
#endif

// body(i) for i in [0, n): threaded above kParallelMinWork, and vectorised with the widest
// instruction set active_isa() allows. For loops whose cost is arithmetic (the optimisers' square
// roots and divisions), where 16 lanes instead of 4 pay.
template <typename Body>
void elementwise(int64_t n, const Body& body) {
  const Isa isa = active_isa();
  parallel_for((n + kElementwiseSpan - 1) / kElementwiseSpan, n >= kParallelMinWork, [&](int64_t c) {
    const int64_t first = c * kElementwiseSpan, last = std::min(n, first + kElementwiseSpan);
#if AXONAL_X86
    if (isa == Isa::avx512) return span_avx512(first, last, body);
    if (isa == Isa::avx2) return span_avx2(first, last, body);
#endif
    (void)isa;
    span_portable(first, last, body);
  });
}

}  // namespace axonal
