#include "training_loop.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "activations.h"
#include "conv.h"
#include "dense.h"
#include "dropout.h"
#include "losses.h"
#include "optimizers.h"
#include "pooling.h"

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

namespace {
// The layer's window over a batch of N images.
Window batch_window(const LayerStep& layer, int64_t N) {
  Window g = layer.window;
  g.N = N;
  return g;
}
}  // namespace

TrainingLoop::TrainingLoop(std::vector<LayerStep> layers, LossKind loss, Act absorbed, OptimizerSpec optimizer,
                           std::vector<MetricSpec> metrics, int64_t max_batch)
    : layers_(std::move(layers)), loss_(loss), absorbed_(absorbed), optimizer_(std::move(optimizer)),
      metrics_(std::move(metrics)), max_batch_(max_batch) {
  for (LayerStep& layer : layers_) {
    const int64_t out = max_batch * layer.out_width, in = max_batch * layer.in_width;
    layer.y.allocate(out);
    const bool weighted = layer.kind == LayerStep::Kind::dense || layer.kind == LayerStep::Kind::conv2d;
    if (weighted && layer.backprop) layer.dz.allocate(out);
    if (layer.backprop && layer.needs_dx) layer.dx.allocate(in);
    if (layer.kind == LayerStep::Kind::dropout) layer.mask.allocate(in);
    if (layer.kind == LayerStep::Kind::max_pool2d) layer.argmax.allocate(out);
  }
  const int64_t K = output_width();
  x_batch_.allocate(max_batch * input_width());
  targets_batch_.allocate(max_batch * K);
  labels_batch_.allocate(max_batch);
  doutputs_.allocate(max_batch * K);
  predictions_.allocate(max_batch * K);
}

// x (N, input_width) -> the output layer's values (N, K), as the model's forward pass; dropout
// only in training.
const float* TrainingLoop::forward(const float* x, int64_t N, uint64_t step, bool training) {
  const float* in = x;
  for (LayerStep& layer : layers_) {
    layer.input = in;  // a no-op layer (rate 0, linear) hands its own input on unchanged
    switch (layer.kind) {
      case LayerStep::Kind::dense:
        dense_forward(layer.y.get(), in, layer.W, layer.b, N, layer.in_width, layer.out_width, layer.act, layer.alpha);
        in = layer.y.get();
        break;
      case LayerStep::Kind::dropout:
        if (training && layer.rate > 0.f) {
          dropout_forward(layer.y.get(), layer.mask.get(), in, N * layer.in_width, layer.rate, layer.seed,
                          layer.position, step);
          in = layer.y.get();
        }
        break;
      case LayerStep::Kind::activation:
        if (layer.act != Act::linear) {
          activation_forward(layer.y.get(), in, N, layer.out_width, layer.act, layer.alpha);
          in = layer.y.get();
        }
        break;
      case LayerStep::Kind::conv2d:
        conv2d_forward(layer.y.get(), in, layer.W, layer.b, batch_window(layer, N), layer.filters, layer.act,
                       layer.alpha);
        in = layer.y.get();
        break;
      case LayerStep::Kind::max_pool2d:
        max_pool2d_forward(layer.y.get(), layer.argmax.get(), in, batch_window(layer, N));
        in = layer.y.get();
        break;
      case LayerStep::Kind::avg_pool2d:
        avg_pool2d_forward(layer.y.get(), in, batch_window(layer, N));
        in = layer.y.get();
        break;
    }
  }
  return in;
}

// From doutputs back to the first layer that back-propagates, writing the weight gradients.
void TrainingLoop::backward(int64_t N) {
  const float* dy = doutputs_.get();
  for (size_t i = layers_.size(); i-- > 0;) {
    LayerStep& layer = layers_[i];
    if (!layer.backprop) break;
    float* dx = layer.needs_dx ? layer.dx.get() : nullptr;
    switch (layer.kind) {
      case LayerStep::Kind::dense:
        dense_backward(dx, layer.dW, layer.db, layer.dz.get(), dy, layer.input, layer.W, layer.y.get(), N, layer.in_width,
                       layer.out_width, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::dropout:
        if (layer.rate == 0.f) continue;  // passes dy through
        dropout_backward(dx, dy, layer.mask.get(), N * layer.in_width, layer.rate);
        break;
      case LayerStep::Kind::activation:
        if (layer.act == Act::linear) continue;
        activation_backward(dx, dy, layer.y.get(), N, layer.out_width, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::conv2d:
        conv2d_backward(dx, layer.dW, layer.db, layer.dz.get(), dy, layer.input, layer.W, layer.y.get(),
                        batch_window(layer, N), layer.filters, layer.act, layer.alpha);
        break;
      case LayerStep::Kind::max_pool2d:
        max_pool2d_backward(dx, dy, layer.argmax.get(), batch_window(layer, N));
        break;
      case LayerStep::Kind::avg_pool2d:
        avg_pool2d_backward(dx, dy, batch_window(layer, N));
        break;
    }
    dy = dx;
  }
}

// One optimiser step over every trainable array, as Optimizer.apply does (iteration is 1-based).
void TrainingLoop::update(int64_t iteration, double lr) {
  const OptimizerSpec& o = optimizer_;
  for (const ParamUpdate& p : o.params) {
    float* const* s = p.slots;
    switch (o.kind) {
      case OptimizerKind::sgd:
        sgd_update(p.param, s[0], p.grad, p.n, lr, o.momentum, o.nesterov, o.weight_decay);
        break;
      case OptimizerKind::rmsprop:
        rmsprop_update(p.param, s[0], s[1], s[2], p.grad, p.n, lr, o.rho, o.momentum, o.epsilon, o.centered,
                       o.weight_decay);
        break;
      case OptimizerKind::adagrad:
        adagrad_update(p.param, s[0], p.grad, p.n, lr, o.epsilon, o.weight_decay);
        break;
      case OptimizerKind::adadelta:
        adadelta_update(p.param, s[0], s[1], p.grad, p.n, lr, o.rho, o.epsilon, o.weight_decay);
        break;
      case OptimizerKind::adam:
        adam_update(p.param, s[0], s[1], s[2], p.grad, p.n, lr, o.beta_1, o.beta_2, o.epsilon, iteration,
                    o.weight_decay);
        break;
    }
  }
}

namespace {

int64_t argmax(const float* row, int64_t K) {
  int64_t best = 0;
  for (int64_t k = 1; k < K; ++k)
    if (row[k] > row[best]) best = k;  // the first of equal maxima, as np.argmax
  return best;
}

}  // namespace

// Adds each metric's right predictions among the N samples (the Python metrics' sample values).
void TrainingLoop::count_metrics(const float* outputs, const void* targets, int64_t N,
                                 std::vector<double>& totals) {
  if (metrics_.empty()) return;
  const int64_t K = output_width();
  const float* predictions = outputs;
  if (absorbed_ != Act::linear) {
    activation_forward(predictions_.get(), outputs, N, K, absorbed_, 0.f);
    predictions = predictions_.get();
  }
  for (size_t m = 0; m < metrics_.size(); ++m) {
    int64_t right = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = predictions + n * K;
      switch (metrics_[m].kind) {
        case MetricKind::categorical_accuracy:
          right += argmax(static_cast<const float*>(targets) + n * K, K) == argmax(row, K);
          break;
        case MetricKind::sparse_categorical_accuracy:
          right += static_cast<const int64_t*>(targets)[n] == argmax(row, K);
          break;
        case MetricKind::binary_accuracy:  // K == 1 (the caller checks)
          right += static_cast<const float*>(targets)[n] == (row[0] > metrics_[m].threshold ? 1.f : 0.f);
          break;
      }
    }
    totals[m] += static_cast<double>(right);
  }
}

RunResult TrainingLoop::run(const RunRequest& r) {
  RunResult result;
  result.loss_sum = r.loss_sum;
  result.metric_totals.assign(metrics_.size(), 0.0);
  const bool sparse = loss_ == LossKind::sparse_softmax_cross_entropy;
  const int64_t C = input_width(), K = output_width();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t batch = r.first_batch; result.steps < r.max_steps; ++batch) {
    const int64_t first_row = batch * r.batch_size;
    if (first_row >= r.rows) break;
    const int64_t N = std::min(r.batch_size, r.rows - first_row);
    const float* x = r.x + first_row * C;
    const void* targets = sparse ? static_cast<const void*>(static_cast<const int64_t*>(r.targets) + first_row)
                                 : static_cast<const void*>(static_cast<const float*>(r.targets) + first_row * K);
    if (r.order != nullptr) {  // gather the shuffled rows, as loops._gather does
      for (int64_t n = 0; n < N; ++n) {
        const int64_t row = r.order[first_row + n];
        std::memcpy(x_batch_.get() + n * C, r.x + row * C, C * sizeof(float));
        if (sparse) labels_batch_.get()[n] = static_cast<const int64_t*>(r.targets)[row];
        else std::memcpy(targets_batch_.get() + n * K, static_cast<const float*>(r.targets) + row * K,
                         K * sizeof(float));
      }
      x = x_batch_.get();
      targets = sparse ? static_cast<const void*>(labels_batch_.get()) : static_cast<const void*>(targets_batch_.get());
    }
    const float* outputs = forward(x, N, r.step + result.steps, true);
    const float* t = static_cast<const float*>(targets);
    double loss = 0;
    switch (loss_) {
      case LossKind::softmax_cross_entropy: loss = softmax_cross_entropy(doutputs_.get(), outputs, t, nullptr, N, K); break;
      case LossKind::sparse_softmax_cross_entropy:
        loss = softmax_cross_entropy_sparse<int64_t>(doutputs_.get(), outputs, static_cast<const int64_t*>(targets),
                                                     nullptr, N, K);
        break;
      case LossKind::sigmoid_binary_cross_entropy:
        loss = sigmoid_binary_cross_entropy(doutputs_.get(), outputs, t, nullptr, N, K);
        break;
      case LossKind::mean_squared_error: loss = mean_squared_error(doutputs_.get(), outputs, t, nullptr, N, K); break;
      case LossKind::none: return result;  // an inference loop (the binding refuses to run one)
    }
    backward(N);
    update(r.iteration + result.steps + 1, r.learning_rate);
    count_metrics(outputs, targets, N, result.metric_totals);
    result.loss_sum += loss * static_cast<double>(N);
    result.steps += 1;
    result.seen += N;
    if (!std::isfinite(loss)) {
      result.non_finite = true;  // the caller's callbacks (TerminateOnNaN) see this batch next
      break;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= r.seconds) break;
  }
  return result;
}

int64_t TrainingLoop::predict(const float* x, float* out, int64_t rows, int64_t batch_size, int64_t first_batch,
                              int64_t max_batches, double seconds) {
  const int64_t C = input_width(), K = output_width();
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  for (int64_t batch = first_batch; done < max_batches; ++batch) {
    const int64_t first_row = batch * batch_size;
    if (first_row >= rows) break;
    const int64_t N = std::min(batch_size, rows - first_row);
    const float* outputs = forward(x + first_row * C, N, 0, false);
    float* predictions = out + first_row * K;
    if (absorbed_ != Act::linear) activation_forward(predictions, outputs, N, K, absorbed_, 0.f);
    else std::memcpy(predictions, outputs, N * K * sizeof(float));
    done += 1;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= seconds) break;
  }
  return done;
}

}  // namespace axonal
