// Python bindings of the embedding op family (embedding.h) in axonal._native, with the signatures of
// the reference (backend/reference_embedding.py). Every array is checked (checks.h), and every index
// against the matrix's rows, before the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "checks.h"
#include "embedding.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

namespace {

// Raises, naming the first index outside [0, V) and its position.
void check_indices(const char* op, const int32_t* indices, int64_t M, int64_t V) {
  const int64_t bad = first_bad_index(indices, M, V);
  if (bad >= 0)
    fail(op, "index " + std::to_string(indices[bad]) + " at position " + std::to_string(bad) + " is outside [0, " +
                 std::to_string(V) + ") (the embedding matrix has " + std::to_string(V) + " rows).");
}

// indices (M,) int32, W (V, D) -> y (M, D).
void embedding_forward_py(py::handle y, py::handle indices, py::handle W) {
  const char* op = "embedding_forward";
  const Shape is = shape_of(indices, op, "indices", 1), ws = shape_of(W, op, "W", 2);
  const int64_t M = is[0], V = ws[0], D = ws[1];
  float* y_ = checked_data<float>(y, op, "y", {M, D}, true);
  const int32_t* i_ = checked_data<int32_t>(indices, op, "indices", is, false);
  const float* W_ = checked_data<float>(W, op, "W", ws, false);
  check_no_overlap(op, "y", y, "W", W, false);
  check_no_overlap(op, "y", y, "indices", indices, false);
  check_indices(op, i_, M, V);
  KernelScope release;
  embedding_forward(y_, i_, W_, M, V, D);
}

// dy (M, D), indices (M,) int32 -> dW (V, D), overwritten.
void embedding_backward_py(py::handle dW, py::handle dy, py::handle indices) {
  const char* op = "embedding_backward";
  const Shape is = shape_of(indices, op, "indices", 1), ws = shape_of(dW, op, "dW", 2);
  const int64_t M = is[0], V = ws[0], D = ws[1];
  float* dW_ = checked_data<float>(dW, op, "dW", ws, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", {M, D}, false);
  const int32_t* i_ = checked_data<int32_t>(indices, op, "indices", is, false);
  check_no_overlap(op, "dW", dW, "dy", dy, false);
  check_no_overlap(op, "dW", dW, "indices", indices, false);
  check_indices(op, i_, M, V);
  KernelScope release;
  embedding_backward(dW_, dy_, i_, M, V, D);
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_forward", &embedding_forward_py, arg("y"), arg("indices"), arg("W"),
        "y (M, D) = W[indices]: indices (M,) int32 in [0, V), W (V, D).");
  m.def("embedding_backward", &embedding_backward_py, arg("dW"), arg("dy"), arg("indices"),
        "dW (V, D) = zeros, then dW[indices[m]] += dy[m] in order of m (deterministic).");
}

}  // namespace axonal
