// The emulated device's streams, events and stream captures (README.md here): work queued on a
// stream runs at once unless the stream takes part in a capture, in which case it becomes a node
// of the capture's graph (graph.cpp replays it). The control functions at the end are called by
// host_cupy.py through ctypes.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "capture.h"

namespace axonal_emu {

std::mutex capture_mutex;
std::string capture_problem;

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

struct Capture {
  std::shared_ptr<Graph> graph;
  std::vector<size_t> tail;  // what the stream's next node depends on
};

struct EventState {
  std::shared_ptr<Graph> graph;  // null: recorded outside any capture (its work has run)
  std::vector<size_t> tail;
};

std::map<uintptr_t, Capture> capturing;  // by stream: the origins and the streams forked into them
std::map<uintptr_t, EventState> events;  // by event handle, once recorded

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
  if (!state.graph->open) {  // the event stands for nodes of a graph, not for work of a stream
    capture_problem = "stream " + hex(key(stream)) + " waited on an event recorded in a capture that has ended";
    if (found != capturing.end()) found->second.graph->invalid = true;
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

using axonal_emu::enqueue;

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
    capture_problem = "end_capture on stream " + hex(stream) + ", which is not captured";
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

}  // extern "C"
