// Python binding of the native training loop (training_loop.h). The constructor checks every array
// it is given once and keeps a reference to each, so they outlive the loop; run() checks the data of
// each call. Both raise ValueError naming the argument, like every other binding (checks.h).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "checks.h"
#include "training_loop.h"

namespace py = pybind11;

namespace axonal {

GradientReducer* reducer_of(py::handle object);  // collectives_bindings.cpp: None or an MpiReducer
Act parse_activation(const char* op, const std::string& name);      // activation_bindings.cpp: fusable ones
Act parse_any_activation(const char* op, const std::string& name);  // activation_bindings.cpp: every one
Window window_geometry(const char* op, const Shape& xs, int64_t KH, int64_t KW, std::array<int64_t, 2> strides,
                       std::array<int64_t, 4> padding);  // conv_bindings.cpp
ImageResize padding_geometry(const char* op, const Shape& xs, std::array<int64_t, 4> padding);  // reshaping_bindings.cpp
ImageResize upsampling_geometry(const char* op, const Shape& xs, std::array<int64_t, 2> size);   // reshaping_bindings.cpp

namespace {

constexpr const char* kOp = "TrainingLoop";

struct BoundLoop {
  std::unique_ptr<TrainingLoop> loop;
  std::vector<std::pair<std::string, py::object>> outputs;  // arrays the loop writes
  std::vector<std::pair<std::string, py::object>> weights;  // arrays it reads at every forward pass
  std::vector<py::object> keep_alive;                       // every array it reads or writes
  bool updates = false;  // built with an optimiser: it may run training steps
  int64_t max_batch = 0;
};

template <typename T>
T item(const py::tuple& entry, size_t index, const std::string& what) {
  try {
    return entry[index].cast<T>();
  } catch (const py::cast_error&) {
    fail(kOp, what + ": item " + std::to_string(index) + " has the wrong type (" +
                  std::string(py::str(py::type::handle_of(entry[index]))) + ").");
  }
}

py::tuple as_tuple(const py::handle& entry, size_t size, const std::string& what) {
  if (!py::isinstance<py::tuple>(entry) || py::len(entry) != size)
    fail(kOp, what + " must be a tuple of " + std::to_string(size) + " items.");
  return py::reinterpret_borrow<py::tuple>(entry);
}

// A layer's window over one (H, W, C) image: items `image`, `image + 1` and `image + 2` of its tuple
// are (H, W, C), the strides and the padding. Checked like the ops check it, and against the running
// feature width.
Window parse_window(const py::tuple& t, size_t image, int64_t KH, int64_t KW, int64_t width, const std::string& what) {
  const auto hwc = item<std::array<int64_t, 3>>(t, image, what);
  const auto strides = item<std::array<int64_t, 2>>(t, image + 1, what);
  const auto padding = item<std::array<int64_t, 4>>(t, image + 2, what);
  if (hwc[0] < 1 || hwc[1] < 1 || hwc[2] < 1 || hwc[0] * hwc[1] * hwc[2] != width)
    fail(kOp, what + ": the image (" + std::to_string(hwc[0]) + ", " + std::to_string(hwc[1]) + ", " +
                  std::to_string(hwc[2]) + ") does not hold the layer's " + std::to_string(width) + " input features.");
  return window_geometry(kOp, {1, hwc[0], hwc[1], hwc[2]}, KH, KW, strides, padding);
}

// The arrays of a weighted layer (dense or conv2d) at items 5–11: W, b, dW, db, the fused activation, alpha
// and the activation applied separately after the kernel ('linear': none).
void parse_weights(BoundLoop& bound, LayerStep& layer, const py::tuple& t, const Shape& w, int64_t F,
                   const std::string& what) {
  layer.W = checked_data<float>(t[5], kOp, (what + ".W").c_str(), w, false);
  layer.b = optional_data<float>(t[6], kOp, (what + ".b").c_str(), {F}, false);
  layer.dW = optional_data<float>(t[7], kOp, (what + ".dW").c_str(), w, true);
  layer.db = optional_data<float>(t[8], kOp, (what + ".db").c_str(), {F}, true);
  layer.act = parse_activation(kOp, item<std::string>(t, 9, what));
  layer.alpha = item<float>(t, 10, what);
  layer.separate = parse_any_activation(kOp, item<std::string>(t, 11, what));
  for (int i = 5; i <= 8; ++i) bound.keep_alive.push_back(py::reinterpret_borrow<py::object>(t[i]));
  bound.weights.emplace_back(what + ".W", py::reinterpret_borrow<py::object>(t[5]));
  if (!t[6].is_none()) bound.weights.emplace_back(what + ".b", py::reinterpret_borrow<py::object>(t[6]));
  if (!t[7].is_none()) bound.outputs.emplace_back(what + ".dW", py::reinterpret_borrow<py::object>(t[7]));
  if (!t[8].is_none()) bound.outputs.emplace_back(what + ".db", py::reinterpret_borrow<py::object>(t[8]));
}

// Items 1–4 of every step: the tensors it reads (each already written), the tensor it writes (the
// next one), which inputs need their gradient, and whether backward runs it.
void parse_wiring(LayerStep& layer, const py::tuple& t, const std::vector<int64_t>& widths, const std::string& what) {
  layer.inputs = item<std::vector<int>>(t, 1, what);
  layer.output = item<int>(t, 2, what);
  const auto needs = item<std::vector<bool>>(t, 3, what);
  layer.backprop = item<bool>(t, 4, what);
  if (layer.inputs.empty() || needs.size() != layer.inputs.size())
    fail(kOp, what + ": it needs at least one input and one needs_dx flag per input.");
  if (layer.output != static_cast<int>(widths.size()))
    fail(kOp, what + ": it must write tensor " + std::to_string(widths.size()) + ", the next one.");
  for (int input : layer.inputs) {
    if (input < 0 || input >= static_cast<int>(widths.size()))
      fail(kOp, what + ": input tensor " + std::to_string(input) + " is not written before it.");
    layer.in_widths.push_back(widths[input]);
  }
  layer.needs_dx.assign(needs.begin(), needs.end());
  layer.out_width = layer.in_widths[0];
}

// A normalization step: batch_norm (..., gamma, beta, dgamma, dbeta, moving_mean, moving_variance, channels,
// momentum, epsilon, batch statistics in training) or layer_norm (..., gamma, beta, dgamma, dbeta, features,
// epsilon, rms_scaling). The width normalised must divide the input's features per sample.
void parse_normalization(BoundLoop& bound, LayerStep& layer, const py::tuple& spec, bool batch,
                         const std::string& what) {
  const py::tuple t = as_tuple(spec, batch ? 15 : 12, what);
  const int item_width = batch ? 11 : 9;
  layer.kind = batch ? LayerStep::Kind::batch_norm : LayerStep::Kind::layer_norm;
  layer.norm_width = item<int64_t>(t, item_width, what);
  if (layer.norm_width < 1 || layer.in_widths[0] % layer.norm_width != 0)
    fail(kOp, what + ": the normalised width " + std::to_string(layer.norm_width) + " does not divide the layer's " +
                  std::to_string(layer.in_widths[0]) + " input features.");
  const Shape w{layer.norm_width};
  layer.gamma = optional_data<float>(t[5], kOp, (what + ".gamma").c_str(), w, false);
  layer.beta = optional_data<float>(t[6], kOp, (what + ".beta").c_str(), w, false);
  layer.dgamma = optional_data<float>(t[7], kOp, (what + ".dgamma").c_str(), w, true);
  layer.dbeta = optional_data<float>(t[8], kOp, (what + ".dbeta").c_str(), w, true);
  layer.epsilon = item<double>(t, item_width + (batch ? 2 : 1), what);
  if (!(layer.epsilon > 0.0 && std::isfinite(layer.epsilon))) fail(kOp, what + ": epsilon must be positive and finite.");
  std::vector<std::pair<std::string, int>> written{{".dgamma", 7}, {".dbeta", 8}}, read{{".gamma", 5}, {".beta", 6}};
  if (batch) {
    layer.moving_mean = checked_data<float>(t[9], kOp, (what + ".moving_mean").c_str(), w, true);
    layer.moving_variance = checked_data<float>(t[10], kOp, (what + ".moving_variance").c_str(), w, true);
    layer.momentum = item<double>(t, 12, what);
    if (!(layer.momentum >= 0.0 && layer.momentum <= 1.0)) fail(kOp, what + ": momentum must be in [0, 1].");
    layer.batch_statistics = item<bool>(t, 14, what);
    written.push_back({".moving_mean", 9});  // written by training steps, read by predict's
    written.push_back({".moving_variance", 10});
    read.push_back({".moving_mean", 9});
    read.push_back({".moving_variance", 10});
  } else {
    layer.rms = item<bool>(t, 11, what);
  }
  for (const auto& [suffix, index] : read)
    if (!t[index].is_none()) bound.weights.emplace_back(what + suffix, py::reinterpret_borrow<py::object>(t[index]));
  for (const auto& [suffix, index] : written) {
    if (t[index].is_none()) continue;
    // A shared BatchNormalization's later calls move the same statistics: listed once, so that the
    // outputs' overlap check (which refuses two steps writing one array) lets them through.
    bool listed = false;
    for (const auto& entry : bound.outputs) listed = listed || entry.second.is(t[index]);
    if (!listed) bound.outputs.emplace_back(what + suffix, py::reinterpret_borrow<py::object>(t[index]));
  }
  for (int i = 5; i <= (batch ? 10 : 8); ++i) bound.keep_alive.push_back(py::reinterpret_borrow<py::object>(t[i]));
}

// The steps of issue #19's layers and of channels_first models: zero_pad2d (..., (M, H, W, B) of a
// sample, (top, bottom, left, right)), upsample2d (..., (M, H, W, B), (SH, SW)), spatial_dropout (...,
// (A, C, B) of a sample, rate, seed, position), embedding (..., W (V, D), dW or None) and transpose
// (..., rows, columns). Returns false for another kind.
bool parse_reshaping_layer(BoundLoop& bound, LayerStep& layer, const std::string& kind, const py::handle& spec,
                           const std::string& what) {
  const int64_t width = layer.in_widths[0];
  auto sample_matches = [&](int64_t count) {
    if (count != width)
      fail(kOp, what + ": the sample's geometry holds " + std::to_string(count) + " values; the layer's input has " +
                    std::to_string(width) + ".");
  };
  if (kind == "zero_pad2d" || kind == "upsample2d") {
    const py::tuple t = as_tuple(spec, 7, what);
    const auto image = item<std::array<int64_t, 4>>(t, 5, what);
    for (int64_t d : image)
      if (d < 1) fail(kOp, what + ": the sample's image dimensions must be positive.");
    const Shape sample{image[0], image[1], image[2], image[3]};
    sample_matches(image[0] * image[1] * image[2] * image[3]);
    if (kind == "zero_pad2d") {
      layer.kind = LayerStep::Kind::zero_pad2d;
      layer.resize = padding_geometry(kOp, sample, item<std::array<int64_t, 4>>(t, 6, what));
      layer.out_width = layer.resize.M * layer.resize.padded_h() * layer.resize.padded_w() * layer.resize.B;
    } else {
      layer.kind = LayerStep::Kind::upsample2d;
      layer.resize = upsampling_geometry(kOp, sample, item<std::array<int64_t, 2>>(t, 6, what));
      layer.out_width = width * layer.resize.SH * layer.resize.SW;
    }
  } else if (kind == "spatial_dropout") {
    const py::tuple t = as_tuple(spec, 9, what);
    const auto sample = item<std::array<int64_t, 3>>(t, 5, what);
    if (sample[0] < 1 || sample[1] < 1 || sample[2] < 1) fail(kOp, what + ": the sample's (A, C, B) must be positive.");
    sample_matches(sample[0] * sample[1] * sample[2]);
    layer.kind = LayerStep::Kind::spatial_dropout;
    layer.sample_a = sample[0], layer.sample_c = sample[1], layer.sample_b = sample[2];
    layer.rate = item<float>(t, 6, what);
    if (!(layer.rate >= 0.f && layer.rate < 1.f)) fail(kOp, what + ": rate must be in [0, 1).");
    layer.seed = item<uint32_t>(t, 7, what);
    layer.position = item<uint32_t>(t, 8, what);
  } else if (kind == "embedding") {
    const py::tuple t = as_tuple(spec, 7, what);
    const Shape w = shape_of(t[5], kOp, (what + ".W").c_str(), 2);
    layer.kind = LayerStep::Kind::embedding;
    layer.vocabulary = w[0], layer.vector_width = w[1];
    layer.W = checked_data<float>(t[5], kOp, (what + ".W").c_str(), w, false);
    layer.dW = optional_data<float>(t[6], kOp, (what + ".dW").c_str(), w, true);
    if (layer.needs_dx[0]) fail(kOp, what + ": an embedding passes no gradient to its ids (needs_dx must be false).");
    layer.out_width = width * w[1];
    for (int i = 5; i <= 6; ++i) bound.keep_alive.push_back(py::reinterpret_borrow<py::object>(t[i]));
    bound.weights.emplace_back(what + ".W", py::reinterpret_borrow<py::object>(t[5]));
    if (!t[6].is_none()) bound.outputs.emplace_back(what + ".dW", py::reinterpret_borrow<py::object>(t[6]));
  } else if (kind == "transpose") {
    const py::tuple t = as_tuple(spec, 7, what);
    layer.kind = LayerStep::Kind::transpose;
    layer.rows = item<int64_t>(t, 5, what), layer.columns = item<int64_t>(t, 6, what);
    if (layer.rows < 1 || layer.columns < 1) fail(kOp, what + ": rows and columns must be positive.");
    sample_matches(layer.rows * layer.columns);
  } else {
    return false;
  }
  return true;
}

// An augmentation step (..., kind, seed, position, (H, W, C), ranges (4), fill_mode, interpolation,
// fill_value, value_low, value_high): the layer's draws and map, as augment_draw and affine_forward /
// contrast_forward take them; the image must hold the layer's input features.
void parse_augment(LayerStep& layer, const py::tuple& spec, const std::string& what) {
  const py::tuple t = as_tuple(spec, 15, what);
  layer.kind = LayerStep::Kind::augment;
  const auto kind = item<std::string>(t, 5, what);
  if (!parse_augment_kind(kind.c_str(), &layer.augment_kind))
    fail(kOp, what + ": unknown augmentation '" + kind + "'; expected flip_horizontal, flip_vertical, flip_both, "
                  "translation, rotation, zoom, zoom_keep_aspect or contrast.");
  layer.seed = item<uint32_t>(t, 6, what);
  layer.position = item<uint32_t>(t, 7, what);
  const auto hwc = item<std::array<int64_t, 3>>(t, 8, what);
  if (hwc[0] < 1 || hwc[1] < 1 || hwc[2] < 1 || hwc[0] * hwc[1] * hwc[2] != layer.in_widths[0])
    fail(kOp, what + ": the image (" + std::to_string(hwc[0]) + ", " + std::to_string(hwc[1]) + ", " +
                  std::to_string(hwc[2]) + ") does not hold the layer's " + std::to_string(layer.in_widths[0]) +
                  " input features.");
  layer.image_h = hwc[0], layer.image_w = hwc[1], layer.image_c = hwc[2];
  const auto ranges = item<std::array<double, 4>>(t, 9, what);
  for (int k = 0; k < 4; ++k) {
    if (!(std::fabs(ranges[k]) <= 1024.0)) fail(kOp, what + ": the ranges must be finite numbers in [-1024, 1024].");
    layer.ranges[k] = ranges[k];
  }
  const auto fill_mode = item<std::string>(t, 10, what), interpolation = item<std::string>(t, 11, what);
  if (!parse_fill_mode(fill_mode.c_str(), &layer.fill_mode))
    fail(kOp, what + ": unknown fill_mode '" + fill_mode + "'; expected reflect, wrap, constant or nearest.");
  if (!parse_interpolation(interpolation.c_str(), &layer.bilinear))
    fail(kOp, what + ": unknown interpolation '" + interpolation + "'; expected bilinear or nearest.");
  layer.fill_value = item<float>(t, 12, what);
  layer.value_low = item<float>(t, 13, what);
  layer.value_high = item<float>(t, 14, what);
  if (!(layer.value_low <= layer.value_high)) fail(kOp, what + ": value_low must not exceed value_high.");
}

// A rescale (..., scale, offset) or normalize (..., mean, deviation) step: two (K,) arrays it reads at
// every forward pass (Normalization.adapt rewrites them in place).
void parse_feature_map(BoundLoop& bound, LayerStep& layer, const py::tuple& spec, bool normalize,
                       const std::string& what) {
  const py::tuple t = as_tuple(spec, 7, what);
  layer.kind = normalize ? LayerStep::Kind::normalize : LayerStep::Kind::rescale;
  const Shape k{layer.in_widths[0]};
  const char* names[2] = {normalize ? ".mean" : ".scale", normalize ? ".deviation" : ".offset"};
  const float* first = checked_data<float>(t[5], kOp, (what + names[0]).c_str(), k, false);
  const float* second = checked_data<float>(t[6], kOp, (what + names[1]).c_str(), k, false);
  layer.feature_a = normalize ? second : first;  // the deviation or the scale
  layer.feature_b = normalize ? first : second;  // the mean or the offset
  for (int i = 5; i <= 6; ++i) {
    bound.weights.emplace_back(what + names[i - 5], py::reinterpret_borrow<py::object>(t[i]));
    bound.keep_alive.push_back(py::reinterpret_borrow<py::object>(t[i]));
  }
}

// A step tuple -> LayerStep, checking its arrays against the widths of the tensors it reads.
LayerStep parse_layer(BoundLoop& bound, const py::handle& spec, size_t index, std::vector<int64_t>& widths) {
  const std::string what = "layers[" + std::to_string(index) + "]";
  if (!py::isinstance<py::tuple>(spec) || py::len(spec) < 5) fail(kOp, what + " must be a tuple of at least 5 items.");
  const auto kind = py::reinterpret_borrow<py::tuple>(spec)[0].cast<std::string>();
  LayerStep layer;
  parse_wiring(layer, py::reinterpret_borrow<py::tuple>(spec), widths, what);
  const int64_t width = layer.in_widths[0];
  if (kind == "dense") {  // (..., W, b, dW, db, activation, alpha, separate activation)
    const py::tuple t = as_tuple(spec, 12, what);
    const Shape w = shape_of(t[5], kOp, (what + ".W").c_str(), 2);
    if (w[0] != width) fail(kOp, what + ".W has " + std::to_string(w[0]) + " rows; the layer's input has " +
                                      std::to_string(width) + " features.");
    layer.kind = LayerStep::Kind::dense;
    layer.out_width = w[1];
    parse_weights(bound, layer, t, w, w[1], what);
  } else if (kind == "conv2d") {  // (..., W, b, dW, db, activation, alpha, separate, (H, W, C), strides, padding)
    const py::tuple t = as_tuple(spec, 15, what);
    const Shape w = shape_of(t[5], kOp, (what + ".W").c_str(), 4);
    layer.kind = LayerStep::Kind::conv2d;
    layer.window = parse_window(t, 12, w[0], w[1], width, what);
    if (w[2] != layer.window.C)
      fail(kOp, what + ".W is " + shape_text(w) + " but the image has " + std::to_string(layer.window.C) + " channels.");
    layer.filters = w[3];
    layer.out_width = layer.window.OH * layer.window.OW * w[3];
    parse_weights(bound, layer, t, w, w[3], what);
  } else if (kind == "max_pool2d" || kind == "avg_pool2d") {  // (..., pool, (H, W, C), strides, padding)
    const py::tuple t = as_tuple(spec, 9, what);
    const auto pool = item<std::array<int64_t, 2>>(t, 5, what);
    if (pool[0] < 1 || pool[1] < 1) fail(kOp, what + ": the pool size must be positive.");
    layer.kind = kind == "max_pool2d" ? LayerStep::Kind::max_pool2d : LayerStep::Kind::avg_pool2d;
    layer.window = parse_window(t, 6, pool[0], pool[1], width, what);
    layer.out_width = layer.window.OH * layer.window.OW * layer.window.C;
  } else if (kind == "dropout") {  // (..., rate, seed, position)
    const py::tuple t = as_tuple(spec, 8, what);
    layer.kind = LayerStep::Kind::dropout;
    layer.rate = item<float>(t, 5, what);
    if (!(layer.rate >= 0.f && layer.rate < 1.f)) fail(kOp, what + ": rate must be in [0, 1).");
    layer.seed = item<uint32_t>(t, 6, what);
    layer.position = item<uint32_t>(t, 7, what);
  } else if (kind == "activation") {  // (..., activation, alpha)
    const py::tuple t = as_tuple(spec, 7, what);
    layer.kind = LayerStep::Kind::activation;
    layer.act = parse_any_activation(kOp, item<std::string>(t, 5, what));
    layer.alpha = item<float>(t, 6, what);
  } else if (kind == "identity") {  // a reshape: the same values
    as_tuple(spec, 5, what);
    layer.kind = LayerStep::Kind::identity;
  } else if (kind == "merge") {  // (..., op): inputs of one width
    const py::tuple t = as_tuple(spec, 6, what);
    layer.kind = LayerStep::Kind::merge;
    if (!parse_merge_op(item<std::string>(t, 5, what).c_str(), &layer.merge_op))
      fail(kOp, what + ": unknown merge op; expected one of " + merge_op_list() + ".");
    if (layer.inputs.size() > static_cast<size_t>(kMaxMergeInputs))
      fail(kOp, what + ": a merge takes at most " + std::to_string(kMaxMergeInputs) + " inputs.");
    for (int64_t w : layer.in_widths)
      if (w != width) fail(kOp, what + ": a merge needs inputs of one width.");
  } else if (kind == "batch_norm" || kind == "layer_norm") {
    parse_normalization(bound, layer, py::reinterpret_borrow<py::tuple>(spec), kind == "batch_norm", what);
  } else if (kind == "augment") {
    parse_augment(layer, py::reinterpret_borrow<py::tuple>(spec), what);
  } else if (kind == "rescale" || kind == "normalize") {
    parse_feature_map(bound, layer, py::reinterpret_borrow<py::tuple>(spec), kind == "normalize", what);
  } else if (kind == "concat") {  // inputs side by side
    as_tuple(spec, 5, what);
    layer.kind = LayerStep::Kind::concat;
    layer.out_width = 0;
    for (int64_t w : layer.in_widths) layer.out_width += w;
  } else if (!parse_reshaping_layer(bound, layer, kind, spec, what)) {
    fail(kOp, what + ": unknown layer kind '" + kind + "'; expected dense, dropout, activation, conv2d, "
                  "max_pool2d, avg_pool2d, identity, merge, concat, batch_norm, layer_norm, zero_pad2d, upsample2d, "
                  "spatial_dropout, embedding, transpose, augment, rescale or normalize.");
  }
  widths.push_back(layer.out_width);
  return layer;
}

OptimizerSpec parse_optimizer(BoundLoop& bound, const std::string& name, const py::dict& hyper,
                              const py::list& params) {
  OptimizerSpec spec;
  if (name == "none") {  // an inference loop: nothing to update
    if (params.size() != 0) fail(kOp, "optimizer 'none' takes no params.");
    return spec;
  }
  spec.kind = optimizer_kind(name);
  if (spec.kind < 0) fail(kOp, "unknown optimizer update '" + name + "'; optimizer_kernels() lists the known ones.");
  const UpdateInfo& info = optimizer_info(spec.kind);
  for (int j = 0; j < info.hypers; ++j) {
    if (!hyper.contains(info.hyper_names[j])) fail(kOp, name + " needs the hyper-parameter '" + info.hyper_names[j] + "'.");
    spec.hyper.at[j] = hyper[info.hyper_names[j]].cast<double>();
  }
  spec.weight_decay = hyper.contains("weight_decay") ? hyper["weight_decay"].cast<double>() : 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string what = "params[" + std::to_string(i) + "]";
    const py::tuple t = as_tuple(params[i], 2 + kMaxSlots, what);
    if (!py::isinstance<py::array>(t[0])) fail(kOp, what + ": the parameter must be a numpy array.");
    const auto param = py::reinterpret_borrow<py::array>(t[0]);
    const Shape s(param.shape(), param.shape() + param.ndim());
    ParamUpdate update{checked_data<float>(t[0], kOp, (what + ".param").c_str(), s, true),
                       checked_data<float>(t[1], kOp, (what + ".grad").c_str(), s, false), {},
                       static_cast<int64_t>(param.size()), 0};
    unsigned present = 0;
    for (int k = 0; k < kMaxSlots; ++k) {
      const std::string slot = what + ".slot" + std::to_string(k);
      if (k >= info.slots && !t[2 + k].is_none()) fail(kOp, slot + ": " + name + " takes no such slot.");
      update.slots.at[k] = optional_data<float>(t[2 + k], kOp, slot.c_str(), s, true);
      if (t[2 + k].is_none()) continue;
      present |= 1u << k;
      bound.outputs.emplace_back(slot, py::reinterpret_borrow<py::object>(t[2 + k]));
    }
    const SlotUse use = use_slots(spec.kind, present, spec.hyper);
    if (!use.problem.empty()) fail(kOp, what + ": " + use.problem);
    update.used = use.used;
    bound.outputs.emplace_back(what + ".param", py::reinterpret_borrow<py::object>(t[0]));
    for (int k = 1; k < 2 + kMaxSlots; ++k) bound.keep_alive.push_back(py::reinterpret_borrow<py::object>(t[k]));
    check_no_overlap(kOp, (what + ".param").c_str(), t[0], (what + ".grad").c_str(), t[1], false);
    spec.params.push_back(update);
  }
  return spec;
}



LossKind parse_loss(const std::string& loss) {
  const std::vector<std::pair<std::string, LossKind>> losses = {
      {"softmax_cross_entropy", LossKind::softmax_cross_entropy},
      {"sparse_softmax_cross_entropy", LossKind::sparse_softmax_cross_entropy},
      {"sigmoid_binary_cross_entropy", LossKind::sigmoid_binary_cross_entropy},
      {"mean_squared_error", LossKind::mean_squared_error}, {"none", LossKind::none}};
  for (const auto& [known, kind] : losses)
    if (loss == known) return kind;
  fail(kOp, "unknown loss '" + loss + "'.");
}

// outputs[k] = (tensor, loss, absorbed activation, loss weight, [(metric, threshold), ...]).
std::vector<OutputSpec> parse_outputs(const py::list& outputs, const std::vector<int64_t>& widths) {
  std::vector<OutputSpec> specs;
  if (outputs.empty()) fail(kOp, "outputs is empty.");
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string what = "outputs[" + std::to_string(k) + "]";
    const py::tuple t = as_tuple(outputs[k], 5, what);
    OutputSpec spec;
    spec.tensor = item<int>(t, 0, what);
    if (spec.tensor < 0 || spec.tensor >= static_cast<int>(widths.size())) fail(kOp, what + ": no such tensor.");
    spec.loss = parse_loss(item<std::string>(t, 1, what));
    spec.absorbed = parse_activation(kOp, item<std::string>(t, 2, what));
    spec.weight = item<double>(t, 3, what);
    const bool sparse = spec.sparse();
    for (const auto& [name, threshold] : item<std::vector<std::pair<std::string, float>>>(t, 4, what)) {
      if (name == "categorical_accuracy" && !sparse) spec.metrics.push_back({MetricKind::categorical_accuracy});
      else if (name == "sparse_categorical_accuracy" && sparse)
        spec.metrics.push_back({MetricKind::sparse_categorical_accuracy});
      else if (name == "binary_accuracy" && !sparse && widths[spec.tensor] == 1)
        spec.metrics.push_back({MetricKind::binary_accuracy, threshold});
      else fail(kOp, what + ": metric '" + name + "' does not fit this loss and output (binary_accuracy needs one "
                     "output; sparse_categorical_accuracy needs class ids; categorical_accuracy one-hot rows).");
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

// The float arrays of a list, one per model input (or output), each (rows, widths[i]).
// An id input (loop.id_input(i), with `loop` given) is int32: its bits travel as the loop's 4-byte values.
std::vector<const float*> row_arrays(const py::list& arrays, const std::vector<int64_t>& widths, int64_t& rows,
                                     const char* name, bool writable, std::vector<float*>* out = nullptr,
                                     const TrainingLoop* loop = nullptr) {
  if (arrays.size() != widths.size())
    fail(kOp, std::string(name) + " holds " + std::to_string(arrays.size()) + " arrays; the model has " +
                  std::to_string(widths.size()) + ".");
  std::vector<const float*> data;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string what = std::string(name) + "[" + std::to_string(i) + "]";
    const Shape s = shape_of(arrays[i], kOp, what.c_str(), 2);
    if (i == 0 && rows < 0) rows = s[0];
    if (s[1] != widths[i])
      fail(kOp, what + " has " + std::to_string(s[1]) + " features per row; the model takes " +
                    std::to_string(widths[i]) + ".");
    if (loop != nullptr && loop->id_input(i)) {
      data.push_back(reinterpret_cast<const float*>(
          checked_data<int32_t>(arrays[i], kOp, what.c_str(), {rows, widths[i]}, writable)));
      continue;
    }
    float* p = checked_data<float>(arrays[i], kOp, what.c_str(), {rows, widths[i]}, writable);
    data.push_back(p);
    if (out != nullptr) out->push_back(p);
  }
  return data;
}

// Checks a run's data (shapes, labels in range, the order a permutation's range) before the GIL is
// released; the loop itself checks nothing.
py::tuple run_loop(BoundLoop& self, const py::list& xs, const py::list& targets, py::handle order,
                   int64_t batch_size, int64_t first_batch, int64_t max_steps, double seconds, uint64_t step,
                   int64_t iteration, double learning_rate, double loss_sum, std::vector<double> output_loss_sums,
                   bool train, py::handle reducer, int64_t shard_rank, int64_t shard_count,
                   py::handle sample_weights) {
  TrainingLoop& loop = *self.loop;
  if (!loop.trains()) fail(kOp, "this loop was built for inference (loss 'none'): it has no loss to compute.");
  if (train && !self.updates) fail(kOp, "this loop was built for testing (optimizer 'none'): it cannot train.");
  int64_t rows = -1;
  RunRequest r{train, row_arrays(xs, loop.input_widths(), rows, "xs", false, nullptr, &loop), {}, nullptr, rows,
               batch_size,
               first_batch, max_steps, seconds, step, iteration, learning_rate, loss_sum, std::move(output_loss_sums)};
  r.rows = rows;
  r.reducer = reducer_of(reducer);
  if (shard_count < 1 || shard_rank < 0 || shard_rank >= shard_count)
    fail(kOp, "shard_rank must be in [0, shard_count) and shard_count at least 1, received " +
                  std::to_string(shard_rank) + " of " + std::to_string(shard_count) + ".");
  r.shard_rank = shard_rank, r.shard_count = shard_count;
  const auto& outputs = loop.outputs();
  if (targets.size() != outputs.size())
    fail(kOp, "targets holds " + std::to_string(targets.size()) + " arrays; the model has " +
                  std::to_string(outputs.size()) + " outputs.");
  if (!r.output_loss_sums.empty() && r.output_loss_sums.size() != outputs.size())
    fail(kOp, "output_loss_sums must be empty or hold one sum per output.");
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string what = "targets[" + std::to_string(k) + "]";
    const int64_t K = loop.tensor_width(outputs[k].tensor);
    if (outputs[k].sparse()) {
      const int64_t* labels = checked_data<int64_t>(targets[k], kOp, what.c_str(), {rows}, false);
      for (int64_t n = 0; n < rows; ++n)
        if (labels[n] < 0 || labels[n] >= K)
          fail(kOp, "label " + std::to_string(labels[n]) + " at row " + std::to_string(n) + " of " + what +
                        " is outside [0, " + std::to_string(K) + ").");
      r.targets.push_back(labels);
    } else {
      r.targets.push_back(checked_data<float>(targets[k], kOp, what.c_str(), {rows, K}, false));
    }
  }
  if (!sample_weights.is_none()) {
    if (r.reducer != nullptr) fail(kOp, "sample_weights cannot be sharded over the ranks of a distribution.");
    r.sample_weights = checked_data<float>(sample_weights, kOp, "sample_weights", {rows}, false);
  }
  if (!order.is_none()) {
    r.order = checked_data<int64_t>(order, kOp, "order", {rows}, false);
    for (int64_t n = 0; n < rows; ++n)
      if (r.order[n] < 0 || r.order[n] >= rows) fail(kOp, "order holds a row outside [0, rows).");
  }
  if (batch_size < 1 || batch_size > self.max_batch)
    fail(kOp, "batch_size must be in [1, " + std::to_string(self.max_batch) + "].");
  if (first_batch < 0 || max_steps < 0 || iteration < 0 || !(seconds >= 0))
    fail(kOp, "first_batch, max_steps, iteration and seconds must not be negative.");
  for (const auto& [name, array] : self.outputs) {
    for (size_t i = 0; i < xs.size(); ++i) check_no_overlap(kOp, name.c_str(), array, "xs", xs[i], false);
    for (size_t k = 0; k < targets.size(); ++k) check_no_overlap(kOp, name.c_str(), array, "targets", targets[k], false);
    if (!sample_weights.is_none()) check_no_overlap(kOp, name.c_str(), array, "sample_weights", sample_weights, false);
  }
  RunResult result;
  try {
    KernelScope release;
    result = loop.run(r);
  } catch (const std::invalid_argument& error) {  // a bad id (training_loop.cpp), after the GIL is back
    fail(kOp, error.what());
  }
  return py::make_tuple(result.steps, result.seen, result.loss_sum, result.non_finite, result.metric_totals,
                        result.output_loss_sums);
}

int64_t predict_loop(BoundLoop& self, const py::list& xs, const py::list& outs, int64_t batch_size,
                     int64_t first_batch, int64_t max_batches, double seconds) {
  TrainingLoop& loop = *self.loop;
  int64_t rows = -1;
  const std::vector<const float*> x = row_arrays(xs, loop.input_widths(), rows, "xs", false, nullptr, &loop);
  std::vector<int64_t> widths;
  for (const OutputSpec& output : loop.outputs()) widths.push_back(loop.tensor_width(output.tensor));
  std::vector<float*> out;
  row_arrays(outs, widths, rows, "outs", true, &out);
  if (batch_size < 1 || batch_size > self.max_batch)
    fail(kOp, "batch_size must be in [1, " + std::to_string(self.max_batch) + "].");
  if (first_batch < 0 || max_batches < 0 || !(seconds >= 0))
    fail(kOp, "first_batch, max_batches and seconds must not be negative.");
  for (size_t k = 0; k < outs.size(); ++k) {
    for (size_t i = 0; i < xs.size(); ++i) check_no_overlap(kOp, "outs", outs[k], "xs", xs[i], false);
    for (const auto& [name, array] : self.weights) check_no_overlap(kOp, "outs", outs[k], name.c_str(), array, false);
  }
  try {
    KernelScope release;
    return loop.predict(x, out, rows, batch_size, first_batch, max_batches, seconds);
  } catch (const std::invalid_argument& error) {
    fail(kOp, error.what());
  }
}

}  // namespace

void bind_training_loop(py::module_& m) {
  py::class_<BoundLoop>(m, "TrainingLoop", "Whole batch sequences of a model's plan in native code "
                                           "(see cpp/training_loop.h); built by axonal.models.native_loop.")
      .def(py::init([](const py::list& layers, const std::vector<int64_t>& input_widths, const py::list& outputs,
                       const std::string& optimizer, const py::dict& hyper, const py::list& params,
                       const py::list& sums, int64_t max_batch, const std::vector<bool>& id_inputs) {
             auto bound = std::make_unique<BoundLoop>();
             if (layers.empty()) fail(kOp, "layers is empty.");
             if (input_widths.empty()) fail(kOp, "input_widths is empty.");
             for (int64_t w : input_widths)
               if (w < 1) fail(kOp, "every input width must be positive.");
             if (max_batch < 1 || max_batch > (int64_t{1} << 24)) fail(kOp, "max_batch must be in [1, 2^24].");
             std::vector<LayerStep> steps;
             std::vector<int64_t> widths = input_widths;
             for (size_t i = 0; i < layers.size(); ++i) steps.push_back(parse_layer(*bound, layers[i], i, widths));
             std::vector<OutputSpec> output_specs = parse_outputs(outputs, widths);
             bool inference = output_specs[0].loss == LossKind::none;
             for (const OutputSpec& spec : output_specs)
               if ((spec.loss == LossKind::none) != inference)
                 fail(kOp, "either every output has a loss or none does (loss 'none': an inference loop).");
             OptimizerSpec spec = parse_optimizer(*bound, optimizer, hyper, params);
             std::vector<GradientSum> gradient_sums;
             for (size_t i = 0; i < sums.size(); ++i) {
               const std::string what = "sums[" + std::to_string(i) + "]";
               const py::tuple t = as_tuple(sums[i], 2, what);
               const auto into = py::reinterpret_borrow<py::array>(t[0]);
               const Shape s(into.shape(), into.shape() + into.ndim());
               gradient_sums.push_back({checked_data<float>(t[0], kOp, (what + ".into").c_str(), s, true),
                                        checked_data<float>(t[1], kOp, (what + ".from").c_str(), s, false),
                                        static_cast<int64_t>(into.size())});
               // Both are gradient arrays the steps write (a layer's and its later call's): only
               // they must differ.
               check_no_overlap(kOp, (what + ".into").c_str(), t[0], (what + ".from").c_str(), t[1], false);
               bound->keep_alive.push_back(py::reinterpret_borrow<py::object>(t[0]));
               bound->keep_alive.push_back(py::reinterpret_borrow<py::object>(t[1]));
             }
             const auto& outs = bound->outputs;
             for (size_t i = 0; i < outs.size(); ++i)
               for (size_t j = i + 1; j < outs.size(); ++j)
                 check_no_overlap(kOp, outs[i].first.c_str(), outs[i].second, outs[j].first.c_str(), outs[j].second, false);
             bound->max_batch = max_batch;
             bound->updates = optimizer != "none";
             if (!id_inputs.empty() && id_inputs.size() != input_widths.size())
               fail(kOp, "id_inputs must be empty or hold one flag per input.");
             try {
               bound->loop = std::make_unique<TrainingLoop>(std::move(steps), input_widths, std::move(output_specs),
                                                            std::move(spec), std::move(gradient_sums), max_batch,
                                                            std::vector<char>(id_inputs.begin(), id_inputs.end()));
             } catch (const std::invalid_argument& error) {
               fail(kOp, error.what());
             }
             return bound;
           }),
           py::arg("layers"), py::arg("input_widths"), py::arg("outputs"), py::arg("optimizer"), py::arg("hyper"),
           py::arg("params"), py::arg("sums"), py::arg("max_batch"), py::arg("id_inputs") = std::vector<bool>{})
      .def("run", &run_loop, py::arg("xs"), py::arg("targets"), py::arg("order").none(true), py::arg("batch_size"),
           py::arg("first_batch"), py::arg("max_steps"), py::arg("seconds"), py::arg("step"), py::arg("iteration"),
           py::arg("learning_rate"), py::arg("loss_sum"), py::arg("output_loss_sums"), py::arg("train") = true,
           py::arg("reducer").none(true) = py::none(), py::arg("shard_rank") = 0, py::arg("shard_count") = 1,
           py::arg("sample_weights").none(true) = py::none(),
           "Run up to max_steps batches from first_batch (stopping once `seconds` have passed or a loss "
           "is not finite): training steps, or with train=False the loss and metrics of each batch in "
           "inference mode; returns (steps, rows seen, loss_sum, non_finite, metric totals, output loss sums). "
           "sample_weights (rows,) float32 weigh each row's losses (the metrics are not weighted). "
           "With a reducer (an MpiReducer) and shard_rank of shard_count, each global batch is sharded and "
           "the gradients and losses are summed over the ranks (docs/distributed.md).")
      .def("predict", &predict_loop, py::arg("xs"), py::arg("outs"), py::arg("batch_size"), py::arg("first_batch"),
           py::arg("max_batches"), py::arg("seconds"),
           "Predictions of batches [first_batch, first_batch + max_batches) of xs into outs (rows, K each), "
           "stopping once `seconds` have passed; returns the batches done.");
}

}  // namespace axonal
