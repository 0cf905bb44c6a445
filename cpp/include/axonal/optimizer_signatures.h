// What the cpu and CUDA bindings of the optimiser updates share: both bind one
// optimizer_update(op, param, grad, slots, lr, step, hyper, weight_decay) for every optimiser of
// AXONAL_OPTIMIZERS (optimizer_functors.h), check its call here, and report the table in
// optimizer_kernels() for tests/test_tables.py to compare with optimizers.KERNELS. The Python
// backends give each optimiser its named op (axonal/backend/update_ops.py).
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "axonal/optimizer_functors.h"

namespace axonal {

// An update call's optimiser and hyper-parameters, checked; fail(message) raises for a call that
// names no optimiser or gives the wrong count of slots or hyper-parameters, or a step below 1.
template <typename Fail>
int checked_update_kind(const std::string& op, size_t slot_count, const std::vector<double>& hyper,
                        bool step_known, int64_t step, HyperValues& values, Fail&& fail) {
  const int kind = optimizer_kind(op);
  if (kind < 0) fail("unknown optimizer update '" + op + "'; optimizer_kernels() lists the known ones.");
  const UpdateInfo& info = optimizer_info(kind);
  if (slot_count != static_cast<size_t>(info.slots))
    fail(op + " takes " + std::to_string(info.slots) + " slots (None for one it does not use); received " +
         std::to_string(slot_count) + ".");
  if (hyper.size() != static_cast<size_t>(info.hypers))
    fail(op + " takes " + std::to_string(info.hypers) + " hyper-parameters; received " + std::to_string(hyper.size()) +
         ".");
  if (info.uses_step && step_known && step < 1) fail("step is 1-based; received " + std::to_string(step) + ".");
  for (size_t j = 0; j < hyper.size(); ++j) values.at[j] = hyper[j];
  return kind;
}

// optimizer_kernels(): per optimiser, (op, slot names, number of required slots, hyper-parameter
// names, whether it takes the step), in AXONAL_OPTIMIZERS order.
inline pybind11::list optimizer_table() {
  pybind11::list table;
  for (int kind = 0; kind < kOptimizerCount; ++kind) {
    const UpdateInfo& info = optimizer_info(kind);
    std::vector<std::string> slots(info.slot_names, info.slot_names + info.slots);
    std::vector<std::string> hypers(info.hyper_names, info.hyper_names + info.hypers);
    table.append(pybind11::make_tuple(info.op, slots, info.required, hypers, info.uses_step));
  }
  return table;
}

}  // namespace axonal
