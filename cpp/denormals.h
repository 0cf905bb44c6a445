// Subnormal floats (magnitudes below 1.2e-38) cost ~100 cycles per operation on x86 unless the
// CPU flushes them. They appear in ordinary training: RMSprop's velocity for a weight whose
// gradient is always zero (a dead ReLU, a pixel that is 0 in every image) shrinks by ρ each step
// and turns subnormal after ~800 steps; the seed MLP's epoch then slowed from 0.96 s to 1.50 s
// over three epochs. Like TensorFlow and XLA, the native kernels run with flush-to-zero and
// denormals-are-zero (docs/design.md, "Subnormal numbers").
#pragma once
#include <xmmintrin.h>

namespace axonal {

constexpr unsigned kFlushDenormalBits = 0x8040;  // MXCSR: flush-to-zero (bit 15) | denormals-are-zero (bit 6)

// Sets FTZ and DAZ on this thread for its lifetime and restores the caller's MXCSR afterwards, so
// Python and NumPy code on the same thread keep IEEE subnormals.
class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushDenormalBits); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_;
};

// Sets FTZ and DAZ for good on the OpenMP pool's worker threads, which run only axonal's kernels
// and MKL's GEMMs (the calling thread is covered by FlushDenormals). Called before the first
// GEMM and when the thread count changes.
void flush_denormals_on_worker_threads();

}  // namespace axonal
