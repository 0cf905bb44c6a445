// Per-thread scratch buffers of the kernels: grown when a larger layer comes and then reused, so the
// step loop does not allocate; thread-local, so that each thread (and each Python thread training
// its own model) has its own. Each use has its own slot, so buffers one call needs at once never
// share memory; a slot is reused only by calls that run one after the other.
#pragma once
#include <cstdint>
#include <vector>

namespace axonal {

enum class Scratch : int {
  bias_partials,    // bias_gradient's per-chunk sums
  columns,          // conv: one chunk's im2col matrix, then its dcols
  column_dW_parts,  // conv: each chunk's share of dW
  direct_input,     // direct conv: the zero-padded x
  direct_work,      // direct conv: dW's per-share sums, or dx's padded dz
  direct_kernel,    // direct conv: the flipped, transposed kernel of dx
  gemm_packed_b,    // own GEMM: one thread's packed group of B panels
  count
};

inline float* scratch(Scratch slot, int64_t floats) {
  thread_local std::vector<float> buffers[static_cast<int>(Scratch::count)];
  std::vector<float>& buffer = buffers[static_cast<int>(slot)];
  if (buffer.size() < static_cast<size_t>(floats)) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

}  // namespace axonal
