// Merge op family: Keras' merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum,
// Concatenate) and the sums a graph's backward pass needs (a tensor read by two layers, a shared
// layer's per-call weight gradients, loss weights). Every array is float32, row-major; the
// elementwise ops see (N, K) arrays as `count` = N·K elements. Plain entry points with raw pointers,
// callable from the bindings (merge_bindings.cpp) and from the native training loop; they check
// nothing (the bindings do) and allocate nothing. MergeOp, parse_merge_op and kMaxMergeInputs come
// from axonal/merge_functors.h, shared with cuda/merge.cuh.
#pragma once
#include <cstdint>

#include "axonal/merge_functors.h"

namespace axonal {

// inputs[i] (count), i < n -> y (count):
//   add x0 + x1 + …, subtract x0 − x1 (n = 2), multiply x0 · x1 · …, average (x0 + x1 + …) / n,
//   maximum / minimum the value of the first input holding the extreme (NaN wins: merge_takes).
// Sums and products run left to right. 1 ≤ n ≤ kMaxMergeInputs; y overlaps no input (inputs may
// be the same array).
void merge_forward(float* y, const float* const* inputs, int n, int64_t count, MergeOp op);

// dy (count), inputs[i] (count) -> dxs[i] (count), i < n; a null dxs[i] is skipped, the others are
// overwritten: add dy; subtract dy, −dy; average dy / n; multiply dy · Π_{j≠i} x_j (the others'
// product, left to right, then times dy: never a division by x_i, so a zero input is exact);
// maximum / minimum dy for the input merge_forward chose, 0 for the others. No dxs[i] overlaps dy,
// an input or another dxs[j].
void merge_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count,
                    MergeOp op);

// inputs[i] (rows, widths[i]), i < n -> y (rows, Σ widths): the inputs side by side, in order.
void concat_forward(float* y, const float* const* inputs, const int64_t* widths, int n, int64_t rows);

// dy (rows, Σ widths) -> dxs[i] (rows, widths[i]): each input's columns of dy; a null dxs[i] is
// skipped (its columns still count in dy's width).
void concat_backward(float* const* dxs, const float* dy, const int64_t* widths, int n, int64_t rows);

// y (count) += x (count): gradient sums. y and x do not overlap.
void accumulate(float* y, const float* x, int64_t count);

// x (count) -> y (count) = factor · x, in float; y may be x (in place).
void scale(float* y, const float* x, int64_t count, float factor);

}  // namespace axonal
