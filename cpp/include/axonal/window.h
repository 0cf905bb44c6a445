// The geometry of one convolution or pooling window sweep over channels_last images, shared by the
// C++ kernels (cpp/conv.h, cpp/pooling.h) and the CUDA ones (cuda/conv.cuh, cuda/pooling.cuh).
#pragma once
#include <cstdint>

namespace axonal {

struct Window {
  int64_t N, H, W, C;           // input (N, H, W, C)
  int64_t KH, KW;               // window
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_left;    // bottom/right padding only shows in OH/OW
  int64_t OH, OW;               // output
};

}  // namespace axonal
