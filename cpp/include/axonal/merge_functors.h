// The merge op family's rules, shared by cpp/merge.cpp and cuda/merge.cu so that both backends name,
// combine and select alike (docs/design.md, "Merge and gradient sums"): the op names and their enum,
// the most inputs an n-input op takes, and which input a maximum or a minimum picks.
#pragma once
#include <cstring>

#include "axonal/philox.h"  // AXONAL_HD

namespace axonal {

// Keras' merge layers: Add, Subtract (two inputs: x0 − x1), Multiply, Average, Maximum, Minimum.
enum class MergeOp : int { add = 0, subtract, multiply, average, maximum, minimum };

inline constexpr int kMergeOpCount = 6;
inline constexpr const char* kMergeOpNames[kMergeOpCount] = {"add",     "subtract", "multiply",
                                                             "average", "maximum",  "minimum"};  // MergeOp's order

// The most inputs merge_forward and merge_backward take, on every backend. The CUDA kernels get the
// input and gradient pointers as fixed arrays of this size inside their launch arguments: no pointer
// table is copied to the device per call, so a launch can be captured in a CUDA graph. A product's
// gradient needs every other input at once, so larger merges cannot be split into launches; merge
// in stages instead (add eight, then add the result to the rest). concat has no such limit.
inline constexpr int kMaxMergeInputs = 8;

// The op called `name` into *op; false for an unknown name (the caller names the known ones).
inline bool parse_merge_op(const char* name, MergeOp* op) {
  for (int i = 0; i < kMergeOpCount; ++i) {
    if (std::strcmp(name, kMergeOpNames[i]) == 0) {
      *op = static_cast<MergeOp>(i);
      return true;
    }
  }
  return false;
}

inline const char* merge_op_name(MergeOp op) { return kMergeOpNames[static_cast<int>(op)]; }

// "add, subtract, multiply, average, maximum, minimum": for error messages.
inline const char* merge_op_list() { return "add, subtract, multiply, average, maximum, minimum"; }

// Whether input value `candidate` replaces `best`, the extreme among the earlier inputs, when a
// maximum (or minimum) scans its inputs in order. Strictly greater (less), so of equal values the
// earliest input stays chosen: TensorFlow's pairwise gradient (x >= y sends dy to x) applied left to
// right gives the same. A NaN replaces any number and is never replaced, so a NaN in any input makes
// the output NaN (as np.maximum, torch.maximum) and its gradient goes to the first NaN input. `|`,
// not `||`: both sides are cheap comparisons, and a branch-free select vectorises.
template <MergeOp Op>
AXONAL_HD bool merge_takes(float candidate, float best) {
  const bool first_nan = (candidate != candidate) & (best == best);
  if constexpr (Op == MergeOp::maximum) return (candidate > best) | first_nan;
  else return (candidate < best) | first_nan;
}

}  // namespace axonal
