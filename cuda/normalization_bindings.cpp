// The normalization part of axonal._cuda (normalization.cuh), with the argument names, checks and
// error texts of the cpu backend's bindings (cpp/normalization_bindings.cpp), plus the keyword
// `stream`. Every array is checked (checks.h) before anything is queued, no output may overlap any
// other array; then the GIL is released.
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "checks.h"
#include "normalization.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

void check_epsilon(const ArgCheck& check, double epsilon) {
  if (!(epsilon > 0.0 && std::isfinite(epsilon)))
    check.fail("epsilon must be positive and finite; received " + std::to_string(epsilon) + ". Fix: e.g. 1e-3.");
}

void check_momentum(const ArgCheck& check, double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0))
    check.fail("momentum must be in [0, 1]; received " + std::to_string(momentum) + ". Fix: e.g. 0.99.");
}

void batch_norm_forward_py(py::handle y, py::handle mean, py::handle inv_std, py::handle moving_mean,
                           py::handle moving_variance, py::handle x, py::handle gamma, py::handle beta,
                           double momentum, double epsilon, uintptr_t stream) {
  ArgCheck check("batch_norm_forward");
  check_momentum(check, momentum);
  check_epsilon(check, epsilon);
  const Shape s = check.shape(x, "x", 2);
  const Shape c{s[1]};
  const float* x_ = check.input<float>(x, "x", s);
  float* y_ = check.output<float>(y, "y", s);
  float* mean_ = check.output<float>(mean, "mean", c);
  float* inv_ = check.output<float>(inv_std, "inv_std", c);
  float* mm_ = check.output<float>(moving_mean, "moving_mean", c);
  float* mv_ = check.output<float>(moving_variance, "moving_variance", c);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", c);
  const float* beta_ = check.optional_input<float>(beta, "beta", c);
  check.check_overlaps();
  py::gil_scoped_release release;
  batch_norm_forward(y_, mean_, inv_, mm_, mv_, x_, gamma_, beta_, s[0], s[1], momentum, epsilon, as_stream(stream));
}

void batch_norm_backward_py(py::handle dx, py::handle dgamma, py::handle dbeta, py::handle dy, py::handle x,
                            py::handle mean, py::handle inv_std, py::handle gamma, uintptr_t stream) {
  ArgCheck check("batch_norm_backward");
  const Shape s = check.shape(x, "x", 2);
  const Shape c{s[1]};
  float* dx_ = check.optional_output<float>(dx, "dx", s);
  float* dgamma_ = check.optional_output<float>(dgamma, "dgamma", c);
  float* dbeta_ = check.optional_output<float>(dbeta, "dbeta", c);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const float* x_ = check.input<float>(x, "x", s);
  const float* mean_ = check.input<float>(mean, "mean", c);
  const float* inv_ = check.input<float>(inv_std, "inv_std", c);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", c);
  check.check_overlaps();
  py::gil_scoped_release release;
  batch_norm_backward(dx_, dgamma_, dbeta_, dy_, x_, mean_, inv_, gamma_, s[0], s[1], as_stream(stream));
}

void batch_norm_inference_forward_py(py::handle y, py::handle x, py::handle moving_mean, py::handle moving_variance,
                                     py::handle gamma, py::handle beta, double epsilon, uintptr_t stream) {
  ArgCheck check("batch_norm_inference_forward");
  check_epsilon(check, epsilon);
  const Shape s = check.shape(x, "x", 2);
  const Shape c{s[1]};
  float* y_ = check.output<float>(y, "y", s);
  const float* x_ = check.input<float>(x, "x", s);
  const float* mm_ = check.input<float>(moving_mean, "moving_mean", c);
  const float* mv_ = check.input<float>(moving_variance, "moving_variance", c);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", c);
  const float* beta_ = check.optional_input<float>(beta, "beta", c);
  check.check_overlaps();
  py::gil_scoped_release release;
  batch_norm_inference_forward(y_, x_, mm_, mv_, gamma_, beta_, s[0], s[1], epsilon, as_stream(stream));
}

void batch_norm_inference_backward_py(py::handle dx, py::handle dy, py::handle moving_variance, py::handle gamma,
                                      double epsilon, uintptr_t stream) {
  ArgCheck check("batch_norm_inference_backward");
  check_epsilon(check, epsilon);
  const Shape s = check.shape(dy, "dy", 2);
  const Shape c{s[1]};
  float* dx_ = check.output<float>(dx, "dx", s);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const float* mv_ = check.input<float>(moving_variance, "moving_variance", c);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", c);
  check.check_overlaps();
  py::gil_scoped_release release;
  batch_norm_inference_backward(dx_, dy_, mv_, gamma_, s[0], s[1], epsilon, as_stream(stream));
}

void layer_norm_forward_py(py::handle y, py::handle mean, py::handle inv_std, py::handle x, py::handle gamma,
                           py::handle beta, double epsilon, bool rms_scaling, uintptr_t stream) {
  ArgCheck check("layer_norm_forward");
  check_epsilon(check, epsilon);
  const Shape s = check.shape(x, "x", 2);
  const Shape r{s[0]}, k{s[1]};
  float* y_ = check.output<float>(y, "y", s);
  float* mean_ = check.output<float>(mean, "mean", r);
  float* inv_ = check.output<float>(inv_std, "inv_std", r);
  const float* x_ = check.input<float>(x, "x", s);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", k);
  const float* beta_ = check.optional_input<float>(beta, "beta", k);
  check.check_overlaps();
  py::gil_scoped_release release;
  layer_norm_forward(y_, mean_, inv_, x_, gamma_, beta_, s[0], s[1], epsilon, rms_scaling, as_stream(stream));
}

void layer_norm_backward_py(py::handle dx, py::handle dgamma, py::handle dbeta, py::handle dy, py::handle x,
                            py::handle mean, py::handle inv_std, py::handle gamma, bool rms_scaling,
                            uintptr_t stream) {
  ArgCheck check("layer_norm_backward");
  const Shape s = check.shape(x, "x", 2);
  const Shape r{s[0]}, k{s[1]};
  float* dx_ = check.optional_output<float>(dx, "dx", s);
  float* dgamma_ = check.optional_output<float>(dgamma, "dgamma", k);
  float* dbeta_ = check.optional_output<float>(dbeta, "dbeta", k);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const float* x_ = check.input<float>(x, "x", s);
  const float* mean_ = check.input<float>(mean, "mean", r);
  const float* inv_ = check.input<float>(inv_std, "inv_std", r);
  const float* gamma_ = check.optional_input<float>(gamma, "gamma", k);
  check.check_overlaps();
  py::gil_scoped_release release;
  layer_norm_backward(dx_, dgamma_, dbeta_, dy_, x_, mean_, inv_, gamma_, s[0], s[1], rms_scaling,
                      as_stream(stream));
}

}  // namespace

void bind_normalization(py::module_& m, const py::arg_v& stream) {
  m.def("batch_norm_forward", &batch_norm_forward_py, arg("y"), arg("mean"), arg("inv_std"), arg("moving_mean"),
        arg("moving_variance"), arg("x"), arg("gamma").none(true), arg("beta").none(true), arg("momentum"),
        arg("epsilon"), stream, "Training-mode batch normalization; moves the moving statistics.");
  m.def("batch_norm_backward", &batch_norm_backward_py, arg("dx").none(true), arg("dgamma").none(true),
        arg("dbeta").none(true), arg("dy"), arg("x"), arg("mean"), arg("inv_std"), arg("gamma").none(true), stream,
        "Gradients of batch_norm_forward (None outputs skipped).");
  m.def("batch_norm_inference_forward", &batch_norm_inference_forward_py, arg("y"), arg("x"), arg("moving_mean"),
        arg("moving_variance"), arg("gamma").none(true), arg("beta").none(true), arg("epsilon"), stream,
        "Inference-mode batch normalization with the moving statistics.");
  m.def("batch_norm_inference_backward", &batch_norm_inference_backward_py, arg("dx"), arg("dy"),
        arg("moving_variance"), arg("gamma").none(true), arg("epsilon"), stream,
        "dx = dy * gamma / sqrt(moving_variance + epsilon).");
  m.def("layer_norm_forward", &layer_norm_forward_py, arg("y"), arg("mean"), arg("inv_std"), arg("x"),
        arg("gamma").none(true), arg("beta").none(true), arg("epsilon"), arg("rms_scaling"), stream,
        "Layer normalization of each row; writes each row's mean and inv_std.");
  m.def("layer_norm_backward", &layer_norm_backward_py, arg("dx").none(true), arg("dgamma").none(true),
        arg("dbeta").none(true), arg("dy"), arg("x"), arg("mean"), arg("inv_std"), arg("gamma").none(true),
        arg("rms_scaling"), stream, "Gradients of layer_norm_forward (None outputs skipped).");
}

}  // namespace axonal::cuda
