// Python bindings of the image reshaping (reshaping.h) and spatial dropout (spatial_dropout.h) op
// families in axonal._native, with the signatures of the reference (backend/reference_reshaping.py).
// Every array is checked (checks.h) before the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "checks.h"
#include "reshaping.h"
#include "spatial_dropout.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

// Shared with the training loop's binding (training_loop_bindings.cpp), which checks its steps' geometry
// with the same messages.
ImageResize padding_geometry(const char* op, const Shape& xs, std::array<int64_t, 4> padding) {
  for (int64_t p : padding)
    if (p < 0) fail(op, "padding (top, bottom, left, right) must not be negative, received " + shape_text(
                            Shape(padding.begin(), padding.end())) + ".");
  ImageResize g;
  g.M = xs[0], g.H = xs[1], g.W = xs[2], g.B = xs[3];
  g.top = padding[0], g.bottom = padding[1], g.left = padding[2], g.right = padding[3];
  return g;
}

ImageResize upsampling_geometry(const char* op, const Shape& xs, std::array<int64_t, 2> size) {
  if (size[0] < 1 || size[1] < 1)
    fail(op, "size (rows, columns) must be positive integers, received (" + std::to_string(size[0]) + ", " +
                 std::to_string(size[1]) + ").");
  ImageResize g;
  g.M = xs[0], g.H = xs[1], g.W = xs[2], g.B = xs[3];
  g.SH = size[0], g.SW = size[1];
  return g;
}

namespace {

void check_dropout_rate(const char* op, float rate) {
  if (!(rate >= 0.f && rate < 1.f)) fail(op, "rate must be in [0, 1), received " + std::to_string(rate) + ".");
}

// x (M, H, W, B) -> y (M, top + H + bottom, left + W + right, B).
void zero_pad2d_forward_py(py::handle y, py::handle x, std::array<int64_t, 4> padding) {
  const char* op = "zero_pad2d_forward";
  const Shape xs = shape_of(x, op, "x", 4);
  const ImageResize g = padding_geometry(op, xs, padding);
  float* y_ = checked_data<float>(y, op, "y", {g.M, g.padded_h(), g.padded_w(), g.B}, true);
  const float* x_ = checked_data<float>(x, op, "x", xs, false);
  check_no_overlap(op, "y", y, "x", x, false);
  KernelScope release;
  zero_pad2d_forward(y_, x_, g);
}

// dy (M, top + H + bottom, left + W + right, B) -> dx (M, H, W, B).
void zero_pad2d_backward_py(py::handle dx, py::handle dy, std::array<int64_t, 4> padding) {
  const char* op = "zero_pad2d_backward";
  const Shape xs = shape_of(dx, op, "dx", 4);
  const ImageResize g = padding_geometry(op, xs, padding);
  float* dx_ = checked_data<float>(dx, op, "dx", xs, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", {g.M, g.padded_h(), g.padded_w(), g.B}, false);
  check_no_overlap(op, "dx", dx, "dy", dy, false);
  KernelScope release;
  zero_pad2d_backward(dx_, dy_, g);
}

// x (M, H, W, B) -> y (M, H·SH, W·SW, B).
void upsample2d_forward_py(py::handle y, py::handle x, std::array<int64_t, 2> size) {
  const char* op = "upsample2d_forward";
  const Shape xs = shape_of(x, op, "x", 4);
  const ImageResize g = upsampling_geometry(op, xs, size);
  float* y_ = checked_data<float>(y, op, "y", {g.M, g.H * g.SH, g.W * g.SW, g.B}, true);
  const float* x_ = checked_data<float>(x, op, "x", xs, false);
  check_no_overlap(op, "y", y, "x", x, false);
  KernelScope release;
  upsample2d_forward(y_, x_, g);
}

// dy (M, H·SH, W·SW, B) -> dx (M, H, W, B).
void upsample2d_backward_py(py::handle dx, py::handle dy, std::array<int64_t, 2> size) {
  const char* op = "upsample2d_backward";
  const Shape xs = shape_of(dx, op, "dx", 4);
  const ImageResize g = upsampling_geometry(op, xs, size);
  float* dx_ = checked_data<float>(dx, op, "dx", xs, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", {g.M, g.H * g.SH, g.W * g.SW, g.B}, false);
  check_no_overlap(op, "dx", dx, "dy", dy, false);
  KernelScope release;
  upsample2d_backward(dx_, dy_, g);
}

// x (N, R, C) -> y (N, C, R).
void transpose_samples_py(py::handle y, py::handle x) {
  const char* op = "transpose_samples";
  const Shape xs = shape_of(x, op, "x", 3);
  float* y_ = checked_data<float>(y, op, "y", {xs[0], xs[2], xs[1]}, true);
  const float* x_ = checked_data<float>(x, op, "x", xs, false);
  check_no_overlap(op, "y", y, "x", x, false);
  KernelScope release;
  transpose_samples(y_, x_, xs[0], xs[1], xs[2]);
}

// x (N, A, C, B) -> y (N, A, C, B), mask (N, C) uint8.
void spatial_dropout_forward_py(py::handle y, py::handle mask, py::handle x, float rate, uint64_t seed,
                                uint64_t layer_id, uint64_t step, uint64_t first_element) {
  const char* op = "spatial_dropout_forward";
  check_dropout_rate(op, rate);
  const Shape s = shape_of(x, op, "x", 4);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  uint8_t* mask_ = checked_data<uint8_t>(mask, op, "mask", {s[0], s[2]}, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  check_no_overlap(op, "y", y, "x", x, true);
  check_no_overlap(op, "mask", mask, "x", x, false);
  check_no_overlap(op, "mask", mask, "y", y, false);
  KernelScope release;
  // seed and layer_id are taken mod 2^32, as Dropout's (docs/design.md, "Randomness").
  spatial_dropout_forward(y_, mask_, x_, s[0], s[1], s[2], s[3], rate, static_cast<uint32_t>(seed),
                          static_cast<uint32_t>(layer_id), step, first_element);
}

// dy (N, A, C, B), mask (N, C) -> dx (N, A, C, B).
void spatial_dropout_backward_py(py::handle dx, py::handle dy, py::handle mask, float rate) {
  const char* op = "spatial_dropout_backward";
  check_dropout_rate(op, rate);
  const Shape s = shape_of(dy, op, "dy", 4);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const uint8_t* mask_ = checked_data<uint8_t>(mask, op, "mask", {s[0], s[2]}, false);
  check_no_overlap(op, "dx", dx, "dy", dy, true);
  check_no_overlap(op, "dx", dx, "mask", mask, false);
  KernelScope release;
  spatial_dropout_backward(dx_, dy_, mask_, s[0], s[1], s[2], s[3], rate);
}

}  // namespace

void bind_reshaping(py::module_& m) {
  m.def("zero_pad2d_forward", &zero_pad2d_forward_py, arg("y"), arg("x"), arg("padding"),
        "y (M, top+H+bottom, left+W+right, B) = x (M, H, W, B) with zeros around; padding (top, bottom, left, right).");
  m.def("zero_pad2d_backward", &zero_pad2d_backward_py, arg("dx"), arg("dy"), arg("padding"),
        "dx (M, H, W, B) = the interior of dy (M, top+H+bottom, left+W+right, B).");
  m.def("upsample2d_forward", &upsample2d_forward_py, arg("y"), arg("x"), arg("size"),
        "y (M, H*SH, W*SW, B): each value of x (M, H, W, B) repeated over an SH x SW block (nearest).");
  m.def("upsample2d_backward", &upsample2d_backward_py, arg("dx"), arg("dy"), arg("size"),
        "dx (M, H, W, B) = the sum of each SH x SW block of dy, row-major from the block's first entry.");
  m.def("transpose_samples", &transpose_samples_py, arg("y"), arg("x"),
        "y (N, C, R) = each sample of x (N, R, C) transposed (channels_first edges).");
  m.def("spatial_dropout_forward", &spatial_dropout_forward_py, arg("y"), arg("mask"), arg("x"), arg("rate"),
        arg("seed"), arg("layer_id"), arg("step"), arg("first_element") = 0,
        "y = x * mask[n, c] / (1 - rate) over x (N, A, C, B); mask (N, C) uint8, Dropout's Philox mask of (N, C) "
        "(its elements numbered from first_element: a data-parallel shard's offset).");
  m.def("spatial_dropout_backward", &spatial_dropout_backward_py, arg("dx"), arg("dy"), arg("mask"), arg("rate"),
        "dx = dy * mask[n, c] / (1 - rate) over dy (N, A, C, B).");
}

}  // namespace axonal
