// The native training loop: whole batch sequences of a model's plan (models/plan.py) run in C++ with
// no Python between steps. The plan is a graph: numbered tensors (the model's inputs first, then one
// per step), steps that read tensors and write one (Dense, Dropout, Activation, Conv2D, pooling,
// pass-through reshapes, merges and concatenation), and one fused loss per output.
//
// It calls the very kernels the layer-by-layer Python path calls, in the same order and with the same
// arguments (a tensor read by several steps gets its gradients summed in the order backward finds
// them; a shared layer's later calls write their own weight gradients, added into the layer's at the
// end), so both paths give bit-identical weights (tests/test_training_loop.py shows it). What it
// removes is the interpreter: for a small model (the churn MLP) a Python step costs ~100 µs, a native
// one a few µs. models/native_loop.py decides when the loop can be used and says when it cannot.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "axonal/activation_functors.h"
#include "axonal/image_resize.h"
#include "axonal/augmentation_functors.h"
#include "axonal/merge_functors.h"
#include "axonal/window.h"
#include "collectives.h"
#include "optimizers.h"

namespace axonal {

// 64-byte aligned float/byte scratch, allocated once when the loop is built.
template <typename T>
struct AlignedBuffer {
  std::unique_ptr<T[], void (*)(T*)> data{nullptr, [](T*) {}};
  void allocate(int64_t count);
  T* get() const { return data.get(); }
};

struct LayerStep {
  enum class Kind {
    dense, dropout, activation, conv2d, max_pool2d, avg_pool2d, identity, merge, concat, batch_norm, layer_norm,
    zero_pad2d, upsample2d, spatial_dropout, embedding, transpose, augment, rescale, normalize
  } kind;
  std::vector<int> inputs;  // the tensors it reads (one, except merge and concat)
  int output = 0;           // the tensor it writes
  std::vector<int64_t> in_widths;  // features per sample of each input
  int64_t out_width = 0;           // features per sample of the output
  // dense: W (in, out), b (out) or null, dW/db null when frozen; conv2d: W (KH, KW, C, F) and b (F)
  // likewise. needs_dx[i] is false where nothing before input i needs its gradient.
  const float* W = nullptr;
  const float* b = nullptr;
  float* dW = nullptr;
  float* db = nullptr;
  std::vector<char> needs_dx;
  Act act = Act::linear;  // dense, conv2d and activation
  float alpha = 0.f;
  // dense, conv2d: an activation applied after the fused kernel by its own op, because its derivative
  // needs the pre-activation (GELU, SiLU, Mish); y then holds the kernel's output z.
  Act separate = Act::linear;
  Window window{};       // conv2d and pooling: the sweep over one image (N set per batch)
  int64_t filters = 0;   // conv2d: F
  float rate = 0.f;  // dropout
  uint32_t seed = 0, position = 0;
  MergeOp merge_op = MergeOp::add;  // merge
  // batch_norm: per-channel statistics of the rows of `norm_width` channels (a sample is
  // in_width / norm_width rows); layer_norm: each row of `norm_width` features normalised. gamma,
  // beta may be null (scale/center off), dgamma, dbeta null when frozen or not reached.
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  float* moving_mean = nullptr;  // batch_norm: updated in place by training steps
  float* moving_variance = nullptr;
  int64_t norm_width = 0;
  double momentum = 0.0, epsilon = 0.0;
  bool batch_statistics = false;  // batch_norm: trainable, so training steps use the batch's statistics
  bool rms = false;               // layer_norm: Keras' rms_scaling
  bool used_batch_statistics = false;  // what the last forward pass did
  // zero_pad2d, upsample2d: the geometry of one sample (M = images per sample; N·M per batch);
  // spatial_dropout: a sample is (A, C, B) (rate, seed and position as dropout); transpose: a sample
  // is a (rows, columns) matrix, written as (columns, rows); embedding: W is the (V, D) matrix, dW its
  // gradient (null when frozen), the input an int32 id tensor of in_width ids per sample.
  ImageResize resize{};
  int64_t sample_a = 0, sample_c = 0, sample_b = 0;  // spatial_dropout
  int64_t rows = 0, columns = 0;                      // transpose
  int64_t vocabulary = 0, vector_width = 0;           // embedding: V, D
  // augment: the layer's draws (seed, position as the dropout's) on (image_h, image_w, image_c)
  // images, applied in training steps only (inference: identity); contrast keeps its clip mask in
  // `mask`. rescale: y = x·feature_a + feature_b; normalize: y = (x − feature_b) / feature_a (K).
  AugmentKind augment_kind = AugmentKind::flip_horizontal;
  double ranges[4] = {0, 0, 0, 0};
  FillMode fill_mode = FillMode::reflect;
  bool bilinear = true;
  float fill_value = 0.f, value_low = 0.f, value_high = 0.f;
  int64_t image_h = 0, image_w = 0, image_c = 0;
  bool augmented = false;  // what the last forward pass did
  const float* feature_a = nullptr;
  const float* feature_b = nullptr;
  AlignedBuffer<double> params;  // augment: (max_batch, 6)
  bool backprop = false;  // whether the backward pass runs this step
  const float* input = nullptr;  // what the last forward pass fed it (first input)
  AlignedBuffer<float> y, dz, activated, dactivated;
  std::vector<AlignedBuffer<float>> dx;  // one per input that needs its gradient
  AlignedBuffer<uint8_t> mask;  // dropout (N, width), spatial_dropout (N, C)
  AlignedBuffer<int32_t> argmax;  // max_pool2d
  AlignedBuffer<float> norm_mean, norm_inv_std;  // batch_norm (per channel), layer_norm (per row)
};

// `none`: a loop built for inference only (predict), which refuses to train.
enum class LossKind { softmax_cross_entropy, sparse_softmax_cross_entropy, sigmoid_binary_cross_entropy,
                      mean_squared_error, none };
enum class MetricKind { categorical_accuracy, sparse_categorical_accuracy, binary_accuracy };

// The optimiser of a training loop: which one (its index in AXONAL_OPTIMIZERS, -1 for a loop built
// without one), its hyper-parameters and every trainable array with its slots (optimizers.h).
struct OptimizerSpec {
  int kind = -1;
  HyperValues hyper{};
  double weight_decay = 0;
  std::vector<ParamUpdate> params;
};

struct MetricSpec {
  MetricKind kind;
  float threshold = 0.5f;
};

// One output of the model: the tensor, its fused loss (with its weight in the total) and metrics.
struct OutputSpec {
  int tensor = 0;
  LossKind loss = LossKind::none;
  Act absorbed = Act::linear;  // the output activation the loss absorbed, applied before the metrics
  double weight = 1.0;
  std::vector<MetricSpec> metrics;
  bool sparse() const { return loss == LossKind::sparse_softmax_cross_entropy; }
};

// A shared layer's later call writes its own weight gradient `from`; after backward it is added into
// the layer's gradient `into` (n floats).
struct GradientSum {
  float* into;
  const float* from;
  int64_t n;
};

// Where a run of steps starts and what it may do: training steps, or (train false) the loss and
// metrics of batches in inference mode, as a test epoch computes them.
struct RunRequest {
  bool train = true;
  std::vector<const float*> xs;       // per model input: (rows, its width)
  std::vector<const void*> targets;   // per output: (rows, K) float32, or (rows) int64 class ids (sparse loss)
  const int64_t* order;    // (rows) row permutation, or null for the stored order
  int64_t rows, batch_size;
  int64_t first_batch, max_steps;  // batches [first_batch, first_batch + max_steps) at most
  double seconds;                  // stop after the step that crosses this much wall time
  uint64_t step;                   // the model's step count (dropout masks) before the first step
  int64_t iteration;               // the optimiser's iterations before the first step
  double learning_rate;
  double loss_sum;                  // running Σ batch loss × batch rows of the epoch so far (continued here)
  std::vector<double> output_loss_sums;  // the same per output (several outputs only), continued
  // Data parallelism (docs/distributed.md): this rank takes shard `shard_rank` of `shard_count` of
  // every global batch of batch_size rows (contiguous, sizes differing by at most one, possibly
  // empty); its loss gradient is scaled by shard rows / global rows, the weight gradients are summed
  // over the ranks by `reducer` between backward and update, and the losses reported are the global
  // batch's. Null reducer and a shard count of 1: the one-process loop, unchanged.
  GradientReducer* reducer = nullptr;
  int64_t shard_rank = 0, shard_count = 1;
  // (rows) weights of each row's losses (sample or class weights), or null; not with a reducer.
  const float* sample_weights = nullptr;
};

struct RunResult {
  int64_t steps = 0, seen = 0;  // steps done and rows they covered
  double loss_sum = 0;
  std::vector<double> output_loss_sums;
  bool non_finite = false;            // the last step's loss was NaN or inf (the run stopped there)
  std::vector<double> metric_totals;  // per metric of every output in order: Σ sample values
};

class TrainingLoop {
 public:
  // id_inputs[i]: model input i holds int32 ids (read only by embedding steps, through identity
  // steps); empty: every input is float32.
  TrainingLoop(std::vector<LayerStep> layers, std::vector<int64_t> input_widths, std::vector<OutputSpec> outputs,
               OptimizerSpec optimizer, std::vector<GradientSum> sums, int64_t max_batch,
               std::vector<char> id_inputs = {});
  RunResult run(const RunRequest& request);  // training steps, or test batches (request.train false)
  // Inference over batches [first_batch, first_batch + max_batches) of xs, until `seconds` pass: outs
  // (rows, K) per output receive the predictions (absorbed activations applied), as predict_step gives
  // them. Returns the batches done.
  int64_t predict(const std::vector<const float*>& xs, const std::vector<float*>& outs, int64_t rows,
                  int64_t batch_size, int64_t first_batch, int64_t max_batches, double seconds);
  bool trains() const { return !outputs_.empty() && outputs_.front().loss != LossKind::none; }
  const std::vector<int64_t>& input_widths() const { return input_widths_; }
  bool id_input(size_t i) const { return is_ids_[i] != 0; }
  int64_t tensor_width(int tensor) const { return widths_[tensor]; }
  const std::vector<OutputSpec>& outputs() const { return outputs_; }

 private:
  void forward(int64_t N, uint64_t step, bool training, int64_t first_row = 0);
  void backward(int64_t N, GradientReducer* reducer = nullptr);
  // Data parallelism: the flat gradient buffers and buckets (once), each step's buffers bound (the
  // steps' gradient outputs pointed into the send buffer), finished buckets started, and a rank
  // without rows contributing zeros.
  void prepare_reduction(int64_t bucket_bytes);
  void finish_gradients(const std::vector<int>& params, GradientReducer* reducer, bool copy);
  void contribute_nothing(GradientReducer* reducer);
  void bind_reduction_areas(GradientReducer* reducer);
  void point_update_at(float* sum);
  void write_gradients_into(float* area);
  void put_gradient(int tensor, const float* gradient, int64_t N);
  void update(int64_t iteration, double learning_rate);
  void count_metrics(const OutputSpec& output, int index, const void* targets, int64_t N, double* totals);

  std::vector<LayerStep> layers_;
  std::vector<int64_t> input_widths_, widths_;  // per model input; per tensor
  std::vector<int> consumers_;                  // per tensor: steps reading it, plus outputs
  std::vector<char> is_ids_;                    // per tensor: int32 ids (an id input, or a reshape of one)
  std::vector<OutputSpec> outputs_;
  OptimizerSpec optimizer_;
  std::vector<GradientSum> sums_;
  int64_t max_batch_;
  std::vector<const float*> value_;     // per tensor: its values in the current batch
  std::vector<const float*> gradient_;  // per tensor: d loss / d tensor in the current backward pass
  std::vector<char> summed_;            // per tensor: whether gradient_ points into its sum buffer
  std::vector<AlignedBuffer<float>> sum_, x_batch_;  // per tensor (fan-out sums); per input (gathered)
  std::vector<AlignedBuffer<float>> targets_batch_, doutputs_, predictions_;  // per output
  AlignedBuffer<float> weights_batch_;  // the batch's sample weights, gathered in the shuffled order
  std::vector<AlignedBuffer<int64_t>> labels_batch_;                          // per output
  // Data parallelism (prepare_reduction): each trainable array's gradient gets a place in one flat
  // buffer, in the order backward finishes them; consecutive places form buckets of about the
  // reducer's size, reduced into the sum buffer, which the update then reads (reduced_params_). The
  // buffers are the loop's own (flat_send_, flat_sum_) or a shared-memory reducer's (step_send_, step_sum_).
  struct Bucket {
    int64_t begin = 0, end = 0;  // float offsets in the flat buffers
    int params = 0, waiting = 0;  // arrays in it; those not finished yet in this step
  };
  int64_t layout_bucket_bytes_ = -1;
  std::vector<std::vector<int>> finished_by_step_;  // per layer step: params whose gradient it completes
  std::vector<int> finished_at_end_;                // params completed by the shared-layer sums (or unknown)
  std::vector<int64_t> flat_offset_;                // per param
  std::vector<int> bucket_of_;                      // per param
  std::vector<Bucket> buckets_;
  int next_bucket_ = 0;
  AlignedBuffer<float> flat_send_, flat_sum_;
  struct GradientField {
    float** field;  // a step's dW, db, dgamma or dbeta
    float* home;    // the model's gradient array it points at outside data-parallel runs
    int param;
  };
  std::vector<GradientField> gradient_fields_;
  float* gradients_in_ = nullptr;  // where those fields point now (nullptr: the model's arrays)
  float* step_send_ = nullptr;  // this step's buffers (bind_reduction_areas)
  float* step_sum_ = nullptr;
  std::vector<ParamUpdate> reduced_params_;
};

}  // namespace axonal
