// The CUDA programming model on the host, for running axonal's cuda/ kernels without a GPU
// (tests/cuda_host/README.md). Force-included (-include) before every source of the emulated
// axonal._cuda; transform.py has already rewritten each `kernel<<<grid, block, shmem, stream>>>(args)`
// into `axonal_emu::launcher("kernel", body, grid, block, shmem, stream)(args)`.
//
// A launch runs its blocks one after another, in a shuffled order, and each block's threads as
// fibers on one host thread, started in a shuffled order: __syncthreads() and the warp shuffles are
// real barriers between them, __shared__ variables are `static` (one block runs at a time), and
// atomics are plain read-modify-writes (fibers switch only at barriers). What the hardware would
// leave undefined is reported instead of guessed: a barrier that some threads of the block never
// reach, a shuffle by a warp with lanes missing, a launch outside CUDA's limits.
#pragma once
#include <dlfcn.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

namespace axonal_emu {

extern thread_local dim3 thread_index, block_index, block_dim, grid_dim;

// The grid of one launch, run by scheduler.cpp: `thread_main` runs one CUDA thread (the kernel body
// with its own copy of the arguments).
struct Grid {
  const char* kernel;
  dim3 grid, block;
  std::function<void()> thread_main;
};

// Runs the grid of `thread_main` now, or records it when `stream` is being captured; a launch
// outside CUDA's limits is not run and sets the error cudaGetLastError() returns.
void submit(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            std::function<void()> thread_main);

void syncthreads();
uint64_t shuffle_xor(uint64_t bits, unsigned mask, int lane_mask, int width);

template <typename Body>
struct Launch {
  const char* kernel;
  Body body;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;

  // The arguments are copied now, as a launch copies them (a captured graph keeps these copies).
  template <typename... Args>
  void operator()(Args&&... args) const {
    auto arguments = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...);
    submit(kernel, grid, block, shared_bytes, stream, [kernel_body = body, arguments]() {
      auto mine = arguments;  // each thread's parameters are its own
      std::apply(kernel_body, mine);
    });
  }
};

template <typename Body>
Launch<Body> launcher(const char* kernel, Body body, dim3 grid, dim3 block, size_t shared_bytes = 0,
                      cudaStream_t stream = nullptr) {
  return {kernel, body, grid, block, shared_bytes, stream};
}

template <typename T>
T shfl_xor(unsigned mask, T value, int lane_mask, int width) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle_xor(bits, mask, lane_mask, width);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// The one host thread runs the fibers and switches only at barriers, so a read-modify-write is atomic.
template <typename T>
T atomic_add(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

void* dlopen_driver(const char* file, int mode);  // "libcuda.so.1" is the emulation itself

}  // namespace axonal_emu

#define threadIdx (::axonal_emu::thread_index)
#define blockIdx (::axonal_emu::block_index)
#define blockDim (::axonal_emu::block_dim)
#define gridDim (::axonal_emu::grid_dim)

inline void __syncthreads() { ::axonal_emu::syncthreads(); }
inline void __threadfence() {}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  return ::axonal_emu::shfl_xor(mask, value, lane_mask, width);
}
template <typename T>
T __ldcg(const T* address) {
  return *address;
}
inline unsigned atomicAdd(unsigned* address, unsigned value) { return ::axonal_emu::atomic_add(address, value); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return ::axonal_emu::atomic_add(address, value);
}
inline int atomicAdd(int* address, int value) { return ::axonal_emu::atomic_add(address, value); }
inline float atomicAdd(float* address, float value) { return ::axonal_emu::atomic_add(address, value); }
inline double atomicAdd(double* address, double value) { return ::axonal_emu::atomic_add(address, value); }

#if defined(__CUDACC__)
// What nvcc's implicit cuda_runtime.h adds for .cu files: the typed cudaMalloc, and the math
// functions CUDA declares globally for device code.
template <typename T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
using std::isfinite;
using std::isinf;
using std::isnan;
#endif

// device_problem() in cuda/bindings.cpp looks for the driver first; here the driver is the emulation.
#define dlopen(file, mode) ::axonal_emu::dlopen_driver(file, mode)
