// The native training loop: whole batch sequences of a Sequential model (Dense, Dropout, Activation,
// Conv2D, MaxPooling2D, AveragePooling2D layers; a fused loss; one optimiser; accuracy metrics) run
// in C++ with no Python between steps.
//
// It calls the very kernels the per-step Python path calls, in the same order and with the same
// arguments, so both paths give bit-identical weights (tests/test_training_loop.py shows it). What it
// removes is the interpreter: for a small model (the churn MLP) a Python step costs ~100 µs, a
// native one a few µs. docs/performance.md has the figures; models/native_loop.py decides when the
// loop can be used and falls back to the Python path otherwise.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "axonal/activation_functors.h"
#include "axonal/window.h"

namespace axonal {

// 64-byte aligned float/byte scratch, allocated once when the loop is built.
template <typename T>
struct AlignedBuffer {
  std::unique_ptr<T[], void (*)(T*)> data{nullptr, [](T*) {}};
  void allocate(int64_t count);
  T* get() const { return data.get(); }
};

struct LayerStep {
  enum class Kind { dense, dropout, activation, conv2d, max_pool2d, avg_pool2d } kind;
  int64_t in_width = 0, out_width = 0;  // features per sample before and after the layer
  // dense: W (in, out), b (out) or null, dW/db null when frozen; conv2d: W (KH, KW, C, F) and b (F)
  // likewise. needs_dx is false for the first layer that back-propagates (nothing before it needs an
  // input gradient).
  const float* W = nullptr;
  const float* b = nullptr;
  float* dW = nullptr;
  float* db = nullptr;
  bool needs_dx = true;
  Act act = Act::linear;  // dense, conv2d and activation
  float alpha = 0.f;
  Window window{};       // conv2d and pooling: the sweep over one image (N set per batch)
  int64_t filters = 0;   // conv2d: F
  float rate = 0.f;  // dropout
  uint32_t seed = 0, position = 0;
  bool backprop = false;  // whether the backward pass reaches this layer
  const float* input = nullptr;  // what the last forward pass fed it (the batch, or an earlier y)
  AlignedBuffer<float> y, dz, dx;
  AlignedBuffer<uint8_t> mask;
  AlignedBuffer<int32_t> argmax;  // max_pool2d
};

// `none`: a loop built for inference only (predict), which refuses to train.
enum class LossKind { softmax_cross_entropy, sparse_softmax_cross_entropy, sigmoid_binary_cross_entropy,
                      mean_squared_error, none };
enum class OptimizerKind { sgd, rmsprop, adagrad, adadelta, adam };
enum class MetricKind { categorical_accuracy, sparse_categorical_accuracy, binary_accuracy };

// One trainable array: the parameter, its gradient and up to three slots in the order the
// optimiser's kernel takes them (sgd: momentum; rmsprop: velocity, momentum, average_grad;
// adagrad: accumulator; adadelta: accum_grad, accum_delta; adam: m, v, v_hat), null when unused.
struct ParamUpdate {
  float* param;
  const float* grad;
  float* slots[3];
  int64_t n;
};

struct OptimizerSpec {
  OptimizerKind kind;
  // sgd: momentum, nesterov; rmsprop: rho, momentum, epsilon, centered; adagrad: epsilon;
  // adadelta: rho, epsilon; adam: beta_1, beta_2, epsilon, amsgrad.
  double rho = 0, momentum = 0, epsilon = 0, beta_1 = 0, beta_2 = 0, weight_decay = 0;
  bool nesterov = false, centered = false, amsgrad = false;
  std::vector<ParamUpdate> params;
};

struct MetricSpec {
  MetricKind kind;
  float threshold = 0.5f;
};

// Where a run of steps starts and what it may do.
struct RunRequest {
  const float* x;          // (rows, input_width)
  const void* targets;     // (rows, K) float32, or (rows) int64 class ids for the sparse loss
  const int64_t* order;    // (rows) row permutation, or null for the stored order
  int64_t rows, batch_size;
  int64_t first_batch, max_steps;  // batches [first_batch, first_batch + max_steps) at most
  double seconds;                  // stop after the step that crosses this much wall time
  uint64_t step;                   // the model's step count (dropout masks) before the first step
  int64_t iteration;               // the optimiser's iterations before the first step
  double learning_rate;
  double loss_sum;  // running Σ batch loss × batch rows of the epoch so far (continued here)
};

struct RunResult {
  int64_t steps = 0, seen = 0;  // steps done and rows they covered
  double loss_sum = 0;
  bool non_finite = false;           // the last step's loss was NaN or inf (the run stopped there)
  std::vector<double> metric_totals;  // per metric: Σ sample values (right predictions)
};

class TrainingLoop {
 public:
  TrainingLoop(std::vector<LayerStep> layers, LossKind loss, Act absorbed, OptimizerSpec optimizer,
               std::vector<MetricSpec> metrics, int64_t max_batch);
  RunResult run(const RunRequest& request);
  // Inference over batches [first_batch, first_batch + max_batches) of x (rows, input_width), until
  // `seconds` pass: out (rows, K) receives the predictions (the absorbed activation applied), as
  // Steps.predict_step gives them. Returns the batches done.
  int64_t predict(const float* x, float* out, int64_t rows, int64_t batch_size, int64_t first_batch,
                  int64_t max_batches, double seconds);
  bool trains() const { return loss_ != LossKind::none; }
  int64_t input_width() const { return layers_.front().in_width; }
  int64_t output_width() const { return layers_.back().out_width; }

 private:
  const float* forward(const float* x, int64_t N, uint64_t step, bool training);
  void backward(int64_t N);
  void update(int64_t iteration, double learning_rate);
  void count_metrics(const float* outputs, const void* targets, int64_t N, std::vector<double>& totals);

  std::vector<LayerStep> layers_;
  LossKind loss_;
  Act absorbed_;  // the output activation the loss absorbed, applied before the metrics
  OptimizerSpec optimizer_;
  std::vector<MetricSpec> metrics_;
  int64_t max_batch_;
  AlignedBuffer<float> x_batch_, targets_batch_, doutputs_, predictions_;
  AlignedBuffer<int64_t> labels_batch_;
};

}  // namespace axonal
