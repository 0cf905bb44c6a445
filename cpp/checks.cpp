#include "checks.h"

#include <cstdint>
#include <sstream>

namespace axonal {

void fail(const char* op, const std::string& message) { throw py::value_error(std::string(op) + ": " + message); }

namespace {

std::string describe(const py::handle& array) {
  if (!py::isinstance<py::array>(array)) return std::string("a ") + py::str(py::type::handle_of(array).attr("__name__")).cast<std::string>();
  const auto arr = py::reinterpret_borrow<py::array>(array);
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  return py::str(arr.dtype()).cast<std::string>() + " array of shape " + shape_text(shape);
}

}  // namespace

Shape shape_of(const py::handle& array, const char* op, const char* name, int ndim) {
  if (!py::isinstance<py::array>(array)) fail(op, std::string("'") + name + "' must be a numpy array; received " + describe(array) + ".");
  const auto arr = py::reinterpret_borrow<py::array>(array);
  if (arr.ndim() != ndim)
    fail(op, std::string("'") + name + "' must have " + std::to_string(ndim) + " dimension(s); received " + describe(array) + ".");
  return Shape(arr.shape(), arr.shape() + arr.ndim());
}

template <typename T>
T* checked_data(const py::handle& array, const char* op, const char* name, const Shape& shape, bool output) {
  // The message is built only on failure: this runs a few times per op call in the step loop.
  auto wrong = [&](const std::string& why) {
    const std::string dtype = py::str(py::dtype::of<T>());
    fail(op, std::string("'") + name + "' must be a C-contiguous " + dtype + " array of shape " + shape_text(shape) +
                 "; received " + describe(array) + ". " + why);
  };
  if (!py::isinstance<py::array_t<T>>(array))
    wrong("Fix: convert with np.ascontiguousarray(" + std::string(name) + ", dtype=np." +
          std::string(py::str(py::dtype::of<T>())) + ").");
  auto arr = py::reinterpret_borrow<py::array>(array);
  if (arr.ndim() != static_cast<py::ssize_t>(shape.size())) wrong("");
  for (size_t d = 0; d < shape.size(); ++d)
    if (arr.shape(d) != shape[d]) wrong("");
  if (!(arr.flags() & py::array::c_style)) wrong("It is a strided view. Fix: np.ascontiguousarray(" + std::string(name) + ").");
  if (reinterpret_cast<uintptr_t>(arr.data()) % alignof(T) != 0)
    wrong("Its data is not aligned to its item size. Fix: np.ascontiguousarray(" + std::string(name) + ") or a copy.");
  if (output && !arr.writeable()) wrong("It is read-only but is written in place.");
  return static_cast<T*>(const_cast<void*>(arr.data()));
}

template <typename T>
T* optional_data(const py::handle& array, const char* op, const char* name, const Shape& shape, bool output) {
  if (array.is_none()) return nullptr;
  return checked_data<T>(array, op, name, shape, output);
}

template float* checked_data<float>(const py::handle&, const char*, const char*, const Shape&, bool);
template uint8_t* checked_data<uint8_t>(const py::handle&, const char*, const char*, const Shape&, bool);
template int32_t* checked_data<int32_t>(const py::handle&, const char*, const char*, const Shape&, bool);
template int64_t* checked_data<int64_t>(const py::handle&, const char*, const char*, const Shape&, bool);
template double* checked_data<double>(const py::handle&, const char*, const char*, const Shape&, bool);
template float* optional_data<float>(const py::handle&, const char*, const char*, const Shape&, bool);

void check_no_overlap(const char* op, const char* out_name, const py::handle& out, const char* in_name,
                      const py::handle& in, bool allow_same) {
  // Anything that is not an array is rejected by the dtype checks; only arrays can alias.
  if (!py::isinstance<py::array>(out) || !py::isinstance<py::array>(in)) return;
  const auto out_array = py::reinterpret_borrow<py::array>(out), in_array = py::reinterpret_borrow<py::array>(in);
  const auto a = reinterpret_cast<uintptr_t>(out_array.data()), b = reinterpret_cast<uintptr_t>(in_array.data());
  if (allow_same && a == b && out_array.nbytes() == in_array.nbytes()) return;
  if (a < b + static_cast<uintptr_t>(in_array.nbytes()) && b < a + static_cast<uintptr_t>(out_array.nbytes()))
    fail(op, std::string("output '") + out_name + "' shares memory with input '" + in_name +
                 "'; pass a separate array.");
}

void check_outputs_apart(const char* op, std::initializer_list<std::pair<const char*, py::handle>> outputs) {
  for (auto first = outputs.begin(); first != outputs.end(); ++first)
    for (auto second = first + 1; second != outputs.end(); ++second)
      check_no_overlap(op, first->first, first->second, second->first, second->second, false);
}

void check_apart(const char* op, std::initializer_list<std::pair<const char*, py::handle>> outputs,
                 std::initializer_list<std::pair<const char*, py::handle>> inputs) {
  for (const auto& [out_name, out] : outputs)
    for (const auto& [in_name, in] : inputs) check_no_overlap(op, out_name, out, in_name, in, false);
  check_outputs_apart(op, outputs);
}

}  // namespace axonal
