// The optimiser part of axonal._native: one fused in-place update per call (optimizers.h), every
// array checked first (checks.h), then the GIL released. optimizer_kernels() lists the updates bound
// here, for tests/test_tables.py to compare with the Python declaration (optimizers.KERNELS).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "axonal/optimizer_signatures.h"
#include "checks.h"
#include "optimizers.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

namespace {

// An optimiser's arrays: the parameter (any shape), its gradient and slots of the same shape, all
// float32 and disjoint. Returns the element count.
int64_t check_update_arrays(const char* op, py::handle param, py::handle grad,
                            std::initializer_list<std::pair<const char*, py::handle>> slots) {
  if (!py::isinstance<py::array>(param)) fail(op, "'param' must be a numpy array.");
  const auto p = py::reinterpret_borrow<py::array>(param);
  const Shape s(p.shape(), p.shape() + p.ndim());
  checked_data<float>(param, op, "param", s, true);
  checked_data<float>(grad, op, "grad", s, false);
  check_no_overlap(op, "param", param, "grad", grad, false);
  for (auto [name, slot] : slots) {
    optional_data<float>(slot, op, name, s, true);
    check_no_overlap(op, name, slot, "param", param, false);
    check_no_overlap(op, name, slot, "grad", grad, false);
  }
  check_outputs_apart(op, slots);
  return static_cast<int64_t>(p.size());
}

float* ptr(py::handle array) {
  return array.is_none() ? nullptr : static_cast<float*>(py::reinterpret_borrow<py::array>(array).mutable_data());
}

void sgd_update_py(py::handle param, py::handle grad, py::handle momentum_buf, double lr, double momentum,
                   bool nesterov, std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("sgd_update", param, grad, {{"momentum_buf", momentum_buf}});
  if (momentum != 0.f && momentum_buf.is_none()) fail("sgd_update", "momentum is set but 'momentum_buf' is None.");
  KernelScope release;
  sgd_update(ptr(param), ptr(momentum_buf), ptr(grad), n, lr, momentum, nesterov, weight_decay.value_or(0.0));
}

void rmsprop_update_py(py::handle param, py::handle grad, py::handle velocity, py::handle momentum_buf,
                       py::handle average_grad, double lr, double rho, double momentum, double epsilon, bool centered,
                       std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("rmsprop_update", param, grad,
      {{"velocity", velocity}, {"momentum_buf", momentum_buf}, {"average_grad", average_grad}});
  if (velocity.is_none()) fail("rmsprop_update", "'velocity' is required.");
  if (momentum != 0.f && momentum_buf.is_none()) fail("rmsprop_update", "momentum is set but 'momentum_buf' is None.");
  if (centered && average_grad.is_none()) fail("rmsprop_update", "centered=True needs 'average_grad'.");
  KernelScope release;
  rmsprop_update(ptr(param), ptr(velocity), ptr(momentum_buf), centered ? ptr(average_grad) : nullptr, ptr(grad), n,
                 lr, rho, momentum, epsilon, centered, weight_decay.value_or(0.0));
}

void adagrad_update_py(py::handle param, py::handle grad, py::handle accumulator, double lr, double epsilon,
                       std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("adagrad_update", param, grad, {{"accumulator", accumulator}});
  if (accumulator.is_none()) fail("adagrad_update", "'accumulator' is required.");
  KernelScope release;
  adagrad_update(ptr(param), ptr(accumulator), ptr(grad), n, lr, epsilon, weight_decay.value_or(0.0));
}

void adadelta_update_py(py::handle param, py::handle grad, py::handle accum_grad, py::handle accum_delta, double lr,
                        double rho, double epsilon, std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("adadelta_update", param, grad,
                                        {{"accum_grad", accum_grad}, {"accum_delta", accum_delta}});
  if (accum_grad.is_none()) fail("adadelta_update", "'accum_grad' is required.");
  if (accum_delta.is_none()) fail("adadelta_update", "'accum_delta' is required.");
  KernelScope release;
  adadelta_update(ptr(param), ptr(accum_grad), ptr(accum_delta), ptr(grad), n, lr, rho, epsilon,
                  weight_decay.value_or(0.0));
}

void adam_update_py(py::handle param, py::handle grad, py::handle m_buf, py::handle v_buf, py::handle v_hat, double lr,
                    double beta_1, double beta_2, double epsilon, int64_t step, bool amsgrad,
                    std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("adam_update", param, grad, {{"m", m_buf}, {"v", v_buf}, {"v_hat", v_hat}});
  if (m_buf.is_none() || v_buf.is_none()) fail("adam_update", "'m' and 'v' are required.");
  if (amsgrad && v_hat.is_none()) fail("adam_update", "amsgrad=True needs 'v_hat'.");
  if (step < 1) fail("adam_update", "step is 1-based; received " + std::to_string(step) + ".");
  KernelScope release;
  adam_update(ptr(param), ptr(m_buf), ptr(v_buf), amsgrad ? ptr(v_hat) : nullptr, ptr(grad), n, lr, beta_1, beta_2,
              epsilon, step, weight_decay.value_or(0.0));
}

void lion_update_py(py::handle param, py::handle grad, py::handle m_buf, double lr, double beta_1, double beta_2,
                    std::optional<double> weight_decay) {
  const int64_t n = check_update_arrays("lion_update", param, grad, {{"m", m_buf}});
  if (m_buf.is_none()) fail("lion_update", "'m' is required.");
  KernelScope release;
  lion_update(ptr(param), ptr(m_buf), ptr(grad), n, lr, beta_1, beta_2, weight_decay.value_or(0.0));
}

}  // namespace

void bind_optimizers(py::module_& m) {
  std::vector<std::string> kernels;  // what optimizer_kernels() reports: the updates actually bound
  auto def = [&](const char* name, auto fn, auto... args) {
    m.def(name, fn, args...);
    kernels.emplace_back(name);
  };
  define_optimizer_updates(def, &sgd_update_py, &rmsprop_update_py, &adagrad_update_py, &adadelta_update_py,
                           &adam_update_py, &lion_update_py);
  m.def("optimizer_kernels", [kernels] { return kernels; }, "The optimiser updates of this module, in binding order.");
}

}  // namespace axonal
