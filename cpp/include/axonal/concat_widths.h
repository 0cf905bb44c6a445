// concat_backward's optional `widths` argument, read alike by the bindings of cpp/ and cuda/: the
// width of each of the n inputs, as non-negative ints (an int or anything with __index__, never a
// float).
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace axonal {

// Fills widths[0..n) and adds them to *known; returns "" or what is wrong with `widths_arg`.
inline std::string read_concat_widths(pybind11::handle widths_arg, size_t n, int64_t* widths, int64_t* known) {
  namespace py = pybind11;
  const std::string received = py::repr(widths_arg).cast<std::string>();
  if (!py::isinstance<py::sequence>(widths_arg) || py::isinstance<py::str>(widths_arg) || py::len(widths_arg) != n)
    return "'widths' must list the width of each of the " + std::to_string(n) + " inputs; received " + received + ".";
  const auto sequence = py::reinterpret_borrow<py::sequence>(widths_arg);
  for (size_t i = 0; i < n; ++i) {
    int64_t width = -1;
    try {
      width = sequence[i].cast<int64_t>();
    } catch (const py::cast_error&) {
    }
    if (width < 0) return "'widths' must be non-negative ints; received " + received + ".";
    widths[i] = width;
    *known += width;
  }
  return "";
}

}  // namespace axonal
