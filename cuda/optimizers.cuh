// Optimiser op family on the GPU: one fused, in-place kernel per parameter, Keras 3 maths, the same
// float/double conventions as cpp/optimizers.h (hyper-parameters arrive as double; complements such
// as 1 − β2 and Adam's bias-corrected step are formed in double, then rounded to float). A slot a
// configuration does not use is null. Same signatures plus the stream, except that the learning
// rate and Adam's step are StepValues (common.cuh): host numbers, or device scalars read when the
// kernel runs (a replayed CUDA graph sees the current learning rate and step). A device step below 1
// is not checked (that would need a copy): it makes the update NaN.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "common.cuh"

namespace axonal::cuda {

// param, momentum (n) updated from grad (n); momentum null when momentum == 0
void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, StepValue<double> lr,
                double momentum, bool nesterov, double weight_decay, cudaStream_t stream);

// param, velocity (n), momentum (n) or null, average_grad (n) or null (centered only)
void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, StepValue<double> lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay, cudaStream_t stream);

// param, accumulator (n)
void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, StepValue<double> lr,
                    double epsilon, double weight_decay, cudaStream_t stream);

// param, accum_grad (n), accum_delta (n)
void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n,
                     StepValue<double> lr, double rho, double epsilon, double weight_decay, cudaStream_t stream);

// param, m (n), v (n), v_hat (n) or null (amsgrad only); step is the 1-based iteration
void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, StepValue<double> lr,
                 double beta_1, double beta_2, double epsilon, StepValue<int64_t> step, double weight_decay,
                 cudaStream_t stream);

// param, m (n): Lion steps by lr·sign(β1·m + (1−β1)·g), then m ← β2·m + (1−β2)·g
void lion_update(float* param, float* m, const float* grad, int64_t n, StepValue<double> lr, double beta_1,
                 double beta_2, double weight_decay, cudaStream_t stream);

}  // namespace axonal::cuda
