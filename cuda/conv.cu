// Conv2D kernels: im2col into a workspace, cuBLAS GEMMs (dense.cu's gemm_row_major),
// the dense family's bias+activation epilogue and bias gradient, and col2im as a gather: each input
// pixel adds the column cells that read it in a fixed order, so dx has the same bits on every run
// and no float atomics are needed. The batch is cut into chunks of whole images whose column matrix
// fits kConvColumnBudget, so the workspace is bounded; the cut depends on the shapes alone.
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "activations.cuh"
#include "common.cuh"
#include "conv.cuh"
#include "dense.cuh"

namespace axonal::cuda {

namespace {

// The column workspace of (device, stream, host thread), grown on demand. The thread is part of the
// key because one op is several launches: two threads queueing convolutions on one stream would
// otherwise interleave their im2col and GEMM on one buffer. Growth is stream-ordered
// (cudaFreeAsync/cudaMallocAsync on the op's stream): the old buffer is released after the work
// queued before it, and nothing waits for the device. Steady state allocates nothing: run a layer
// once with its largest shapes before capturing it in a CUDA graph, so that the graph allocates nothing.
float* workspace(int64_t floats, cudaStream_t stream) {
  struct Buffer {
    float* data = nullptr;
    int64_t floats = 0;
  };
  static std::mutex mutex;
  static std::map<std::tuple<int, uintptr_t, std::thread::id>, Buffer> buffers;
  if (floats <= 0) return nullptr;
  int device = 0;
  AXONAL_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  Buffer& buffer = buffers[{device, reinterpret_cast<uintptr_t>(stream), std::this_thread::get_id()}];
  if (buffer.floats < floats) {
    if (buffer.data) AXONAL_CUDA_CHECK(cudaFreeAsync(buffer.data, stream));
    buffer = {};
    void* memory = nullptr;
    AXONAL_CUDA_CHECK(cudaMallocAsync(&memory, sizeof(float) * floats, stream));
    buffer = {static_cast<float*>(memory), floats};
  }
  return buffer.data;
}

// x (N, H, W, C) -> cols (rows, K), rows = (n − n0, oh, ow) for images [n0, n1), K = (kh, kw, c):
// the window of output (oh, ow) read row-major, zeros over the padding, so that the kernel
// (KH, KW, C, F) read as (K, F) multiplies it. One thread per cell; consecutive threads read
// consecutive channels (coalesced).
__global__ void im2col_kernel(float* cols, const float* x, Window g, int64_t n0, int64_t cells) {
  const int64_t K = g.KH * g.KW * g.C;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < cells; i += stride) {
    const int64_t k = i % K, row = i / K;
    const int64_t c = k % g.C, kw = (k / g.C) % g.KW, kh = k / (g.C * g.KW);
    const int64_t ow = row % g.OW, oh = (row / g.OW) % g.OH, n = n0 + row / (g.OW * g.OH);
    const int64_t h = oh * g.stride_h - g.pad_top + kh, w = ow * g.stride_w - g.pad_left + kw;
    const bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
    cols[i] = inside ? x[((n * g.H + h) * g.W + w) * g.C + c] : 0.f;
  }
}

// dcols (rows, K) of images [n0, n1) -> dx (N, H, W, C) for those images: the adjoint of im2col as
// a gather. Thread per input cell (n, h, w, c) sums the cells of the windows covering it, windows in
// ascending (oh, ow) order (the order cpu's col2im adds them), and overwrites dx, zero where no
// window reaches (rows or columns a stride skips).
__global__ void col2im_kernel(float* dx, const float* dcols, Window g, int64_t n0, int64_t cells) {
  const int64_t K = g.KH * g.KW * g.C;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < cells; i += stride) {
    const int64_t c = i % g.C, w = (i / g.C) % g.W, h = (i / (g.C * g.W)) % g.H, n = i / (g.C * g.W * g.H);
    float sum = 0.f;
    for_each_covering_window(g, h, w, [&](int64_t oh, int64_t ow) {
      const int64_t kh = h + g.pad_top - oh * g.stride_h, kw = w + g.pad_left - ow * g.stride_w;
      sum += dcols[((n * g.OH + oh) * g.OW + ow) * K + (kh * g.KW + kw) * g.C + c];
    });
    dx[n0 * g.H * g.W * g.C + i] = sum;
  }
}

void im2col(float* cols, const float* x, const Window& g, int64_t n0, int64_t n1, cudaStream_t stream) {
  const int64_t cells = (n1 - n0) * g.OH * g.OW * g.KH * g.KW * g.C;
  if (cells <= 0) return;
  im2col_kernel<<<blocks_for(cells), kThreads, 0, stream>>>(cols, x, g, n0, cells);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void col2im(float* dx, const float* dcols, const Window& g, int64_t n0, int64_t n1, cudaStream_t stream) {
  const int64_t cells = (n1 - n0) * g.H * g.W * g.C;
  if (cells <= 0) return;
  col2im_kernel<<<blocks_for(cells), kThreads, 0, stream>>>(dx, dcols, g, n0, cells);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

struct Chunking {
  int64_t images, count;  // images per chunk, number of chunks
};

// Whole images per chunk so that a chunk's columns fit kConvColumnBudget (one image at least).
Chunking chunking(const Window& g) {
  const int64_t per_image = g.OH * g.OW * g.KH * g.KW * g.C;
  int64_t images = per_image >= kConvColumnBudget ? 1 : kConvColumnBudget / (per_image > 0 ? per_image : 1);
  if (images > g.N) images = g.N;
  return {images, images > 0 ? (g.N + images - 1) / images : 0};
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                    float alpha, cudaStream_t stream) {
  const int64_t K = g.KH * g.KW * g.C, pixels = g.OH * g.OW;
  const Chunking chunks = chunking(g);
  float* cols = workspace(chunks.images * pixels * K, stream);
  for (int64_t c = 0; c < chunks.count; ++c) {
    const int64_t n0 = c * chunks.images, n1 = n0 + chunks.images < g.N ? n0 + chunks.images : g.N;
    im2col(cols, x, g, n0, n1, stream);
    gemm_row_major(false, false, (n1 - n0) * pixels, F, K, cols, Wk, 0.f, y + n0 * pixels * F, stream);
  }
  bias_activation_inplace(y, b, g.N * pixels, F, act, alpha, stream);  // per pixel over F, as dense
}

void conv2d_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* Wk,
                     const float* y, const Window& g, int64_t F, Act act, float alpha, cudaStream_t stream) {
  const int64_t K = g.KH * g.KW * g.C, pixels = g.OH * g.OW;
  activation_backward(dz, dy, y, g.N * pixels, F, act, alpha, stream);
  if (db) bias_gradient(db, dz, g.N * pixels, F, stream);  // fixed-order column sum of dense.cu
  if (!dW && !dx) return;
  if (dW && g.N == 0 && K * F > 0)  // no chunk runs: an empty batch's gradient is zero
    AXONAL_CUDA_CHECK(cudaMemsetAsync(dW, 0, sizeof(float) * K * F, stream));
  const Chunking chunks = chunking(g);
  // One buffer: the columns of x for dW, then (once dW's GEMM has read them, in stream order) dcols.
  float* cols = workspace(chunks.images * pixels * K, stream);
  for (int64_t c = 0; c < chunks.count; ++c) {
    const int64_t n0 = c * chunks.images, n1 = n0 + chunks.images < g.N ? n0 + chunks.images : g.N;
    const int64_t rows = (n1 - n0) * pixels;
    const float* dz_chunk = dz + n0 * pixels * F;
    if (dW) {
      im2col(cols, x, g, n0, n1, stream);
      // dW = Σ over chunks of colsᵀ dz, the chunks added in order (beta 1 after the first).
      gemm_row_major(true, false, K, F, rows, cols, dz_chunk, c == 0 ? 0.f : 1.f, dW, stream);
    }
    if (dx) {
      gemm_row_major(false, true, rows, K, F, dz_chunk, Wk, 0.f, cols, stream);  // dcols = dz Wᵀ
      col2im(dx, cols, g, n0, n1, stream);
    }
  }
}

}  // namespace axonal::cuda
