// Image reshaping kernels: one thread per output element (grid-stride), each computing where its value
// comes from. The upsampling backward has one thread per dx element that adds its block in row-major
// order from the (0, 0) entry: the order of cpp/reshaping.cpp and the reference, so the same bits.
#include "common.cuh"
#include "reshaping.cuh"

namespace axonal::cuda {

void zero_pad2d_forward(float* y, const float* x, const ImageResize& g, cudaStream_t stream) {
  const int64_t PH = g.padded_h(), PW = g.padded_w(), B = g.B, H = g.H, W = g.W, top = g.top, left = g.left;
  // y[m, r, c, b] = x[m, r - top, c - left, b] inside, 0 outside
  launch_elementwise(g.M * PH * PW * B, stream, [=] __device__(int64_t e) {
    const int64_t b = e % B, pixel = e / B, c = pixel % PW - left, mr = pixel / PW, r = mr % PH - top, m = mr / PH;
    y[e] = (r >= 0 && r < H && c >= 0 && c < W) ? x[((m * H + r) * W + c) * B + b] : 0.f;
  });
}

void zero_pad2d_backward(float* dx, const float* dy, const ImageResize& g, cudaStream_t stream) {
  const int64_t PH = g.padded_h(), PW = g.padded_w(), B = g.B, H = g.H, W = g.W, top = g.top, left = g.left;
  // dx[m, h, w, b] = dy[m, h + top, w + left, b]
  launch_elementwise(g.M * H * W * B, stream, [=] __device__(int64_t e) {
    const int64_t b = e % B, pixel = e / B, w = pixel % W, mh = pixel / W, h = mh % H, m = mh / H;
    dx[e] = dy[((m * PH + h + top) * PW + w + left) * B + b];
  });
}

void upsample2d_forward(float* y, const float* x, const ImageResize& g, cudaStream_t stream) {
  const int64_t OH = g.H * g.SH, OW = g.W * g.SW, B = g.B, H = g.H, W = g.W, SH = g.SH, SW = g.SW;
  // y[m, r, c, b] = x[m, r / SH, c / SW, b]
  launch_elementwise(g.M * OH * OW * B, stream, [=] __device__(int64_t e) {
    const int64_t b = e % B, pixel = e / B, c = pixel % OW, mr = pixel / OW, r = mr % OH, m = mr / OH;
    y[e] = x[((m * H + r / SH) * W + c / SW) * B + b];
  });
}

void upsample2d_backward(float* dx, const float* dy, const ImageResize& g, cudaStream_t stream) {
  const int64_t OH = g.H * g.SH, OW = g.W * g.SW, B = g.B, H = g.H, W = g.W, SH = g.SH, SW = g.SW;
  launch_elementwise(g.M * H * W * B, stream, [=] __device__(int64_t e) {
    const int64_t b = e % B, pixel = e / B, w = pixel % W, mh = pixel / W, h = mh % H, m = mh / H;
    const float* block = dy + ((m * OH + h * SH) * OW + w * SW) * B + b;
    float sum = block[0];
    for (int64_t i = 0; i < SH; ++i)
      for (int64_t j = 0; j < SW; ++j)
        if (i != 0 || j != 0) sum += block[(i * OW + j) * B];
    dx[e] = sum;
  });
}

void transpose_samples(float* y, const float* x, int64_t N, int64_t R, int64_t C, cudaStream_t stream) {
  // y[n, c, r] = x[n, r, c]: one thread per output element (a copy, so exact in any order)
  launch_elementwise(N * R * C, stream, [=] __device__(int64_t e) {
    const int64_t r = e % R, nc = e / R, c = nc % C, n = nc / C;
    y[e] = x[(n * R + r) * C + c];
  });
}

}  // namespace axonal::cuda
