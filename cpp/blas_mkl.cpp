// The BLAS backend on x86-64: Intel MKL linked statically with its GNU OpenMP layer, so that MKL
// and our kernels share libgomp's thread pool (docs/design.md, "Choice of BLAS").
#include <mkl.h>

#include <cstdlib>

#include "blas.h"
#include "blas_backend.h"
#include "cpu_features.h"

namespace axonal::blas_backend {

namespace {
// MKL's conditional numerical reproducibility (CNR) in its strict mode: the same bits run to run,
// whatever the alignment of the arrays numpy hands us AND whatever the thread count, so that the
// adaptive thread count (models/executors/threads.py) never changes a result. Plain CNR
// (MKL_CBWR_AUTO) splits a GEMM's sums by thread: W1's 128x512x784 forward GEMM differs between 1
// and 2 threads. Strict mode costs 343 -> 396 us on that GEMM and ~1% of a W1 epoch
// (docs/performance.md, "Steady when the machine is shared"). The branch follows the instruction-set
// cap (AXONAL_ISA=avx2 runs MKL's AVX2 code, as on an AVX2-only CPU); a branch this CPU refuses
// falls back to the next narrower one. Set once, before the first MKL call (MKL refuses later).
// AXONAL_ISA is read here directly: cpu_features.cpp's cap may not be initialised yet (static
// initialisation order across files is unspecified).
struct CnrBranch {
  int branch;
  const char* name;
};
constexpr CnrBranch kBranches[] = {{MKL_CBWR_AVX512, "AVX512"}, {MKL_CBWR_AVX2, "AVX2"}, {MKL_CBWR_COMPATIBLE, "COMPATIBLE"}};

std::string cnr_mode = "unset";

struct MklSetup {
  MklSetup() {
    Isa cap = Isa::avx512;
    const char* requested = std::getenv("AXONAL_ISA");
    if (requested != nullptr && !parse_isa(requested, &cap)) cap = Isa::avx512;
    const int widest = cap == Isa::avx512 ? 0 : cap == Isa::avx2 ? 1 : 2;
    for (int i = widest; i < 3; ++i)
      if (mkl_cbwr_set(kBranches[i].branch | MKL_CBWR_STRICT) == MKL_CBWR_SUCCESS) {
        cnr_mode = std::string(kBranches[i].name) + ", strict";
        return;
      }
    // No strict branch accepted (an unexpected MKL): keep the run-to-run guarantee at least.
    mkl_cbwr_set(MKL_CBWR_AUTO);
    cnr_mode = "AUTO (strict refused: bits depend on the thread count)";
  }
};
const MklSetup mkl_setup;
}  // namespace

namespace {
void strict_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  const MKL_INT lda = static_cast<MKL_INT>(trans_a ? M : K);
  const MKL_INT ldb = static_cast<MKL_INT>(trans_b ? K : N);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<MKL_INT>(M), static_cast<MKL_INT>(N), static_cast<MKL_INT>(K), 1.0f, A, lda, B, ldb, beta,
              C, static_cast<MKL_INT>(N));
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float beta,
           float* C) {
  if (M == 1 && !trans_a && !trans_b) {
    // One row times a matrix (a served one-row predict, a batch_size=1 step): in strict CNR mode
    // MKL's GEMM runs it on one thread at about half the speed of its threaded GEMV (784x512: 33.8
    // against 14.0 µs, measured), and its GEMV's bits depend on the thread count. So the GEMV, always
    // on OpenMP's count at load, whatever the adaptive thread count chose: the same bits at any load.
    const int previous = mkl_set_num_threads_local(default_num_threads());
    cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<MKL_INT>(K), static_cast<MKL_INT>(N), 1.0f, B,
                static_cast<MKL_INT>(N), A, 1, beta, C, 1);
    mkl_set_num_threads_local(previous);
    return;
  }
  strict_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C) {
  const int previous = mkl_set_num_threads_local(1);
  strict_sgemm(trans_a, trans_b, M, N, K, A, B, beta, C);
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
         std::to_string(v.UpdateVersion) + " (static, GNU OpenMP threading, CNR " + cnr_mode + ", " + v.Processor +
         ")";
}

}  // namespace axonal::blas_backend
