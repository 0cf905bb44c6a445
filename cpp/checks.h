// The one input-check helper of the bindings: every array a native op touches is checked here for
// dtype, shape, C-contiguity, writability and overlap before the GIL is released and a kernel runs.
// A failed check raises ValueError naming the op, the argument, what was expected and what came.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "axonal/shape_text.h"
#include "denormals.h"

namespace axonal {

namespace py = pybind11;

using Shape = std::vector<int64_t>;

// The shape of `array`, after checking that it is a numpy array with `ndim` dimensions.
Shape shape_of(const py::handle& array, const char* op, const char* name, int ndim);

// Checks `array` against dtype T, `shape`, C order (and writability for outputs); returns its data.
template <typename T>
T* checked_data(const py::handle& array, const char* op, const char* name, const Shape& shape, bool output);

// As checked_data, but None gives nullptr (an optional output or slot).
template <typename T>
T* optional_data(const py::handle& array, const char* op, const char* name, const Shape& shape, bool output);

// Raises unless the memory of arrays `out` and `in` is disjoint (or, when allow_same, exactly the
// same). None on either side passes.
void check_no_overlap(const char* op, const char* out_name, const py::handle& out, const char* in_name,
                      const py::handle& in, bool allow_same);

// Raises when any two of the named outputs share memory (None entries are skipped).
void check_outputs_apart(const char* op, std::initializer_list<std::pair<const char*, py::handle>> outputs);

// Raises when any output shares memory with any input or another output (None entries are skipped).
void check_apart(const char* op, std::initializer_list<std::pair<const char*, py::handle>> outputs,
                 std::initializer_list<std::pair<const char*, py::handle>> inputs);

// What a binding holds while its kernel runs: the GIL released, subnormals flushed (denormals.h).
struct KernelScope {
  py::gil_scoped_release gil;
  FlushDenormals flush;
};

// Raises ValueError("<op>: <message>").
[[noreturn]] void fail(const char* op, const std::string& message);

}  // namespace axonal
