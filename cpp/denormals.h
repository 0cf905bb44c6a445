// Subnormal floats (magnitudes below 1.2e-38) cost ~100 cycles per operation on x86 unless the
// CPU flushes them. They appear in ordinary training: RMSprop's velocity for a weight whose
// gradient is always zero (a dead ReLU, a pixel that is 0 in every image) shrinks by ρ each step
// and turns subnormal after ~800 steps; the seed MLP's epoch then slowed from 0.96 s to 1.50 s
// over three epochs. Like TensorFlow and XLA, the native kernels run with flush-to-zero and
// denormals-are-zero (docs/design.md, "Subnormal numbers").
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace axonal {

// The floating-point control register of this thread, and the bits that flush subnormals in it:
// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) on x86, FPCR's FZ (bit 24) on
// aarch64. Elsewhere nothing is flushed.
#if defined(__x86_64__) || defined(__i386__)
inline unsigned long long fp_control() { return _mm_getcsr(); }
inline void set_fp_control(unsigned long long value) { _mm_setcsr(static_cast<unsigned>(value)); }
constexpr unsigned long long kFlushDenormalBits = 0x8040;
#elif defined(__aarch64__)
inline unsigned long long fp_control() { return __builtin_aarch64_get_fpcr64(); }
inline void set_fp_control(unsigned long long value) { __builtin_aarch64_set_fpcr64(value); }
constexpr unsigned long long kFlushDenormalBits = 1ull << 24;
#else
inline unsigned long long fp_control() { return 0; }
inline void set_fp_control(unsigned long long) {}
constexpr unsigned long long kFlushDenormalBits = 0;
#endif

// Flush from now on, on this thread (the OpenMP workers, which run only our kernels and the BLAS).
inline void flush_denormals_here() { set_fp_control(fp_control() | kFlushDenormalBits); }

// Flushes on this thread for its lifetime and restores the caller's control register afterwards,
// so Python and NumPy code on the same thread keep IEEE subnormals.
class FlushDenormals {
 public:
  FlushDenormals() : saved_(fp_control()) { set_fp_control(saved_ | kFlushDenormalBits); }
  ~FlushDenormals() { set_fp_control(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned long long saved_;
};

// Sets the flush bits for good on the OpenMP pool's worker threads (the calling thread is covered
// by FlushDenormals). Called before the first GEMM and when the thread count changes.
void flush_denormals_on_worker_threads();

}  // namespace axonal
