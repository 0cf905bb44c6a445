// The activation names of AXONAL_ACTIVATIONS (activation_functors.h) for the host side of the
// bindings of cpp/ and cuda/: one lookup, so that both parse alike and word their refusals as the
// reference backend does (python/axonal/activations.py, FUSED_REFUSAL).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "axonal/activation_functors.h"

namespace axonal {

// Indexed by Act.
inline constexpr const char* kActivationNames[] = {
#define AXONAL_ACT_NAME(name, from) #name,
    AXONAL_ACTIVATIONS(AXONAL_ACT_NAME)
#undef AXONAL_ACT_NAME
};
static_assert(sizeof(kActivationNames) / sizeof(kActivationNames[0]) == kActivationCount);

// Sets *act to the activation called `name` and returns "", or returns why the op cannot take it:
// an unknown name, or (`fused`: the op keeps only the output y, as dense and conv2d do) an
// activation whose derivative needs the input z.
inline std::string find_activation(const std::string& name, bool fused, Act* act) {
  std::string known;
  for (int i = 0; i < kActivationCount; ++i) {
    if (name == kActivationNames[i]) {
      *act = static_cast<Act>(i);
      if (fused && derivative_from_input(*act))
        return "activation '" + name + "' takes its derivative from its input, which a fused kernel does not keep; "
               "use activation 'linear' here and apply '" + name + "' with activation_forward/activation_backward.";
      return "";
    }
    known += std::string(i ? ", " : "") + kActivationNames[i];
  }
  return "unknown activation '" + name + "'; expected one of " + known + ".";
}

// (name, derivative taken from "output" or "input") in the order of the enum Act: what both
// extensions' activation_table() report (tests/test_tables.py compares it with the declaration).
inline std::vector<std::pair<std::string, std::string>> activation_table() {
  std::vector<std::pair<std::string, std::string>> table;
  for (int i = 0; i < kActivationCount; ++i)
    table.emplace_back(kActivationNames[i], derivative_from_input(static_cast<Act>(i)) ? "input" : "output");
  return table;
}

}  // namespace axonal
