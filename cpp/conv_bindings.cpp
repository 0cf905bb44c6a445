// axonal._native's convolution and pooling ops (conv2d, max/avg pooling): checked like every binding
// (checks.h), then the kernels of conv.h and pooling.h with the GIL released. window_geometry() is
// also what the training loop's binding checks a layer's window with.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <utility>

#include "checks.h"
#include "conv.h"
#include "pooling.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

Act parse_activation(const char* op, const std::string& name);  // activation_bindings.cpp

// The window sweep of a conv/pool op over images xs (N, H, W, C), after checking that strides are
// positive, that no padding reaches a whole window (so every window holds an input) and that the
// output is not empty. Also used by the training loop's binding.
Window window_geometry(const char* op, const Shape& xs, int64_t KH, int64_t KW, std::array<int64_t, 2> strides,
                       std::array<int64_t, 4> padding) {
  const auto [top, bottom, left, right] = padding;
  if (strides[0] < 1 || strides[1] < 1)
    fail(op, "strides must be positive; received (" + std::to_string(strides[0]) + ", " + std::to_string(strides[1]) + ").");
  if (KH < 1 || KW < 1) fail(op, "the window must be at least 1x1.");
  if (top < 0 || bottom < 0 || left < 0 || right < 0 || top >= KH || bottom >= KH || left >= KW || right >= KW)
    fail(op, "each padding must be in [0, window size); received (top, bottom, left, right) = (" + std::to_string(top) +
                 ", " + std::to_string(bottom) + ", " + std::to_string(left) + ", " + std::to_string(right) +
                 ") for a " + std::to_string(KH) + "x" + std::to_string(KW) + " window.");
  Window g{xs[0], xs[1], xs[2], xs[3], KH, KW, strides[0], strides[1], top, left, 0, 0};
  g.OH = (g.H + top + bottom - KH) / g.stride_h + 1;
  g.OW = (g.W + left + right - KW) / g.stride_w + 1;
  if (g.H + top + bottom < KH || g.W + left + right < KW)
    fail(op, "a " + std::to_string(KH) + "x" + std::to_string(KW) + " window does not fit in the padded " +
                 std::to_string(g.H + top + bottom) + "x" + std::to_string(g.W + left + right) + " image; use padding='same' or a smaller window.");
  return g;
}

namespace {

Window window_of(const char* op, py::handle x, int64_t KH, int64_t KW, std::array<int64_t, 2> strides,
                 std::array<int64_t, 4> padding, const char* x_name = "x") {
  return window_geometry(op, shape_of(x, op, x_name, 4), KH, KW, strides, padding);
}

void conv2d_forward_py(py::handle y, py::handle x, py::handle W, py::handle b, std::array<int64_t, 2> strides,
                       std::array<int64_t, 4> padding, const std::string& activation, float alpha) {
  const char* op = "conv2d_forward";
  const Shape ws = shape_of(W, op, "W", 4);
  const Window g = window_of(op, x, ws[0], ws[1], strides, padding);
  const int64_t F = ws[3];
  if (ws[2] != g.C) fail(op, "x has " + std::to_string(g.C) + " channels but W is " + shape_text(ws) + ".");
  const Act act = parse_activation(op, activation);
  float* y_ = checked_data<float>(y, op, "y", {g.N, g.OH, g.OW, F}, true);
  const float* x_ = checked_data<float>(x, op, "x", {g.N, g.H, g.W, g.C}, false);
  const float* W_ = checked_data<float>(W, op, "W", ws, false);
  const float* b_ = optional_data<float>(b, op, "b", {F}, false);
  for (auto [name, in] : {std::pair{"x", x}, {"W", W}, {"b", b}}) check_no_overlap(op, "y", y, name, in, false);
  KernelScope release;
  conv2d_forward(y_, x_, W_, b_, g, F, act, alpha);
}

void conv2d_backward_py(py::handle dx, py::handle dW, py::handle db, py::handle dz, py::handle dy, py::handle x,
                        py::handle W, py::handle y, std::array<int64_t, 2> strides, std::array<int64_t, 4> padding,
                        const std::string& activation, float alpha) {
  const char* op = "conv2d_backward";
  const Shape ws = shape_of(W, op, "W", 4);
  const Window g = window_of(op, x, ws[0], ws[1], strides, padding);
  const int64_t F = ws[3];
  if (ws[2] != g.C) fail(op, "x has " + std::to_string(g.C) + " channels but W is " + shape_text(ws) + ".");
  const Act act = parse_activation(op, activation);
  const Shape out_shape{g.N, g.OH, g.OW, F};
  float* dx_ = optional_data<float>(dx, op, "dx", {g.N, g.H, g.W, g.C}, true);
  float* dW_ = optional_data<float>(dW, op, "dW", ws, true);
  float* db_ = optional_data<float>(db, op, "db", {F}, true);
  float* dz_ = checked_data<float>(dz, op, "dz", out_shape, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", out_shape, false);
  const float* x_ = checked_data<float>(x, op, "x", {g.N, g.H, g.W, g.C}, false);
  const float* W_ = checked_data<float>(W, op, "W", ws, false);
  const float* y_ = checked_data<float>(y, op, "y", out_shape, false);
  check_no_overlap(op, "dz", dz, "dy", dy, act != Act::softmax);
  for (auto [name, out] : {std::pair{"dx", dx}, {"dW", dW}, {"db", db}, {"dz", dz}})
    for (auto [in_name, in] : {std::pair{"x", x}, {"W", W}, {"y", y}}) check_no_overlap(op, name, out, in_name, in, false);
  check_outputs_apart(op, {{"dx", dx}, {"dW", dW}, {"db", db}, {"dz", dz}});
  for (auto [name, out] : {std::pair{"dx", dx}, {"dW", dW}, {"db", db}}) check_no_overlap(op, name, out, "dy", dy, false);
  KernelScope release;
  conv2d_backward(dx_, dW_, db_, dz_, dy_, x_, W_, y_, g, F, act, alpha);
}

// Checks shared by the pooling ops; returns the sweep of a pool over x.
Window pool_window(const char* op, py::handle x, std::array<int64_t, 2> pool, std::array<int64_t, 2> strides,
                   std::array<int64_t, 4> padding, const char* x_name = "x") {
  if (pool[0] < 1 || pool[1] < 1)
    fail(op, "pool size must be positive; received (" + std::to_string(pool[0]) + ", " + std::to_string(pool[1]) + ").");
  return window_of(op, x, pool[0], pool[1], strides, padding, x_name);
}

// The four pooling ops.
void bind_pooling(py::module_& m) {
  m.def("max_pool2d_forward", [](py::handle y, py::handle argmax, py::handle x, std::array<int64_t, 2> pool,
                                 std::array<int64_t, 2> strides, std::array<int64_t, 4> padding) {
    const char* op = "max_pool2d_forward";
    const Window g = pool_window(op, x, pool, strides, padding);
    const Shape out_shape{g.N, g.OH, g.OW, g.C};
    float* y_ = checked_data<float>(y, op, "y", out_shape, true);
    int32_t* argmax_ = checked_data<int32_t>(argmax, op, "argmax", out_shape, true);
    const float* x_ = checked_data<float>(x, op, "x", {g.N, g.H, g.W, g.C}, false);
    check_no_overlap(op, "y", y, "x", x, false);
    check_no_overlap(op, "argmax", argmax, "x", x, false);
    check_no_overlap(op, "argmax", argmax, "y", y, false);
    KernelScope release;
    max_pool2d_forward(y_, argmax_, x_, g);
  }, arg("y"), arg("argmax"), arg("x"), arg("pool"), arg("strides"), arg("padding"));
  m.def("max_pool2d_backward", [](py::handle dx, py::handle dy, py::handle argmax) {
    const char* op = "max_pool2d_backward";
    const Shape ds = shape_of(dy, op, "dy", 4), xs = shape_of(dx, op, "dx", 4);
    if (ds[0] != xs[0] || ds[3] != xs[3])
      fail(op, "dy " + shape_text(ds) + " and dx " + shape_text(xs) + " differ in batch or channels.");
    float* dx_ = checked_data<float>(dx, op, "dx", xs, true);
    const float* dy_ = checked_data<float>(dy, op, "dy", ds, false);
    const int32_t* argmax_ = checked_data<int32_t>(argmax, op, "argmax", ds, false);
    // The scatter writes where argmax points: every index must land inside the image.
    const int64_t plane = xs[1] * xs[2];
    for (int64_t i = 0; i < ds[0] * ds[1] * ds[2] * ds[3]; ++i)
      if (argmax_[i] < 0 || argmax_[i] >= plane)
        fail(op, "argmax holds " + std::to_string(argmax_[i]) + ", outside the " + std::to_string(xs[1]) + "x" +
                     std::to_string(xs[2]) + " image; pass the argmax written by max_pool2d_forward.");
    check_no_overlap(op, "dx", dx, "dy", dy, false);
    check_no_overlap(op, "dx", dx, "argmax", argmax, false);
    const Window g{xs[0], xs[1], xs[2], xs[3], 1, 1, 1, 1, 0, 0, ds[1], ds[2]};
    KernelScope release;
    max_pool2d_backward(dx_, dy_, argmax_, g);
  }, arg("dx"), arg("dy"), arg("argmax"));
  m.def("avg_pool2d_forward", [](py::handle y, py::handle x, std::array<int64_t, 2> pool,
                                 std::array<int64_t, 2> strides, std::array<int64_t, 4> padding) {
    const char* op = "avg_pool2d_forward";
    const Window g = pool_window(op, x, pool, strides, padding);
    float* y_ = checked_data<float>(y, op, "y", {g.N, g.OH, g.OW, g.C}, true);
    const float* x_ = checked_data<float>(x, op, "x", {g.N, g.H, g.W, g.C}, false);
    check_no_overlap(op, "y", y, "x", x, false);
    KernelScope release;
    avg_pool2d_forward(y_, x_, g);
  }, arg("y"), arg("x"), arg("pool"), arg("strides"), arg("padding"));
  m.def("avg_pool2d_backward", [](py::handle dx, py::handle dy, std::array<int64_t, 2> pool,
                                  std::array<int64_t, 2> strides, std::array<int64_t, 4> padding) {
    const char* op = "avg_pool2d_backward";
    const Window g = pool_window(op, dx, pool, strides, padding, "dx");
    float* dx_ = checked_data<float>(dx, op, "dx", {g.N, g.H, g.W, g.C}, true);
    const float* dy_ = checked_data<float>(dy, op, "dy", {g.N, g.OH, g.OW, g.C}, false);
    check_no_overlap(op, "dx", dx, "dy", dy, false);
    KernelScope release;
    avg_pool2d_backward(dx_, dy_, g);
  }, arg("dx"), arg("dy"), arg("pool"), arg("strides"), arg("padding"));
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_py, arg("y"), arg("x"), arg("W"), arg("b").none(true), arg("strides"),
        arg("padding"), arg("activation"), arg("alpha"));
  m.def("conv2d_backward", &conv2d_backward_py, arg("dx").none(true), arg("dW").none(true), arg("db").none(true), arg("dz"),
        arg("dy"), arg("x"), arg("W"), arg("y"), arg("strides"), arg("padding"), arg("activation"), arg("alpha"));
  bind_pooling(m);
}

}  // namespace axonal
