// Conv2D op family on the GPU, channels_last: y = act(conv(x, W) + b). im2col into a per-stream
// workspace, one cuBLAS GEMM per chunk of images, the bias+activation epilogue of the dense family;
// backward: activation backward, two GEMMs and a col2im written as a gather (no atomics). Same
// signatures as cpp/conv.h plus the stream every call is queued on.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/activation_functors.h"
#include "axonal/window.h"

namespace axonal::cuda {

// x (N, H, W, C), Wk (KH, KW, C, F), b (F) or null -> y (N, OH, OW, F)
void conv2d_forward(float* y, const float* x, const float* Wk, const float* b, const Window& g, int64_t F, Act act,
                    float alpha, cudaStream_t stream);

// dy, y (N, OH, OW, F), x (N, H, W, C), Wk (KH, KW, C, F) -> dz (N, OH, OW, F) = dy ⊙ act'(y),
// dW (KH, KW, C, F) or null (frozen), db (F) or null, dx (N, H, W, C) or null
void conv2d_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* Wk,
                     const float* y, const Window& g, int64_t F, Act act, float alpha, cudaStream_t stream);

// Floats of the column matrix one chunk of images may hold: the batch is cut into chunks of whole
// images below this (one image at least), so the workspace stays bounded whatever the batch size.
constexpr int64_t kConvColumnBudget = int64_t{1} << 24;  // 64 MiB

#if defined(__CUDACC__)
// The windows along one axis that cover input position p, first and last output index (inclusive;
// first > last when none does): window o covers p when o·stride − pad ≤ p < o·stride − pad + size.
__device__ __forceinline__ void covering(int64_t p, int64_t size, int64_t stride, int64_t pad, int64_t outputs,
                                         int64_t* first, int64_t* last) {
  const int64_t lowest = p + pad - size + 1;  // o·stride ≥ lowest
  *first = lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
  const int64_t highest = (p + pad) / stride;  // p + pad ≥ 0: truncation is the floor
  *last = highest < outputs - 1 ? highest : outputs - 1;
}

// visit(oh, ow) for every window that covers input pixel (h, w), in ascending (oh, ow) order: the
// gathers of col2im and average pooling's backward, which add in the order the cpu kernels do.
template <typename Visit>
__device__ __forceinline__ void for_each_covering_window(const Window& g, int64_t h, int64_t w, Visit visit) {
  int64_t oh0, oh1, ow0, ow1;
  covering(h, g.KH, g.stride_h, g.pad_top, g.OH, &oh0, &oh1);
  covering(w, g.KW, g.stride_w, g.pad_left, g.OW, &ow0, &ow1);
  for (int64_t oh = oh0; oh <= oh1; ++oh)
    for (int64_t ow = ow0; ow <= ow1; ++ow) visit(oh, ow);
}
#endif

}  // namespace axonal::cuda
