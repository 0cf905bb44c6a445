// axonal._native: the CPU op list (docs/design.md) with the same Python signatures as the NumPy
// reference backend. Each binding checks every argument (checks.h), then releases the GIL and calls
// the kernel; kernels allocate nothing. Dense, the losses, dropout and the module's settings are here;
// the other families in their own files, as in cuda/ (activation_bindings.cpp, conv_bindings.cpp,
// optimizer_bindings.cpp, merge_bindings.cpp), the training loop in training_loop_bindings.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "blas.h"
#include "checks.h"
#include "cpu_features.h"
#include "dense.h"
#include "dropout.h"
#include "gemm.h"
#include "gemm_choice.h"
#include "losses.h"
#include "peak.h"

namespace py = pybind11;
using namespace axonal;
using py::arg;

namespace axonal {

Act parse_activation(const char* op, const std::string& name);  // activation_bindings.cpp: fused kernels' activations
void bind_activations(py::module_& m);                           // activation_bindings.cpp
void bind_optimizers(py::module_& m);                            // optimizer_bindings.cpp

void bind_conv(py::module_& m);           // conv_bindings.cpp: conv2d and the poolings
void bind_training_loop(py::module_& m);  // training_loop_bindings.cpp
void bind_collectives(py::module_& m);    // collectives_bindings.cpp
void bind_merge(py::module_& m);          // merge_bindings.cpp
void bind_embedding(py::module_& m);      // embedding_bindings.cpp
void bind_normalization(py::module_& m);  // normalization_bindings.cpp
void bind_reshaping(py::module_& m);      // reshaping_bindings.cpp: zero padding, upsampling, spatial dropout
void bind_augmentation(py::module_& m);  // augmentation_bindings.cpp

}  // namespace axonal

namespace {


void check_rate(const char* op, float rate) {
  if (!(rate >= 0.f && rate < 1.f)) fail(op, "rate must be in [0, 1); received " + std::to_string(rate) + ".");
}


void dense_forward_py(py::handle y, py::handle x, py::handle W, py::handle b, const std::string& activation,
                      float alpha) {
  const char* op = "dense_forward";
  const Shape xs = shape_of(x, op, "x", 2), ws = shape_of(W, op, "W", 2);
  const int64_t N = xs[0], C = xs[1], K = ws[1];
  if (ws[0] != C)
    fail(op, "x has " + std::to_string(C) + " features but W expects " + std::to_string(ws[0]) + " (W is " +
                 shape_text(ws) + ").");
  const Act act = parse_activation(op, activation);
  float* y_ = checked_data<float>(y, op, "y", {N, K}, true);
  const float* x_ = checked_data<float>(x, op, "x", xs, false);
  const float* W_ = checked_data<float>(W, op, "W", ws, false);
  const float* b_ = optional_data<float>(b, op, "b", {K}, false);
  check_no_overlap(op, "y", y, "x", x, false);
  check_no_overlap(op, "y", y, "W", W, false);
  check_no_overlap(op, "y", y, "b", b, false);
  KernelScope release;
  dense_forward(y_, x_, W_, b_, N, C, K, act, alpha);
}

void dense_backward_py(py::handle dx, py::handle dW, py::handle db, py::handle dz, py::handle dy, py::handle x,
                       py::handle W, py::handle y, const std::string& activation, float alpha) {
  const char* op = "dense_backward";
  const Shape xs = shape_of(x, op, "x", 2), ws = shape_of(W, op, "W", 2);
  const int64_t N = xs[0], C = xs[1], K = ws[1];
  if (ws[0] != C) fail(op, "x has " + std::to_string(C) + " features but W is " + shape_text(ws) + ".");
  const Act act = parse_activation(op, activation);
  float* dx_ = optional_data<float>(dx, op, "dx", {N, C}, true);
  float* dW_ = optional_data<float>(dW, op, "dW", {C, K}, true);
  float* db_ = optional_data<float>(db, op, "db", {K}, true);
  float* dz_ = checked_data<float>(dz, op, "dz", {N, K}, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", {N, K}, false);
  const float* x_ = checked_data<float>(x, op, "x", xs, false);
  const float* W_ = checked_data<float>(W, op, "W", ws, false);
  const float* y_ = checked_data<float>(y, op, "y", {N, K}, false);
  // dz may overwrite dy (it is computed from dy element by element); nothing else may overlap.
  check_no_overlap(op, "dz", dz, "dy", dy, act != Act::softmax);
  for (auto [name, out] : {std::pair{"dx", dx}, {"dW", dW}, {"db", db}, {"dz", dz}})
    for (auto [in_name, in] : {std::pair{"x", x}, {"W", W}, {"y", y}}) check_no_overlap(op, name, out, in_name, in, false);
  check_outputs_apart(op, {{"dx", dx}, {"dW", dW}, {"db", db}, {"dz", dz}});
  for (auto [name, out] : {std::pair{"dx", dx}, {"dW", dW}, {"db", db}}) check_no_overlap(op, name, out, "dy", dy, false);
  KernelScope release;
  dense_backward(dx_, dW_, db_, dz_, dy_, x_, W_, y_, N, C, K, act, alpha);
}

// Optional per-sample weights (N) of a loss, or nullptr.
const float* sample_weights(const char* op, const char* grad_name, py::handle grad, py::handle sample_weight,
                            const Shape& s) {
  const float* w = optional_data<float>(sample_weight, op, "sample_weight", {s[0]}, false);
  check_no_overlap(op, grad_name, grad, "sample_weight", sample_weight, false);
  return w;
}

// The fused losses share their checks: logits and gradient (N, K), nothing overlapping.
Shape check_loss_arrays(const char* op, py::handle grad, const char* grad_name, py::handle logits,
                        const char* logits_name, py::handle labels, const char* labels_name) {
  const Shape s = shape_of(logits, op, logits_name, 2);
  if (s[0] == 0 || s[1] == 0) fail(op, std::string("'") + logits_name + "' is empty: " + shape_text(s) + ".");
  checked_data<float>(grad, op, grad_name, s, true);
  checked_data<float>(logits, op, logits_name, s, false);
  check_no_overlap(op, grad_name, grad, logits_name, logits, true);
  check_no_overlap(op, grad_name, grad, labels_name, labels, false);
  return s;
}

template <typename Label>
double sparse_cross_entropy(py::handle dlogits, py::handle logits, py::handle labels, const float* weights,
                            const Shape& s) {
  const char* op = "softmax_cross_entropy";
  const Label* labels_ = checked_data<Label>(labels, op, "labels", {s[0]}, false);
  for (int64_t n = 0; n < s[0]; ++n)
    if (labels_[n] < 0 || labels_[n] >= s[1])
      fail(op, "label " + std::to_string(labels_[n]) + " at row " + std::to_string(n) + " is outside [0, " +
                   std::to_string(s[1]) + ") for " + std::to_string(s[1]) + " classes.");
  float* d_ = static_cast<float*>(py::reinterpret_borrow<py::array>(dlogits).mutable_data());
  const float* z_ = static_cast<const float*>(py::reinterpret_borrow<py::array>(logits).data());
  KernelScope release;
  return softmax_cross_entropy_sparse<Label>(d_, z_, labels_, weights, s[0], s[1]);
}

double softmax_cross_entropy_py(py::handle dlogits, py::handle logits, py::handle labels, py::handle sample_weight) {
  const char* op = "softmax_cross_entropy";
  const Shape s = check_loss_arrays(op, dlogits, "dlogits", logits, "logits", labels, "labels");
  const float* w_ = sample_weights(op, "dlogits", dlogits, sample_weight, s);
  if (py::isinstance<py::array_t<int32_t>>(labels)) return sparse_cross_entropy<int32_t>(dlogits, logits, labels, w_, s);
  if (py::isinstance<py::array_t<int64_t>>(labels)) return sparse_cross_entropy<int64_t>(dlogits, logits, labels, w_, s);
  const float* t_ = checked_data<float>(labels, op, "labels", s, false);
  float* d_ = static_cast<float*>(py::reinterpret_borrow<py::array>(dlogits).mutable_data());
  const float* z_ = static_cast<const float*>(py::reinterpret_borrow<py::array>(logits).data());
  KernelScope release;
  return softmax_cross_entropy(d_, z_, t_, w_, s[0], s[1]);
}

// sigmoid_binary_cross_entropy and mean_squared_error: elementwise over (N, K).
template <double (*Kernel)(float*, const float*, const float*, const float*, int64_t, int64_t)>
double elementwise_loss_py(const char* op, const char* grad_name, const char* pred_name, const char* target_name,
                           py::handle grad, py::handle pred, py::handle target, py::handle sample_weight) {
  const Shape s = check_loss_arrays(op, grad, grad_name, pred, pred_name, target, target_name);
  const float* t_ = checked_data<float>(target, op, target_name, s, false);
  const float* w_ = sample_weights(op, grad_name, grad, sample_weight, s);
  float* d_ = static_cast<float*>(py::reinterpret_borrow<py::array>(grad).mutable_data());
  const float* p_ = static_cast<const float*>(py::reinterpret_borrow<py::array>(pred).data());
  KernelScope release;
  return Kernel(d_, p_, t_, w_, s[0], s[1]);
}

void dropout_forward_py(py::handle y, py::handle mask, py::handle x, float rate, uint64_t seed, uint64_t layer_id,
                        uint64_t step, uint64_t first_element) {
  const char* op = "dropout_forward";
  check_rate(op, rate);
  const Shape s = shape_of(x, op, "x", 2);
  float* y_ = checked_data<float>(y, op, "y", s, true);
  uint8_t* mask_ = checked_data<uint8_t>(mask, op, "mask", s, true);
  const float* x_ = checked_data<float>(x, op, "x", s, false);
  check_no_overlap(op, "y", y, "x", x, true);
  check_no_overlap(op, "mask", mask, "x", x, false);
  check_no_overlap(op, "mask", mask, "y", y, false);
  KernelScope release;
  dropout_forward(y_, mask_, x_, s[0] * s[1], rate, static_cast<uint32_t>(seed), static_cast<uint32_t>(layer_id),
                  step, first_element);
}

void dropout_backward_py(py::handle dx, py::handle dy, py::handle mask, float rate) {
  const char* op = "dropout_backward";
  check_rate(op, rate);
  const Shape s = shape_of(dy, op, "dy", 2);
  float* dx_ = checked_data<float>(dx, op, "dx", s, true);
  const float* dy_ = checked_data<float>(dy, op, "dy", s, false);
  const uint8_t* mask_ = checked_data<uint8_t>(mask, op, "mask", s, false);
  check_no_overlap(op, "dx", dx, "dy", dy, true);
  check_no_overlap(op, "dx", dx, "mask", mask, false);
  KernelScope release;
  dropout_backward(dx_, dy_, mask_, s[0] * s[1], rate);
}

// Threads, instruction set, GEMM choice and the FMA peak: the settings and facts of the module.
void bind_settings(py::module_& m) {
  const auto checked_threads = [](const char* op, int threads) {
    if (threads < 1 || threads > 4096)
      fail(op, "threads must be in [1, 4096]; received " + std::to_string(threads) + ".");
  };
  m.def("set_num_threads", [checked_threads](int threads) {
    checked_threads("set_num_threads", threads);
    set_num_threads(threads);
  }, arg("threads"), "Threads for the kernels and the BLAS; pins the count (the training loop stops adapting it).");
  m.def("adapt_num_threads", [checked_threads](int threads) {
    checked_threads("adapt_num_threads", threads);
    adapt_num_threads(threads);
  }, arg("threads"), "Change the thread count without pinning it (the adaptive thread count's calls).");
  m.def("unpin_num_threads", &unpin_num_threads, "Back to OpenMP's count at load; the training loop adapts it again.");
  m.def("threads_pinned", &threads_pinned, "Whether the thread count is pinned (set_num_threads or OMP_NUM_THREADS).");
  m.def("default_num_threads", &default_num_threads, "OpenMP's thread count at load.");
  m.def("get_num_threads", &get_num_threads);
  m.def("blas_version", &blas_version);
  m.def("fma_peak_gflops", [checked_threads](int threads, double seconds, const std::string& isa_name_) {
    checked_threads("fma_peak_gflops", threads);
    if (!(seconds > 0 && seconds <= 60)) fail("fma_peak_gflops", "seconds must be in (0, 60]; received " + std::to_string(seconds) + ".");
    Isa isa = best_isa();
    if (!isa_name_.empty() && !parse_isa(isa_name_.c_str(), &isa))
      fail("fma_peak_gflops", "unknown instruction set '" + isa_name_ + "'; expected portable, avx2 or avx512 (or '' for the widest).");
    if (static_cast<int>(isa) > static_cast<int>(best_isa()))
      fail("fma_peak_gflops", std::string("this CPU does not run ") + isa_name_ + "; its widest is " + isa_name(best_isa()) + ".");
    KernelScope release;
    return fma_peak_gflops(threads, seconds, isa);
  }, arg("threads"), arg("seconds") = 1.0, arg("isa") = "",
     "GFLOP/s of a register-only fp32 FMA loop on `threads` threads with the vectors of `isa` (portable, avx2, "
     "avx512; '' the widest this CPU runs): the peak benchmarks divide by.");
  m.def("set_isa", [](const std::string& name) {
    Isa isa;
    if (!parse_isa(name.c_str(), &isa)) fail("set_isa", "unknown instruction set '" + name + "'; expected portable, avx2 or avx512.");
    set_isa_limit(isa);
  }, arg("name"), "Cap the instruction set of the hot loops (tests; AXONAL_ISA sets it at import).");
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); }, "The instruction set the hot loops use now.");
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); }, "The widest instruction set this CPU runs.");
  m.def("set_gemm", [](const std::string& name, const std::string& why) {
    GemmImpl impl;
    if (!parse_gemm_impl(name.c_str(), &impl)) fail("set_gemm", "unknown GEMM '" + name + "'; expected blas or own.");
    if (impl == GemmImpl::own && !own_gemm_available())
      fail("set_gemm", "'own' needs AVX-512, which this CPU (or the AXONAL_ISA cap) does not allow; use 'blas'.");
    set_gemm_impl(impl, why);
  }, arg("name"), arg("why") = "pinned by set_gemm()",
     "Pin the GEMM: 'blas' (the library) or 'own' (AVX-512 kernels; AXONAL_GEMM pins it at import); `why` is what "
     "gemm_choice() reports.");
  m.def("get_gemm", [] { return std::string(gemm_impl_name(gemm_impl())); }, "The GEMM the kernels call now.");
  m.def("gemm_choice", &gemm_choice_text, "How the GEMM was chosen: measured, read back from its file, or pinned.");
  m.def("time_gemm_pair", [] {
    double own = 0, blas = 0;
    if (!own_gemm_available())
      fail("time_gemm_pair", "the own GEMM needs AVX-512, which this CPU (or the AXONAL_ISA cap) does not allow.");
    {
      py::gil_scoped_release release;
      time_gemm_pair(&own, &blas);
    }
    return py::make_tuple(own, blas);
  }, "Median seconds of W1's three GEMMs (own, blas), timed in alternation: what the choice measures.");
  m.def("pick_gemm", [](double own_s, double blas_s) { return std::string(gemm_impl_name(pick_gemm(own_s, blas_s))); },
        arg("own_s"), arg("blas_s"),
        "The choice for these timings: 'own' only when it takes at most 95% of the library's time.");
  m.def("fma_peak_isa", &fma_peak_isa, "The vector width fma_peak_gflops uses: avx512f, avx2 or scalar.");
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "axonal's CPU kernels (see docs/design.md for the op list and conventions).";
  bind_activations(m);
  m.def("dense_forward", &dense_forward_py, arg("y"), arg("x"), arg("W"), arg("b").none(true), arg("activation"),
        arg("alpha"));
  m.def("dense_backward", &dense_backward_py, arg("dx").none(true), arg("dW").none(true), arg("db").none(true), arg("dz"),
        arg("dy"), arg("x"), arg("W"), arg("y"), arg("activation"), arg("alpha"));
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, arg("dlogits"), arg("logits"), arg("labels"),
        arg("sample_weight").none(true) = py::none());
  m.def("sigmoid_binary_cross_entropy", [](py::handle d, py::handle z, py::handle t, py::handle w) {
    return elementwise_loss_py<sigmoid_binary_cross_entropy>("sigmoid_binary_cross_entropy", "dlogits", "logits", "labels",
                                                             d, z, t, w);
  }, arg("dlogits"), arg("logits"), arg("labels"), arg("sample_weight").none(true) = py::none());
  m.def("mean_squared_error", [](py::handle d, py::handle p, py::handle t, py::handle w) {
    return elementwise_loss_py<mean_squared_error>("mean_squared_error", "dpred", "pred", "target", d, p, t, w);
  }, arg("dpred"), arg("pred"), arg("target"), arg("sample_weight").none(true) = py::none());
  m.def("dropout_forward", &dropout_forward_py, arg("y"), arg("mask"), arg("x"), arg("rate"), arg("seed"),
        arg("layer_id"), arg("step"), arg("first_element") = 0);
  m.def("dropout_backward", &dropout_backward_py, arg("dx"), arg("dy"), arg("mask"), arg("rate"));

  bind_conv(m);
  bind_optimizers(m);
  bind_collectives(m);
  bind_training_loop(m);
  bind_merge(m);
  bind_embedding(m);
  bind_reshaping(m);
  bind_normalization(m);
  bind_augmentation(m);
  bind_settings(m);
  m.attr("compiler") = AXONAL_COMPILER;
  m.attr("build_flags") = AXONAL_BUILD_FLAGS;
}
