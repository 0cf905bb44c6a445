// The emulated device's streams and the CUDA runtime calls of cuda/ (README.md here): memory is
// host memory, work runs when it is queued unless its stream is being captured, in which case it is
// recorded into a graph that the control functions at the end (called by host_cupy.py through
// ctypes) replay.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
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
// Streams, events and capture. A capture is a graph of nodes with their dependencies, begun on one
// stream (its origin). Another stream joins it by waiting on an event recorded in it (a fork) and
// leaves it when the origin ends the capture, which requires every node to be an ancestor of the
// origin's last work (each fork joined back: the origin waited on an event recorded after the
// forked stream's work). That is what CUDA's stream capture allows across streams. One rule is
// stricter than CUDA's relaxed mode: work queued on a stream outside every capture while a capture
// is open is an error here, where CUDA would run it at once, outside the graph (so never again at
// a replay): in axonal that is always the bug of a stream that was not forked into the capture.

namespace {

struct GraphNode {
  Node run;
  std::string label;                // the kernel's name, "memset", a host function's label...
  uintptr_t stream;                 // the stream it was captured on
  std::vector<size_t> dependencies;  // nodes that must have run before it
};

struct Graph {
  std::vector<GraphNode> nodes;
  uintptr_t origin = 0;
  bool open = true, invalid = false;
};

struct Capture {
  std::shared_ptr<Graph> graph;
  std::vector<size_t> tail;  // what the stream's next node depends on
};

struct EventState {
  std::shared_ptr<Graph> graph;  // null: recorded outside any capture (its work has run)
  std::vector<size_t> tail;
};

std::mutex capture_mutex;  // the control functions below take it too
std::map<uintptr_t, Capture> capturing;  // by stream: the origins and the streams forked into them
std::map<uintptr_t, EventState> events;  // by event handle, once recorded
std::string capture_problem;  // why the last capture was invalidated (read by host_cupy.py)

uintptr_t key(cudaStream_t stream) { return reinterpret_cast<uintptr_t>(stream); }

// Ends every open capture with an error (their end_capture then fails), saying why.
void invalidate_all(const std::string& why) {
  for (auto& [s, capture] : capturing) capture.graph->invalid = true;
  if (capture_problem.empty()) capture_problem = why;
}

void invalidate(Graph& graph, const std::string& why) {
  graph.invalid = true;
  if (capture_problem.empty()) capture_problem = why;
}

std::string hex(uintptr_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "%#zx", static_cast<size_t>(value));
  return text;
}

}  // namespace

// Queues `node` on `stream`: runs it now, or records it into the stream's capture after the
// stream's last captured node. Work on the legacy default stream while another stream is captured
// is an error that ends that capture, as on the GPU (cudaErrorStreamCaptureImplicit); so is work on
// any other stream outside the open captures (see above).
cudaError_t enqueue(cudaStream_t stream, Node node, const char* label) {
  {
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto found = capturing.find(key(stream));
    if (found != capturing.end()) {
      Graph& graph = *found->second.graph;
      graph.nodes.push_back(GraphNode{std::move(node), label ? label : "work", key(stream), found->second.tail});
      found->second.tail = {graph.nodes.size() - 1};
      return cudaSuccess;
    }
    if (!capturing.empty()) {
      if (stream == nullptr || stream == cudaStreamLegacy) {
        invalidate_all("work was queued on the legacy default stream during a capture");
        return cudaErrorStreamCaptureImplicit;
      }
      invalidate_all(std::string(label ? label : "work") + " was queued on stream " + hex(key(stream)) +
                     ", which is not part of the open capture: it would run once now, not at each replay. "
                     "Fix: make that stream wait on an event recorded on a capturing stream first (a fork)");
      return cudaErrorStreamCaptureIsolation;
    }
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
    invalidate_all("a call that no capture allows (an allocation, a synchronisation) came during a capture");
    return cudaErrorStreamCaptureUnsupported;
  }
  auto found = capturing.find(key(stream));
  if (found != capturing.end()) {
    invalidate(*found->second.graph, "a call that a capture does not allow came on a captured stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  return cudaSuccess;
}

// cudaEventRecord: inside a capture the event stands for the stream's captured work so far;
// outside, for work that has run (work runs when queued).
cudaError_t event_record(uintptr_t event, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  auto found = capturing.find(key(stream));
  if (found != capturing.end()) {
    events[event] = EventState{found->second.graph, found->second.tail};
    return cudaSuccess;
  }
  if ((stream == nullptr || stream == cudaStreamLegacy) && !capturing.empty()) {
    invalidate_all("an event was recorded on the legacy default stream during a capture");
    return cudaErrorStreamCaptureImplicit;
  }
  events[event] = EventState{nullptr, {}};
  return cudaSuccess;
}

// cudaStreamWaitEvent: a stream outside the captures that waits on an event recorded in one joins
// that capture (a fork); a captured stream adds the event's work to what its next node depends on
// (a join when it is the origin). A captured stream may not wait on work outside its capture.
cudaError_t stream_wait_event(cudaStream_t stream, uintptr_t event) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  auto recorded = events.find(event);
  if (recorded == events.end()) return cudaSuccess;  // never recorded: nothing to wait for, as in CUDA
  const EventState& state = recorded->second;
  auto found = capturing.find(key(stream));
  if (!state.graph) {
    if (found == capturing.end()) return cudaSuccess;  // its work has run
    invalidate(*found->second.graph, "captured stream " + hex(key(stream)) +
                                         " waited on an event recorded outside the capture");
    return cudaErrorStreamCaptureIsolation;
  }
  if (!state.graph->open) {
    if (found != capturing.end()) invalidate(*found->second.graph, "a stream waited on an event of an ended capture");
    return cudaErrorStreamCaptureIsolation;
  }
  if (found == capturing.end()) {  // the fork
    capturing[key(stream)] = Capture{state.graph, state.tail};
    return cudaSuccess;
  }
  if (found->second.graph != state.graph) {
    invalidate(*found->second.graph, "a stream waited on an event of another capture");
    invalidate(*state.graph, "a stream waited on an event of another capture");
    return cudaErrorStreamCaptureMerge;
  }
  auto& tail = found->second.tail;
  for (size_t node : state.tail)
    if (std::find(tail.begin(), tail.end(), node) == tail.end()) tail.push_back(node);
  return cudaSuccess;
}

// cudaEventQuery/cudaEventSynchronize: not allowed on an event recorded in a capture.
cudaError_t event_wait_on_host(uintptr_t event) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  auto recorded = events.find(event);
  if (recorded != events.end() && recorded->second.graph) return cudaErrorStreamCaptureUnsupported;
  return cudaSuccess;
}

}  // namespace axonal_emu

namespace axonal_emu {
namespace {

// The order a replay runs the graph's nodes in: a topological order of the dependencies, drawn at
// random among the nodes ready at each point (seeded as the blocks' shuffles are), so work on a
// forked stream runs sometimes early, sometimes late against the origin's: a node that misses a
// dependency it needs sees different data from replay to replay.
std::vector<size_t> replay_order(const Graph& graph) {
  static uint64_t replays = 0;
  static const uint64_t base = [] {
    const char* seed = std::getenv("AXONAL_CUDA_HOST_SEED");
    return seed ? std::strtoull(seed, nullptr, 10) : 0x5eedULL;
  }();
  std::mt19937_64 rng(base * 0xD1B54A32D192ED03ULL + ++replays);
  const size_t count = graph.nodes.size();
  std::vector<size_t> waiting(count, 0), order, ready;
  std::vector<std::vector<size_t>> dependants(count);
  for (size_t i = 0; i < count; ++i)
    for (size_t d : graph.nodes[i].dependencies) {
      ++waiting[i];
      dependants[d].push_back(i);
    }
  for (size_t i = 0; i < count; ++i)
    if (!waiting[i]) ready.push_back(i);
  while (!ready.empty()) {
    const size_t pick = std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng);
    const size_t node = ready[pick];
    ready[pick] = ready.back();
    ready.pop_back();
    order.push_back(node);
    for (size_t next : dependants[node])
      if (--waiting[next] == 0) ready.push_back(next);
  }
  return order;
}

}  // namespace
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
// Control of the emulated device from Python (host_cupy.py, through ctypes).

extern "C" {

__attribute__((visibility("default"))) int axonal_emu_begin_capture(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  if (stream == 0 || stream == 1 || axonal_emu::capturing.count(stream)) return cudaErrorStreamCaptureUnsupported;
  auto graph = std::make_shared<axonal_emu::Graph>();
  graph->origin = stream;
  axonal_emu::capturing[stream] = axonal_emu::Capture{graph, {}};
  axonal_emu::capture_problem.clear();
  return cudaSuccess;
}

// Ends the capture begun on `stream` (its origin): every stream forked into it leaves it. Returns
// the captured graph (a handle for launch/destroy), or 0 when the capture was invalidated, when
// `stream` is not its origin (cudaErrorStreamCaptureUnmatched) or when a fork was not joined back
// (cudaErrorStreamCaptureUnjoined: some node is not an ancestor of the origin's last work);
// axonal_emu_capture_problem then says why.
__attribute__((visibility("default"))) void* axonal_emu_end_capture(uintptr_t stream) {
  using namespace axonal_emu;
  std::lock_guard<std::mutex> lock(capture_mutex);
  auto found = capturing.find(stream);
  if (found == capturing.end()) {
    if (capture_problem.empty()) capture_problem = "end_capture on stream " + hex(stream) + ", which is not captured";
    return nullptr;
  }
  auto graph = found->second.graph;
  if (graph->origin != stream) {
    invalidate(*graph, "end_capture on stream " + hex(stream) + ", which was forked into the capture begun on " +
                           hex(graph->origin) + " (cudaErrorStreamCaptureUnmatched): end it on its origin");
  } else {
    std::vector<bool> reached(graph->nodes.size(), false);
    std::vector<size_t> todo = found->second.tail;
    while (!todo.empty()) {
      const size_t node = todo.back();
      todo.pop_back();
      if (reached[node]) continue;
      reached[node] = true;
      for (size_t d : graph->nodes[node].dependencies) todo.push_back(d);
    }
    for (size_t i = 0; i < reached.size(); ++i)
      if (!reached[i]) {
        invalidate(*graph, "a fork was not joined before end_capture (cudaErrorStreamCaptureUnjoined): " +
                               graph->nodes[i].label + " on stream " + hex(graph->nodes[i].stream) +
                               " is not followed by the origin stream's work. Fix: record an event on that stream "
                               "after its last work and make the origin stream wait on it");
        break;
      }
  }
  for (auto it = capturing.begin(); it != capturing.end();)
    it = it->second.graph == graph ? capturing.erase(it) : std::next(it);
  graph->open = false;
  if (graph->invalid) return nullptr;
  return new std::shared_ptr<Graph>(graph);
}

// Why the last capture was invalidated ("" when it was not).
__attribute__((visibility("default"))) void axonal_emu_capture_problem(char* message, size_t size) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  std::snprintf(message, size, "%s", axonal_emu::capture_problem.c_str());
}

__attribute__((visibility("default"))) int axonal_emu_is_capturing(uintptr_t stream) {
  return axonal_emu::is_capturing(reinterpret_cast<cudaStream_t>(stream)) ? 1 : 0;
}

// How many streams are being captured (origins and forked streams).
__attribute__((visibility("default"))) int axonal_emu_captures() {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  return static_cast<int>(axonal_emu::capturing.size());
}

// How many nodes the capture that `stream` takes part in holds so far (-1: not captured).
__attribute__((visibility("default"))) int axonal_emu_capture_nodes(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  auto found = axonal_emu::capturing.find(stream);
  return found == axonal_emu::capturing.end() ? -1 : static_cast<int>(found->second.graph->nodes.size());
}

__attribute__((visibility("default"))) int axonal_emu_event_record(uintptr_t event, uintptr_t stream) {
  return axonal_emu::event_record(event, reinterpret_cast<cudaStream_t>(stream));
}

__attribute__((visibility("default"))) int axonal_emu_stream_wait_event(uintptr_t stream, uintptr_t event) {
  return axonal_emu::stream_wait_event(reinterpret_cast<cudaStream_t>(stream), event);
}

__attribute__((visibility("default"))) int axonal_emu_event_wait_on_host(uintptr_t event) {
  return axonal_emu::event_wait_on_host(event);
}

// Replays a graph on `stream`, its nodes in a valid order (replay_order). Returns 0, or 1 with the
// reason in `message` (a violation found by a kernel of the graph).
__attribute__((visibility("default"))) int axonal_emu_launch_graph(void* graph, uintptr_t stream, char* message,
                                                                    size_t size) {
  const auto& captured = **static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph);
  try {
    for (size_t node : axonal_emu::replay_order(captured)) {
      const auto& entry = captured.nodes[node];
      const cudaError_t status = enqueue(reinterpret_cast<cudaStream_t>(stream), entry.run, entry.label.c_str());
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

// The graph's nodes, one line each in capture order: "label<TAB>stream<TAB>dependency,dependency".
// Returns the length of the whole text (written up to `size`), so a caller can ask again.
__attribute__((visibility("default"))) size_t axonal_emu_graph_describe(void* graph, char* text, size_t size) {
  std::string all;
  for (const auto& node : (*static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph))->nodes) {
    all += node.label + "\t" + std::to_string(node.stream) + "\t";
    for (size_t i = 0; i < node.dependencies.size(); ++i)
      all += (i ? "," : "") + std::to_string(node.dependencies[i]);
    all += "\n";
  }
  if (size) std::snprintf(text, size, "%s", all.c_str());
  return all.size();
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
