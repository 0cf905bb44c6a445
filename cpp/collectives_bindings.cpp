// Python binding of the collectives (collectives.h): MpiReducer (MPI_Iallreduce, or a shared-memory
// window when every rank is on one host), built by axonal.distribution from
// mpi4py's handles and handed to TrainingLoop.run; its allreduce/sum_doubles exist for the tests
// and for hand-written loops that want the native path.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "checks.h"
#include "collectives.h"

namespace py = pybind11;

namespace axonal {

struct BoundReducer {
  std::unique_ptr<GradientReducer> reducer;
};

GradientReducer* reducer_of(py::handle object) {  // for training_loop_bindings.cpp: None or an MpiReducer
  if (object.is_none()) return nullptr;
  return object.cast<BoundReducer&>().reducer.get();
}

void bind_collectives(py::module_& m) {
  py::register_exception<CollectiveError>(m, "CollectiveError", PyExc_RuntimeError);
  m.def("find_loaded_mpi", &find_loaded_mpi,
        "The path of the loaded library that exports MPI_Iallreduce (empty when MPI is not loaded).");
  py::class_<BoundReducer>(m, "MpiReducer",
                           "Sums float buffers over the ranks of an MPI communicator, from native code "
                           "(cpp/collectives.h); built by axonal.distribution from mpi4py's handles.")
      .def(py::init([](int64_t comm, int64_t float_type, int64_t double_type, int64_t sum_op, int64_t side_comm,
                       int side_tag, int any_source, int handle_bytes, int rank, int size, bool deterministic,
                       int64_t bucket_bytes, double timeout_seconds, const std::string& library, bool shared_memory,
                       int64_t node_comm, int64_t info_null) {
             if (bucket_bytes < 4) fail("MpiReducer", "bucket_bytes must be at least 4.");
             if (!(timeout_seconds > 0)) fail("MpiReducer", "timeout_seconds must be positive.");
             MpiConfig c;
             c.comm = comm, c.float_type = float_type, c.double_type = double_type, c.sum_op = sum_op;
             c.side_comm = side_comm, c.side_tag = side_tag, c.any_source = any_source;
             c.handle_bytes = handle_bytes, c.rank = rank, c.size = size, c.deterministic = deterministic;
             c.bucket_bytes = bucket_bytes, c.timeout_seconds = timeout_seconds, c.library = library;
             c.shared_memory = shared_memory, c.node_comm = node_comm, c.info_null = info_null;
             auto bound = std::make_unique<BoundReducer>();
             bound->reducer = make_mpi_reducer(c);
             return bound;
           }),
           py::arg("comm"), py::arg("float_type"), py::arg("double_type"), py::arg("sum_op"), py::arg("side_comm"),
           py::arg("side_tag"), py::arg("any_source"), py::arg("handle_bytes"), py::arg("rank"), py::arg("size"),
           py::arg("deterministic"), py::arg("bucket_bytes"), py::arg("timeout_seconds"), py::arg("library") = "",
           py::arg("shared_memory") = false, py::arg("node_comm") = 0, py::arg("info_null") = 0,
           "With shared_memory, the ranks (all on one host; node_comm is their shared-memory communicator, "
           "in rank order) sum through an MPI shared-memory window (cpp/shared_memory_reducer.h).")
      .def("allreduce",
           [](BoundReducer& self, py::handle x) {
             const char* op = "MpiReducer.allreduce";
             const auto array = py::reinterpret_borrow<py::array>(x);
             const Shape s(array.shape(), array.shape() + array.ndim());
             const float* data = checked_data<float>(x, op, "x", s, false);
             py::array_t<float> out(s);
             float* sum = out.mutable_data();
             const int64_t n = static_cast<int64_t>(array.size());
             {
               KernelScope release;
               self.reducer->start(0, data, sum, n);
               self.reducer->wait();
             }
             return out;
           },
           py::arg("x"), "The sum of x (float32, C-contiguous) over the ranks, through the gradient path.")
      .def("sum_doubles",
           [](BoundReducer& self, std::vector<double> values) {
             {
               KernelScope release;
               self.reducer->sum_doubles(values.data(), static_cast<int64_t>(values.size()));
             }
             return values;
           },
           py::arg("values"), "values summed over the ranks in rank order.")
      .def_property_readonly(
          "shared_window", [](BoundReducer& self) { return self.reducer->shared_sum_area() != nullptr; },
          "Whether sums are made in a shared-memory window (true once a reduction has run on that path).")
      .def_property_readonly("waited_seconds", [](const BoundReducer& self) { return self.reducer->waited_seconds(); },
                             "Seconds spent blocked waiting for reductions so far (the part backward did not hide).");
}

}  // namespace axonal
