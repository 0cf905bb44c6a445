// What every CUDA op family shares: the one error-check macro, the launch geometry, and a grid-stride
// elementwise launcher. Host-side declarations only where a .cpp includes it (bindings.cpp); the
// kernels themselves are compiled by nvcc (__CUDACC__).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace axonal::cuda {

// Throws "<call> failed at <file>:<line>: <why>" for a failed CUDA runtime or cuBLAS call.
[[noreturn]] inline void throw_failure(const char* call, const char* file, int line, const std::string& why) {
  throw std::runtime_error(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " + why);
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_failure(call, file, line, cudaGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_failure(call, file, line, cublasGetStatusString(status));
}

}  // namespace axonal::cuda

// The one error check: wraps any cudaError_t or cublasStatus_t call and throws std::runtime_error
// (a RuntimeError in Python) naming the call, its place and CUDA's reason. Kernel launches are
// checked with AXONAL_CUDA_CHECK(cudaGetLastError()).
#define AXONAL_CUDA_CHECK(call) ::axonal::cuda::check((call), #call, __FILE__, __LINE__)

namespace axonal::cuda {

// Threads per block of the elementwise and row kernels: 8 warps, enough to hide memory latency and
// small enough for the 1024-threads limit with room for shared memory.
constexpr int kThreads = 256;
constexpr int kWarp = 32;

// Blocks for n items, one per thread, capped: the kernels loop grid-stride beyond the cap, so a
// launch never exceeds the grid limit, and the cap is a constant (not the SM count) so that results
// depend on the sizes alone, never on the GPU model.
inline unsigned blocks_for(int64_t n, int64_t per_block = kThreads, int64_t cap = 4096) {
  const int64_t blocks = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

// A value that changes from one training step to the next (a learning rate, a step number): a
// number the host passes with the launch, or, when `device` is set, a device scalar that the kernel
// reads as it executes. A CUDA graph captures launch arguments by value, so only the device form lets
// a graph captured once and replayed step after step see the current value.
template <typename T>
struct StepValue {
  T host{};
  const T* device = nullptr;
  bool on_device() const { return device != nullptr; }
#if defined(__CUDACC__)
  __device__ T get() const { return device ? *device : host; }  // once per thread, not per element
#endif
};

#if defined(__CUDACC__)
template <typename Fn>
__global__ void elementwise_kernel(int64_t n, Fn fn) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) fn(i);
}

// fn(i) for i in [0, n) on `stream`; fn is a __device__ lambda. An empty range launches nothing (a
// grid of zero blocks is an invalid launch).
template <typename Fn>
void launch_elementwise(int64_t n, cudaStream_t stream, Fn fn) {
  if (n <= 0) return;
  elementwise_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, fn);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

// Warp-wide sum and max by butterfly shuffles: every lane ends with the same value, and the order of
// the additions is fixed, so the result is the same on every run.
template <typename T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}
#endif

}  // namespace axonal::cuda
