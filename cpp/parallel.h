// Threading policy for the elementwise and row kernels: OpenMP, but only above a work threshold,
// because waking a thread team costs a few microseconds and most tensors of a small model are tiny.
#pragma once
#include <omp.h>

#include <cstdint>

namespace axonal {

// Elements (or row-elements) below which a kernel stays on the calling thread.
constexpr int64_t kParallelMinWork = 1 << 15;

// Fixed chunk count for reductions: partial sums are formed per chunk and added in chunk order,
// so a reduction gives the same bits whatever the number of threads.
constexpr int64_t kReductionChunks = 64;

}  // namespace axonal

namespace axonal {

// Runs body(i) for i in [0, count): on the OpenMP team when `parallel` (and not already inside a
// parallel region, where a nested team would have one thread), else on the calling thread
// without entering an OpenMP region at all. An `if(false)` region is not free: libgomp still builds
// and frees a one-thread team (~0.2 µs, measured), which is most of a small model's kernel and
// ~3 µs of a churn-model step over its ~16 kernels.
template <typename Body>
inline void parallel_for(int64_t count, bool parallel, const Body& body) {
  if (parallel && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

// The same for an elementwise body, vectorised in both branches.
template <typename Body>
inline void parallel_for_simd(int64_t count, bool parallel, const Body& body) {
  if (parallel && !omp_in_parallel()) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

}  // namespace axonal
