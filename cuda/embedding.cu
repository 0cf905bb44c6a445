// Embedding kernels. The forward pass is one thread per output element (grid-stride). The backward
// pass splits the rows of dW among blocks (block b owns rows [b·R, (b+1)·R)) and the D columns among
// a block's threads: a thread zeroes its own elements of dW, then scans every index in order and adds
// dy's column for each lookup of its rows. Each element of dW is written by one thread only, in
// lookup order, so no atomics are needed and the sums are those of cpp/embedding.cpp term for term.
#include "common.cuh"
#include "embedding.cuh"

namespace axonal::cuda {

namespace {

// Row shares of dW in the backward pass: every block scans all M indices (broadcast reads from one
// cache line at a time), so a few hundred blocks keep the GPU busy without multiplying the scans.
constexpr int64_t kRowShares = 256;

// indices (M), W (V, D) -> y (M, D)
__global__ void embedding_forward_kernel(float* y, const int32_t* indices, const float* W, int64_t M, int64_t V,
                                         int64_t D) {
  const int64_t count = M * D, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const int64_t m = e / D, d = e - m * D;
    const int64_t v = indices[m];
    y[e] = (v >= 0 && v < V) ? W[v * D + d] : 0.f;
  }
}

// dy (M, D), indices (M) -> dW (V, D); block b owns rows [b·rows, (b+1)·rows)
__global__ void embedding_backward_kernel(float* dW, const float* dy, const int32_t* indices, int64_t M, int64_t V,
                                          int64_t D, int64_t rows) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * rows;
  const int64_t last = first + rows < V ? first + rows : V;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    for (int64_t v = first; v < last; ++v) dW[v * D + d] = 0.f;
    for (int64_t m = 0; m < M; ++m) {
      const int64_t v = indices[m];
      if (v >= first && v < last) dW[v * D + d] = dW[v * D + d] + dy[m * D + d];
    }
  }
}

}  // namespace

void embedding_forward(float* y, const int32_t* indices, const float* W, int64_t M, int64_t V, int64_t D,
                       cudaStream_t stream) {
  if (M * D == 0) return;
  embedding_forward_kernel<<<blocks_for(M * D), kThreads, 0, stream>>>(y, indices, W, M, V, D);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void embedding_backward(float* dW, const float* dy, const int32_t* indices, int64_t M, int64_t V, int64_t D,
                        cudaStream_t stream) {
  if (V * D == 0) return;
  const int64_t shares = V < kRowShares ? V : kRowShares;
  const int64_t rows = (V + shares - 1) / shares;
  const int64_t blocks = (V + rows - 1) / rows;
  const int threads = D < kThreads ? static_cast<int>((D + kWarp - 1) / kWarp * kWarp) : kThreads;
  embedding_backward_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(dW, dy, indices, M, V, D, rows);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace axonal::cuda
