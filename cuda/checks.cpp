#include "checks.h"

#include <sstream>

namespace axonal::cuda {

namespace {

// typestr ("f4") and numpy name of each element type the ops take.
template <typename T> struct DType;
template <> struct DType<float> { static constexpr const char* typestr = "f4", *name = "float32"; };
template <> struct DType<double> { static constexpr const char* typestr = "f8", *name = "float64"; };
template <> struct DType<int32_t> { static constexpr const char* typestr = "i4", *name = "int32"; };
template <> struct DType<int64_t> { static constexpr const char* typestr = "i8", *name = "int64"; };
template <> struct DType<uint8_t> { static constexpr const char* typestr = "u1", *name = "uint8"; };

// A step value's device dtype and the Python number that may stand in for it.
template <typename T> struct StepKind;
template <> struct StepKind<double> { using Device = double; static constexpr const char* number = "a Python float"; };
template <> struct StepKind<int64_t> { using Device = int64_t; static constexpr const char* number = "a Python int"; };
template <> struct StepKind<uint64_t> {
  using Device = int64_t;
  static constexpr const char* number = "a non-negative Python int";
};

// "float32" for "f4": the name users know the dtype by.
std::string dtype_name(const std::string& typestr) {
  static const std::pair<const char*, const char*> names[] = {
      {"f4", "float32"}, {"f8", "float64"}, {"f2", "float16"}, {"i4", "int32"}, {"i8", "int64"}, {"u1", "uint8"},
      {"b1", "bool"}};
  for (const auto& [code, name] : names)
    if (typestr == code) return name;
  return "'" + typestr + "'";
}

// "a float32", "an int64".
std::string with_article(const std::string& name) { return (name[0] == 'i' ? "an " : "a ") + name; }

std::string describe(const DeviceArray& a) {
  return with_article(std::string(a.little_endian ? "" : "big-endian ") + dtype_name(a.typestr)) +
         " device array of shape " + shape_text(a.shape) + (a.c_contiguous ? "" : " (strided)") +
         (a.readonly ? " (read-only)" : "");
}

// The C-order strides of `shape` with `itemsize`-byte elements match `strides` (extents of 0 or 1 may
// carry any stride, as NumPy's relaxed rule allows).
bool is_c_contiguous(const Shape& shape, const py::handle& strides, int64_t itemsize) {
  if (strides.is_none()) return true;
  const auto given = py::reinterpret_borrow<py::tuple>(strides);
  if (given.size() != shape.size()) return false;
  int64_t expected = itemsize;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] > 1 && given[d].cast<int64_t>() != expected) return false;
    expected *= shape[d];
  }
  return true;
}

}  // namespace

int64_t DeviceArray::size() const {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

int64_t DeviceArray::itemsize() const { return typestr.size() > 1 ? std::stoll(typestr.substr(1)) : 1; }

void ArgCheck::fail(const std::string& message) const { throw py::value_error(std::string(op_) + ": " + message); }

DeviceArray ArgCheck::view(py::handle array, const char* name) const {
  const py::object interface = py::getattr(array, "__cuda_array_interface__", py::none());
  if (interface.is_none())
    fail(std::string("'") + name + "' must be a CUDA device array (cupy.ndarray); received a " +
         py::str(py::type::handle_of(array).attr("__name__")).cast<std::string>() + ". Fix: cupy.asarray(" + name + ").");
  const auto info = interface.cast<py::dict>();
  DeviceArray a;
  const auto typestr = info["typestr"].cast<std::string>();
  a.little_endian = typestr.empty() || typestr[0] != '>';
  a.typestr = typestr.empty() ? typestr : typestr.substr(1);
  for (const auto extent : info["shape"].cast<py::tuple>()) a.shape.push_back(extent.cast<int64_t>());
  const auto data = info["data"].cast<py::tuple>();
  a.data = data[0].cast<uintptr_t>();
  a.readonly = data[1].cast<bool>();
  const py::object strides = info.contains("strides") ? py::object(info["strides"]) : py::object(py::none());
  a.c_contiguous = is_c_contiguous(a.shape, strides, a.itemsize());
  if (info.contains("mask") && !info["mask"].is_none())
    fail(std::string("'") + name + "' is a masked array; pass plain data.");
  return a;
}

Shape ArgCheck::shape(py::handle array, const char* name, int ndim) const {
  const DeviceArray a = view(array, name);
  if (static_cast<int>(a.shape.size()) != ndim)
    fail(std::string("'") + name + "' must have " + std::to_string(ndim) + " dimension(s); received " + describe(a) + ".");
  return a.shape;
}

void* ArgCheck::checked(py::handle array, const char* name, const Shape& shape, const char* typestr,
                        const char* dtype, bool output) {
  const DeviceArray a = view(array, name);
  auto wrong = [&](const std::string& why) {
    fail(std::string("'") + name + "' must be a C-contiguous " + dtype + " device array of shape " + shape_text(shape) +
         "; received " + describe(a) + "." + why);
  };
  if (a.typestr != typestr || !a.little_endian) wrong(" Fix: " + std::string(name) + ".astype(cupy." + dtype + ").");
  if (a.shape != shape) wrong("");
  if (!a.c_contiguous) wrong(" Fix: cupy.ascontiguousarray(" + std::string(name) + ").");
  if (output && a.readonly) wrong(" It is written in place. Fix: pass a writable array.");
  if (a.size() > 0 && a.data == 0) wrong(" Its device pointer is null.");
  seen_.push_back({name, a.data, a.data + static_cast<uintptr_t>(a.size() * a.itemsize()), output});
  return reinterpret_cast<void*>(a.data);
}

template <typename T>
const T* ArgCheck::input(py::handle array, const char* name, const Shape& shape) {
  return static_cast<const T*>(checked(array, name, shape, DType<T>::typestr, DType<T>::name, false));
}

template <typename T>
T* ArgCheck::output(py::handle array, const char* name, const Shape& shape) {
  return static_cast<T*>(checked(array, name, shape, DType<T>::typestr, DType<T>::name, true));
}

template <typename T>
const T* ArgCheck::optional_input(py::handle array, const char* name, const Shape& shape) {
  return array.is_none() ? nullptr : input<T>(array, name, shape);
}

template <typename T>
T* ArgCheck::optional_output(py::handle array, const char* name, const Shape& shape) {
  return array.is_none() ? nullptr : output<T>(array, name, shape);
}

double* ArgCheck::scalar_output(py::handle array, const char* name) {
  const Shape shape = view(array, name).shape;
  if (shape.size() > 1 || (shape.size() == 1 && shape[0] != 1))
    fail(std::string("'") + name + "' must be a float64 device scalar (shape () or (1,)); received shape " +
         shape_text(shape) + ". Fix: cupy.zeros((), cupy.float64).");
  return output<double>(array, name, shape);
}

template <typename T>
StepValue<T> ArgCheck::step_value(py::handle value, const char* name) {
  using Device = typename StepKind<T>::Device;
  const std::string dtype = DType<Device>::name;
  const std::string expected = std::string("'") + name + "' must be " + StepKind<T>::number + " or " +
                               with_article(dtype) + " device scalar (a cupy array of shape ())";
  if (!py::hasattr(value, "__cuda_array_interface__")) {
    try {
      return {value.cast<T>(), nullptr};
    } catch (const py::cast_error&) {
      throw py::type_error(std::string(op_) + ": " + expected + "; received " + py::repr(value).cast<std::string>() +
                           ".");
    }
  }
  const DeviceArray a = view(value, name);
  auto wrong = [&](const std::string& why) { fail(expected + "; received " + describe(a) + "." + why); };
  if (a.typestr != DType<Device>::typestr || !a.little_endian)
    wrong(" Fix: " + std::string(name) + ".astype(cupy." + dtype + ").");
  if (!a.shape.empty()) wrong(a.size() == 1 ? " Fix: " + std::string(name) + ".reshape(())." : "");
  if (a.data == 0) wrong(" Its device pointer is null.");
  seen_.push_back({name, a.data, a.data + sizeof(Device), false});
  // T = uint64_t reads the int64's 64 bits: a negative device step wraps modulo 2^64.
  return {T{}, reinterpret_cast<const T*>(a.data)};
}

void ArgCheck::check_overlaps(std::initializer_list<std::pair<const char*, const char*>> same_ok) const {
  for (size_t i = 0; i < seen_.size(); ++i) {
    for (size_t j = 0; j < seen_.size(); ++j) {
      const Seen &out = seen_[i], &other = seen_[j];
      // Each pair once: output vs input both ways round is covered by i being the output.
      if (i == j || !out.output || (other.output && j < i)) continue;
      if (out.begin >= other.end || other.begin >= out.end || out.begin == out.end || other.begin == other.end)
        continue;
      bool allowed = false;
      for (const auto& [out_name, in_name] : same_ok)
        allowed |= std::string(out_name) == out.name && std::string(in_name) == other.name;
      if (allowed && out.begin == other.begin && out.end == other.end) continue;
      fail(std::string("output '") + out.name + "' shares memory with " + (other.output ? "output '" : "input '") +
           other.name + "'; pass a separate array.");
    }
  }
}

template StepValue<double> ArgCheck::step_value<double>(py::handle, const char*);
template StepValue<int64_t> ArgCheck::step_value<int64_t>(py::handle, const char*);
template StepValue<uint64_t> ArgCheck::step_value<uint64_t>(py::handle, const char*);
template const float* ArgCheck::input<float>(py::handle, const char*, const Shape&);
template const int32_t* ArgCheck::input<int32_t>(py::handle, const char*, const Shape&);
template const int64_t* ArgCheck::input<int64_t>(py::handle, const char*, const Shape&);
template const uint8_t* ArgCheck::input<uint8_t>(py::handle, const char*, const Shape&);
template const double* ArgCheck::input<double>(py::handle, const char*, const Shape&);
template float* ArgCheck::output<float>(py::handle, const char*, const Shape&);
template uint8_t* ArgCheck::output<uint8_t>(py::handle, const char*, const Shape&);
template int32_t* ArgCheck::output<int32_t>(py::handle, const char*, const Shape&);
template int64_t* ArgCheck::output<int64_t>(py::handle, const char*, const Shape&);
template double* ArgCheck::output<double>(py::handle, const char*, const Shape&);
template const float* ArgCheck::optional_input<float>(py::handle, const char*, const Shape&);
template float* ArgCheck::optional_output<float>(py::handle, const char*, const Shape&);

}  // namespace axonal::cuda
