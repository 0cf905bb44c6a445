// The emulated device's streams and the CUDA runtime calls of cuda/ (README.md here): memory is
// host memory, work runs when it is queued unless its stream is being captured, in which case it is
// recorded into a graph that the control functions at the end (called by host_cupy.py through
// ctypes) replay.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "device.h"

namespace axonal_emu {

namespace {
thread_local cudaError_t last_error = cudaSuccess;
}  // namespace

void set_error(cudaError_t error) {
  if (last_error == cudaSuccess) last_error = error;
}

// ---------------------------------------------------------------------------------------------
// Streams and capture: a stream being captured records its work instead of running it.

namespace {

struct Graph {
  std::vector<Node> nodes;
};

std::mutex capture_mutex;  // the control functions below take it too
std::map<uintptr_t, std::shared_ptr<Graph>> capturing;  // by stream
std::map<uintptr_t, bool> invalidated;

uintptr_t key(cudaStream_t stream) { return reinterpret_cast<uintptr_t>(stream); }

}  // namespace

// Queues `node` on `stream`: runs it now, or records it into the stream's capture. Work on the
// legacy default stream while another stream is captured is an error that ends that capture, as
// on the GPU (cudaErrorStreamCaptureImplicit).
cudaError_t enqueue(cudaStream_t stream, Node node) {
  std::shared_ptr<Graph> graph;
  {
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto found = capturing.find(key(stream));
    if (found != capturing.end()) graph = found->second;
    if (!graph && (stream == nullptr || stream == cudaStreamLegacy) && !capturing.empty()) {
      for (auto& [s, g] : capturing) invalidated[s] = true;
      return cudaErrorStreamCaptureImplicit;
    }
  }
  if (graph) {
    graph->nodes.push_back(std::move(node));
    return cudaSuccess;
  }
  node();
  return cudaSuccess;
}

bool is_capturing(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  return capturing.count(key(stream)) > 0;
}

// A call that may not happen while `stream` (or, for a call without a stream, any stream) is
// captured: it ends the capture with an error, as cudaStreamCaptureModeGlobal does.
cudaError_t forbidden_in_capture(cudaStream_t stream, bool any_stream) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  if (capturing.empty()) return cudaSuccess;
  if (any_stream) {
    for (auto& [s, g] : capturing) invalidated[s] = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  if (capturing.count(key(stream))) {
    invalidated[key(stream)] = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  return cudaSuccess;
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
  return enqueue(stream, [=] { std::memset(pointer, value, bytes); });
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  return enqueue(stream, [=] { std::memcpy(dst, src, bytes); });
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return forbidden_in_capture(stream, false);
}

// -------------------------------------------------------------------------------------------------
// Control of the emulated device from Python (host_cupy.py, through ctypes).

extern "C" {

__attribute__((visibility("default"))) int axonal_emu_begin_capture(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  if (stream == 0 || stream == 1 || axonal_emu::capturing.count(stream)) return cudaErrorStreamCaptureUnsupported;
  axonal_emu::capturing[stream] = std::make_shared<axonal_emu::Graph>();
  axonal_emu::invalidated[stream] = false;
  return cudaSuccess;
}

// The captured graph (a handle for launch/destroy), or 0 when the capture was invalidated.
__attribute__((visibility("default"))) void* axonal_emu_end_capture(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  auto found = axonal_emu::capturing.find(stream);
  if (found == axonal_emu::capturing.end()) return nullptr;
  auto graph = found->second;
  axonal_emu::capturing.erase(found);
  const bool bad = axonal_emu::invalidated[stream];
  axonal_emu::invalidated.erase(stream);
  if (bad) return nullptr;
  return new std::shared_ptr<axonal_emu::Graph>(graph);
}

__attribute__((visibility("default"))) int axonal_emu_is_capturing(uintptr_t stream) {
  return axonal_emu::is_capturing(reinterpret_cast<cudaStream_t>(stream)) ? 1 : 0;
}

// How many streams are being captured.
__attribute__((visibility("default"))) int axonal_emu_captures() {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  return static_cast<int>(axonal_emu::capturing.size());
}

// Replays a graph on `stream`. Returns 0, or 1 with the reason in `message` (a violation found by a
// kernel of the graph).
__attribute__((visibility("default"))) int axonal_emu_launch_graph(void* graph, uintptr_t stream, char* message,
                                                                    size_t size) {
  auto& nodes = (*static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph))->nodes;
  try {
    for (auto& node : nodes) {
      const cudaError_t status = enqueue(reinterpret_cast<cudaStream_t>(stream), node);
      if (status != cudaSuccess) throw std::runtime_error(cudaGetErrorString(status));
    }
  } catch (const std::exception& error) {
    std::snprintf(message, size, "%s", error.what());
    return 1;
  }
  return 0;
}

__attribute__((visibility("default"))) int axonal_emu_graph_nodes(void* graph) {
  return static_cast<int>((*static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph))->nodes.size());
}

__attribute__((visibility("default"))) void axonal_emu_destroy_graph(void* graph) {
  delete static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph);
}

}  // extern "C"

// -------------------------------------------------------------------------------------------------
// Host functions and memsets queued from Python: cudaLaunchHostFunc's host node (captured like a
// kernel, so a replayed graph calls it again), which host_nccl.py uses to run an emulated NCCL
// collective at its place in the stream; and cudaMemsetAsync for cupy.cuda.runtime.memsetAsync.

extern "C" {

// Queues `function(data)` on `stream`. The function returns 0, or nonzero when it failed (its
// Python side keeps the reason); a failure ends the launch (or the graph's replay) with an error.
// Returns 0, or 1 with the reason in `message`.
__attribute__((visibility("default"))) int axonal_emu_launch_host_func(uintptr_t stream, int (*function)(void*),
                                                                        void* data, char* message, size_t size) {
  try {
    const cudaError_t status = enqueue(reinterpret_cast<cudaStream_t>(stream), [=] {
      if (function(data) != 0) throw std::runtime_error("emulated CUDA: a host function queued on the stream failed");
    });
    if (status != cudaSuccess) throw std::runtime_error(cudaGetErrorString(status));
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
