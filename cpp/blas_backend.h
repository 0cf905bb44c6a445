// What cpp/blas.cpp needs from the BLAS library the build links: blas_mkl.cpp (Intel MKL, static,
// the x86-64 default) or blas_openblas.cpp (OpenBLAS from the scipy-openblas32 wheel, for aarch64
// and other targets MKL does not support). CMake's AXONAL_BLAS picks one (docs/design.md).
#pragma once
#include <cstdint>
#include <string>

namespace axonal::blas_backend {

// Row-major C (M, N) = op(A) · op(B) + beta · C with M, N, K ≥ 1, on the library's threads.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float beta,
           float* C);

// sgemm on the calling thread only. MKL can do that per call; OpenBLAS only process-wide, so
// callers hold a SerialRegion (blas.h) around the parallel loop that issues these calls.
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C);

// Entered and left by the thread that starts such a loop; returns what `end_serial_region` restores.
int begin_serial_region();
void end_serial_region(int previous);

// Threads for every later call.
void set_threads(int threads);

// "Intel MKL 2026.x (...)" or "OpenBLAS 0.3.x (...)".
std::string version();

}  // namespace axonal::blas_backend
