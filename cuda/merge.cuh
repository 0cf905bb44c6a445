// Merge op family on the GPU: Keras' merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum,
// Concatenate) and the gradient sums of a graph (accumulate) and loss weights (scale). Same
// signatures as cpp/merge.h plus the stream, and the same rules (axonal/merge_functors.h): sums and
// products left to right, the first input holding a maximum or minimum chosen, NaN winning. The
// pointer lists are host arrays of device pointers; they travel to the device inside the launch's
// arguments (fixed arrays of kMaxMergeInputs), so no op copies, allocates or waits: every launch can
// be captured in a CUDA graph.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/merge_functors.h"

namespace axonal::cuda {

// inputs[i] (count), 1 ≤ n ≤ kMaxMergeInputs -> y (count) = op(inputs), elementwise
void merge_forward(float* y, const float* const* inputs, int n, int64_t count, MergeOp op, cudaStream_t stream);

// dy (count), inputs[i] (count) -> dxs[i] (count), null entries skipped (merge.h's gradients)
void merge_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count,
                    MergeOp op, cudaStream_t stream);

// inputs[i] (rows, widths[i]), any n -> y (rows, Σ widths): one launch per kMaxMergeInputs non-empty inputs
void concat_forward(float* y, const float* const* inputs, const int64_t* widths, int n, int64_t rows,
                    cudaStream_t stream);

// dy (rows, Σ widths) -> dxs[i] (rows, widths[i]), null entries skipped
void concat_backward(float* const* dxs, const float* dy, const int64_t* widths, int n, int64_t rows,
                     cudaStream_t stream);

// y (count) += x (count)
void accumulate(float* y, const float* x, int64_t count, cudaStream_t stream);

// x (count) -> y (count) = factor · x; y may be x
void scale(float* y, const float* x, int64_t count, float factor, cudaStream_t stream);

}  // namespace axonal::cuda
