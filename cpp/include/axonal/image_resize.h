// The geometry of one zero padding or nearest upsampling of images (M, H, W, B), shared by the C++
// kernels (cpp/reshaping.h) and the CUDA ones (cuda/reshaping.cuh). Rows and columns are axes 1 and 2;
// a channels_last batch (N, H, W, C) is (M, B) = (N, C), a channels_first one (N, C, H, W) is
// (M, B) = (N·C, 1), so the same kernels serve both data formats.
#pragma once
#include <cstdint>

namespace axonal {

struct ImageResize {
  int64_t M = 0, H = 0, W = 0, B = 0;                // input (M, H, W, B)
  int64_t top = 0, bottom = 0, left = 0, right = 0;  // zero_pad2d
  int64_t SH = 1, SW = 1;                            // upsample2d: factors (rows, columns)
  int64_t padded_h() const { return top + H + bottom; }
  int64_t padded_w() const { return left + W + right; }
};

}  // namespace axonal
