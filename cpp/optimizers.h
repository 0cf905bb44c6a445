// Optimiser op family: one fused, in-place update per parameter, Keras 3 maths (docs/design.md).
// The optimisers themselves (their per-element maths, slots and hyper-parameters) are declared once
// in axonal/optimizer_functors.h; this is the cpu update that runs any of them. Every update starts
// with Keras' decoupled weight decay p ← p − p·wd·lr (wd = 0: none).
#pragma once
#include <cstddef>
#include <cstdint>

#include "axonal/optimizer_functors.h"

namespace axonal {

// One trainable array: the parameter, its gradient and its slots in the kernel's order (n floats
// each), and which slots the update uses (use_slots(): bit k for slot k; the others may be null).
struct ParamUpdate {
  float* param;
  const float* grad;
  SlotArrays slots;
  int64_t n;
  unsigned used;
};

// params[0..count) updated in place by one step of optimiser `kind` (its index in
// AXONAL_OPTIMIZERS) with the hyper-parameters `hyper`, the learning rate and the 1-based
// iteration `step` (read by optimisers whose UpdateInfo says uses_step). The step's constants are
// made once for all the parameters: for Adam, the bias corrections' two pow() calls are most of a
// small parameter's update.
void optimizer_update(int kind, const HyperValues& hyper, double lr, int64_t step, double weight_decay,
                      const ParamUpdate* params, size_t count);

}  // namespace axonal
