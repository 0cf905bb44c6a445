// The augmentation part of axonal._cuda (augmentation.cuh), with the argument names, checks and error
// texts of the cpu backend's bindings (cpp/augmentation_bindings.cpp), plus the keyword `stream`. Every
// array is checked (checks.h) before anything is queued, no output may overlap any other array; then
// the GIL is released. The params' values live on the device and are not read here (that would wait
// for it): the kernels send points beyond ±2^20 outside the image (augmentation_functors.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <string>

#include "augmentation.cuh"
#include "checks.h"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

FillMode fill_mode_of(const ArgCheck& check, const std::string& name) {
  FillMode mode;
  if (!parse_fill_mode(name.c_str(), &mode))
    check.fail("unknown fill_mode '" + name + "'; expected reflect, wrap, constant or nearest.");
  return mode;
}

bool bilinear_of(const ArgCheck& check, const std::string& name) {
  bool bilinear;
  if (!parse_interpolation(name.c_str(), &bilinear))
    check.fail("unknown interpolation '" + name + "'; expected bilinear or nearest.");
  return bilinear;
}

void augment_draw_py(py::handle params, const std::string& kind, uint64_t seed, uint64_t layer_id, py::handle step,
                     int64_t height, int64_t width, std::array<double, 4> ranges, uint64_t first_image,
                     uintptr_t stream) {
  ArgCheck check("augment_draw");
  AugmentKind k;
  if (!parse_augment_kind(kind.c_str(), &k))
    check.fail("unknown kind '" + kind + "'; expected flip_horizontal, flip_vertical, flip_both, translation, "
               "rotation, zoom, zoom_keep_aspect or contrast.");
  if (height < 1 || width < 1)
    check.fail("height and width must be positive; received " + std::to_string(height) + " and " +
               std::to_string(width) + ".");
  for (double r : ranges)
    if (!(std::fabs(r) <= 1024.0))
      check.fail("ranges must be finite numbers in [-1024, 1024]; received " + std::to_string(r) + ".");
  const Shape s = check.shape(params, "params", 2);
  double* p = check.output<double>(params, "params", {s[0], kAugmentParams});
  const StepValue<uint64_t> step_ = check.step_value<uint64_t>(step, "step");
  check.check_overlaps();
  py::gil_scoped_release release;
  augment_draw(p, k, static_cast<uint32_t>(seed), static_cast<uint32_t>(layer_id), step_, s[0], height, width,
               ranges.data(), first_image, as_stream(stream));
}

void affine_forward_py(py::handle y, py::handle x, py::handle params, const std::string& fill_mode,
                       const std::string& interpolation, float fill_value, uintptr_t stream) {
  ArgCheck check("affine_forward");
  const FillMode mode = fill_mode_of(check, fill_mode);
  const bool bilinear = bilinear_of(check, interpolation);
  const Shape s = check.shape(x, "x", 4);
  const float* x_ = check.input<float>(x, "x", s);
  float* y_ = check.output<float>(y, "y", s);
  const double* p = check.input<double>(params, "params", {s[0], kAugmentParams});
  check.check_overlaps();
  py::gil_scoped_release release;
  affine_forward(y_, x_, p, s[0], s[1], s[2], s[3], mode, bilinear, fill_value, as_stream(stream));
}

void affine_backward_py(py::handle dx, py::handle dy, py::handle params, const std::string& fill_mode,
                        const std::string& interpolation, uintptr_t stream) {
  ArgCheck check("affine_backward");
  const FillMode mode = fill_mode_of(check, fill_mode);
  const bool bilinear = bilinear_of(check, interpolation);
  const Shape s = check.shape(dy, "dy", 4);
  const float* dy_ = check.input<float>(dy, "dy", s);
  float* dx_ = check.output<float>(dx, "dx", s);
  const double* p = check.input<double>(params, "params", {s[0], kAugmentParams});
  check.check_overlaps();
  py::gil_scoped_release release;
  affine_backward(dx_, dy_, p, s[0], s[1], s[2], s[3], mode, bilinear, as_stream(stream));
}

void contrast_forward_py(py::handle y, py::handle inside, py::handle x, py::handle params, float low, float high,
                         uintptr_t stream) {
  ArgCheck check("contrast_forward");
  if (!(low <= high))
    check.fail("low must not exceed high (the value range); received " + std::to_string(low) + " and " +
               std::to_string(high) + ".");
  const Shape s = check.shape(x, "x", 4);
  const float* x_ = check.input<float>(x, "x", s);
  float* y_ = check.output<float>(y, "y", s);
  uint8_t* inside_ = check.output<uint8_t>(inside, "inside", s);
  const double* p = check.input<double>(params, "params", {s[0], kAugmentParams});
  check.check_overlaps();
  py::gil_scoped_release release;
  contrast_forward(y_, inside_, x_, p, s[0], s[1], s[2], s[3], low, high, as_stream(stream));
}

void contrast_backward_py(py::handle dx, py::handle dy, py::handle inside, py::handle params, uintptr_t stream) {
  ArgCheck check("contrast_backward");
  const Shape s = check.shape(dy, "dy", 4);
  const float* dy_ = check.input<float>(dy, "dy", s);
  float* dx_ = check.output<float>(dx, "dx", s);
  const uint8_t* inside_ = check.input<uint8_t>(inside, "inside", s);
  const double* p = check.input<double>(params, "params", {s[0], kAugmentParams});
  check.check_overlaps();
  py::gil_scoped_release release;
  contrast_backward(dx_, dy_, inside_, p, s[0], s[1], s[2], s[3], as_stream(stream));
}

template <bool kNormalize>
void feature_forward_py(py::handle y, py::handle x, py::handle a, py::handle b, uintptr_t stream) {
  ArgCheck check(kNormalize ? "normalize_forward" : "rescale_forward");
  const Shape s = check.shape(x, "x", 2);
  const float* x_ = check.input<float>(x, "x", s);
  float* y_ = check.output<float>(y, "y", s);
  const float* a_ = check.input<float>(a, kNormalize ? "mean" : "scale", {s[1]});
  const float* b_ = check.input<float>(b, kNormalize ? "deviation" : "offset", {s[1]});
  check.check_overlaps();
  py::gil_scoped_release release;
  if (kNormalize) normalize_forward(y_, x_, a_, b_, s[0], s[1], as_stream(stream));
  else rescale_forward(y_, x_, a_, b_, s[0], s[1], as_stream(stream));
}

template <bool kNormalize>
void feature_backward_py(py::handle dx, py::handle dy, py::handle a, uintptr_t stream) {
  ArgCheck check(kNormalize ? "normalize_backward" : "rescale_backward");
  const Shape s = check.shape(dy, "dy", 2);
  const float* dy_ = check.input<float>(dy, "dy", s);
  float* dx_ = check.output<float>(dx, "dx", s);
  const float* a_ = check.input<float>(a, kNormalize ? "deviation" : "scale", {s[1]});
  check.check_overlaps();
  py::gil_scoped_release release;
  if (kNormalize) normalize_backward(dx_, dy_, a_, s[0], s[1], as_stream(stream));
  else rescale_backward(dx_, dy_, a_, s[0], s[1], as_stream(stream));
}

}  // namespace

void bind_augmentation(py::module_& m, const py::arg_v& stream) {
  m.def("augment_draw", &augment_draw_py, arg("params"), arg("kind"), arg("seed"), arg("layer_id"), arg("step"),
        arg("height"), arg("width"), arg("ranges"), arg("first_image") = 0, stream);
  m.def("affine_forward", &affine_forward_py, arg("y"), arg("x"), arg("params"), arg("fill_mode"),
        arg("interpolation"), arg("fill_value"), stream);
  m.def("affine_backward", &affine_backward_py, arg("dx"), arg("dy"), arg("params"), arg("fill_mode"),
        arg("interpolation"), stream);
  m.def("contrast_forward", &contrast_forward_py, arg("y"), arg("inside"), arg("x"), arg("params"), arg("low"),
        arg("high"), stream);
  m.def("contrast_backward", &contrast_backward_py, arg("dx"), arg("dy"), arg("inside"), arg("params"), stream);
  m.def("rescale_forward", &feature_forward_py<false>, arg("y"), arg("x"), arg("scale"), arg("offset"), stream);
  m.def("rescale_backward", &feature_backward_py<false>, arg("dx"), arg("dy"), arg("scale"), stream);
  m.def("normalize_forward", &feature_forward_py<true>, arg("y"), arg("x"), arg("mean"), arg("deviation"), stream);
  m.def("normalize_backward", &feature_backward_py<true>, arg("dx"), arg("dy"), arg("deviation"), stream);
}

}  // namespace axonal::cuda
