// The optimiser part of axonal._native: optimizer_update() runs one step of any optimiser of
// AXONAL_OPTIMIZERS on one parameter (optimizers.h), every array checked first (checks.h), then the
// GIL released. The named ops (adam_update, ...) are made from it in axonal/backend/update_ops.py.
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

// param, grad and each given slot (the parameter's shape, float32, C order, disjoint);
// param and slots updated in place.
void optimizer_update_py(const std::string& op, py::handle param, py::handle grad, const std::vector<py::object>& slots,
                         double lr, int64_t step, const std::vector<double>& hyper,
                         std::optional<double> weight_decay) {
  const char* name = op.c_str();
  HyperValues values{};
  const int kind = checked_update_kind(op, slots.size(), hyper, true, step, values,
                                       [&](const std::string& message) { fail(name, message); });
  const UpdateInfo& info = optimizer_info(kind);
  if (!py::isinstance<py::array>(param)) fail(name, "'param' must be a numpy array.");
  const auto p = py::reinterpret_borrow<py::array>(param);
  const Shape shape(p.shape(), p.shape() + p.ndim());
  ParamUpdate update{checked_data<float>(param, name, "param", shape, true),
                     checked_data<float>(grad, name, "grad", shape, false), {}, static_cast<int64_t>(p.size()), 0};
  check_no_overlap(name, "param", param, "grad", grad, false);
  unsigned present = 0;
  for (int k = 0; k < info.slots; ++k) {
    update.slots.at[k] = optional_data<float>(slots[k], name, info.slot_names[k], shape, true);
    check_no_overlap(name, info.slot_names[k], slots[k], "param", param, false);
    check_no_overlap(name, info.slot_names[k], slots[k], "grad", grad, false);
    for (int j = 0; j < k; ++j) check_no_overlap(name, info.slot_names[k], slots[k], info.slot_names[j], slots[j], false);
    if (update.slots.at[k] != nullptr) present |= 1u << k;
  }
  const SlotUse use = use_slots(kind, present, values);
  if (!use.problem.empty()) fail(name, use.problem);
  update.used = use.used;
  KernelScope release;
  optimizer_update(kind, values, lr, step, weight_decay.value_or(0.0), &update, 1);
}

}  // namespace

void bind_optimizers(py::module_& m) {
  m.def("optimizer_update", &optimizer_update_py, arg("op"), arg("param"), arg("grad"), arg("slots"), arg("lr"),
        arg("step"), arg("hyper"), arg("weight_decay").none(true) = py::none(),
        "One in-place step of the optimiser update `op` on one parameter (optimizer_kernels() lists them).");
  m.def("optimizer_kernels", &optimizer_table,
        "The optimiser updates of this module: (op, slot names, required slots, hyper-parameters, takes step).");
}

}  // namespace axonal
