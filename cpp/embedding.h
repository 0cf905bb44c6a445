// Embedding op family: Keras' Embedding lookup as a gather (forward) and a scatter-add (backward).
// A batch of sequences (N, T) is M = N·T lookups into a (V, D) matrix. Plain entry points with raw
// pointers, callable from the bindings (embedding_bindings.cpp) and from the native training loop;
// they allocate nothing. cuda/embedding.cuh has the same signatures plus the stream.
#pragma once
#include <cstdint>

namespace axonal {

// The position of the first index outside [0, V) among indices (M), or -1 when every one is inside.
int64_t first_bad_index(const int32_t* indices, int64_t M, int64_t V);

// indices (M) int32, W (V, D) -> y (M, D): row m of y is row indices[m] of W. Every index must be in
// [0, V) (the callers check with first_bad_index; the kernel does not read outside W either way: an
// index outside gives a row of zeros).
void embedding_forward(float* y, const int32_t* indices, const float* W, int64_t M, int64_t V, int64_t D);

// dy (M, D), indices (M) -> dW (V, D), overwritten: zeros, then dW[indices[m]] += dy[m] for m in
// increasing order. Rows of dW are split among the threads (each scans every index and adds the
// lookups of its own rows), so a row's sum has one order whatever the thread count: the reference's
// bits (np.add.at). An index outside [0, V) adds nothing.
void embedding_backward(float* dW, const float* dy, const int32_t* indices, int64_t M, int64_t V, int64_t D);

}  // namespace axonal
