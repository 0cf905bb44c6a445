// The activation part of axonal._native: activation_forward/activation_backward (checked like every
// binding, checks.h), the parsing of activation names that every binding taking one shares, and
// activation_table(), the C++ table that tests/test_tables.py compares with the Python declaration.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "activations.h"
#include "axonal/activation_names.h"
#include "checks.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

// An activation that a fused kernel can apply: dense, conv2d and the training loop keep only the
// output y, so an activation whose derivative needs the input z is refused (with the fix).
Act parse_activation(const char* op, const std::string& name) {
  Act act = Act::linear;
  if (const std::string problem = find_activation(name, true, &act); !problem.empty()) fail(op, problem);
  return act;
}

// Any activation of the table (activation_forward/backward take z in place of y where needed).
Act parse_any_activation(const char* op, const std::string& name) {
  Act act = Act::linear;
  if (const std::string problem = find_activation(name, false, &act); !problem.empty()) fail(op, problem);
  return act;
}

namespace {

void activation_forward_py(py::handle y, py::handle x, const std::string& activation, float alpha) {
  const char* op = "activation_forward";
  const Shape s = shape_of(x, op, "x", 2);
  const Act act = parse_any_activation(op, activation);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  check_no_overlap(op, "y", y, "x", x, true);
  KernelScope release;
  activation_forward(y_, x_, s[0], s[1], act, alpha);
}

// `y` is the activation's output, or its input z where the derivative comes from the input.
void activation_backward_py(py::handle dx, py::handle dy, py::handle y, const std::string& activation,
                            float alpha) {
  const char* op = "activation_backward";
  const Shape s = shape_of(y, op, "y", 2);
  const Act act = parse_any_activation(op, activation);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const float* y_ = checked_data<float>(y, op, "y", s, false);
  check_no_overlap(op, "dx", dx, "dy", dy, true);
  check_no_overlap(op, "dx", dx, "y", y, act != Act::softmax);  // softmax reads a whole row first
  KernelScope release;
  activation_backward(dx_, dy_, y_, s[0], s[1], act, alpha);
}

}  // namespace

void bind_activations(py::module_& m) {
  m.def("activation_forward", &activation_forward_py, arg("y"), arg("x"), arg("activation"), arg("alpha"));
  m.def("activation_backward", &activation_backward_py, arg("dx"), arg("dy"), arg("y"), arg("activation"),
        arg("alpha"), "dx = dy * act'(z); `y` is the output, or the input z for activations whose derivative "
        "comes from it (activation_table()).");
  m.def("activation_table", &activation_table,
        "(name, 'output' | 'input') per activation in kernel order: where its derivative is taken from.");
}

}  // namespace axonal
