// The metric and counter part of axonal._cuda (metrics.cuh): accuracy counts added to an int64
// device counter and step counters advanced on the device, the ops a captured training step ends
// with. Checked like every op (checks.h), then queued on the stream with the GIL released; neither
// waits for the GPU nor allocates.
#include <pybind11/pybind11.h>

#include <string>

#include "checks.h"
#include "metrics.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

// total (): int64 counter += rows right. kind "categorical": targets (N, K) float32, right when the
// argmaxes agree; "sparse": targets (N,) int32/int64 class ids; "binary": K == 1, targets (N, 1) or
// (N,) float32, right when target == (prediction > threshold ? 1 : 0). TrainingLoop::count_metrics'
// rule; threshold is a float there too.
void accuracy_count_py(py::handle total, py::handle predictions, py::handle targets, const std::string& kind,
                       float threshold, uintptr_t stream) {
  ArgCheck check("accuracy_count");
  const Shape ps = check.shape(predictions, "predictions", 2);
  const int64_t N = ps[0], K = ps[1];
  if (K == 0) check.fail("'predictions' has no columns: " + shape_text(ps) + ".");
  const Shape total_shape = check.view(total, "total").shape;
  if (!total_shape.empty())
    check.fail("'total' must be an int64 device scalar (shape ()); received shape " + shape_text(total_shape) +
               ". Fix: cupy.zeros((), cupy.int64).");
  int64_t* total_ = check.output<int64_t>(total, "total", {});
  const float* p = check.input<float>(predictions, "predictions", ps);
  const cudaStream_t s = as_stream(stream);
  if (kind == "categorical") {
    const float* t = check.input<float>(targets, "targets", ps);
    check.check_overlaps();
    py::gil_scoped_release release;
    categorical_accuracy_count(total_, p, t, N, K, s);
  } else if (kind == "sparse") {
    if (check.view(targets, "targets").typestr == "i4") {
      const int32_t* ids = check.input<int32_t>(targets, "targets", {N});
      check.check_overlaps();
      py::gil_scoped_release release;
      sparse_accuracy_count<int32_t>(total_, p, ids, N, K, s);
    } else {  // int64 or a wrong dtype, which the check names
      const int64_t* ids = check.input<int64_t>(targets, "targets", {N});
      check.check_overlaps();
      py::gil_scoped_release release;
      sparse_accuracy_count<int64_t>(total_, p, ids, N, K, s);
    }
  } else if (kind == "binary") {
    if (K != 1)
      check.fail("binary accuracy needs one output column; 'predictions' is " + shape_text(ps) +
                 ". Use kind='categorical' or 'sparse' for several classes.");
    const bool flat = check.view(targets, "targets").shape.size() == 1;
    const float* t = check.input<float>(targets, "targets", flat ? Shape{N} : Shape{N, 1});
    check.check_overlaps();
    py::gil_scoped_release release;
    binary_accuracy_count(total_, p, t, N, threshold, s);
  } else {
    check.fail("unknown kind '" + kind + "'; expected one of categorical, sparse, binary.");
  }
}

// counters () or (n,): int64, each += 1
void increment_py(py::handle counters, uintptr_t stream) {
  ArgCheck check("increment");
  const DeviceArray c = check.view(counters, "counters");
  if (c.shape.size() > 1)
    check.fail("'counters' must be an int64 device array of shape () or (n,); received shape " +
               shape_text(c.shape) + ".");
  int64_t* c_ = check.output<int64_t>(counters, "counters", c.shape);
  py::gil_scoped_release release;
  increment(c_, c.size(), as_stream(stream));
}

}  // namespace

void bind_metrics(py::module_& m, const py::arg_v& stream) {
  m.def("accuracy_count", &accuracy_count_py, arg("total"), arg("predictions"), arg("targets"), arg("kind"),
        arg("threshold") = 0.5f, stream,
        "Adds to `total` (an int64 device scalar) the rows of the batch that are right; no wait, no allocation.");
  m.def("increment", &increment_py, arg("counters"), stream, "Adds 1 to every element of an int64 device array.");
}

}  // namespace axonal::cuda
