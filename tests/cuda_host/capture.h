// The emulated device's captured graphs, shared by capture.cpp (streams, events, capture) and
// graph.cpp (replay and description) (README.md here).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device.h"

namespace axonal_emu {

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

extern std::mutex capture_mutex;  // guards every capture's and event's state
extern std::string capture_problem;  // why the last capture was invalidated ("" when it was not)

}  // namespace axonal_emu
