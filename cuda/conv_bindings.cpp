// The convolution and pooling part of axonal._cuda (conv.cuh, pooling.cuh), with the argument names,
// checks and error texts of the cpu backend's bindings (cpp/bindings.cpp), plus the keyword `stream`.
// Everything is checked before anything is queued; then the GIL is released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <utility>

#include "checks.h"
#include "conv.cuh"
#include "pooling.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

Act parse_activation(const ArgCheck& check, const std::string& name);               // activation_bindings.cpp
void check_gemm_sizes(const ArgCheck& check, std::initializer_list<int64_t> sizes);  // bindings.cpp

namespace {

using Strides = std::array<int64_t, 2>;
using Padding = std::array<int64_t, 4>;

// The window sweep over the images `x_name` (N, H, W, C), after checking that strides are positive,
// that no padding reaches a whole window (so every window holds an input) and that the window fits
// the padded image: cpu's window_geometry, message for message.
Window window_of(const ArgCheck& check, py::handle x, int64_t KH, int64_t KW, Strides strides, Padding padding,
                 const char* x_name = "x") {
  const Shape xs = check.shape(x, x_name, 4);
  const auto [top, bottom, left, right] = padding;
  if (strides[0] < 1 || strides[1] < 1)
    check.fail("strides must be positive; received (" + std::to_string(strides[0]) + ", " +
               std::to_string(strides[1]) + ").");
  if (KH < 1 || KW < 1) check.fail("the window must be at least 1x1.");
  if (top < 0 || bottom < 0 || left < 0 || right < 0 || top >= KH || bottom >= KH || left >= KW || right >= KW)
    check.fail("each padding must be in [0, window size); received (top, bottom, left, right) = (" +
               std::to_string(top) + ", " + std::to_string(bottom) + ", " + std::to_string(left) + ", " +
               std::to_string(right) + ") for a " + std::to_string(KH) + "x" + std::to_string(KW) + " window.");
  Window g{xs[0], xs[1], xs[2], xs[3], KH, KW, strides[0], strides[1], top, left, 0, 0};
  if (g.H + top + bottom < KH || g.W + left + right < KW)
    check.fail("a " + std::to_string(KH) + "x" + std::to_string(KW) + " window does not fit in the padded " +
               std::to_string(g.H + top + bottom) + "x" + std::to_string(g.W + left + right) +
               " image; use padding='same' or a smaller window.");
  g.OH = (g.H + top + bottom - KH) / g.stride_h + 1;
  g.OW = (g.W + left + right - KW) / g.stride_w + 1;
  return g;
}

// Checks shared by the pooling ops; returns the sweep of a pool over x.
Window pool_window(const ArgCheck& check, py::handle x, Strides pool, Strides strides, Padding padding,
                   const char* x_name = "x") {
  if (pool[0] < 1 || pool[1] < 1)
    check.fail("pool size must be positive; received (" + std::to_string(pool[0]) + ", " + std::to_string(pool[1]) +
               ").");
  return window_of(check, x, pool[0], pool[1], strides, padding, x_name);
}

// The kernel (KH, KW, C, F) of a convolution over x, its window and F.
Window conv_window(const ArgCheck& check, py::handle x, py::handle W, Strides strides, Padding padding, Shape* ws) {
  *ws = check.shape(W, "W", 4);
  const Window g = window_of(check, x, (*ws)[0], (*ws)[1], strides, padding);
  if ((*ws)[2] != g.C) check.fail("x has " + std::to_string(g.C) + " channels but W is " + shape_text(*ws) + ".");
  // cuBLAS takes int sizes: a chunk's GEMM has at most max(one image's OH·OW, the column budget) rows.
  check_gemm_sizes(check, {g.OH * g.OW, g.KH * g.KW * g.C, (*ws)[3]});
  return g;
}

void conv2d_forward_py(py::handle y, py::handle x, py::handle W, py::handle b, Strides strides, Padding padding,
                       const std::string& activation, float alpha, uintptr_t stream) {
  ArgCheck check("conv2d_forward");
  Shape ws;
  const Window g = conv_window(check, x, W, strides, padding, &ws);
  const int64_t F = ws[3];
  const Act act = parse_activation(check, activation);
  float* y_ = check.output<float>(y, "y", {g.N, g.OH, g.OW, F});
  const float* x_ = check.input<float>(x, "x", {g.N, g.H, g.W, g.C});
  const float* W_ = check.input<float>(W, "W", ws);
  const float* b_ = check.optional_input<float>(b, "b", {F});
  check.check_overlaps();
  py::gil_scoped_release release;
  conv2d_forward(y_, x_, W_, b_, g, F, act, alpha, as_stream(stream));
}

void conv2d_backward_py(py::handle dx, py::handle dW, py::handle db, py::handle dz, py::handle dy, py::handle x,
                        py::handle W, py::handle y, Strides strides, Padding padding, const std::string& activation,
                        float alpha, uintptr_t stream) {
  ArgCheck check("conv2d_backward");
  Shape ws;
  const Window g = conv_window(check, x, W, strides, padding, &ws);
  const int64_t F = ws[3];
  const Act act = parse_activation(check, activation);
  const Shape out_shape{g.N, g.OH, g.OW, F};
  float* dx_ = check.optional_output<float>(dx, "dx", {g.N, g.H, g.W, g.C});
  float* dW_ = check.optional_output<float>(dW, "dW", ws);
  float* db_ = check.optional_output<float>(db, "db", {F});
  float* dz_ = check.output<float>(dz, "dz", out_shape);
  const float* dy_ = check.input<float>(dy, "dy", out_shape);
  const float* x_ = check.input<float>(x, "x", {g.N, g.H, g.W, g.C});
  const float* W_ = check.input<float>(W, "W", ws);
  const float* y_ = check.input<float>(y, "y", out_shape);
  // dz may overwrite dy (computed from it element by element), as in cpu; softmax reads a whole row.
  if (act == Act::softmax) check.check_overlaps();
  else check.check_overlaps({{"dz", "dy"}});
  py::gil_scoped_release release;
  conv2d_backward(dx_, dW_, db_, dz_, dy_, x_, W_, y_, g, F, act, alpha, as_stream(stream));
}

void max_pool2d_forward_py(py::handle y, py::handle argmax, py::handle x, Strides pool, Strides strides,
                           Padding padding, uintptr_t stream) {
  ArgCheck check("max_pool2d_forward");
  const Window g = pool_window(check, x, pool, strides, padding);
  if (g.H * g.W > INT32_MAX)
    check.fail("a " + std::to_string(g.H) + "x" + std::to_string(g.W) +
               " image has more pixels than an int32 argmax can index.");
  const Shape out_shape{g.N, g.OH, g.OW, g.C};
  float* y_ = check.output<float>(y, "y", out_shape);
  int32_t* argmax_ = check.output<int32_t>(argmax, "argmax", out_shape);
  const float* x_ = check.input<float>(x, "x", {g.N, g.H, g.W, g.C});
  check.check_overlaps();
  py::gil_scoped_release release;
  max_pool2d_forward(y_, argmax_, x_, g, as_stream(stream));
}

void max_pool2d_backward_py(py::handle dx, py::handle dy, py::handle argmax, uintptr_t stream) {
  ArgCheck check("max_pool2d_backward");
  const Shape ds = check.shape(dy, "dy", 4), xs = check.shape(dx, "dx", 4);
  if (ds[0] != xs[0] || ds[3] != xs[3])
    check.fail("dy " + shape_text(ds) + " and dx " + shape_text(xs) + " differ in batch or channels.");
  float* dx_ = check.output<float>(dx, "dx", xs);
  const float* dy_ = check.input<float>(dy, "dy", ds);
  const int32_t* argmax_ = check.input<int32_t>(argmax, "argmax", ds);
  // argmax is on the device: its range is not checked here (that would copy it and wait); the kernel
  // never writes through an index outside the image and marks that plane of dx NaN instead.
  check.check_overlaps();
  const Window g{xs[0], xs[1], xs[2], xs[3], 1, 1, 1, 1, 0, 0, ds[1], ds[2]};
  py::gil_scoped_release release;
  max_pool2d_backward(dx_, dy_, argmax_, g, as_stream(stream));
}

void avg_pool2d_forward_py(py::handle y, py::handle x, Strides pool, Strides strides, Padding padding,
                           uintptr_t stream) {
  ArgCheck check("avg_pool2d_forward");
  const Window g = pool_window(check, x, pool, strides, padding);
  float* y_ = check.output<float>(y, "y", {g.N, g.OH, g.OW, g.C});
  const float* x_ = check.input<float>(x, "x", {g.N, g.H, g.W, g.C});
  check.check_overlaps();
  py::gil_scoped_release release;
  avg_pool2d_forward(y_, x_, g, as_stream(stream));
}

void avg_pool2d_backward_py(py::handle dx, py::handle dy, Strides pool, Strides strides, Padding padding,
                            uintptr_t stream) {
  ArgCheck check("avg_pool2d_backward");
  const Window g = pool_window(check, dx, pool, strides, padding, "dx");
  float* dx_ = check.output<float>(dx, "dx", {g.N, g.H, g.W, g.C});
  const float* dy_ = check.input<float>(dy, "dy", {g.N, g.OH, g.OW, g.C});
  check.check_overlaps();
  py::gil_scoped_release release;
  avg_pool2d_backward(dx_, dy_, g, as_stream(stream));
}

}  // namespace

void bind_conv(py::module_& m, const py::arg_v& stream) {
  m.def("conv2d_forward", &conv2d_forward_py, arg("y"), arg("x"), arg("W"), arg("b").none(true), arg("strides"),
        arg("padding"), arg("activation"), arg("alpha"), stream);
  m.def("conv2d_backward", &conv2d_backward_py, arg("dx").none(true), arg("dW").none(true), arg("db").none(true),
        arg("dz"), arg("dy"), arg("x"), arg("W"), arg("y"), arg("strides"), arg("padding"), arg("activation"),
        arg("alpha"), stream);
  m.def("max_pool2d_forward", &max_pool2d_forward_py, arg("y"), arg("argmax"), arg("x"), arg("pool"), arg("strides"),
        arg("padding"), stream);
  m.def("max_pool2d_backward", &max_pool2d_backward_py, arg("dx"), arg("dy"), arg("argmax"), stream,
        "argmax is not range-checked (it stays on the device): an index outside the image makes its "
        "(image, channel) plane of dx NaN.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, arg("y"), arg("x"), arg("pool"), arg("strides"),
        arg("padding"), stream);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, arg("dx"), arg("dy"), arg("pool"), arg("strides"),
        arg("padding"), stream);
}

}  // namespace axonal::cuda
