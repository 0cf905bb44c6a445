// The embedding part of axonal._cuda (embedding.cuh), with the argument names, checks and error texts
// of the cpu backend's bindings (cpp/embedding_bindings.cpp), plus the keyword `stream`. Arrays are
// checked (checks.h) before anything is queued; the index values live on the device and are not read
// back (the launch stays capturable): the model checks them on the host (layers/embedding.py).
#include <pybind11/pybind11.h>

#include "checks.h"
#include "embedding.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

// indices (M,) int32, W (V, D) -> y (M, D).
void embedding_forward_py(py::handle y, py::handle indices, py::handle W, uintptr_t stream) {
  ArgCheck check("embedding_forward");
  const Shape is = check.shape(indices, "indices", 1), ws = check.shape(W, "W", 2);
  const int64_t M = is[0], V = ws[0], D = ws[1];
  float* y_ = check.output<float>(y, "y", {M, D});
  const int32_t* i_ = check.input<int32_t>(indices, "indices", is);
  const float* W_ = check.input<float>(W, "W", ws);
  check.check_overlaps();
  py::gil_scoped_release release;
  embedding_forward(y_, i_, W_, M, V, D, as_stream(stream));
}

// dy (M, D), indices (M,) int32 -> dW (V, D), overwritten.
void embedding_backward_py(py::handle dW, py::handle dy, py::handle indices, uintptr_t stream) {
  ArgCheck check("embedding_backward");
  const Shape is = check.shape(indices, "indices", 1), ws = check.shape(dW, "dW", 2);
  const int64_t M = is[0], V = ws[0], D = ws[1];
  float* dW_ = check.output<float>(dW, "dW", ws);
  const float* dy_ = check.input<float>(dy, "dy", {M, D});
  const int32_t* i_ = check.input<int32_t>(indices, "indices", is);
  check.check_overlaps();
  py::gil_scoped_release release;
  embedding_backward(dW_, dy_, i_, M, V, D, as_stream(stream));
}

}  // namespace

void bind_embedding(py::module_& m, const py::arg_v& stream) {
  m.def("embedding_forward", &embedding_forward_py, arg("y"), arg("indices"), arg("W"), stream,
        "y (M, D) = W[indices]: indices (M,) int32, W (V, D); an index outside [0, V) gives zeros.");
  m.def("embedding_backward", &embedding_backward_py, arg("dW"), arg("dy"), arg("indices"), stream,
        "dW (V, D) = zeros, then dW[indices[m]] += dy[m] in order of m (deterministic, no atomics).");
}

}  // namespace axonal::cuda
