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
// set_num_threads pins the count (the adaptive count of the training loop then leaves it alone);
// adapt_num_threads changes it without pinning (the adaptive count's own calls); unpin_num_threads
// returns to the count OpenMP chose at load and lets the training loop adapt again.
void set_num_threads(int threads);
void adapt_num_threads(int threads);
void unpin_num_threads();
bool threads_pinned();       // set_num_threads was called, or OMP_NUM_THREADS was set at load
int default_num_threads();   // OpenMP's count at load
int get_num_threads();

// "Intel MKL 2026.x (static, GNU OpenMP threading)" and similar, for show_config().
std::string blas_version();

}  // namespace axonal
