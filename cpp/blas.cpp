#include "blas.h"

// The library-independent half of the GEMM: shapes a BLAS refuses or does not need, and the
// thread count shared by OpenMP and the BLAS. The library itself is behind blas_backend.h.
#include <omp.h>

#include <atomic>
#include <cstdlib>

#include "blas_backend.h"
#include "denormals.h"
#include "gemm.h"

namespace axonal {

namespace {
// Below this many multiply-adds a GEMM is done here: a BLAS call's fixed cost (dispatch, a buffer
// allocated and freed, a thread-count decision) is several microseconds, more than the whole
// product of the churn model's 10×11·11×6 layers (docs/performance.md, W2).
constexpr int64_t kSmallGemm = 16384;

// C = op(A)·op(B) + beta·C, each element summed over k in order from beta·C (or 0): one thread,
// a fixed summation order. Element by element, k innermost: on the churn model's 6- to 11-column
// products this beat a vectorised row update, whose loop tails cost more than the products
// (a churn step 3.2 -> 2.2 µs; docs/performance.md, "The churn model").
template <bool TA, bool TB>
void small_sgemm(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float beta, float* C) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float sum = beta == 0.f ? 0.f : beta * C[m * N + n];
      for (int64_t k = 0; k < K; ++k) sum += (TA ? A[k * M + m] : A[m * K + k]) * (TB ? B[n * K + k] : B[k * N + n]);
      C[m * N + n] = sum;
    }
}

void small_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                 float beta, float* C) {
  if (trans_a) return trans_b ? small_sgemm<true, true>(M, N, K, A, B, beta, C)
                              : small_sgemm<true, false>(M, N, K, A, B, beta, C);
  trans_b ? small_sgemm<false, true>(M, N, K, A, B, beta, C) : small_sgemm<false, false>(M, N, K, A, B, beta, C);
}

// Shapes a BLAS refuses or that cost less than a call to it: done here (true), else false.
bool sgemm_here(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                float beta, float* C) {
  if (M == 0 || N == 0) return true;
  if (K == 0) {  // an empty sum; a BLAS refuses the zero leading dimension such shapes give
    for (int64_t i = 0; i < M * N; ++i) C[i] = beta == 0.f ? 0.f : beta * C[i];
    return true;
  }
  if (M * N * K <= kSmallGemm) {
    small_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
    return true;
  }
  // The BLAS may run on the pool's workers: flush there too, once, at the first GEMM that may use
  // them (not at import: a thread pool started then would not survive a fork of the process).
  static const bool workers_flush = (flush_denormals_on_worker_threads(), true);
  (void)workers_flush;
  return false;
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
           float beta, float* C) {
  if (sgemm_here(trans_a, trans_b, M, N, K, A, B, beta, C)) return;
  if (gemm_impl() == GemmImpl::own) return own_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C, true);
  blas_backend::sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  if (sgemm_here(trans_a, trans_b, M, N, K, A, B, beta, C)) return;
  if (gemm_impl() == GemmImpl::own) return own_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C, false);
  blas_backend::sgemm_serial(trans_a, trans_b, M, N, K, A, B, beta, C);
}

SerialRegion::SerialRegion() : previous_(blas_backend::begin_serial_region()) {
  gemm_impl();  // the first GEMM of a process is chosen here, by the whole team, not inside one thread's sgemm_serial
}
SerialRegion::~SerialRegion() { blas_backend::end_serial_region(previous_); }

namespace {
// OpenMP's count at load (every core, or OMP_NUM_THREADS), the count unpin_num_threads() restores.
const int initial_threads = omp_get_max_threads();
// Pinned: a count the user chose (set_num_threads, or OMP_NUM_THREADS in the environment), which
// the adaptive thread count of the training loop (models/executors/threads.py) leaves alone.
std::atomic<bool> pinned{std::getenv("OMP_NUM_THREADS") != nullptr && *std::getenv("OMP_NUM_THREADS") != '\0'};

void apply_num_threads(int threads) {
  omp_set_num_threads(threads);
  blas_backend::set_threads(threads);
  flush_denormals_on_worker_threads();
}
}  // namespace

void set_num_threads(int threads) {
  pinned.store(true);
  apply_num_threads(threads);
}

void adapt_num_threads(int threads) {
  if (threads == omp_get_max_threads()) return;  // nothing to change: no parallel region either
  apply_num_threads(threads);
}

void unpin_num_threads() {
  pinned.store(false);
  apply_num_threads(initial_threads);
}

bool threads_pinned() { return pinned.load(); }

int default_num_threads() { return initial_threads; }

void flush_denormals_on_worker_threads() {
#pragma omp parallel
  if (omp_get_thread_num() != 0) flush_denormals_here();  // kept
}

int get_num_threads() { return omp_get_max_threads(); }

std::string blas_version() { return blas_backend::version(); }

}  // namespace axonal
