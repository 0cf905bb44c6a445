// Python bindings of the augmentation op family (augmentation.h) in axonal._native, with the
// signatures of the reference (backend/reference_augmentation.py). Every array goes through the one
// input-check helper (checks.h) before the GIL is released: dtype, shape, C order, writability, and no
// output overlapping any other array. Names (kind, fill mode, interpolation) are checked against their
// lists, params must be finite and below 2^20 in magnitude (so every tap index is defined), and
// the ranges finite.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "augmentation.h"
#include "checks.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

namespace {

FillMode fill_mode_of(const char* op, const std::string& name) {
  FillMode mode;
  if (!parse_fill_mode(name.c_str(), &mode))
    fail(op, "unknown fill_mode '" + name + "'; expected reflect, wrap, constant or nearest.");
  return mode;
}

bool bilinear_of(const char* op, const std::string& name) {
  bool bilinear;
  if (!parse_interpolation(name.c_str(), &bilinear))
    fail(op, "unknown interpolation '" + name + "'; expected bilinear or nearest.");
  return bilinear;
}

// params (N, 6) float64, each finite and below 2^20 in magnitude.
const double* checked_params(const char* op, py::handle params, int64_t N) {
  const double* p = checked_data<double>(params, op, "params", {N, kAugmentParams}, false);
  for (int64_t k = 0; k < N * kAugmentParams; ++k)
    if (!(std::fabs(p[k]) < 1048576.0))
      fail(op, "params[" + std::to_string(k / kAugmentParams) + ", " + std::to_string(k % kAugmentParams) + "] is " +
                   std::to_string(p[k]) + "; per-image parameters must be finite and below 2^20. Fix: draw them "
                   "with augment_draw.");
  return p;
}

void augment_draw_py(py::handle params, const std::string& kind, uint64_t seed, uint64_t layer_id, uint64_t step,
                     int64_t height, int64_t width, std::array<double, 4> ranges, uint64_t first_image) {
  const char* op = "augment_draw";
  AugmentKind k;
  if (!parse_augment_kind(kind.c_str(), &k))
    fail(op, "unknown kind '" + kind + "'; expected flip_horizontal, flip_vertical, flip_both, translation, "
                 "rotation, zoom, zoom_keep_aspect or contrast.");
  if (height < 1 || width < 1) fail(op, "height and width must be positive; received " + std::to_string(height) +
                                            " and " + std::to_string(width) + ".");
  for (double r : ranges)
    if (!(std::fabs(r) <= 1024.0)) fail(op, "ranges must be finite numbers in [-1024, 1024]; received " + std::to_string(r) + ".");
  const Shape s = shape_of(params, op, "params", 2);
  double* p = checked_data<double>(params, op, "params", {s[0], kAugmentParams}, true);
  KernelScope release;
  // seed and layer_id are taken mod 2^32, as dropout's (docs/design.md, "Randomness").
  augment_draw(p, k, static_cast<uint32_t>(seed), static_cast<uint32_t>(layer_id), step, s[0], height, width,
               ranges.data(), first_image);
}

void affine_forward_py(py::handle y, py::handle x, py::handle params, const std::string& fill_mode,
                       const std::string& interpolation, float fill_value) {
  const char* op = "affine_forward";
  const FillMode mode = fill_mode_of(op, fill_mode);
  const bool bilinear = bilinear_of(op, interpolation);
  const Shape s = shape_of(x, op, "x", 4);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const double* p = checked_params(op, params, s[0]);
  check_apart(op, {{"y", y}}, {{"x", x}, {"params", params}});
  KernelScope release;
  affine_forward(y_, x_, p, s[0], s[1], s[2], s[3], mode, bilinear, fill_value);
}

void affine_backward_py(py::handle dx, py::handle dy, py::handle params, const std::string& fill_mode,
                        const std::string& interpolation) {
  const char* op = "affine_backward";
  const FillMode mode = fill_mode_of(op, fill_mode);
  const bool bilinear = bilinear_of(op, interpolation);
  const Shape s = shape_of(dy, op, "dy", 4);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const double* p = checked_params(op, params, s[0]);
  check_apart(op, {{"dx", dx}}, {{"dy", dy}, {"params", params}});
  KernelScope release;
  affine_backward(dx_, dy_, p, s[0], s[1], s[2], s[3], mode, bilinear);
}

void contrast_forward_py(py::handle y, py::handle inside, py::handle x, py::handle params, float low, float high) {
  const char* op = "contrast_forward";
  if (!(low <= high)) fail(op, "low must not exceed high (the value range); received " + std::to_string(low) + " and " +
                                   std::to_string(high) + ".");
  const Shape s = shape_of(x, op, "x", 4);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  uint8_t* inside_ = checked_data<uint8_t>(inside, op, "inside", s, true);
  const double* p = checked_params(op, params, s[0]);
  check_apart(op, {{"y", y}, {"inside", inside}}, {{"x", x}, {"params", params}});
  KernelScope release;
  contrast_forward(y_, inside_, x_, p, s[0], s[1], s[2], s[3], low, high);
}

void contrast_backward_py(py::handle dx, py::handle dy, py::handle inside, py::handle params) {
  const char* op = "contrast_backward";
  const Shape s = shape_of(dy, op, "dy", 4);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const uint8_t* inside_ = checked_data<uint8_t>(inside, op, "inside", s, false);
  const double* p = checked_params(op, params, s[0]);
  check_apart(op, {{"dx", dx}}, {{"dy", dy}, {"inside", inside}, {"params", params}});
  KernelScope release;
  contrast_backward(dx_, dy_, inside_, p, s[0], s[1], s[2], s[3]);
}

// rescale (x·a + b: a the scale, b the offset) and normalize ((x − a) / b: a the mean, b the
// deviation) share their checks: x, y (N, K), a and b (K,).
template <bool kNormalize>
void feature_forward_py(py::handle y, py::handle x, py::handle a, py::handle b) {
  const char* op = kNormalize ? "normalize_forward" : "rescale_forward";
  const char* a_name = kNormalize ? "mean" : "scale";
  const char* b_name = kNormalize ? "deviation" : "offset";
  const Shape s = shape_of(x, op, "x", 2);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* a_ = checked_data<float>(a, op, a_name, {s[1]}, false);
  const float* b_ = checked_data<float>(b, op, b_name, {s[1]}, false);
  check_apart(op, {{"y", y}}, {{"x", x}, {a_name, a}, {b_name, b}});
  KernelScope release;
  if (kNormalize) normalize_forward(y_, x_, a_, b_, s[0], s[1]);
  else rescale_forward(y_, x_, a_, b_, s[0], s[1]);
}

template <bool kNormalize>
void feature_backward_py(py::handle dx, py::handle dy, py::handle a) {
  const char* op = kNormalize ? "normalize_backward" : "rescale_backward";
  const char* a_name = kNormalize ? "deviation" : "scale";
  const Shape s = shape_of(dy, op, "dy", 2);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const float* a_ = checked_data<float>(a, op, a_name, {s[1]}, false);
  check_apart(op, {{"dx", dx}}, {{"dy", dy}, {a_name, a}});
  KernelScope release;
  if (kNormalize) normalize_backward(dx_, dy_, a_, s[0], s[1]);
  else rescale_backward(dx_, dy_, a_, s[0], s[1]);
}

}  // namespace

void bind_augmentation(py::module_& m) {
  m.def("augment_draw", &augment_draw_py, arg("params"), arg("kind"), arg("seed"), arg("layer_id"), arg("step"),
        arg("height"), arg("width"), arg("ranges"), arg("first_image") = 0,
        "Per-image parameters (N, 6) of an augmentation layer from Philox (seed, layer_id, step, image).");
  m.def("affine_forward", &affine_forward_py, arg("y"), arg("x"), arg("params"), arg("fill_mode"),
        arg("interpolation"), arg("fill_value"), "Affine resampling of images (N, H, W, C), one 2x3 matrix each.");
  m.def("affine_backward", &affine_backward_py, arg("dx"), arg("dy"), arg("params"), arg("fill_mode"),
        arg("interpolation"), "The transpose of affine_forward (gradients of the images).");
  m.def("contrast_forward", &contrast_forward_py, arg("y"), arg("inside"), arg("x"), arg("params"), arg("low"),
        arg("high"), "Contrast (x - mean)*c + mean per image and channel, clipped to [low, high].");
  m.def("contrast_backward", &contrast_backward_py, arg("dx"), arg("dy"), arg("inside"), arg("params"),
        "Gradient of contrast_forward.");
  m.def("rescale_forward", &feature_forward_py<false>, arg("y"), arg("x"), arg("scale"), arg("offset"),
        "y (N, K) = x * scale + offset per column.");
  m.def("rescale_backward", &feature_backward_py<false>, arg("dx"), arg("dy"), arg("scale"), "dx = dy * scale.");
  m.def("normalize_forward", &feature_forward_py<true>, arg("y"), arg("x"), arg("mean"), arg("deviation"),
        "y (N, K) = (x - mean) / deviation per column.");
  m.def("normalize_backward", &feature_backward_py<true>, arg("dx"), arg("dy"), arg("deviation"),
        "dx = dy / deviation.");
}

}  // namespace axonal
