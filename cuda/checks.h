// The one input-check helper of axonal._cuda. Every array an op touches arrives as an object with a
// __cuda_array_interface__ (a cupy array) and is checked here for dtype, shape, C order, writability
// (outputs), a non-null device pointer and overlaps, before anything is queued on the GPU. A failed
// check raises ValueError("<op>: ...") naming the argument, what was expected, what came and a likely
// fix, as cpp/checks.h does for numpy arrays. The text is built only on failure.
#pragma once
#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "axonal/shape_text.h"
#include "common.cuh"  // StepValue

namespace axonal::cuda {

namespace py = pybind11;
using Shape = std::vector<int64_t>;

// The `stream` argument of every op: a cudaStream_t passed from Python as an int (cupy's Stream.ptr).
inline cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

using axonal::shape_text;  // "(128, 512)"

// What an array's __cuda_array_interface__ says about it.
struct DeviceArray {
  uintptr_t data = 0;
  Shape shape;
  std::string typestr;  // without the byte-order character: "f4", "i4", "i8", "u1", "f8"
  bool little_endian = true, c_contiguous = true, readonly = false;
  int64_t size() const;  // elements
  int64_t itemsize() const;
};

// The checks of one op call. Arrays checked through it are remembered, so that check_overlaps()
// can compare every output with every other argument.
class ArgCheck {
 public:
  explicit ArgCheck(const char* op) : op_(op) {}

  // Raises ValueError("<op>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

  // The interface of `array` (anything without one is rejected with a fix: cupy.asarray).
  DeviceArray view(py::handle array, const char* name) const;

  // The shape of `array` after checking that it has `ndim` dimensions.
  Shape shape(py::handle array, const char* name, int ndim) const;

  // Checks `array` against T (float, double, int32_t, int64_t, uint8_t), `shape`, C order, a device
  // pointer, and writability for an output; returns the pointer. The optional_ forms take None as
  // nullptr. scalar_output accepts a float64 array of shape () or (1,).
  template <typename T>
  const T* input(py::handle array, const char* name, const Shape& shape);
  template <typename T>
  T* output(py::handle array, const char* name, const Shape& shape);
  template <typename T>
  const T* optional_input(py::handle array, const char* name, const Shape& shape);
  template <typename T>
  T* optional_output(py::handle array, const char* name, const Shape& shape);
  double* scalar_output(py::handle array, const char* name);

  // A value that changes every training step (StepValue, common.cuh): a Python number, cast to T as
  // pybind11 casts any argument (a TypeError naming `name` otherwise), or a device scalar, a 0-d
  // (shape ()) array that the kernel reads when it runs: float64 for T = double (learning rates),
  // int64 for T = int64_t or uint64_t (step numbers; uint64_t reads the int64's bits). A device
  // scalar is checked like an input, with its own message and fix.
  template <typename T>
  StepValue<T> step_value(py::handle value, const char* name);

  // Raises when an output shares memory with any other checked array, except the (output, input)
  // pairs in `same_ok` when they are exactly the same array (an in-place op).
  void check_overlaps(std::initializer_list<std::pair<const char*, const char*>> same_ok = {}) const;

 private:
  struct Seen {
    const char* name;
    uintptr_t begin, end;
    bool output;
  };
  void* checked(py::handle array, const char* name, const Shape& shape, const char* typestr, const char* dtype,
                bool output);
  const char* op_;
  std::vector<Seen> seen_;
};

}  // namespace axonal::cuda
