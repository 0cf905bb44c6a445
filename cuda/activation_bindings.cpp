// The activation part of axonal._cuda: activation_forward/activation_backward with the argument
// names, checks and error texts of the cpu backend (cpp/activation_bindings.cpp) plus the keyword
// `stream`; the parsing of activation names every binding taking one shares; and activation_table(),
// the table of the kernels, which tests/test_tables.py compares with the Python declaration.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "activations.cuh"
#include "axonal/activation_names.h"
#include "checks.h"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

// An activation that a fused kernel can apply: dense and conv2d keep only the output y, so an
// activation whose derivative needs the input z is refused (with the fix), as on cpu.
Act parse_activation(const ArgCheck& check, const std::string& name) {
  Act act = Act::linear;
  if (const std::string problem = find_activation(name, true, &act); !problem.empty()) check.fail(problem);
  return act;
}

namespace {

// Any activation of the table (activation_forward/backward take z in place of y where needed).
Act parse_any_activation(const ArgCheck& check, const std::string& name) {
  Act act = Act::linear;
  if (const std::string problem = find_activation(name, false, &act); !problem.empty()) check.fail(problem);
  return act;
}

void activation_forward_py(py::handle y, py::handle x, const std::string& activation, float alpha, uintptr_t stream) {
  ArgCheck check("activation_forward");
  const Shape s = check.shape(x, "x", 2);
  const Act act = parse_any_activation(check, activation);
  float* y_ = check.output<float>(y, "y", s);
  const float* x_ = check.input<float>(x, "x", s);
  check.check_overlaps({{"y", "x"}});
  py::gil_scoped_release release;
  activation_forward(y_, x_, s[0], s[1], act, alpha, as_stream(stream));
}

// `y` is the activation's output, or its input z where the derivative comes from the input.
void activation_backward_py(py::handle dx, py::handle dy, py::handle y, const std::string& activation, float alpha,
                            uintptr_t stream) {
  ArgCheck check("activation_backward");
  const Shape s = check.shape(y, "y", 2);
  const Act act = parse_any_activation(check, activation);
  float* dx_ = check.output<float>(dx, "dx", s);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const float* y_ = check.input<float>(y, "y", s);
  if (act == Act::softmax) check.check_overlaps({{"dx", "dy"}});  // as cpu: softmax reads a whole row of y
  else check.check_overlaps({{"dx", "dy"}, {"dx", "y"}});
  py::gil_scoped_release release;
  activation_backward(dx_, dy_, y_, s[0], s[1], act, alpha, as_stream(stream));
}

}  // namespace

void bind_activations(py::module_& m, const py::arg_v& stream) {
  m.def("activation_forward", &activation_forward_py, arg("y"), arg("x"), arg("activation"), arg("alpha"), stream);
  m.def("activation_backward", &activation_backward_py, arg("dx"), arg("dy"), arg("y"), arg("activation"),
        arg("alpha"), stream, "dx = dy * act'(z); `y` is the output, or the input z for activations whose "
        "derivative comes from it (activation_table()).");
  m.def("activation_table", &activation_table,
        "(name, 'output' | 'input') per activation in kernel order: where its derivative is taken from.");
}

}  // namespace axonal::cuda
