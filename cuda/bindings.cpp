// axonal._cuda: the CUDA op list (docs/design.md, docs/cuda.md) with the Python signatures of the cpu
// backend plus a last keyword `stream` (a cudaStream_t as an int; axonal.backend.cuda passes cupy's
// current stream). Arguments are cupy arrays, checked by checks.h; then the GIL is released and the
// kernels are queued on the stream. Nothing waits for the GPU except a loss whose value is asked for
// on the host (no `loss_out`).
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "checks.h"
#include "dense.cuh"
#include "dropout.cuh"
#include "losses.cuh"

namespace py = pybind11;
using namespace axonal;
using namespace axonal::cuda;
using py::arg;

namespace axonal::cuda {
void bind_activations(py::module_& m, const py::arg_v& stream);  // activation_bindings.cpp
void bind_optimizers(py::module_& m, const py::arg_v& stream);   // optimizer_bindings.cpp
void bind_conv(py::module_& m, const py::arg_v& stream);         // conv_bindings.cpp
void bind_metrics(py::module_& m, const py::arg_v& stream);      // metrics_bindings.cpp
void bind_merge(py::module_& m, const py::arg_v& stream);        // merge_bindings.cpp
void bind_embedding(py::module_& m, const py::arg_v& stream);    // embedding_bindings.cpp
void bind_reshaping(py::module_& m, const py::arg_v& stream);    // reshaping_bindings.cpp (and spatial dropout)
void bind_normalization(py::module_& m, const py::arg_v& stream);  // normalization_bindings.cpp
void bind_augmentation(py::module_& m, const py::arg_v& stream);  // augmentation_bindings.cpp
// An activation a fused kernel can apply (activation_bindings.cpp; it refuses those whose
// derivative needs the input z, which dense and conv2d do not keep).
Act parse_activation(const ArgCheck& check, const std::string& name);

// cuBLAS takes int sizes. Shared with conv_bindings.cpp (which declares it), hence outside the
// anonymous namespace.
void check_gemm_sizes(const ArgCheck& check, std::initializer_list<int64_t> sizes) {
  for (int64_t size : sizes)
    if (size > INT_MAX) check.fail("a dimension of " + std::to_string(size) + " exceeds cuBLAS's int range.");
}

}  // namespace axonal::cuda

namespace {

void check_rate(const ArgCheck& check, float rate) {
  if (!(rate >= 0.f && rate < 1.f)) check.fail("rate must be in [0, 1); received " + std::to_string(rate) + ".");
}

void dense_forward_py(py::handle y, py::handle x, py::handle W, py::handle b, const std::string& activation,
                      float alpha, uintptr_t stream) {
  ArgCheck check("dense_forward");
  const Shape xs = check.shape(x, "x", 2), ws = check.shape(W, "W", 2);
  const int64_t N = xs[0], C = xs[1], K = ws[1];
  if (ws[0] != C)
    check.fail("x has " + std::to_string(C) + " features but W expects " + std::to_string(ws[0]) + " (W is " +
               shape_text(ws) + ").");
  check_gemm_sizes(check, {N, C, K});
  const Act act = parse_activation(check, activation);
  float* y_ = check.output<float>(y, "y", {N, K});
  const float* x_ = check.input<float>(x, "x", xs);
  const float* W_ = check.input<float>(W, "W", ws);
  const float* b_ = check.optional_input<float>(b, "b", {K});
  check.check_overlaps();
  py::gil_scoped_release release;
  dense_forward(y_, x_, W_, b_, N, C, K, act, alpha, as_stream(stream));
}

void dense_backward_py(py::handle dx, py::handle dW, py::handle db, py::handle dz, py::handle dy, py::handle x,
                       py::handle W, py::handle y, const std::string& activation, float alpha, uintptr_t stream) {
  ArgCheck check("dense_backward");
  const Shape xs = check.shape(x, "x", 2), ws = check.shape(W, "W", 2);
  const int64_t N = xs[0], C = xs[1], K = ws[1];
  if (ws[0] != C) check.fail("x has " + std::to_string(C) + " features but W is " + shape_text(ws) + ".");
  check_gemm_sizes(check, {N, C, K});
  const Act act = parse_activation(check, activation);
  float* dx_ = check.optional_output<float>(dx, "dx", {N, C});
  float* dW_ = check.optional_output<float>(dW, "dW", {C, K});
  float* db_ = check.optional_output<float>(db, "db", {K});
  float* dz_ = check.output<float>(dz, "dz", {N, K});
  const float* dy_ = check.input<float>(dy, "dy", {N, K});
  const float* x_ = check.input<float>(x, "x", xs);
  const float* W_ = check.input<float>(W, "W", ws);
  const float* y_ = check.input<float>(y, "y", {N, K});
  // dz may overwrite dy (it is computed from dy element by element), as in cpu; nothing else overlaps.
  if (act == Act::softmax) check.check_overlaps();
  else check.check_overlaps({{"dz", "dy"}});
  py::gil_scoped_release release;
  dense_backward(dx_, dW_, db_, dz_, dy_, x_, W_, y_, N, C, K, act, alpha, as_stream(stream));
}

// A loss's value: written to `loss_out` (returned as is, without waiting) and added to `loss_sum`
// when given; otherwise written to the stream's own slot and returned as a Python float (the only
// place an op waits for the GPU). `launch(loss, loss_sum, stream)` queues the loss kernel.
template <typename Launch>
py::object run_loss(ArgCheck& check, const char* grad_name, const char* pred_name, py::handle loss_out,
                    py::handle loss_sum, uintptr_t stream, Launch launch) {
  double* out = loss_out.is_none() ? nullptr : check.scalar_output(loss_out, "loss_out");
  double* sum = loss_sum.is_none() ? nullptr : check.scalar_output(loss_sum, "loss_sum");
  check.check_overlaps({{grad_name, pred_name}});
  const cudaStream_t s = as_stream(stream);
  double value = 0.0;
  {
    py::gil_scoped_release release;
    launch(out ? out : default_loss_slot(s), sum, s);
    if (!out) value = fetch_loss(default_loss_slot(s), s);
  }
  return out ? py::reinterpret_borrow<py::object>(loss_out) : py::object(py::float_(value));
}

// logits (N, K), non-empty, the gradient of the same shape, optional sample weights (N,).
Shape check_loss_arrays(ArgCheck& check, py::handle grad, const char* grad_name, py::handle pred,
                        const char* pred_name, float** grad_, const float** pred_) {
  const Shape s = check.shape(pred, pred_name, 2);
  if (s[0] == 0 || s[1] == 0) check.fail(std::string("'") + pred_name + "' is empty: " + shape_text(s) + ".");
  *grad_ = check.output<float>(grad, grad_name, s);
  *pred_ = check.input<float>(pred, pred_name, s);
  return s;
}

py::object softmax_cross_entropy_py(py::handle dlogits, py::handle logits, py::handle labels, py::handle sample_weight,
                                    py::handle loss_out, py::handle loss_sum, uintptr_t stream) {
  ArgCheck check("softmax_cross_entropy");
  float* d = nullptr;
  const float* z = nullptr;
  const Shape s = check_loss_arrays(check, dlogits, "dlogits", logits, "logits", &d, &z);
  const float* w = check.optional_input<float>(sample_weight, "sample_weight", {s[0]});
  const DeviceArray l = check.view(labels, "labels");
  auto finish = [&](auto launch) { return run_loss(check, "dlogits", "logits", loss_out, loss_sum, stream, launch); };
  if (l.shape.size() == 1 && l.typestr == "i4") {
    const int32_t* ids = check.input<int32_t>(labels, "labels", {s[0]});
    return finish([&](double* loss, double* sum, cudaStream_t st) {
      softmax_cross_entropy_sparse<int32_t>(loss, sum, d, z, ids, w, s[0], s[1], st);
    });
  }
  if (l.shape.size() == 1 && l.typestr == "i8") {
    const int64_t* ids = check.input<int64_t>(labels, "labels", {s[0]});
    return finish([&](double* loss, double* sum, cudaStream_t st) {
      softmax_cross_entropy_sparse<int64_t>(loss, sum, d, z, ids, w, s[0], s[1], st);
    });
  }
  const float* t = check.input<float>(labels, "labels", s);  // (N, K) one-hot or probabilities
  return finish([&](double* loss, double* sum, cudaStream_t st) {
    softmax_cross_entropy(loss, sum, d, z, t, w, s[0], s[1], st);
  });
}

using ElementwiseLoss = void (*)(double*, double*, float*, const float*, const float*, const float*, int64_t, int64_t,
                                 cudaStream_t);

// sigmoid_binary_cross_entropy and mean_squared_error: elementwise over (N, K).
py::object elementwise_loss_py(ElementwiseLoss kernel, const char* op, const char* grad_name, const char* pred_name,
                               const char* target_name, py::handle grad, py::handle pred, py::handle target,
                               py::handle sample_weight, py::handle loss_out, py::handle loss_sum, uintptr_t stream) {
  ArgCheck check(op);
  float* d = nullptr;
  const float* p = nullptr;
  const Shape s = check_loss_arrays(check, grad, grad_name, pred, pred_name, &d, &p);
  const float* t = check.input<float>(target, target_name, s);
  const float* w = check.optional_input<float>(sample_weight, "sample_weight", {s[0]});
  return run_loss(check, grad_name, pred_name, loss_out, loss_sum, stream,
                  [&](double* loss, double* sum, cudaStream_t st) { kernel(loss, sum, d, p, t, w, s[0], s[1], st); });
}

// `step`: a Python int, or an int64 device scalar read when the kernel runs (a step counter that a
// captured CUDA graph advances on the device); the same value gives the same mask either way.
// `first_element`: the mask of element i is element first_element + i's (a data-parallel shard's place).
void dropout_forward_py(py::handle y, py::handle mask, py::handle x, float rate, uint64_t seed, uint64_t layer_id,
                        py::handle step, uintptr_t stream, uint64_t first_element) {
  ArgCheck check("dropout_forward");
  check_rate(check, rate);
  const Shape s = check.shape(x, "x", 2);
  float* y_ = check.output<float>(y, "y", s);
  uint8_t* mask_ = check.output<uint8_t>(mask, "mask", s);
  const float* x_ = check.input<float>(x, "x", s);
  const StepValue<uint64_t> step_ = check.step_value<uint64_t>(step, "step");
  check.check_overlaps({{"y", "x"}});
  py::gil_scoped_release release;
  // seed and layer_id are taken mod 2^32, as on every backend (docs/design.md, "Randomness").
  dropout_forward(y_, mask_, x_, s[0] * s[1], rate, static_cast<uint32_t>(seed), static_cast<uint32_t>(layer_id),
                  step_, as_stream(stream), first_element);
}

void dropout_backward_py(py::handle dx, py::handle dy, py::handle mask, float rate, uintptr_t stream) {
  ArgCheck check("dropout_backward");
  check_rate(check, rate);
  const Shape s = check.shape(dy, "dy", 2);
  float* dx_ = check.output<float>(dx, "dx", s);
  const float* dy_ = check.input<float>(dy, "dy", s);
  const uint8_t* mask_ = check.input<uint8_t>(mask, "mask", s);
  check.check_overlaps({{"dx", "dy"}});
  py::gil_scoped_release release;
  dropout_backward(dx_, dy_, mask_, s[0] * s[1], rate, as_stream(stream));
}

// "no usable GPU" reasons, in the order a user would fix them; "" when the backend can run.
std::string device_problem() {
  if (!dlopen("libcuda.so.1", RTLD_LAZY | RTLD_GLOBAL))
    return std::string("no NVIDIA driver: libcuda.so.1 cannot be loaded (") + dlerror() + ")";
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) return "no usable NVIDIA driver was found";
  if (driver / 1000 < CUDART_VERSION / 1000)
    return "the NVIDIA driver supports CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
           ", older than the CUDA " + std::to_string(CUDART_VERSION / 1000) + " axonal._cuda was built with; update the driver";
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0))
    return std::string("no CUDA GPU is visible") + (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : "");
  if (status != cudaSuccess) return std::string("the CUDA runtime cannot start: ") + cudaGetErrorString(status);
  int device = 0, major = 0, minor = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  if (major < 8)
    return "GPU " + std::to_string(device) + " has compute capability " + std::to_string(major) + "." +
           std::to_string(minor) + "; axonal._cuda is built for 8.0 and newer (" AXONAL_CUDA_ARCHITECTURES ")";
  return "";
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "axonal's CUDA kernels on cupy arrays (docs/cuda.md). Every op takes a last keyword `stream`.";
  const auto stream = arg("stream") = uintptr_t{0};
  bind_activations(m, stream);
  m.def("dense_forward", &dense_forward_py, arg("y"), arg("x"), arg("W"), arg("b").none(true), arg("activation"),
        arg("alpha"), stream);
  m.def("dense_backward", &dense_backward_py, arg("dx").none(true), arg("dW").none(true), arg("db").none(true),
        arg("dz"), arg("dy"), arg("x"), arg("W"), arg("y"), arg("activation"), arg("alpha"), stream);
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, arg("dlogits"), arg("logits"), arg("labels"),
        arg("sample_weight").none(true) = py::none(), arg("loss_out").none(true) = py::none(),
        arg("loss_sum").none(true) = py::none(), stream,
        "Returns the mean loss as a float (waits for the stream), or `loss_out` (a float64 device scalar) "
        "holding it without waiting; `loss_sum`, when given, accumulates it on the device.");
  m.def("sigmoid_binary_cross_entropy", [](py::handle d, py::handle z, py::handle t, py::handle w, py::handle out,
                                           py::handle sum, uintptr_t s) {
    return elementwise_loss_py(&sigmoid_binary_cross_entropy, "sigmoid_binary_cross_entropy", "dlogits", "logits",
                               "labels", d, z, t, w, out, sum, s);
  }, arg("dlogits"), arg("logits"), arg("labels"), arg("sample_weight").none(true) = py::none(),
     arg("loss_out").none(true) = py::none(), arg("loss_sum").none(true) = py::none(), stream);
  m.def("mean_squared_error", [](py::handle d, py::handle p, py::handle t, py::handle w, py::handle out,
                                 py::handle sum, uintptr_t s) {
    return elementwise_loss_py(&mean_squared_error, "mean_squared_error", "dpred", "pred", "target", d, p, t, w, out,
                               sum, s);
  }, arg("dpred"), arg("pred"), arg("target"), arg("sample_weight").none(true) = py::none(),
     arg("loss_out").none(true) = py::none(), arg("loss_sum").none(true) = py::none(), stream);
  m.def("dropout_forward", &dropout_forward_py, arg("y"), arg("mask"), arg("x"), arg("rate"), arg("seed"),
        arg("layer_id"), arg("step"), stream, arg("first_element") = 0);
  m.def("dropout_backward", &dropout_backward_py, arg("dx"), arg("dy"), arg("mask"), arg("rate"), stream);

  bind_conv(m, stream);
  bind_optimizers(m, stream);
  bind_metrics(m, stream);
  bind_merge(m, stream);
  bind_embedding(m, stream);
  bind_reshaping(m, stream);
  bind_normalization(m, stream);
  bind_augmentation(m, stream);

  m.def("set_allow_tf32", &set_allow_tf32, arg("allow"),
        "Let cuBLAS use TF32 tensor cores for float32 GEMMs (off by default: results then match the other backends).");
  m.def("get_allow_tf32", &get_allow_tf32);
  m.def("cublas_version", [] { return std::string(cublas_version()); });
  m.def("device_problem", &device_problem, "Why no GPU can run the kernels here, or '' when one can.");
  m.attr("cuda_runtime_version") = CUDART_VERSION;
  m.attr("architectures") = AXONAL_CUDA_ARCHITECTURES;
}
