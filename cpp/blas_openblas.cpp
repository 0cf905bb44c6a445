// The BLAS backend where MKL does not exist (aarch64): OpenBLAS from the scipy-openblas32 wheel,
// whose symbols carry a `scipy_` prefix so they never clash with another OpenBLAS in the process.
// It threads with its own pthreads pool; our kernels keep OpenMP. The thread count is set on both.
#include <cblas.h>

#include "blas_backend.h"

namespace axonal::blas_backend {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float beta,
           float* C) {
  const blasint lda = static_cast<blasint>(trans_a ? M : K);
  const blasint ldb = static_cast<blasint>(trans_b ? K : N);
  scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, A, lda, B, ldb,
                    beta, C, static_cast<blasint>(N));
}

// Within a SerialRegion OpenBLAS is down to one thread already.
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
}

int begin_serial_region() {
  const int previous = scipy_openblas_get_num_threads();
  scipy_openblas_set_num_threads(1);
  return previous;
}

void end_serial_region(int previous) { scipy_openblas_set_num_threads(previous); }

void set_threads(int threads) { scipy_openblas_set_num_threads(threads); }

std::string version() {
  // The configuration string starts with "OpenBLAS <version>".
  return std::string(scipy_openblas_get_config()) + " (scipy-openblas32, pthreads, core " +
         scipy_openblas_get_corename() + ")";
}

}  // namespace axonal::blas_backend
