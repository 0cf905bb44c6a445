// The BLAS backend on x86-64: Intel MKL linked statically with its GNU OpenMP layer, so that MKL
// and our kernels share libgomp's thread pool (docs/design.md, "Choice of BLAS").
#include <mkl.h>

#include "blas_backend.h"

namespace axonal::blas_backend {

namespace {
// MKL's conditional numerical reproducibility: same bits run to run for the same thread count,
// whatever the alignment of the arrays numpy hands us. Set once, before the first GEMM.
struct MklSetup {
  MklSetup() { mkl_cbwr_set(MKL_CBWR_AUTO); }
};
const MklSetup mkl_setup;
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float beta,
           float* C) {
  const MKL_INT lda = static_cast<MKL_INT>(trans_a ? M : K);
  const MKL_INT ldb = static_cast<MKL_INT>(trans_b ? K : N);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<MKL_INT>(M), static_cast<MKL_INT>(N), static_cast<MKL_INT>(K), 1.0f, A, lda, B, ldb, beta,
              C, static_cast<MKL_INT>(N));
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  const int previous = mkl_set_num_threads_local(1);
  sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
  mkl_set_num_threads_local(previous);
}

// MKL limits each call itself (above): nothing to do around the loop.
int begin_serial_region() { return 0; }
void end_serial_region(int) {}

void set_threads(int threads) { mkl_set_num_threads(threads); }

std::string version() {
  MKLVersion v;
  mkl_get_version(&v);
  return "Intel MKL " + std::to_string(v.MajorVersion) + "." + std::to_string(v.MinorVersion) + "." +
         std::to_string(v.UpdateVersion) + " (static, GNU OpenMP threading, " + v.Processor + ")";
}

}  // namespace axonal::blas_backend
