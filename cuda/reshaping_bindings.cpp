// The image reshaping (reshaping.cuh) and spatial dropout (spatial_dropout.cuh) parts of axonal._cuda,
// with the argument names, checks and error texts of the cpu backend's bindings
// (cpp/reshaping_bindings.cpp), plus the keyword `stream`. Arrays are checked (checks.h) before
// anything is queued.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "checks.h"
#include "reshaping.cuh"
#include "spatial_dropout.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

ImageResize padding_geometry(const ArgCheck& check, const Shape& xs, std::array<int64_t, 4> padding) {
  for (int64_t p : padding)
    if (p < 0) check.fail("padding (top, bottom, left, right) must not be negative, received " +
                          shape_text(Shape(padding.begin(), padding.end())) + ".");
  ImageResize g;
  g.M = xs[0], g.H = xs[1], g.W = xs[2], g.B = xs[3];
  g.top = padding[0], g.bottom = padding[1], g.left = padding[2], g.right = padding[3];
  return g;
}

ImageResize upsampling_geometry(const ArgCheck& check, const Shape& xs, std::array<int64_t, 2> size) {
  if (size[0] < 1 || size[1] < 1)
    check.fail("size (rows, columns) must be positive integers, received (" + std::to_string(size[0]) + ", " +
               std::to_string(size[1]) + ").");
  ImageResize g;
  g.M = xs[0], g.H = xs[1], g.W = xs[2], g.B = xs[3];
  g.SH = size[0], g.SW = size[1];
  return g;
}

void check_dropout_rate(const ArgCheck& check, float rate) {
  if (!(rate >= 0.f && rate < 1.f)) check.fail("rate must be in [0, 1), received " + std::to_string(rate) + ".");
}

void zero_pad2d_forward_py(py::handle y, py::handle x, std::array<int64_t, 4> padding, uintptr_t stream) {
  ArgCheck check("zero_pad2d_forward");
  const Shape xs = check.shape(x, "x", 4);
  const ImageResize g = padding_geometry(check, xs, padding);
  float* y_ = check.output<float>(y, "y", {g.M, g.padded_h(), g.padded_w(), g.B});
  const float* x_ = check.input<float>(x, "x", xs);
  check.check_overlaps();
  py::gil_scoped_release release;
  zero_pad2d_forward(y_, x_, g, as_stream(stream));
}

void zero_pad2d_backward_py(py::handle dx, py::handle dy, std::array<int64_t, 4> padding, uintptr_t stream) {
  ArgCheck check("zero_pad2d_backward");
  const Shape xs = check.shape(dx, "dx", 4);
  const ImageResize g = padding_geometry(check, xs, padding);
  float* dx_ = check.output<float>(dx, "dx", xs);
  const float* dy_ = check.input<float>(dy, "dy", {g.M, g.padded_h(), g.padded_w(), g.B});
  check.check_overlaps();
  py::gil_scoped_release release;
  zero_pad2d_backward(dx_, dy_, g, as_stream(stream));
}

void upsample2d_forward_py(py::handle y, py::handle x, std::array<int64_t, 2> size, uintptr_t stream) {
  ArgCheck check("upsample2d_forward");
  const Shape xs = check.shape(x, "x", 4);
  const ImageResize g = upsampling_geometry(check, xs, size);
  float* y_ = check.output<float>(y, "y", {g.M, g.H * g.SH, g.W * g.SW, g.B});
  const float* x_ = check.input<float>(x, "x", xs);
  check.check_overlaps();
  py::gil_scoped_release release;
  upsample2d_forward(y_, x_, g, as_stream(stream));
}

void upsample2d_backward_py(py::handle dx, py::handle dy, std::array<int64_t, 2> size, uintptr_t stream) {
  ArgCheck check("upsample2d_backward");
  const Shape xs = check.shape(dx, "dx", 4);
  const ImageResize g = upsampling_geometry(check, xs, size);
  float* dx_ = check.output<float>(dx, "dx", xs);
  const float* dy_ = check.input<float>(dy, "dy", {g.M, g.H * g.SH, g.W * g.SW, g.B});
  check.check_overlaps();
  py::gil_scoped_release release;
  upsample2d_backward(dx_, dy_, g, as_stream(stream));
}

void transpose_samples_py(py::handle y, py::handle x, uintptr_t stream) {
  ArgCheck check("transpose_samples");
  const Shape xs = check.shape(x, "x", 3);
  float* y_ = check.output<float>(y, "y", {xs[0], xs[2], xs[1]});
  const float* x_ = check.input<float>(x, "x", xs);
  check.check_overlaps();
  py::gil_scoped_release release;
  transpose_samples(y_, x_, xs[0], xs[1], xs[2], as_stream(stream));
}

void spatial_dropout_forward_py(py::handle y, py::handle mask, py::handle x, float rate, uint64_t seed,
                                uint64_t layer_id, py::handle step, uintptr_t stream, uint64_t first_element) {
  ArgCheck check("spatial_dropout_forward");
  check_dropout_rate(check, rate);
  const Shape s = check.shape(x, "x", 4);
  float* y_ = check.output<float>(y, "y", s);
  uint8_t* mask_ = check.output<uint8_t>(mask, "mask", {s[0], s[2]});
  const float* x_ = check.input<float>(x, "x", s);
  const StepValue<uint64_t> step_ = check.step_value<uint64_t>(step, "step");
  check.check_overlaps({{"y", "x"}});
  py::gil_scoped_release release;
  spatial_dropout_forward(y_, mask_, x_, s[0], s[1], s[2], s[3], rate, static_cast<uint32_t>(seed),
                          static_cast<uint32_t>(layer_id), step_, as_stream(stream), first_element);
}

void spatial_dropout_backward_py(py::handle dx, py::handle dy, py::handle mask, float rate, uintptr_t stream) {
  ArgCheck check("spatial_dropout_backward");
  check_dropout_rate(check, rate);
  const Shape s = check.shape(dy, "dy", 4);
  float* dx_ = check.output<float>(dx, "dx", s);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const uint8_t* mask_ = check.input<uint8_t>(mask, "mask", {s[0], s[2]});
  check.check_overlaps({{"dx", "dy"}});
  py::gil_scoped_release release;
  spatial_dropout_backward(dx_, dy_, mask_, s[0], s[1], s[2], s[3], rate, as_stream(stream));
}

}  // namespace

void bind_reshaping(py::module_& m, const py::arg_v& stream) {
  m.def("zero_pad2d_forward", &zero_pad2d_forward_py, arg("y"), arg("x"), arg("padding"), stream,
        "y (M, top+H+bottom, left+W+right, B) = x (M, H, W, B) with zeros around; padding (top, bottom, left, right).");
  m.def("zero_pad2d_backward", &zero_pad2d_backward_py, arg("dx"), arg("dy"), arg("padding"), stream,
        "dx (M, H, W, B) = the interior of dy.");
  m.def("upsample2d_forward", &upsample2d_forward_py, arg("y"), arg("x"), arg("size"), stream,
        "y (M, H*SH, W*SW, B): each value of x repeated over an SH x SW block (nearest).");
  m.def("upsample2d_backward", &upsample2d_backward_py, arg("dx"), arg("dy"), arg("size"), stream,
        "dx (M, H, W, B) = the sum of each SH x SW block of dy, row-major from the block's first entry.");
  m.def("transpose_samples", &transpose_samples_py, arg("y"), arg("x"), stream,
        "y (N, C, R) = each sample of x (N, R, C) transposed (channels_first edges).");
  m.def("spatial_dropout_forward", &spatial_dropout_forward_py, arg("y"), arg("mask"), arg("x"), arg("rate"),
        arg("seed"), arg("layer_id"), arg("step"), stream, arg("first_element") = 0,
        "y = x * mask[n, c] / (1 - rate) over x (N, A, C, B); mask (N, C) uint8, Dropout's Philox mask of (N, C); "
        "map (n, c) draws the mask of map first_element + n*C + c.");
  m.def("spatial_dropout_backward", &spatial_dropout_backward_py, arg("dx"), arg("dy"), arg("mask"), arg("rate"),
        stream, "dx = dy * mask[n, c] / (1 - rate) over dy (N, A, C, B).");
}

}  // namespace axonal::cuda
