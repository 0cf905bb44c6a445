#include "training_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "activations.h"
#include "augmentation.h"
#include "conv.h"
#include "dense.h"
#include "dropout.h"
#include "embedding.h"
#include "losses.h"
#include "merge.h"
#include "normalization.h"
#include "optimizers.h"
#include "pooling.h"
#include "reshaping.h"
#include "spatial_dropout.h"

namespace axonal {

template <typename T>
void AlignedBuffer<T>::allocate(int64_t count) {
  const size_t bytes = ((static_cast<size_t>(count) * sizeof(T) + 63) / 64) * 64;  // a multiple of 64
  T* memory = static_cast<T*>(std::aligned_alloc(64, bytes ? bytes : 64));
  if (memory == nullptr) throw std::bad_alloc();
  data = std::unique_ptr<T[], void (*)(T*)>(memory, [](T* p) { std::free(p); });
}

template struct AlignedBuffer<float>;
template struct AlignedBuffer<uint8_t>;
template struct AlignedBuffer<int64_t>;
template struct AlignedBuffer<int32_t>;
template struct AlignedBuffer<double>;

namespace {
// The layer's window over a batch of N images.
Window batch_window(const LayerStep& layer, int64_t N) {
  Window g = layer.window;
  g.N = N;
  return g;
}

// A zero_pad2d or upsample2d step's geometry over a batch of N samples.
ImageResize batch_resize(const LayerStep& layer, int64_t N) {
  ImageResize g = layer.resize;
  g.M = N * layer.resize.M;
  return g;
}

// An augmentation step in training: this step's draws, then the flip/translation/rotation/zoom
// resampling or the contrast, as the layer's forward calls them.
void augment(LayerStep& layer, const float* in, int64_t N, uint64_t step, int64_t first_row) {
  const int64_t H = layer.image_h, W = layer.image_w, C = layer.image_c;
  augment_draw(layer.params.get(), layer.augment_kind, layer.seed, layer.position, step, N, H, W, layer.ranges,
               static_cast<uint64_t>(first_row));
  if (layer.augment_kind == AugmentKind::contrast)
    contrast_forward(layer.y.get(), layer.mask.get(), in, layer.params.get(), N, H, W, C, layer.value_low,
                     layer.value_high);
  else affine_forward(layer.y.get(), in, layer.params.get(), N, H, W, C, layer.fill_mode, layer.bilinear,
                      layer.fill_value);
}

void augment_backward(LayerStep& layer, float* dx, const float* dy, int64_t N) {
  const int64_t H = layer.image_h, W = layer.image_w, C = layer.image_c;
  if (layer.augment_kind == AugmentKind::contrast)
    contrast_backward(dx, dy, layer.mask.get(), layer.params.get(), N, H, W, C);
  else affine_backward(dx, dy, layer.params.get(), N, H, W, C, layer.fill_mode, layer.bilinear);
}

// A dense or conv2d step's output: its kernel's output y, or the separate activation applied to it.
const float* activate_separately(LayerStep& layer, int64_t N) {
  if (layer.separate == Act::linear) return layer.y.get();
  activation_forward(layer.activated.get(), layer.y.get(), N, layer.out_width, layer.separate, layer.alpha);
  return layer.activated.get();
}

// d loss / d kernel output from d loss / d step output (dy itself without a separate activation).
const float* deactivate_separately(LayerStep& layer, const float* dy, int64_t N) {
  if (layer.separate == Act::linear) return dy;
  activation_backward(layer.dactivated.get(), dy, layer.y.get(), N, layer.out_width, layer.separate, layer.alpha);
  return layer.dactivated.get();
}
}  // namespace

TrainingLoop::TrainingLoop(std::vector<LayerStep> layers, std::vector<int64_t> input_widths,
                           std::vector<OutputSpec> outputs, OptimizerSpec optimizer, std::vector<GradientSum> sums,
                           int64_t max_batch, std::vector<char> id_inputs)
    : layers_(std::move(layers)), input_widths_(std::move(input_widths)), outputs_(std::move(outputs)),
      optimizer_(std::move(optimizer)), sums_(std::move(sums)), max_batch_(max_batch) {
  const size_t tensors = input_widths_.size() + layers_.size();
  widths_.assign(tensors, 0);
  consumers_.assign(tensors, 0);
  is_ids_.assign(tensors, 0);
  for (size_t i = 0; i < input_widths_.size(); ++i) {
    widths_[i] = input_widths_[i];
    is_ids_[i] = i < id_inputs.size() && id_inputs[i];
  }
  // Ids are int32, so only steps that take them as such may read them: an embedding, or a reshape
  // (identity) whose output is ids again.
  for (size_t k = 0; k < layers_.size(); ++k) {
    const LayerStep& layer = layers_[k];
    const bool embedding = layer.kind == LayerStep::Kind::embedding, identity = layer.kind == LayerStep::Kind::identity;
    for (int t : layer.inputs)
      if (is_ids_[t] && !embedding && !identity)
        throw std::invalid_argument("layers[" + std::to_string(k) + "] reads tensor " + std::to_string(t) +
                                    ", which holds int32 ids; only embedding and identity steps read ids.");
    if (embedding && !is_ids_[layer.inputs[0]])
      throw std::invalid_argument("layers[" + std::to_string(k) + "] (embedding) reads tensor " +
                                  std::to_string(layer.inputs[0]) + ", which is not an id input (id_inputs).");
    is_ids_[layer.output] = identity && is_ids_[layer.inputs[0]];
  }
  for (const OutputSpec& output : outputs_)
    if (is_ids_[output.tensor])
      throw std::invalid_argument("output tensor " + std::to_string(output.tensor) + " holds ids, not values.");
  for (LayerStep& layer : layers_) {
    widths_[layer.output] = layer.out_width;
    for (int t : layer.inputs) consumers_[t] += 1;
    const int64_t out = max_batch * layer.out_width, in = max_batch * layer.in_widths[0];
    layer.y.allocate(out);
    const bool weighted = layer.kind == LayerStep::Kind::dense || layer.kind == LayerStep::Kind::conv2d;
    if (weighted && layer.backprop) layer.dz.allocate(out);
    if (layer.separate != Act::linear) {
      layer.activated.allocate(out);
      if (layer.backprop) layer.dactivated.allocate(out);
    }
    layer.dx.resize(layer.inputs.size());
    for (size_t i = 0; i < layer.inputs.size(); ++i)
      if (layer.backprop && layer.needs_dx[i]) layer.dx[i].allocate(max_batch * layer.in_widths[i]);
    if (layer.kind == LayerStep::Kind::dropout) layer.mask.allocate(in);
    if (layer.kind == LayerStep::Kind::spatial_dropout) layer.mask.allocate(max_batch * layer.sample_c);
    if (layer.kind == LayerStep::Kind::augment) {
      layer.params.allocate(max_batch * kAugmentParams);
      if (layer.augment_kind == AugmentKind::contrast) layer.mask.allocate(in);
    }
    if (layer.kind == LayerStep::Kind::max_pool2d) layer.argmax.allocate(out);
    if (layer.kind == LayerStep::Kind::batch_norm || layer.kind == LayerStep::Kind::layer_norm) {
      // per channel (batch_norm) or per row of the largest batch (layer_norm)
      const int64_t stats = layer.kind == LayerStep::Kind::batch_norm ? layer.norm_width : out / layer.norm_width;
      layer.norm_mean.allocate(stats);
      layer.norm_inv_std.allocate(stats);
    }
  }
  for (const OutputSpec& output : outputs_) consumers_[output.tensor] += 1;
  sum_.resize(tensors);
  for (size_t t = 0; t < tensors; ++t)
    if (consumers_[t] > 1) sum_[t].allocate(max_batch * widths_[t]);
  x_batch_.resize(input_widths_.size());
  for (size_t i = 0; i < input_widths_.size(); ++i) x_batch_[i].allocate(max_batch * input_widths_[i]);
  const size_t count = outputs_.size();
  targets_batch_.resize(count), labels_batch_.resize(count), doutputs_.resize(count), predictions_.resize(count);
  weights_batch_.allocate(max_batch);
  for (size_t k = 0; k < count; ++k) {
    const int64_t K = widths_[outputs_[k].tensor];
    targets_batch_[k].allocate(max_batch * K);
    labels_batch_[k].allocate(max_batch);
    doutputs_[k].allocate(max_batch * K);
    predictions_[k].allocate(max_batch * K);
  }
  value_.assign(tensors, nullptr);
  gradient_.assign(tensors, nullptr);
  summed_.assign(tensors, 0);
}

// value_[inputs] (N, width) -> value_[every tensor], as the model's forward pass; dropout only in
// training. A step that changes nothing (a reshape, dropout at inference, a linear activation)
// hands its input on unchanged.
// first_row: the batch's first row within its global batch (a data-parallel shard's offset), so that
// a dropout mask element is drawn with its global index and a shard gets the 1-rank run's masks.
void TrainingLoop::forward(int64_t N, uint64_t step, bool training, int64_t first_row) {
  for (LayerStep& layer : layers_) {
    const float* in = value_[layer.inputs[0]];
    layer.input = in;
    const float* out = layer.y.get();
    switch (layer.kind) {
      case LayerStep::Kind::dense:
        dense_forward(layer.y.get(), in, layer.W, layer.b, N, layer.in_widths[0], layer.out_width, layer.act,
                      layer.alpha);
        out = activate_separately(layer, N);
        break;
      case LayerStep::Kind::dropout:
        if (training && layer.rate > 0.f)
          dropout_forward(layer.y.get(), layer.mask.get(), in, N * layer.in_widths[0], layer.rate, layer.seed,
                          layer.position, step, static_cast<uint64_t>(first_row * layer.in_widths[0]));
        else out = in;
        break;
      case LayerStep::Kind::activation:
        if (layer.act != Act::linear) activation_forward(layer.y.get(), in, N, layer.out_width, layer.act, layer.alpha);
        else out = in;
        break;
      case LayerStep::Kind::conv2d:
        conv2d_forward(layer.y.get(), in, layer.W, layer.b, batch_window(layer, N), layer.filters, layer.act,
                       layer.alpha);
        out = activate_separately(layer, N);
        break;
      case LayerStep::Kind::max_pool2d:
        max_pool2d_forward(layer.y.get(), layer.argmax.get(), in, batch_window(layer, N));
        break;
      case LayerStep::Kind::avg_pool2d:
        avg_pool2d_forward(layer.y.get(), in, batch_window(layer, N));
        break;
      case LayerStep::Kind::identity:
        out = in;
        break;
      case LayerStep::Kind::merge: {
        const float* xs[kMaxMergeInputs];
        for (size_t i = 0; i < layer.inputs.size(); ++i) xs[i] = value_[layer.inputs[i]];
        merge_forward(layer.y.get(), xs, static_cast<int>(layer.inputs.size()), N * layer.out_width, layer.merge_op);
        break;
      }
      case LayerStep::Kind::batch_norm: {
        const int64_t rows = N * layer.out_width / layer.norm_width;
        // Keras 3: a frozen layer normalises with its moving statistics even while the model trains.
        layer.used_batch_statistics = training && layer.batch_statistics;
        if (layer.used_batch_statistics)
          batch_norm_forward(layer.y.get(), layer.norm_mean.get(), layer.norm_inv_std.get(), layer.moving_mean,
                             layer.moving_variance, in, layer.gamma, layer.beta, rows, layer.norm_width, layer.momentum,
                             layer.epsilon);
        else batch_norm_inference_forward(layer.y.get(), in, layer.moving_mean, layer.moving_variance, layer.gamma,
                                          layer.beta, rows, layer.norm_width, layer.epsilon);
        break;
      }
      case LayerStep::Kind::layer_norm:
        layer_norm_forward(layer.y.get(), layer.norm_mean.get(), layer.norm_inv_std.get(), in, layer.gamma,
                           layer.beta, N * layer.out_width / layer.norm_width, layer.norm_width, layer.epsilon,
                           layer.rms);
        break;
      case LayerStep::Kind::zero_pad2d:
        zero_pad2d_forward(layer.y.get(), in, batch_resize(layer, N));
        break;
      case LayerStep::Kind::upsample2d:
        upsample2d_forward(layer.y.get(), in, batch_resize(layer, N));
        break;
      case LayerStep::Kind::spatial_dropout:
        if (training && layer.rate > 0.f)
          spatial_dropout_forward(layer.y.get(), layer.mask.get(), in, N, layer.sample_a, layer.sample_c,
                                  layer.sample_b, layer.rate, layer.seed, layer.position, step,
                                  static_cast<uint64_t>(first_row * layer.sample_c));
        else out = in;
        break;
      case LayerStep::Kind::embedding: {
        // The ids were checked when the data came in (layers/embedding.py); this guard only keeps a
        // direct caller from reading outside W (the binding turns it into a ValueError).
        const int32_t* ids = reinterpret_cast<const int32_t*>(in);
        const int64_t M = N * layer.in_widths[0], bad = first_bad_index(ids, M, layer.vocabulary);
        if (bad >= 0)
          throw std::invalid_argument("an embedding step reads the id " + std::to_string(ids[bad]) + " at position " +
                                      std::to_string(bad % layer.in_widths[0]) + " of a sample, outside [0, " +
                                      std::to_string(layer.vocabulary) + ").");
        embedding_forward(layer.y.get(), ids, layer.W, M, layer.vocabulary, layer.vector_width);
        break;
      }
      case LayerStep::Kind::transpose:
        transpose_samples(layer.y.get(), in, N, layer.rows, layer.columns);
        break;
      case LayerStep::Kind::augment:
        layer.augmented = training;
        if (training) augment(layer, in, N, step, first_row);
        else out = in;  // the Random* layers are the identity at inference
        break;
      case LayerStep::Kind::rescale:
        rescale_forward(layer.y.get(), in, layer.feature_a, layer.feature_b, N, layer.out_width);
        break;
      case LayerStep::Kind::normalize:
        normalize_forward(layer.y.get(), in, layer.feature_b, layer.feature_a, N, layer.out_width);
        break;
      case LayerStep::Kind::concat: {
        std::vector<const float*> xs(layer.inputs.size());
        for (size_t i = 0; i < xs.size(); ++i) xs[i] = value_[layer.inputs[i]];
        concat_forward(layer.y.get(), xs.data(), layer.in_widths.data(), static_cast<int>(xs.size()), N);
        break;
      }
    }
    value_[layer.output] = out;
  }
}

// Adds `gradient` (N, width) to what tensor `tensor` has received in this backward pass. The first
// arrival is used in place; a second one is summed, as the Python path does, into the tensor's own
// buffer (first + second, then + third...).
void TrainingLoop::put_gradient(int tensor, const float* gradient, int64_t N) {
  const float* current = gradient_[tensor];
  if (current == nullptr) {
    gradient_[tensor] = gradient;
    return;
  }
  const int64_t count = N * widths_[tensor];
  float* sum = sum_[tensor].get();
  if (!summed_[tensor]) {
    std::memcpy(sum, current, count * sizeof(float));
    summed_[tensor] = 1;
    gradient_[tensor] = sum;
  }
  accumulate(sum, gradient, count);
}

// From each output's loss gradient back through the steps that need it, writing the weight gradients;
// then a shared layer's later calls add theirs into the layer's.
void TrainingLoop::backward(int64_t N, GradientReducer* reducer) {
  std::fill(gradient_.begin(), gradient_.end(), nullptr);
  std::fill(summed_.begin(), summed_.end(), 0);
  for (size_t k = 0; k < outputs_.size(); ++k) put_gradient(outputs_[k].tensor, doutputs_[k].get(), N);
  for (size_t i = layers_.size(); i-- > 0;) {
    LayerStep& layer = layers_[i];
    if (!layer.backprop) continue;
    const float* dy = gradient_[layer.output];
    float* dx = layer.needs_dx[0] ? layer.dx[0].get() : nullptr;
    const float* passed = dx;  // what reaches the (first) input
    switch (layer.kind) {
      case LayerStep::Kind::dense:
        dense_backward(dx, layer.dW, layer.db, layer.dz.get(), deactivate_separately(layer, dy, N), layer.input,
                       layer.W, layer.y.get(), N, layer.in_widths[0], layer.out_width, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::dropout:
        if (layer.rate == 0.f) passed = dy;
        else dropout_backward(dx, dy, layer.mask.get(), N * layer.in_widths[0], layer.rate);
        break;
      case LayerStep::Kind::activation:
        if (layer.act == Act::linear) passed = dy;
        else  // GELU, SiLU, Mish take their derivative from the input
          activation_backward(dx, dy, derivative_from_input(layer.act) ? layer.input : layer.y.get(), N,
                              layer.out_width, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::conv2d:
        conv2d_backward(dx, layer.dW, layer.db, layer.dz.get(), deactivate_separately(layer, dy, N), layer.input,
                        layer.W, layer.y.get(), batch_window(layer, N), layer.filters, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::max_pool2d:
        max_pool2d_backward(dx, dy, layer.argmax.get(), batch_window(layer, N));
        break;
      case LayerStep::Kind::avg_pool2d:
        avg_pool2d_backward(dx, dy, batch_window(layer, N));
        break;
      case LayerStep::Kind::identity:
        passed = dy;
        break;
      case LayerStep::Kind::batch_norm: {
        const int64_t rows = N * layer.out_width / layer.norm_width;
        if (layer.used_batch_statistics)
          batch_norm_backward(dx, layer.dgamma, layer.dbeta, dy, layer.input, layer.norm_mean.get(),
                              layer.norm_inv_std.get(), layer.gamma, rows, layer.norm_width);
        else if (dx != nullptr)
          batch_norm_inference_backward(dx, dy, layer.moving_variance, layer.gamma, rows, layer.norm_width,
                                        layer.epsilon);
        break;
      }
      case LayerStep::Kind::layer_norm:
        layer_norm_backward(dx, layer.dgamma, layer.dbeta, dy, layer.input, layer.norm_mean.get(),
                            layer.norm_inv_std.get(), layer.gamma, N * layer.out_width / layer.norm_width,
                            layer.norm_width, layer.rms);
        break;
      case LayerStep::Kind::zero_pad2d:
        if (dx != nullptr) zero_pad2d_backward(dx, dy, batch_resize(layer, N));
        break;
      case LayerStep::Kind::upsample2d:
        if (dx != nullptr) upsample2d_backward(dx, dy, batch_resize(layer, N));
        break;
      case LayerStep::Kind::spatial_dropout:
        if (layer.rate == 0.f) passed = dy;
        else if (dx != nullptr)
          spatial_dropout_backward(dx, dy, layer.mask.get(), N, layer.sample_a, layer.sample_c, layer.sample_b,
                                   layer.rate);
        break;
      case LayerStep::Kind::embedding:  // no gradient reaches the ids
        if (layer.dW != nullptr)
          embedding_backward(layer.dW, dy, reinterpret_cast<const int32_t*>(layer.input), N * layer.in_widths[0],
                             layer.vocabulary, layer.vector_width);
        break;
      case LayerStep::Kind::transpose:
        if (dx != nullptr) transpose_samples(dx, dy, N, layer.columns, layer.rows);
        break;
      case LayerStep::Kind::augment:
        if (!layer.augmented) passed = dy;
        else if (dx != nullptr) augment_backward(layer, dx, dy, N);
        break;
      case LayerStep::Kind::rescale:
        if (dx != nullptr) rescale_backward(dx, dy, layer.feature_a, N, layer.out_width);
        break;
      case LayerStep::Kind::normalize:
        if (dx != nullptr) normalize_backward(dx, dy, layer.feature_a, N, layer.out_width);
        break;
      case LayerStep::Kind::merge:
      case LayerStep::Kind::concat: {
        const size_t n = layer.inputs.size();
        std::vector<float*> dxs(n);
        std::vector<const float*> xs(n);
        for (size_t j = 0; j < n; ++j) {
          dxs[j] = layer.needs_dx[j] ? layer.dx[j].get() : nullptr;
          xs[j] = value_[layer.inputs[j]];
        }
        if (layer.kind == LayerStep::Kind::merge)
          merge_backward(dxs.data(), dy, xs.data(), static_cast<int>(n), N * layer.out_width, layer.merge_op);
        else concat_backward(dxs.data(), dy, layer.in_widths.data(), static_cast<int>(n), N);
        for (size_t j = 0; j < n; ++j)  // in input order, as the Python path adds them
          if (dxs[j] != nullptr) put_gradient(layer.inputs[j], dxs[j], N);
        continue;  // no weights: nothing for the reducer
      }
    }
    if (layer.needs_dx[0]) put_gradient(layer.inputs[0], passed, N);
    // Data parallelism: this step's weight gradients are final; their buckets start summing while
    // the steps below compute.
    if (reducer != nullptr) finish_gradients(finished_by_step_[i], reducer, false);  // written in place
  }
  for (const GradientSum& s : sums_) accumulate(s.into, s.from, s.n);
  if (reducer != nullptr) finish_gradients(finished_at_end_, reducer, true);
}

// The flat layout of the trainable arrays' gradients, in the order backward completes them: an array
// is complete when the (one) step that writes it has run backward, or, for a shared layer's arrays,
// after the later calls' sums at the very end. Buckets close at array boundaries once they hold
// bucket_bytes; the update then reads the summed copies.
void TrainingLoop::prepare_reduction(int64_t bucket_bytes) {
  if (layout_bucket_bytes_ == bucket_bytes) return;
  const std::vector<ParamUpdate>& params = optimizer_.params;
  const size_t count = params.size();
  finished_by_step_.assign(layers_.size(), {});
  finished_at_end_.clear();
  for (size_t p = 0; p < count; ++p) {
    bool summed = false;
    for (const GradientSum& s : sums_) summed = summed || s.into == params[p].grad;
    int writer = -1;
    for (size_t i = 0; i < layers_.size() && !summed; ++i) {
      const LayerStep& l = layers_[i];
      if (l.backprop && (l.dW == params[p].grad || l.db == params[p].grad || l.dgamma == params[p].grad ||
                         l.dbeta == params[p].grad))
        writer = static_cast<int>(i);
    }
    if (writer < 0) finished_at_end_.push_back(static_cast<int>(p));
    else finished_by_step_[writer].push_back(static_cast<int>(p));
  }
  std::vector<int> order;  // backward runs the steps last to first
  for (size_t i = layers_.size(); i-- > 0;) order.insert(order.end(), finished_by_step_[i].begin(), finished_by_step_[i].end());
  order.insert(order.end(), finished_at_end_.begin(), finished_at_end_.end());
  flat_offset_.assign(count, 0);
  bucket_of_.assign(count, 0);
  buckets_.clear();
  const int64_t bucket_floats = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  int64_t total = 0;
  for (int p : order) {
    if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= bucket_floats)
      buckets_.push_back({total, total, 0, 0});
    flat_offset_[p] = total;
    bucket_of_[p] = static_cast<int>(buckets_.size() - 1);
    total += params[p].n;
    buckets_.back().end = total;
    buckets_.back().params += 1;
  }
  gradient_fields_.clear();  // where each step writes the gradients it completes
  for (size_t i = 0; i < layers_.size(); ++i)
    for (int p : finished_by_step_[i])
      for (float** field : {&layers_[i].dW, &layers_[i].db, &layers_[i].dgamma, &layers_[i].dbeta})
        if (*field == params[p].grad) gradient_fields_.push_back({field, *field, p});
  gradients_in_ = nullptr;
  flat_send_.allocate(total);
  flat_sum_.allocate(total);
  reduced_params_ = params;
  step_send_ = flat_send_.get();
  step_sum_ = nullptr;
  point_update_at(flat_sum_.get());
  layout_bucket_bytes_ = bucket_bytes;
}

// This step's flat buffers: the reducer's shared areas when it has them (the gradients are then
// written where the other ranks read them, and the update reads the sum where it was made), else
// the loop's own.
void TrainingLoop::bind_reduction_areas(GradientReducer* reducer) {
  const int64_t total = buckets_.empty() ? 0 : buckets_.back().end;
  float* send = reducer->shared_send_area(total, static_cast<int>(buckets_.size()));
  float* sum = reducer->shared_sum_area();
  step_send_ = send != nullptr ? send : flat_send_.get();
  write_gradients_into(step_send_);
  point_update_at(sum != nullptr ? sum : flat_sum_.get());
}

// Points the steps' weight-gradient outputs at their places in `area` (nullptr: back at the
// model's gradient arrays), so backward writes them where they are reduced: no copy.
void TrainingLoop::write_gradients_into(float* area) {
  if (area == gradients_in_) return;
  for (const GradientField& g : gradient_fields_) *g.field = area != nullptr ? area + flat_offset_[g.param] : g.home;
  gradients_in_ = area;
}

void TrainingLoop::point_update_at(float* sum) {
  if (sum == step_sum_) return;
  step_sum_ = sum;
  for (size_t p = 0; p < reduced_params_.size(); ++p) reduced_params_[p].grad = step_sum_ + flat_offset_[p];
}

// Marks gradients finished (copying them into the send buffer when `copy`: a shared layer's sums;
// the steps' own are written there in place) and starts every bucket now complete (buckets complete
// in order, since the layout follows backward's order).
void TrainingLoop::finish_gradients(const std::vector<int>& params, GradientReducer* reducer, bool copy) {
  for (int p : params) {
    const ParamUpdate& u = optimizer_.params[p];
    if (copy) std::memcpy(step_send_ + flat_offset_[p], u.grad, u.n * sizeof(float));
    buckets_[bucket_of_[p]].waiting -= 1;
  }
  while (next_bucket_ < static_cast<int>(buckets_.size()) && buckets_[next_bucket_].waiting == 0) {
    const Bucket& b = buckets_[next_bucket_];
    reducer->start(next_bucket_, step_send_ + b.begin, step_sum_ + b.begin, b.end - b.begin);
    next_bucket_ += 1;
  }
  reducer->poll();
}

// A rank whose shard of this batch is empty: zero gradients, every bucket joined all the same.
void TrainingLoop::contribute_nothing(GradientReducer* reducer) {
  if (!buckets_.empty()) std::memset(step_send_, 0, buckets_.back().end * sizeof(float));
  for (int b = 0; b < static_cast<int>(buckets_.size()); ++b)
    reducer->start(b, step_send_ + buckets_[b].begin, step_sum_ + buckets_[b].begin, buckets_[b].end - buckets_[b].begin);
}

// One optimiser step over every trainable array, as Optimizer.apply does (iteration is 1-based).
void TrainingLoop::update(int64_t iteration, double lr) {
  const OptimizerSpec& o = optimizer_;
  optimizer_update(o.kind, o.hyper, lr, iteration, o.weight_decay, o.params.data(), o.params.size());
}

namespace {

int64_t argmax(const float* row, int64_t K) {
  int64_t best = 0;
  for (int64_t k = 1; k < K; ++k)
    if (row[k] > row[best]) best = k;  // the first of equal maxima, as np.argmax
  return best;
}

// weights (N): the batch's sample weights, or null.
double fused_loss(LossKind kind, float* doutputs, const float* outputs, const void* targets, const float* weights,
                  int64_t N, int64_t K) {
  const float* t = static_cast<const float*>(targets);
  switch (kind) {
    case LossKind::softmax_cross_entropy: return softmax_cross_entropy(doutputs, outputs, t, weights, N, K);
    case LossKind::sparse_softmax_cross_entropy:
      return softmax_cross_entropy_sparse<int64_t>(doutputs, outputs, static_cast<const int64_t*>(targets), weights,
                                                   N, K);
    case LossKind::sigmoid_binary_cross_entropy:
      return sigmoid_binary_cross_entropy(doutputs, outputs, t, weights, N, K);
    case LossKind::mean_squared_error: return mean_squared_error(doutputs, outputs, t, weights, N, K);
    case LossKind::none: break;
  }
  return 0.0;
}

}  // namespace

// Adds the right predictions of output `index` among the N samples to its metrics' totals (the
// Python metrics' sample values).
void TrainingLoop::count_metrics(const OutputSpec& output, int index, const void* targets, int64_t N, double* totals) {
  if (output.metrics.empty()) return;
  const int64_t K = widths_[output.tensor];
  const float* predictions = value_[output.tensor];
  if (output.absorbed != Act::linear) {
    activation_forward(predictions_[index].get(), predictions, N, K, output.absorbed, 0.f);
    predictions = predictions_[index].get();
  }
  for (size_t m = 0; m < output.metrics.size(); ++m) {
    int64_t right = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = predictions + n * K;
      switch (output.metrics[m].kind) {
        case MetricKind::categorical_accuracy:
          right += argmax(static_cast<const float*>(targets) + n * K, K) == argmax(row, K);
          break;
        case MetricKind::sparse_categorical_accuracy:
          right += static_cast<const int64_t*>(targets)[n] == argmax(row, K);
          break;
        case MetricKind::binary_accuracy:  // K == 1 (the caller checks)
          right += static_cast<const float*>(targets)[n] == (row[0] > output.metrics[m].threshold ? 1.f : 0.f);
          break;
      }
    }
    totals[m] += static_cast<double>(right);
  }
}

RunResult TrainingLoop::run(const RunRequest& r) {
  RunResult result;
  result.loss_sum = r.loss_sum;
  result.output_loss_sums = r.output_loss_sums;
  size_t metric_count = 0;
  for (const OutputSpec& output : outputs_) metric_count += output.metrics.size();
  result.metric_totals.assign(metric_count, 0.0);
  const size_t inputs = input_widths_.size(), count = outputs_.size();
  std::vector<const void*> targets(count);
  // Data parallelism: a reducer sums gradients and losses over the ranks (training runs); without
  // one a sharded run (a test pass) reports this shard's own sums, which the caller reduces.
  GradientReducer* reducer = r.train ? r.reducer : nullptr;
  const bool sharded = r.shard_count > 1;
  if (reducer != nullptr) prepare_reduction(reducer->bucket_bytes());
  struct GradientsHome {  // after the run, the steps write into the model's gradient arrays again
    TrainingLoop& loop;
    ~GradientsHome() { loop.write_gradients_into(nullptr); }
  } home{*this};
  std::vector<double> scalars(1 + count);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t batch = r.first_batch; result.steps < r.max_steps; ++batch) {
    const int64_t batch_first = batch * r.batch_size;
    if (batch_first >= r.rows) break;
    const int64_t global_N = std::min(r.batch_size, r.rows - batch_first);
    int64_t shard_first = 0, N = global_N;  // this rank's rows of the global batch (sharding.py's split)
    if (sharded) {
      const int64_t base = global_N / r.shard_count, extra = global_N % r.shard_count;
      shard_first = r.shard_rank * base + std::min(r.shard_rank, extra);
      N = base + (r.shard_rank < extra ? 1 : 0);
    }
    const int64_t first_row = batch_first + shard_first;
    for (size_t i = 0; i < inputs; ++i) {
      const int64_t C = input_widths_[i];
      if (r.order == nullptr) {
        value_[i] = r.xs[i] + first_row * C;
        continue;
      }
      for (int64_t n = 0; n < N; ++n)  // gather the shuffled rows, as loops._gather does
        std::memcpy(x_batch_[i].get() + n * C, r.xs[i] + r.order[first_row + n] * C, C * sizeof(float));
      value_[i] = x_batch_[i].get();
    }
    for (size_t k = 0; k < count; ++k) {
      const int64_t K = widths_[outputs_[k].tensor];
      const bool sparse = outputs_[k].sparse();
      if (r.order == nullptr) {
        targets[k] = sparse ? static_cast<const void*>(static_cast<const int64_t*>(r.targets[k]) + first_row)
                            : static_cast<const void*>(static_cast<const float*>(r.targets[k]) + first_row * K);
        continue;
      }
      for (int64_t n = 0; n < N; ++n) {
        const int64_t row = r.order[first_row + n];
        if (sparse) labels_batch_[k].get()[n] = static_cast<const int64_t*>(r.targets[k])[row];
        else std::memcpy(targets_batch_[k].get() + n * K, static_cast<const float*>(r.targets[k]) + row * K,
                         K * sizeof(float));
      }
      targets[k] = sparse ? static_cast<const void*>(labels_batch_[k].get())
                          : static_cast<const void*>(targets_batch_[k].get());
    }
    const float* weights = nullptr;  // the batch's sample weights, in its rows' order
    if (r.sample_weights != nullptr && r.order == nullptr) {
      weights = r.sample_weights + first_row;
    } else if (r.sample_weights != nullptr) {
      for (int64_t n = 0; n < N; ++n) weights_batch_.get()[n] = r.sample_weights[r.order[first_row + n]];
      weights = weights_batch_.get();
    }
    double loss = 0;
    std::fill(scalars.begin(), scalars.end(), 0.0);
    if (N > 0) {
      forward(N, r.step + result.steps, r.train, shard_first);
      // A shard's mean loss weighs rows / global rows: the ranks' gradients then sum to the global mean's.
      const double share = sharded ? static_cast<double>(N) / static_cast<double>(global_N) : 1.0;
      for (size_t k = 0; k < count; ++k) {
        const OutputSpec& output = outputs_[k];
        if (output.loss == LossKind::none) return result;  // an inference loop (the binding refuses to run one)
        const int64_t K = widths_[output.tensor];
        const double value =
            fused_loss(output.loss, doutputs_[k].get(), value_[output.tensor], targets[k], weights, N, K);
        if (output.weight * share != 1.0)
          scale(doutputs_[k].get(), doutputs_[k].get(), N * K, static_cast<float>(output.weight * share));
        scalars[1 + k] = value * static_cast<double>(N);
        loss += output.weight * value;
      }
      scalars[0] = loss * static_cast<double>(N);
    }
    if (r.train) {
      if (reducer != nullptr) {
        for (Bucket& b : buckets_) b.waiting = b.params;
        next_bucket_ = 0;
        bind_reduction_areas(reducer);
        if (N > 0) backward(N, reducer);
        else contribute_nothing(reducer);
        reducer->wait();  // first: a rank that finished backward early sums its parts while it waits
        reducer->sum_doubles(scalars.data(), static_cast<int64_t>(scalars.size()));  // the global batch's losses
        const OptimizerSpec& o = optimizer_;
        optimizer_update(o.kind, o.hyper, r.learning_rate, r.iteration + result.steps + 1, o.weight_decay,
                         reduced_params_.data(), reduced_params_.size());
      } else {
        backward(N);
        update(r.iteration + result.steps + 1, r.learning_rate);
      }
    }
    if (N > 0) {
      double* totals = result.metric_totals.data();
      for (size_t k = 0; k < count; ++k) {
        count_metrics(outputs_[k], static_cast<int>(k), targets[k], N, totals);
        totals += outputs_[k].metrics.size();
      }
    }
    const int64_t counted = reducer != nullptr ? global_N : N;  // rows the sums below cover
    if (reducer != nullptr) loss = scalars[0] / static_cast<double>(global_N);
    if (!result.output_loss_sums.empty())
      for (size_t k = 0; k < count; ++k) result.output_loss_sums[k] += scalars[1 + k];
    result.loss_sum += reducer != nullptr ? scalars[0] : loss * static_cast<double>(N);
    result.steps += 1;
    result.seen += counted;
    if (!std::isfinite(loss)) {
      result.non_finite = true;  // the caller's callbacks (TerminateOnNaN) see this batch next
      break;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= r.seconds) break;
  }
  return result;
}

int64_t TrainingLoop::predict(const std::vector<const float*>& xs, const std::vector<float*>& outs, int64_t rows,
                              int64_t batch_size, int64_t first_batch, int64_t max_batches, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  for (int64_t batch = first_batch; done < max_batches; ++batch) {
    const int64_t first_row = batch * batch_size;
    if (first_row >= rows) break;
    const int64_t N = std::min(batch_size, rows - first_row);
    for (size_t i = 0; i < xs.size(); ++i) value_[i] = xs[i] + first_row * input_widths_[i];
    forward(N, 0, false);
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const OutputSpec& output = outputs_[k];
      const int64_t K = widths_[output.tensor];
      float* predictions = outs[k] + first_row * K;
      if (output.absorbed != Act::linear)
        activation_forward(predictions, value_[output.tensor], N, K, output.absorbed, 0.f);
      else std::memcpy(predictions, value_[output.tensor], N * K * sizeof(float));
    }
    done += 1;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= seconds) break;
  }
  return done;
}

}  // namespace axonal
