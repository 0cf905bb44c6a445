// The optimiser part of axonal._cuda: one fused in-place update per call (optimizers.cuh), with the
// argument names and checks of the cpu backend's optimiser bindings. `lr` (and Adam's `step`) may
// also be device scalars (ArgCheck::step_value), read by the kernel when it runs: a CUDA graph
// captured once then replays with the current learning rate and step. optimizer_kernels() lists the
// updates bound here, for tests/test_tables.py to compare with the Python declaration.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "axonal/optimizer_signatures.h"
#include "checks.h"
#include "optimizers.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

// An optimiser's arrays: the parameter (any shape), its gradient and slots (None or the parameter's
// shape), all float32 and disjoint.
struct UpdateArrays {
  int64_t n;
  float* param;
  const float* grad;
  std::array<float*, 3> slots;
};

UpdateArrays check_update(ArgCheck& check, py::handle param, py::handle grad,
                          std::initializer_list<std::pair<const char*, py::handle>> slots) {
  const DeviceArray p = check.view(param, "param");
  UpdateArrays a{p.size(), check.output<float>(param, "param", p.shape), check.input<float>(grad, "grad", p.shape), {}};
  size_t i = 0;
  for (auto [name, slot] : slots) a.slots[i++] = check.optional_output<float>(slot, name, p.shape);
  check.check_overlaps();
  return a;
}

void sgd_update_py(py::handle param, py::handle grad, py::handle momentum_buf, py::handle lr, double momentum,
                   bool nesterov, std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("sgd_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const UpdateArrays a = check_update(check, param, grad, {{"momentum_buf", momentum_buf}});
  if (momentum != 0.0 && !a.slots[0]) check.fail("momentum is set but 'momentum_buf' is None.");
  py::gil_scoped_release release;
  sgd_update(a.param, a.slots[0], a.grad, a.n, lr_, momentum, nesterov, weight_decay.value_or(0.0), as_stream(s));
}

void rmsprop_update_py(py::handle param, py::handle grad, py::handle velocity, py::handle momentum_buf,
                       py::handle average_grad, py::handle lr, double rho, double momentum, double epsilon,
                       bool centered, std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("rmsprop_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const UpdateArrays a = check_update(check, param, grad,
      {{"velocity", velocity}, {"momentum_buf", momentum_buf}, {"average_grad", average_grad}});
  if (!a.slots[0]) check.fail("'velocity' is required.");
  if (momentum != 0.0 && !a.slots[1]) check.fail("momentum is set but 'momentum_buf' is None.");
  if (centered && !a.slots[2]) check.fail("centered=True needs 'average_grad'.");
  py::gil_scoped_release release;
  rmsprop_update(a.param, a.slots[0], a.slots[1], centered ? a.slots[2] : nullptr, a.grad, a.n, lr_, rho, momentum,
                 epsilon, centered, weight_decay.value_or(0.0), as_stream(s));
}

void adagrad_update_py(py::handle param, py::handle grad, py::handle accumulator, py::handle lr, double epsilon,
                       std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("adagrad_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const UpdateArrays a = check_update(check, param, grad, {{"accumulator", accumulator}});
  if (!a.slots[0]) check.fail("'accumulator' is required.");
  py::gil_scoped_release release;
  adagrad_update(a.param, a.slots[0], a.grad, a.n, lr_, epsilon, weight_decay.value_or(0.0), as_stream(s));
}

void adadelta_update_py(py::handle param, py::handle grad, py::handle accum_grad, py::handle accum_delta,
                        py::handle lr, double rho, double epsilon, std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("adadelta_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const UpdateArrays a = check_update(check, param, grad, {{"accum_grad", accum_grad}, {"accum_delta", accum_delta}});
  if (!a.slots[0]) check.fail("'accum_grad' is required.");
  if (!a.slots[1]) check.fail("'accum_delta' is required.");
  py::gil_scoped_release release;
  adadelta_update(a.param, a.slots[0], a.slots[1], a.grad, a.n, lr_, rho, epsilon, weight_decay.value_or(0.0),
                  as_stream(s));
}

void adam_update_py(py::handle param, py::handle grad, py::handle m_buf, py::handle v_buf, py::handle v_hat,
                    py::handle lr, double beta_1, double beta_2, double epsilon, py::handle step, bool amsgrad,
                    std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("adam_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const StepValue<int64_t> step_ = check.step_value<int64_t>(step, "step");
  const UpdateArrays a = check_update(check, param, grad, {{"m", m_buf}, {"v", v_buf}, {"v_hat", v_hat}});
  if (!a.slots[0] || !a.slots[1]) check.fail("'m' and 'v' are required.");
  if (amsgrad && !a.slots[2]) check.fail("amsgrad=True needs 'v_hat'.");
  // A device step is read when the kernel runs; below 1 it makes the update NaN (optimizers.cuh).
  if (!step_.on_device() && step_.host < 1) check.fail("step is 1-based; received " + std::to_string(step_.host) + ".");
  py::gil_scoped_release release;
  adam_update(a.param, a.slots[0], a.slots[1], amsgrad ? a.slots[2] : nullptr, a.grad, a.n, lr_, beta_1, beta_2,
              epsilon, step_, weight_decay.value_or(0.0), as_stream(s));
}

void lion_update_py(py::handle param, py::handle grad, py::handle m_buf, py::handle lr, double beta_1, double beta_2,
                    std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check("lion_update");
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const UpdateArrays a = check_update(check, param, grad, {{"m", m_buf}});
  if (!a.slots[0]) check.fail("'m' is required.");
  py::gil_scoped_release release;
  lion_update(a.param, a.slots[0], a.grad, a.n, lr_, beta_1, beta_2, weight_decay.value_or(0.0), as_stream(s));
}

}  // namespace

void bind_optimizers(py::module_& m, const py::arg_v& stream) {
  std::vector<std::string> kernels;  // what optimizer_kernels() reports: the updates actually bound
  auto def = [&](const char* name, auto fn, auto... args) {
    m.def(name, fn, args..., stream);
    kernels.emplace_back(name);
  };
  define_optimizer_updates(def, &sgd_update_py, &rmsprop_update_py, &adagrad_update_py, &adadelta_update_py,
                           &adam_update_py, &lion_update_py);
  m.def("optimizer_kernels", [kernels] { return kernels; }, "The optimiser updates of this module, in binding order.");
}

}  // namespace axonal::cuda
