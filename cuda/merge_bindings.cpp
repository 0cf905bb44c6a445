// The merge part of axonal._cuda (merge.cuh), with the argument names, checks and error texts of the
// cpu backend's bindings (cpp/merge_bindings.cpp), plus the keyword `stream`. Every array, list
// entries included, is checked (checks.h) before anything is queued; then the GIL is released. The
// list entries are held by reference until the launches are queued.
#include <pybind11/pybind11.h>

#include <deque>
#include <string>
#include <vector>

#include "axonal/concat_widths.h"
#include "checks.h"
#include "merge.cuh"

namespace py = pybind11;
using py::arg;

namespace axonal::cuda {

namespace {

std::string type_name(py::handle value) {
  return py::str(py::type::handle_of(value).attr("__name__")).cast<std::string>();
}

// The entries of a list argument (a list or tuple), each held by a new reference, and their names
// ("inputs[3]"), which stay valid as long as the list: ArgCheck keeps the names until its overlap check.
class EntryList {
 public:
  EntryList(const ArgCheck& check, const char* name, py::handle list) {
    if (!py::isinstance<py::list>(list) && !py::isinstance<py::tuple>(list))
      check.fail(std::string("'") + name + "' must be a list of arrays; received a " + type_name(list) + ".");
    for (const py::handle item : list) {
      items_.push_back(py::reinterpret_borrow<py::object>(item));
      names_.push_back(std::string(name) + "[" + std::to_string(names_.size()) + "]");
    }
  }
  size_t size() const { return items_.size(); }
  py::handle operator[](size_t i) const { return items_[i]; }
  const char* name(size_t i) const { return names_[i].c_str(); }

 private:
  std::vector<py::object> items_;
  std::deque<std::string> names_;  // a deque never moves its elements: the c_str() pointers stay valid
};

MergeOp merge_op(const ArgCheck& check, const std::string& name) {
  MergeOp result;
  if (!parse_merge_op(name.c_str(), &result))
    check.fail("unknown op '" + name + "'; expected one of " + merge_op_list() + " (concatenation is concat_forward).");
  return result;
}

// The input count of a merge: 1 to kMaxMergeInputs (the pointers a launch carries), exactly 2 for subtract.
int merge_count(const ArgCheck& check, size_t n, MergeOp merge) {
  if (merge == MergeOp::subtract && n != 2)
    check.fail("'subtract' takes exactly 2 inputs (x0 - x1); received " + std::to_string(n) + ".");
  if (n < 1 || n > static_cast<size_t>(kMaxMergeInputs))
    check.fail("'inputs' must hold 1 to " + std::to_string(kMaxMergeInputs) + " arrays; received " +
               std::to_string(n) + ". Fix: merge in stages (merge the first " + std::to_string(kMaxMergeInputs) +
               ", then merge that result with the rest).");
  return static_cast<int>(n);
}

// y (N, K) = op(inputs[i] (N, K)); inputs may share memory with each other (they are only read).
void merge_forward_py(py::handle y, py::handle inputs, const std::string& op_name, uintptr_t stream) {
  ArgCheck check("merge_forward");
  const MergeOp merge = merge_op(check, op_name);
  const EntryList xs(check, "inputs", inputs);
  const int n = merge_count(check, xs.size(), merge);
  const Shape s = check.shape(y, "y", 2);
  float* y_ = check.output<float>(y, "y", s);
  const float* x_[kMaxMergeInputs] = {};
  for (int i = 0; i < n; ++i) x_[i] = check.input<float>(xs[i], xs.name(i), s);
  check.check_overlaps();
  py::gil_scoped_release release;
  merge_forward(y_, x_, n, s[0] * s[1], merge, as_stream(stream));
}

// dy (N, K), inputs[i] (N, K) -> dxs[i] (N, K) or None.
void merge_backward_py(py::handle dxs, py::handle dy, py::handle inputs, const std::string& op_name,
                       uintptr_t stream) {
  ArgCheck check("merge_backward");
  const MergeOp merge = merge_op(check, op_name);
  const EntryList xs(check, "inputs", inputs), ds(check, "dxs", dxs);
  const int n = merge_count(check, xs.size(), merge);
  if (ds.size() != xs.size())
    check.fail("'dxs' holds " + std::to_string(ds.size()) + " entries but 'inputs' " + std::to_string(n) +
               "; pass one gradient array (or None) per input.");
  const Shape s = check.shape(dy, "dy", 2);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const float* x_[kMaxMergeInputs] = {};
  float* dx_[kMaxMergeInputs] = {};
  for (int i = 0; i < n; ++i) x_[i] = check.input<float>(xs[i], xs.name(i), s);
  for (int i = 0; i < n; ++i) dx_[i] = check.optional_output<float>(ds[i], ds.name(i), s);
  check.check_overlaps();
  py::gil_scoped_release release;
  merge_backward(dx_, dy_, x_, n, s[0] * s[1], merge, as_stream(stream));
}

// inputs[i] (N, K_i) -> y (N, Σ K_i), any number of inputs.
void concat_forward_py(py::handle y, py::handle inputs, uintptr_t stream) {
  ArgCheck check("concat_forward");
  const EntryList xs(check, "inputs", inputs);
  const size_t n = xs.size();
  if (n < 1) check.fail("'inputs' must hold at least one array; received an empty list.");
  const Shape ys = check.shape(y, "y", 2);
  std::vector<int64_t> widths(n);
  std::vector<const float*> x_(n);
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const Shape s = check.shape(xs[i], xs.name(i), 2);
    if (s[0] != ys[0])
      check.fail(std::string("'") + xs.name(i) + "' has " + std::to_string(s[0]) + " rows but y has " +
                 std::to_string(ys[0]) + " (y is " + shape_text(ys) + ", " + xs.name(i) + " " + shape_text(s) + ").");
    widths[i] = s[1];
    total += s[1];
    x_[i] = check.input<float>(xs[i], xs.name(i), s);
  }
  if (total != ys[1])
    check.fail("the inputs' widths add up to " + std::to_string(total) + " columns but y has " +
               std::to_string(ys[1]) + " (y is " + shape_text(ys) + "); y must be (N, sum of the widths).");
  float* y_ = check.output<float>(y, "y", ys);
  check.check_overlaps();
  py::gil_scoped_release release;
  concat_forward(y_, x_.data(), widths.data(), static_cast<int>(n), ys[0], as_stream(stream));
}

// dy (N, Σ K_i) -> dxs[i] (N, K_i) or None; `widths` (every K_i) is needed only when two or more
// entries are None: one None's width is what the given arrays leave of dy's.
void concat_backward_py(py::handle dxs, py::handle dy, py::handle widths_arg, uintptr_t stream) {
  ArgCheck check("concat_backward");
  const EntryList ds(check, "dxs", dxs);
  const size_t n = ds.size();
  if (n < 1) check.fail("'dxs' must hold at least one entry (an array or None); received an empty list.");
  const Shape s = check.shape(dy, "dy", 2);
  std::vector<int64_t> widths(n, 0);
  std::vector<float*> dx_(n, nullptr);
  size_t missing = 0, missing_at = 0;
  int64_t known = 0;
  if (!widths_arg.is_none()) {
    if (const std::string problem = read_concat_widths(widths_arg, n, widths.data(), &known); !problem.empty())
      check.fail(problem);
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (ds[i].is_none()) {
        ++missing;
        missing_at = i;
        continue;
      }
      widths[i] = check.shape(ds[i], ds.name(i), 2)[1];
      known += widths[i];
    }
    if (missing > 1)
      check.fail("'dxs' holds " + std::to_string(missing) + " None entries, whose widths cannot be told apart; "
                 "pass widths=[...] (the last dimension of every input).");
  }
  // One None entry takes the columns the others leave; otherwise the widths must add up to dy's.
  if (missing == 1 ? known > s[1] : known != s[1])
    check.fail("the widths of 'dxs' add up to " + std::to_string(known) + " columns but dy has " +
               std::to_string(s[1]) + " (dy is " + shape_text(s) + ").");
  if (missing == 1) widths[missing_at] = s[1] - known;
  const float* dy_ = check.input<float>(dy, "dy", s);
  for (size_t i = 0; i < n; ++i) dx_[i] = check.optional_output<float>(ds[i], ds.name(i), {s[0], widths[i]});
  check.check_overlaps();
  py::gil_scoped_release release;
  concat_backward(dx_.data(), dy_, widths.data(), static_cast<int>(n), s[0], as_stream(stream));
}

// y += x, any shape (y's); no overlap at all.
void accumulate_py(py::handle y, py::handle x, uintptr_t stream) {
  ArgCheck check("accumulate");
  const Shape s = check.view(y, "y").shape;
  float* y_ = check.output<float>(y, "y", s);
  const float* x_ = check.input<float>(x, "x", s);
  check.check_overlaps();
  py::gil_scoped_release release;
  int64_t count = 1;
  for (int64_t extent : s) count *= extent;
  accumulate(y_, x_, count, as_stream(stream));
}

// y = factor · x, any shape (x's); y may be x exactly, not a part of it.
void scale_py(py::handle y, py::handle x, float factor, uintptr_t stream) {
  ArgCheck check("scale");
  const Shape s = check.view(x, "x").shape;
  float* y_ = check.output<float>(y, "y", s);
  const float* x_ = check.input<float>(x, "x", s);
  check.check_overlaps({{"y", "x"}});
  py::gil_scoped_release release;
  int64_t count = 1;
  for (int64_t extent : s) count *= extent;
  scale(y_, x_, count, factor, as_stream(stream));
}

}  // namespace

void bind_merge(py::module_& m, const py::arg_v& stream) {
  m.def("merge_forward", &merge_forward_py, arg("y"), arg("inputs"), arg("op"), stream,
        "y = op(inputs) elementwise; op: add, subtract (2 inputs), multiply, average, maximum, minimum.");
  m.def("merge_backward", &merge_backward_py, arg("dxs"), arg("dy"), arg("inputs"), arg("op"), stream,
        "dxs[i] = the gradient of input i (None entries skipped); maximum/minimum send dy to the first "
        "input holding the extreme.");
  m.def("concat_forward", &concat_forward_py, arg("y"), arg("inputs"), stream,
        "y = the inputs side by side (last axis).");
  m.def("concat_backward", &concat_backward_py, arg("dxs"), arg("dy"), arg("widths").none(true) = py::none(), stream,
        "dxs[i] = input i's columns of dy (None entries skipped; widths needed for two or more).");
  m.def("accumulate", &accumulate_py, arg("y"), arg("x"), stream, "y += x (gradient sums); y and x must not overlap.");
  m.def("scale", &scale_py, arg("y"), arg("x"), arg("factor"), stream, "y = factor * x; y may be x.");
}

}  // namespace axonal::cuda
