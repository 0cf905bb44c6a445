// The CUDA runtime calls of cuda/ on the emulated device (README.md here): memory is host memory;
// work is queued on streams through enqueue (capture.cpp), which runs it at once or records it
// into a capture.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "capture.h"

namespace axonal_emu {

namespace {
thread_local cudaError_t last_error = cudaSuccess;
}  // namespace

void set_error(cudaError_t error) {
  if (last_error == cudaSuccess) last_error = error;
}

}  // namespace axonal_emu

using axonal_emu::enqueue;
using axonal_emu::forbidden_in_capture;

// -------------------------------------------------------------------------------------------------
// The CUDA runtime.

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureMerge: return "operation would have resulted in a merge of separate capture sequences";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureUnjoined: return "capturing stream has unjoined work";
    case cudaErrorStreamCaptureIsolation:
      return "dependency created on uncaptured work in another stream (or, in the emulation, work queued on a "
             "stream outside the open capture)";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = axonal_emu::last_error;
  axonal_emu::last_error = cudaSuccess;
  return error;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  if (attribute == cudaDevAttrComputeCapabilityMajor) *value = 9;
  else if (attribute == cudaDevAttrComputeCapabilityMinor) *value = 0;
  else return cudaErrorInvalidValue;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (const cudaError_t e = forbidden_in_capture(nullptr, true)) return e;
  *pointer = std::aligned_alloc(256, (std::max<size_t>(bytes, 1) + 255) / 256 * 256);
  if (!*pointer) return cudaErrorMemoryAllocation;
  // Device memory comes uninitialised: all-ones bytes (NaN floats, -1 integers) make a kernel that
  // relies on zeroed memory fail, where fresh host pages would happen to be zero.
  std::memset(*pointer, 0xff, bytes);
  return cudaSuccess;
}

// axonal's design allocates nothing while a step is captured (docs/cuda.md), so an allocation during
// a capture is reported, although the GPU would record it as a memory node.
cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream) {
  if (const cudaError_t e = forbidden_in_capture(stream, false)) return e;
  return cudaMalloc(pointer, bytes);
}

cudaError_t cudaFreeAsync(void* pointer, cudaStream_t stream) {
  if (const cudaError_t e = forbidden_in_capture(stream, false)) return e;
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
  return enqueue(stream, [=] { std::memset(pointer, value, bytes); }, "memset");
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  return enqueue(stream, [=] { std::memcpy(dst, src, bytes); }, "memcpy");
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return forbidden_in_capture(stream, false);
}

// -------------------------------------------------------------------------------------------------
// Host functions and memsets queued from Python: cudaLaunchHostFunc's host node (captured like a
// kernel, so a replayed graph calls it again), which host_nccl.py uses to run an emulated NCCL
// collective at its place in the stream; and cudaMemsetAsync for cupy.cuda.runtime.memsetAsync.

extern "C" {

// Queues `function(data)` on `stream`. The function returns 0, or nonzero when it failed (its
// Python side keeps the reason); a failure ends the launch (or the graph's replay) with an error.
// Returns 0, or 1 with the reason in `message`.
__attribute__((visibility("default"))) int axonal_emu_launch_host_func(uintptr_t stream, int (*function)(void*),
                                                                        void* data, const char* label,
                                                                        char* message, size_t size) {
  try {
    const cudaError_t status = enqueue(reinterpret_cast<cudaStream_t>(stream), [=] {
      if (function(data) != 0) throw std::runtime_error("emulated CUDA: a host function queued on the stream failed");
    }, label);
    if (status != cudaSuccess) {
      std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
      throw std::runtime_error(std::string(cudaGetErrorString(status)) + ": " + axonal_emu::capture_problem);
    }
  } catch (const std::exception& error) {
    std::snprintf(message, size, "%s", error.what());
    return 1;
  }
  return 0;
}

__attribute__((visibility("default"))) int axonal_emu_memset_async(uintptr_t pointer, int value, size_t bytes,
                                                                    uintptr_t stream) {
  return cudaMemsetAsync(reinterpret_cast<void*>(pointer), value, bytes, reinterpret_cast<cudaStream_t>(stream));
}

}  // extern "C"
