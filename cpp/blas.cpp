#include "blas.h"

#include <mkl.h>
#include <omp.h>

namespace axonal {

namespace {
// MKL's conditional numerical reproducibility: same bits run to run for the same thread count,
// whatever the alignment of the arrays numpy hands us. Set once, before the first GEMM.
struct MklSetup {
  MklSetup() { mkl_cbwr_set(MKL_CBWR_AUTO); }
};
const MklSetup mkl_setup;
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
           float beta, float* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum; MKL refuses the zero leading dimension such shapes give
    for (int64_t i = 0; i < M * N; ++i) C[i] = beta == 0.f ? 0.f : beta * C[i];
    return;
  }
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
}

int get_num_threads() { return omp_get_max_threads(); }

std::string blas_version() {
  MKLVersion v;
  mkl_get_version(&v);
  return "Intel MKL " + std::to_string(v.MajorVersion) + "." + std::to_string(v.MinorVersion) + "." +
         std::to_string(v.UpdateVersion) + " (static, GNU OpenMP threading, " + v.Processor + ")";
}

}  // namespace axonal
