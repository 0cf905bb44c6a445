// The one place that talks to the BLAS (Intel MKL, linked statically; see docs/design.md for why).
#pragma once
#include <cstdint>
#include <string>

namespace axonal {

// Row-major C (M, N) = op(A) · op(B) + beta · C, where op(A) is (M, K) and op(B) is (K, N).
// A is stored (M, K), or (K, M) when trans_a; B is stored (K, N), or (N, K) when trans_b.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
           float beta, float* C);

// The same product on the calling thread only: for GEMMs issued from inside our own parallel
// loops, where each thread works on its own block.
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                  float beta, float* C);

// Held (by the thread that starts it) around a parallel loop whose threads call sgemm_serial.
class SerialRegion {
 public:
  SerialRegion();
  ~SerialRegion();
  SerialRegion(const SerialRegion&) = delete;
  SerialRegion& operator=(const SerialRegion&) = delete;

 private:
  int previous_;
};

// One thread count for our OpenMP kernels and the BLAS, which share libgomp's thread pool.
void set_num_threads(int threads);
int get_num_threads();

// "Intel MKL 2026.x (static, GNU OpenMP threading)" and similar, for show_config().
std::string blas_version();

}  // namespace axonal
