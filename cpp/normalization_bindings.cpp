// Python bindings of the normalization op family (normalization.h) in axonal._native, with the
// signatures of the reference (backend/reference_normalization.py). Every array goes through the one
// input-check helper (checks.h) before the GIL is released: dtype, shape, C order, writability, and
// no output overlapping any other array (nothing here works in place). momentum must lie in [0, 1]
// and epsilon be positive and finite.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "checks.h"
#include "normalization.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

namespace {

void check_epsilon(const char* op, double epsilon) {
  if (!(epsilon > 0.0 && std::isfinite(epsilon)))
    fail(op, "epsilon must be positive and finite; received " + std::to_string(epsilon) + ". Fix: e.g. 1e-3.");
}

void check_momentum(const char* op, double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0))
    fail(op, "momentum must be in [0, 1]; received " + std::to_string(momentum) + ". Fix: e.g. 0.99.");
}

// x (M, C), gamma/beta (C,) | None -> y (M, C); mean, inv_std (C,); moving_mean, moving_variance (C,) updated.
void batch_norm_forward_py(py::handle y, py::handle mean, py::handle inv_std, py::handle moving_mean,
                           py::handle moving_variance, py::handle x, py::handle gamma, py::handle beta,
                           double momentum, double epsilon) {
  const char* op = "batch_norm_forward";
  check_momentum(op, momentum);
  check_epsilon(op, epsilon);
  const Shape s = shape_of(x, op, "x", 2);
  const Shape c{s[1]};
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  float* mean_ = checked_data<float>(mean, op, "mean", c, true);
  float* inv_ = checked_data<float>(inv_std, op, "inv_std", c, true);
  float* mm_ = checked_data<float>(moving_mean, op, "moving_mean", c, true);
  float* mv_ = checked_data<float>(moving_variance, op, "moving_variance", c, true);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", c, false);
  const float* beta_ = optional_data<float>(beta, op, "beta", c, false);
  check_apart(op, {{"y", y}, {"mean", mean}, {"inv_std", inv_std}, {"moving_mean", moving_mean},
                   {"moving_variance", moving_variance}},
              {{"x", x}, {"gamma", gamma}, {"beta", beta}});
  KernelScope release;
  batch_norm_forward(y_, mean_, inv_, mm_, mv_, x_, gamma_, beta_, s[0], s[1], momentum, epsilon);
}

void batch_norm_backward_py(py::handle dx, py::handle dgamma, py::handle dbeta, py::handle dy, py::handle x,
                            py::handle mean, py::handle inv_std, py::handle gamma) {
  const char* op = "batch_norm_backward";
  const Shape s = shape_of(x, op, "x", 2);
  const Shape c{s[1]};
  float* dx_ = optional_data<float>(dx, op, "dx", s, true);
  float* dgamma_ = optional_data<float>(dgamma, op, "dgamma", c, true);
  float* dbeta_ = optional_data<float>(dbeta, op, "dbeta", c, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  const float* mean_ = checked_data<float>(mean, op, "mean", c, false);
  const float* inv_ = checked_data<float>(inv_std, op, "inv_std", c, false);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", c, false);
  check_apart(op, {{"dx", dx}, {"dgamma", dgamma}, {"dbeta", dbeta}},
              {{"dy", dy}, {"x", x}, {"mean", mean}, {"inv_std", inv_std}, {"gamma", gamma}});
  KernelScope release;
  batch_norm_backward(dx_, dgamma_, dbeta_, dy_, x_, mean_, inv_, gamma_, s[0], s[1]);
}

void batch_norm_inference_forward_py(py::handle y, py::handle x, py::handle moving_mean, py::handle moving_variance,
                                     py::handle gamma, py::handle beta, double epsilon) {
  const char* op = "batch_norm_inference_forward";
  check_epsilon(op, epsilon);
  const Shape s = shape_of(x, op, "x", 2);
  const Shape c{s[1]};
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  const float* mm_ = checked_data<float>(moving_mean, op, "moving_mean", c, false);
  const float* mv_ = checked_data<float>(moving_variance, op, "moving_variance", c, false);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", c, false);
  const float* beta_ = optional_data<float>(beta, op, "beta", c, false);
  check_apart(op, {{"y", y}}, {{"x", x}, {"moving_mean", moving_mean}, {"moving_variance", moving_variance},
                               {"gamma", gamma}, {"beta", beta}});
  KernelScope release;
  batch_norm_inference_forward(y_, x_, mm_, mv_, gamma_, beta_, s[0], s[1], epsilon);
}

void batch_norm_inference_backward_py(py::handle dx, py::handle dy, py::handle moving_variance, py::handle gamma,
                                      double epsilon) {
  const char* op = "batch_norm_inference_backward";
  check_epsilon(op, epsilon);
  const Shape s = shape_of(dy, op, "dy", 2);
  const Shape c{s[1]};
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const float* mv_ = checked_data<float>(moving_variance, op, "moving_variance", c, false);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", c, false);
  check_apart(op, {{"dx", dx}}, {{"dy", dy}, {"moving_variance", moving_variance}, {"gamma", gamma}});
  KernelScope release;
  batch_norm_inference_backward(dx_, dy_, mv_, gamma_, s[0], s[1], epsilon);
}

// x (R, K), gamma/beta (K,) | None -> y (R, K); mean, inv_std (R,).
void layer_norm_forward_py(py::handle y, py::handle mean, py::handle inv_std, py::handle x, py::handle gamma,
                           py::handle beta, double epsilon, bool rms_scaling) {
  const char* op = "layer_norm_forward";
  check_epsilon(op, epsilon);
  const Shape s = shape_of(x, op, "x", 2);
  const Shape r{s[0]}, k{s[1]};
  float* y_ = checked_data<float>(y, op, "y", s, true);
  float* mean_ = checked_data<float>(mean, op, "mean", r, true);
  float* inv_ = checked_data<float>(inv_std, op, "inv_std", r, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", k, false);
  const float* beta_ = optional_data<float>(beta, op, "beta", k, false);
  check_apart(op, {{"y", y}, {"mean", mean}, {"inv_std", inv_std}}, {{"x", x}, {"gamma", gamma}, {"beta", beta}});
  KernelScope release;
  layer_norm_forward(y_, mean_, inv_, x_, gamma_, beta_, s[0], s[1], epsilon, rms_scaling);
}

void layer_norm_backward_py(py::handle dx, py::handle dgamma, py::handle dbeta, py::handle dy, py::handle x,
                            py::handle mean, py::handle inv_std, py::handle gamma, bool rms_scaling) {
  const char* op = "layer_norm_backward";
  const Shape s = shape_of(x, op, "x", 2);
  const Shape r{s[0]}, k{s[1]};
  float* dx_ = optional_data<float>(dx, op, "dx", s, true);
  float* dgamma_ = optional_data<float>(dgamma, op, "dgamma", k, true);
  float* dbeta_ = optional_data<float>(dbeta, op, "dbeta", k, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  const float* mean_ = checked_data<float>(mean, op, "mean", r, false);
  const float* inv_ = checked_data<float>(inv_std, op, "inv_std", r, false);
  const float* gamma_ = optional_data<float>(gamma, op, "gamma", k, false);
  check_apart(op, {{"dx", dx}, {"dgamma", dgamma}, {"dbeta", dbeta}},
              {{"dy", dy}, {"x", x}, {"mean", mean}, {"inv_std", inv_std}, {"gamma", gamma}});
  KernelScope release;
  layer_norm_backward(dx_, dgamma_, dbeta_, dy_, x_, mean_, inv_, gamma_, s[0], s[1], rms_scaling);
}

}  // namespace

void bind_normalization(py::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward_py, arg("y"), arg("mean"), arg("inv_std"), arg("moving_mean"),
        arg("moving_variance"), arg("x"), arg("gamma").none(true), arg("beta").none(true), arg("momentum"),
        arg("epsilon"),
        "Training-mode batch normalization of x (M, C) per column; writes the batch's mean and inv_std and "
        "moves the moving statistics (moving*momentum + batch*(1 - momentum)).");
  m.def("batch_norm_backward", &batch_norm_backward_py, arg("dx").none(true), arg("dgamma").none(true),
        arg("dbeta").none(true), arg("dy"), arg("x"), arg("mean"), arg("inv_std"), arg("gamma").none(true),
        "Gradients of batch_norm_forward (None outputs skipped).");
  m.def("batch_norm_inference_forward", &batch_norm_inference_forward_py, arg("y"), arg("x"), arg("moving_mean"),
        arg("moving_variance"), arg("gamma").none(true), arg("beta").none(true), arg("epsilon"),
        "Inference-mode batch normalization with the moving statistics.");
  m.def("batch_norm_inference_backward", &batch_norm_inference_backward_py, arg("dx"), arg("dy"),
        arg("moving_variance"), arg("gamma").none(true), arg("epsilon"),
        "dx = dy * gamma / sqrt(moving_variance + epsilon).");
  m.def("layer_norm_forward", &layer_norm_forward_py, arg("y"), arg("mean"), arg("inv_std"), arg("x"),
        arg("gamma").none(true), arg("beta").none(true), arg("epsilon"), arg("rms_scaling"),
        "Layer normalization of each row of x (R, K); writes each row's mean and inv_std.");
  m.def("layer_norm_backward", &layer_norm_backward_py, arg("dx").none(true), arg("dgamma").none(true),
        arg("dbeta").none(true), arg("dy"), arg("x"), arg("mean"), arg("inv_std"), arg("gamma").none(true),
        arg("rms_scaling"), "Gradients of layer_norm_forward (None outputs skipped).");
}

}  // namespace axonal
