// Optimiser op family: one fused, in-place update per parameter, Keras 3 maths (docs/design.md).
// Outputs first (the parameter and its slots, updated in place), then the gradient, then sizes and
// hyper-parameters. A slot a configuration does not use is null. Every update starts with Keras'
// decoupled weight decay p ← p − p·wd·lr (wd = 0: none). Hyper-parameters arrive as double so that
// complements such as 1 − β2 are formed exactly before rounding to float, as the reference does.
#pragma once
#include <cstdint>

namespace axonal {

// param, momentum (n) updated from grad (n); momentum null when momentum == 0
void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr, double momentum,
                bool nesterov, double weight_decay);

// param, velocity (n), momentum (n) or null, average_grad (n) or null (centered only)
void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, double lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay);

// param, accumulator (n)
void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, double lr, double epsilon,
                    double weight_decay);

// param, accum_grad (n), accum_delta (n)
void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, double lr,
                     double rho, double epsilon, double weight_decay);

// param, m (n), v (n), v_hat (n) or null (amsgrad only); step is the 1-based iteration
void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, double lr,
                 double beta_1, double beta_2, double epsilon, int64_t step, double weight_decay);

// The same with the step's constants made once (the training loop updates every parameter of a step
// with one: the bias corrections' two pow() calls are most of a small parameter's update).
struct AdamStep;
void adam_update(const AdamStep& step, float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n);

// param, m (n): Lion steps by lr·sign(β1·m + (1−β1)·g), then m ← β2·m + (1−β2)·g
void lion_update(float* param, float* m, const float* grad, int64_t n, double lr, double beta_1, double beta_2,
                 double weight_decay);

}  // namespace axonal
