// Replay and description of the emulated device's captured graphs (README.md here), called by
// host_cupy.py through ctypes.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture.h"

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

extern "C" {

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

