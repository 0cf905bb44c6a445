// Pooling kernels. Forward: one thread per output element scans its window row-major. Backward: no
// float atomics. Average pooling is a gather (each input adds the shares of the windows covering it,
// in ascending window order, the order cpu adds them). Max pooling's backward gets no geometry
// (its signature is dx, dy, argmax), so it cannot find the windows covering an input; instead one
// thread owns an (image, channel) plane of dx and adds the plane's dy at their argmax in output
// order, which is again cpu's order: no two threads ever write one element.
#include <cmath>

#include "common.cuh"
#include "pooling.cuh"

namespace axonal::cuda {

namespace {

// The unpadded part [h0, h1) × [w0, w1) of the window of output (oh, ow); never empty, as the
// bindings keep every padding below the window size.
struct Span {
  int64_t h0, h1, w0, w1;
  __device__ int64_t count() const { return (h1 - h0) * (w1 - w0); }
};

__device__ __forceinline__ Span window_span(const Window& g, int64_t oh, int64_t ow) {
  const int64_t top = oh * g.stride_h - g.pad_top, left = ow * g.stride_w - g.pad_left;
  return {top > 0 ? top : 0, top + g.KH < g.H ? top + g.KH : g.H, left > 0 ? left : 0,
          left + g.KW < g.W ? left + g.KW : g.W};
}

// Output element i of (N, OH, OW, C): its image, window row, window column and channel.
struct OutputIndex {
  int64_t n, oh, ow, c;
};

__device__ __forceinline__ OutputIndex output_index(const Window& g, int64_t i) {
  return {i / (g.C * g.OW * g.OH), (i / (g.C * g.OW)) % g.OH, (i / g.C) % g.OW, i % g.C};
}

// x (N, H, W, C) -> y, argmax (N, OH, OW, C). From −inf with a strict >: the first maximum in
// row-major order wins ties, NaN never wins (its comparisons are false), and a window of only NaN or
// −inf gives −inf at its first unpadded input, as the reference and cpu do.
__global__ void max_pool_forward_kernel(float* y, int32_t* argmax, const float* x, Window g, int64_t outputs) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outputs; i += stride) {
    const OutputIndex o = output_index(g, i);
    const Span s = window_span(g, o.oh, o.ow);
    const float* image = x + o.n * g.H * g.W * g.C + o.c;
    float best = -INFINITY;
    int64_t where = s.h0 * g.W + s.w0;
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t w = s.w0; w < s.w1; ++w) {
        const float candidate = image[(h * g.W + w) * g.C];
        if (candidate > best) {
          best = candidate;
          where = h * g.W + w;
        }
      }
    y[i] = best;
    argmax[i] = static_cast<int32_t>(where);  // < H·W, which the binding keeps within int32
  }
}

// dy, argmax (N, OH, OW, C) -> dx (N, H, W, C). Thread t owns plane (n, c) = (t / C, t % C): zeros
// it, then adds dy in output order at each argmax; consecutive threads touch consecutive channels
// (coalesced). An index outside [0, H·W) is never written through: the plane becomes NaN instead.
__global__ void max_pool_backward_kernel(float* dx, const float* dy, const int32_t* argmax, Window g, int64_t planes) {
  const int64_t pixels = g.H * g.W, outputs = g.OH * g.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < planes; t += stride) {
    const int64_t n = t / g.C, c = t % g.C;
    float* plane = dx + n * pixels * g.C + c;
    const float* grad = dy + n * outputs * g.C + c;
    const int32_t* from = argmax + n * outputs * g.C + c;
    for (int64_t p = 0; p < pixels; ++p) plane[p * g.C] = 0.f;
    bool stray = false;
    for (int64_t p = 0; p < outputs; ++p) {
      const int64_t at = from[p * g.C];
      if (at >= 0 && at < pixels) plane[at * g.C] += grad[p * g.C];
      else stray = true;
    }
    if (stray)
      for (int64_t p = 0; p < pixels; ++p) plane[p * g.C] = NAN;
  }
}

// x (N, H, W, C) -> y (N, OH, OW, C) = the sum of the window's unpadded inputs (row-major) times
// 1 / their count, as cpu rounds it.
__global__ void avg_pool_forward_kernel(float* y, const float* x, Window g, int64_t outputs) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outputs; i += stride) {
    const OutputIndex o = output_index(g, i);
    const Span s = window_span(g, o.oh, o.ow);
    const float* image = x + o.n * g.H * g.W * g.C + o.c;
    float sum = 0.f;
    for (int64_t h = s.h0; h < s.h1; ++h)
      for (int64_t w = s.w0; w < s.w1; ++w) sum += image[(h * g.W + w) * g.C];
    y[i] = sum * (1.f / static_cast<float>(s.count()));
  }
}

// dy (N, OH, OW, C) -> dx (N, H, W, C): thread per input element (n, h, w, c) adds dy · 1/count of
// every window covering it, windows in ascending (oh, ow) order; zero where no window reaches.
__global__ void avg_pool_backward_kernel(float* dx, const float* dy, Window g, int64_t inputs) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < inputs; i += stride) {
    const int64_t c = i % g.C, w = (i / g.C) % g.W, h = (i / (g.C * g.W)) % g.H, n = i / (g.C * g.W * g.H);
    float sum = 0.f;
    for_each_covering_window(g, h, w, [&](int64_t oh, int64_t ow) {
      const float inv = 1.f / static_cast<float>(window_span(g, oh, ow).count());
      sum += dy[((n * g.OH + oh) * g.OW + ow) * g.C + c] * inv;
    });
    dx[i] = sum;
  }
}

}  // namespace

void max_pool2d_forward(float* y, int32_t* argmax, const float* x, const Window& g, cudaStream_t stream) {
  const int64_t outputs = g.N * g.OH * g.OW * g.C;
  if (outputs <= 0) return;
  max_pool_forward_kernel<<<blocks_for(outputs), kThreads, 0, stream>>>(y, argmax, x, g, outputs);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, const Window& g, cudaStream_t stream) {
  const int64_t planes = g.N * g.C;
  if (planes <= 0 || g.H * g.W <= 0) return;
  max_pool_backward_kernel<<<blocks_for(planes), kThreads, 0, stream>>>(dx, dy, argmax, g, planes);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void avg_pool2d_forward(float* y, const float* x, const Window& g, cudaStream_t stream) {
  const int64_t outputs = g.N * g.OH * g.OW * g.C;
  if (outputs <= 0) return;
  avg_pool_forward_kernel<<<blocks_for(outputs), kThreads, 0, stream>>>(y, x, g, outputs);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void avg_pool2d_backward(float* dx, const float* dy, const Window& g, cudaStream_t stream) {
  const int64_t inputs = g.N * g.H * g.W * g.C;
  if (inputs <= 0) return;
  avg_pool_backward_kernel<<<blocks_for(inputs), kThreads, 0, stream>>>(dx, dy, g, inputs);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace axonal::cuda
