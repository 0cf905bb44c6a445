#include "blas.h"

#include <mkl.h>
#include <omp.h>

#include "denormals.h"

namespace axonal {

namespace {
// MKL's conditional numerical reproducibility: same bits run to run for the same thread count,
// whatever the alignment of the arrays numpy hands us. Set once, before the first GEMM.
struct MklSetup {
  MklSetup() { mkl_cbwr_set(MKL_CBWR_AUTO); }
};
const MklSetup mkl_setup;
// Below this many multiply-adds a GEMM is done here: MKL's per-call cost (dispatch, a buffer
// allocated and freed, a thread-count decision) is several microseconds, more than the whole
// product of the churn model's 10×11·11×6 layers (docs/performance.md, W2).
constexpr int64_t kSmallGemm = 16384;

// C = op(A)·op(B) + beta·C, summing over k in order: one thread, a fixed summation order.
void small_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                 float beta, float* C) {
  for (int64_t m = 0; m < M; ++m) {
    float* row = C + m * N;
    for (int64_t n = 0; n < N; ++n) row[n] = beta == 0.f ? 0.f : beta * row[n];
    for (int64_t k = 0; k < K; ++k) {
      const float a = trans_a ? A[k * M + m] : A[m * K + k];
      if (trans_b) {
        for (int64_t n = 0; n < N; ++n) row[n] += a * B[n * K + k];
      } else {
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) row[n] += a * B[k * N + n];
      }
    }
  }
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
           float beta, float* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum; MKL refuses the zero leading dimension such shapes give
    for (int64_t i = 0; i < M * N; ++i) C[i] = beta == 0.f ? 0.f : beta * C[i];
    return;
  }
  if (M * N * K <= kSmallGemm) {
    small_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
    return;
  }
  // MKL runs on the pool's workers: flush there too, once, at the first GEMM that may use them
  // (not at import: a thread pool started then would not survive a fork of the process).
  static const bool workers_flush = (flush_denormals_on_worker_threads(), true);
  (void)workers_flush;
  const MKL_INT lda = static_cast<MKL_INT>(trans_a ? M : K);
  const MKL_INT ldb = static_cast<MKL_INT>(trans_b ? K : N);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<MKL_INT>(M), static_cast<MKL_INT>(N), static_cast<MKL_INT>(K), 1.0f, A, lda, B,
              ldb, beta, C, static_cast<MKL_INT>(N));
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  const int previous = mkl_set_num_threads_local(1);
  sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
  mkl_set_num_threads_local(previous);
}

void set_num_threads(int threads) {
  omp_set_num_threads(threads);
  mkl_set_num_threads(threads);
  flush_denormals_on_worker_threads();
}

void flush_denormals_on_worker_threads() {
#pragma omp parallel
  if (omp_get_thread_num() != 0) _mm_setcsr(_mm_getcsr() | kFlushDenormalBits);  // kept
}

int get_num_threads() { return omp_get_max_threads(); }

std::string blas_version() {
  MKLVersion v;
  mkl_get_version(&v);
  return "Intel MKL " + std::to_string(v.MajorVersion) + "." + std::to_string(v.MinorVersion) + "." +
         std::to_string(v.UpdateVersion) + " (static, GNU OpenMP threading, " + v.Processor + ")";
}

}  // namespace axonal
