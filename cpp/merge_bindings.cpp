// Python bindings of the merge op family (merge.h) in axonal._native, with the signatures of the
// reference (backend/reference_merge.py). Every array, list entries included, goes through the one
// input-check helper (checks.h) before the GIL is released; the list entries are held by reference
// while the kernel runs, so another thread emptying a list cannot free an array under it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdio>
#include <string>
#include <vector>

#include "axonal/concat_widths.h"
#include "checks.h"
#include "merge.h"

namespace py = pybind11;
using py::arg;

namespace axonal {

namespace {

// Up to kMaxMergeInputs values on the stack (every merge and most concatenations), more on the heap:
// the common call allocates nothing.
template <typename T>
class SmallArray {
 public:
  explicit SmallArray(size_t size) : heap_(size > kMaxMergeInputs ? size : 0) {}
  T* data() { return heap_.empty() ? stack_ : heap_.data(); }
  T& operator[](size_t i) { return data()[i]; }

 private:
  T stack_[kMaxMergeInputs]{};
  std::vector<T> heap_;
};

// "inputs[3]": a list entry's name for messages, without allocating.
struct EntryName {
  EntryName(const char* list, size_t index) { std::snprintf(text, sizeof text, "%s[%zu]", list, index); }
  char text[32];
};

std::string type_name(py::handle value) {
  return py::str(py::type::handle_of(value).attr("__name__")).cast<std::string>();
}

// The entries of a list argument (a list or tuple), each held by a new reference.
class EntryList {
 public:
  EntryList(const char* op, const char* name, py::handle list) : items_(size_of(op, name, list)) {
    for (size_t i = 0; i < size_; ++i)
      items_[i] = py::reinterpret_borrow<py::object>(py::isinstance<py::list>(list) ? PyList_GET_ITEM(list.ptr(), i)
                                                                                     : PyTuple_GET_ITEM(list.ptr(), i));
  }
  size_t size() const { return size_; }
  py::handle operator[](size_t i) { return items_[i]; }

 private:
  size_t size_of(const char* op, const char* name, py::handle list) {
    if (!py::isinstance<py::list>(list) && !py::isinstance<py::tuple>(list))
      fail(op, std::string("'") + name + "' must be a list of arrays; received a " + type_name(list) + ".");
    size_ = static_cast<size_t>(py::len(list));
    return size_;
  }
  size_t size_ = 0;
  SmallArray<py::object> items_;
};

MergeOp merge_op(const char* op, const std::string& name) {
  MergeOp result;
  if (!parse_merge_op(name.c_str(), &result))
    fail(op, "unknown op '" + name + "'; expected one of " + merge_op_list() + " (concatenation is concat_forward).");
  return result;
}

// The input count of a merge: 1 to kMaxMergeInputs, exactly 2 for subtract.
int merge_count(const char* op, size_t n, MergeOp merge) {
  if (merge == MergeOp::subtract && n != 2)
    fail(op, "'subtract' takes exactly 2 inputs (x0 - x1); received " + std::to_string(n) + ".");
  if (n < 1 || n > static_cast<size_t>(kMaxMergeInputs))
    fail(op, "'inputs' must hold 1 to " + std::to_string(kMaxMergeInputs) + " arrays; received " + std::to_string(n) +
                 ". Fix: merge in stages (merge the first " + std::to_string(kMaxMergeInputs) +
                 ", then merge that result with the rest).");
  return static_cast<int>(n);
}

// The shape of an elementwise op's array: any number of dimensions (weight gradients are 1-D to 4-D).
Shape any_shape(const char* op, const char* name, py::handle array) {
  if (!py::isinstance<py::array>(array))
    fail(op, std::string("'") + name + "' must be a numpy array; received a " + type_name(array) + ".");
  const auto a = py::reinterpret_borrow<py::array>(array);
  return Shape(a.shape(), a.shape() + a.ndim());
}

// y (N, K) = op(inputs[i] (N, K)).
void merge_forward_py(py::handle y, py::handle inputs, const std::string& op_name) {
  const char* op = "merge_forward";
  const MergeOp merge = merge_op(op, op_name);
  EntryList xs(op, "inputs", inputs);
  const int n = merge_count(op, xs.size(), merge);
  const Shape s = shape_of(y, op, "y", 2);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* x_[kMaxMergeInputs] = {};
  for (int i = 0; i < n; ++i) {
    const EntryName name("inputs", i);
    x_[i] = checked_data<float>(xs[i], op, name.text, s, false);
    check_no_overlap(op, "y", y, name.text, xs[i], false);  // inputs may share memory: they are only read
  }
  KernelScope release;
  merge_forward(y_, x_, n, s[0] * s[1], merge);
}

// dy (N, K), inputs[i] (N, K) -> dxs[i] (N, K) or None.
void merge_backward_py(py::handle dxs, py::handle dy, py::handle inputs, const std::string& op_name) {
  const char* op = "merge_backward";
  const MergeOp merge = merge_op(op, op_name);
  EntryList xs(op, "inputs", inputs), ds(op, "dxs", dxs);
  const int n = merge_count(op, xs.size(), merge);
  if (ds.size() != xs.size())
    fail(op, "'dxs' holds " + std::to_string(ds.size()) + " entries but 'inputs' " + std::to_string(n) +
                 "; pass one gradient array (or None) per input.");
  const Shape s = shape_of(dy, op, "dy", 2);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const float* x_[kMaxMergeInputs] = {};
  float* dx_[kMaxMergeInputs] = {};
  for (int i = 0; i < n; ++i) x_[i] = checked_data<float>(xs[i], op, EntryName("inputs", i).text, s, false);
  for (int i = 0; i < n; ++i) {
    const EntryName name("dxs", i);
    dx_[i] = optional_data<float>(ds[i], op, name.text, s, true);
    check_no_overlap(op, name.text, ds[i], "dy", dy, false);
    for (int j = 0; j < n; ++j) check_no_overlap(op, name.text, ds[i], EntryName("inputs", j).text, xs[j], false);
    for (int j = 0; j < i; ++j) check_no_overlap(op, name.text, ds[i], EntryName("dxs", j).text, ds[j], false);
  }
  KernelScope release;
  merge_backward(dx_, dy_, x_, n, s[0] * s[1], merge);
}

// inputs[i] (N, K_i) -> y (N, Σ K_i).
void concat_forward_py(py::handle y, py::handle inputs) {
  const char* op = "concat_forward";
  EntryList xs(op, "inputs", inputs);
  const size_t n = xs.size();
  if (n < 1) fail(op, "'inputs' must hold at least one array; received an empty list.");
  const Shape ys = shape_of(y, op, "y", 2);
  SmallArray<int64_t> widths(n);
  SmallArray<const float*> x_(n);
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const EntryName name("inputs", i);
    const Shape s = shape_of(xs[i], op, name.text, 2);
    if (s[0] != ys[0])
      fail(op, std::string("'") + name.text + "' has " + std::to_string(s[0]) + " rows but y has " +
                   std::to_string(ys[0]) + " (y is " + shape_text(ys) + ", " + name.text + " " + shape_text(s) + ").");
    widths[i] = s[1];
    total += s[1];
    x_[i] = checked_data<float>(xs[i], op, name.text, s, false);
  }
  if (total != ys[1])
    fail(op, "the inputs' widths add up to " + std::to_string(total) + " columns but y has " + std::to_string(ys[1]) +
                 " (y is " + shape_text(ys) + "); y must be (N, sum of the widths).");
  float* y_ = checked_data<float>(y, op, "y", ys, true);
  for (size_t i = 0; i < n; ++i) check_no_overlap(op, "y", y, EntryName("inputs", i).text, xs[i], false);
  KernelScope release;
  concat_forward(y_, x_.data(), widths.data(), static_cast<int>(n), ys[0]);
}

// dy (N, Σ K_i) -> dxs[i] (N, K_i) or None. `widths` (every K_i) is needed only when two or more
// entries are None: one None's width is what the given arrays leave of dy's.
void concat_backward_py(py::handle dxs, py::handle dy, py::handle widths_arg) {
  const char* op = "concat_backward";
  EntryList ds(op, "dxs", dxs);
  const size_t n = ds.size();
  if (n < 1) fail(op, "'dxs' must hold at least one entry (an array or None); received an empty list.");
  const Shape s = shape_of(dy, op, "dy", 2);
  SmallArray<int64_t> widths(n);
  SmallArray<float*> dx_(n);
  size_t missing = 0, missing_at = 0;
  int64_t known = 0;
  if (!widths_arg.is_none()) {
    if (const std::string problem = read_concat_widths(widths_arg, n, widths.data(), &known); !problem.empty())
      fail(op, problem);
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (ds[i].is_none()) {
        ++missing;
        missing_at = i;
        continue;
      }
      widths[i] = shape_of(ds[i], op, EntryName("dxs", i).text, 2)[1];
      known += widths[i];
    }
    if (missing > 1)
      fail(op, "'dxs' holds " + std::to_string(missing) + " None entries, whose widths cannot be told apart; pass "
               "widths=[...] (the last dimension of every input).");
  }
  // One None entry takes the columns the others leave; otherwise the widths must add up to dy's.
  if (missing == 1 ? known > s[1] : known != s[1])
    fail(op, "the widths of 'dxs' add up to " + std::to_string(known) + " columns but dy has " + std::to_string(s[1]) +
                 " (dy is " + shape_text(s) + ").");
  if (missing == 1) widths[missing_at] = s[1] - known;
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  for (size_t i = 0; i < n; ++i) {
    const EntryName name("dxs", i);
    dx_[i] = optional_data<float>(ds[i], op, name.text, {s[0], widths[i]}, true);
    check_no_overlap(op, name.text, ds[i], "dy", dy, false);
    for (size_t j = 0; j < i; ++j) check_no_overlap(op, name.text, ds[i], EntryName("dxs", j).text, ds[j], false);
  }
  KernelScope release;
  concat_backward(dx_.data(), dy_, widths.data(), static_cast<int>(n), s[0]);
}

// y += x, any shape (y's).
void accumulate_py(py::handle y, py::handle x) {
  const char* op = "accumulate";
  const Shape s = any_shape(op, "y", y);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  check_no_overlap(op, "y", y, "x", x, false);
  KernelScope release;
  accumulate(y_, x_, static_cast<int64_t>(py::reinterpret_borrow<py::array>(y).size()));
}

// y = factor · x, any shape (x's); y may be x.
void scale_py(py::handle y, py::handle x, float factor) {
  const char* op = "scale";
  const Shape s = any_shape(op, "x", x);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  check_no_overlap(op, "y", y, "x", x, true);
  KernelScope release;
  scale(y_, x_, static_cast<int64_t>(py::reinterpret_borrow<py::array>(x).size()), factor);
}

}  // namespace

void bind_merge(py::module_& m) {
  m.def("merge_forward", &merge_forward_py, arg("y"), arg("inputs"), arg("op"),
        "y = op(inputs) elementwise; op: add, subtract (2 inputs), multiply, average, maximum, minimum.");
  m.def("merge_backward", &merge_backward_py, arg("dxs"), arg("dy"), arg("inputs"), arg("op"),
        "dxs[i] = the gradient of input i (None entries skipped); maximum/minimum send dy to the first "
        "input holding the extreme.");
  m.def("concat_forward", &concat_forward_py, arg("y"), arg("inputs"), "y = the inputs side by side (last axis).");
  m.def("concat_backward", &concat_backward_py, arg("dxs"), arg("dy"), arg("widths").none(true) = py::none(),
        "dxs[i] = input i's columns of dy (None entries skipped; widths needed for two or more).");
  m.def("accumulate", &accumulate_py, arg("y"), arg("x"), "y += x (gradient sums); y and x must not overlap.");
  m.def("scale", &scale_py, arg("y"), arg("x"), arg("factor"), "y = factor * x; y may be x.");
}

}  // namespace axonal
