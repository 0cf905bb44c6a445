// The optimiser part of axonal._cuda: optimizer_update() runs one step of any optimiser of
// AXONAL_OPTIMIZERS on one parameter (optimizers.cuh), with the argument checks of the cpu
// backend's binding. `lr` and `step` may also be device scalars (ArgCheck::step_value), read by the
// kernel when it runs: a CUDA graph captured once then replays with the current learning rate and
// step. The named ops (adam_update, ...) are made from it in axonal/backend/update_ops.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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

// param, grad and each given slot (the parameter's shape, float32, C order, disjoint);
// param and slots updated in place.
void optimizer_update_py(const std::string& op, py::handle param, py::handle grad, const std::vector<py::object>& slots,
                         py::handle lr, py::handle step, const std::vector<double>& hyper,
                         std::optional<double> weight_decay, uintptr_t s) {
  ArgCheck check(op.c_str());
  const StepValue<double> lr_ = check.step_value<double>(lr, "lr");
  const StepValue<int64_t> step_ = check.step_value<int64_t>(step, "step");
  HyperValues values{};
  // A device step is read when the kernel runs; below 1 it makes the update NaN (optimizers.cuh).
  const int kind = checked_update_kind(op, slots.size(), hyper, !step_.on_device(), step_.host, values,
                                       [&](const std::string& message) { check.fail(message); });
  const UpdateInfo& info = optimizer_info(kind);
  const DeviceArray p = check.view(param, "param");
  float* const param_data = check.output<float>(param, "param", p.shape);
  const float* const grad_data = check.input<float>(grad, "grad", p.shape);
  SlotArrays arrays{};
  unsigned present = 0;
  for (int k = 0; k < info.slots; ++k) {
    arrays.at[k] = check.optional_output<float>(slots[k], info.slot_names[k], p.shape);
    if (arrays.at[k] != nullptr) present |= 1u << k;
  }
  check.check_overlaps();
  const SlotUse use = use_slots(kind, present, values);
  if (!use.problem.empty()) check.fail(use.problem);
  py::gil_scoped_release release;
  optimizer_update(kind, param_data, arrays, use.used, grad_data, p.size(), values, lr_, step_,
                   weight_decay.value_or(0.0), as_stream(s));
}

}  // namespace

void bind_optimizers(py::module_& m, const py::arg_v& stream) {
  m.def("optimizer_update", &optimizer_update_py, arg("op"), arg("param"), arg("grad"), arg("slots"), arg("lr"),
        arg("step"), arg("hyper"), arg("weight_decay").none(true) = py::none(), stream,
        "One in-place step of the optimiser update `op` on one parameter (optimizer_kernels() lists them).");
  m.def("optimizer_kernels", &optimizer_table,
        "The optimiser updates of this module: (op, slot names, required slots, hyper-parameters, takes step).");
}

}  // namespace axonal::cuda
