// Threading policy for the elementwise and row kernels: OpenMP, but only above a work threshold,
// because waking a thread team costs a few microseconds and most tensors of a small model are tiny.
#pragma once
#include <cstdint>

namespace axonal {

// Elements (or row-elements) below which a kernel stays on the calling thread.
constexpr int64_t kParallelMinWork = 1 << 15;

// Fixed chunk count for reductions: partial sums are formed per chunk and added in chunk order,
// so a reduction gives the same bits whatever the number of threads.
constexpr int64_t kReductionChunks = 64;

}  // namespace axonal
