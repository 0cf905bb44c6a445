// Kernels that misuse CUDA on purpose, so that tests/test_cuda_host.py can check that the emulation
// reports each misuse (and computes a correct kernel correctly). Launched through the launcher that
// transform.py writes for `<<<...>>>`; called from Python through ctypes.
#include <string>

#include "cublas_v2.h"
#include "cuda_host.h"

namespace {

// The 32 lane numbers summed by butterfly shuffles: every lane gets 496.
void warp_sum_kernel(int* out) {
  int value = static_cast<int>(threadIdx.x % 32);
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  out[threadIdx.x] = value;
}

// Threads of the second warp leave before the barrier.
void divergent_barrier_kernel(int* out) {
  if (threadIdx.x >= 32) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// A block of 48 threads: its second warp has 16 lanes, and a full-mask shuffle needs 32.
void partial_warp_kernel(int* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1); }

// Lane 0 skips the shuffle its warp waits in, and waits at a block barrier nobody else reaches.
void deadlock_kernel(int* out) {
  if (threadIdx.x != 0) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  else __syncthreads();
}

// Thread 0 reads what the others write, without the barrier in between: with threads started in a
// shuffled order, some launch reads before all writes.
int shared_of_missing_barrier[64];  // __shared__, zeroed by the host before each launch

void missing_barrier_kernel(int* out) {
  int* shared = shared_of_missing_barrier;
  shared[threadIdx.x] = 1;
  if (threadIdx.x == 0) {
    int sum = 0;
    for (int t = 0; t < 64; ++t) sum += shared[t];
    out[0] = sum;
  }
}

template <typename Kernel>
std::string run(const char* name, Kernel kernel, unsigned threads, int* out) {
  try {
    axonal_emu::launcher(name, [&](auto&&... args) { kernel(args...); }, 1, threads)(out);
    const cudaError_t status = cudaGetLastError();
    return status == cudaSuccess ? "" : cudaGetErrorString(status);
  } catch (const std::exception& error) {
    return error.what();
  }
}

}  // namespace

// The message a misuse produced ("" when none), or for "warp_sum"/"missing_barrier" the kernel's
// results as text.
extern "C" __attribute__((visibility("default"))) const char* axonal_emu_self_test(const char* test) {
  static std::string result;
  int out[64] = {};
  const std::string name = test;
  if (name == "warp_sum") {
    result = run("warp_sum_kernel", warp_sum_kernel, 64, out);
    for (int t = 0; t < 64; ++t) result += (t ? "," : "") + std::to_string(out[t]);
  } else if (name == "divergent_barrier") {
    result = run("divergent_barrier_kernel", divergent_barrier_kernel, 64, out);
  } else if (name == "partial_warp") {
    result = run("partial_warp_kernel", partial_warp_kernel, 48, out);
  } else if (name == "deadlock") {
    result = run("deadlock_kernel", deadlock_kernel, 32, out);
  } else if (name == "too_many_threads") {
    result = run("warp_sum_kernel", warp_sum_kernel, 2048, out);
  } else if (name == "missing_barrier") {
    result.clear();
    for (int launch = 0; launch < 20; ++launch) {
      for (int& value : shared_of_missing_barrier) value = 0;
      result += run("missing_barrier_kernel", missing_barrier_kernel, 64, out);
      result += std::to_string(out[0]) + " ";
    }
  } else if (name == "sgemm_bad_lda") {
    cublasHandle_t handle = nullptr;
    cublasCreate(&handle);
    const float one = 1.f, zero = 0.f, a[6] = {}, b[6] = {};
    float c[4] = {};
    // A is 2x3 column-major, so lda must be at least 2.
    result = cublasGetStatusString(
        cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, a, 1, b, 3, &zero, c, 2));
  } else {
    result = "unknown self test";
  }
  return result.c_str();
}
