#include "optimizers.h"

#include "axonal/optimizer_functors.h"
#include "parallel.h"

// Each update is one pass over memory: the shared per-element maths of optimizer_functors.h, run by
// `elementwise` (parallel.h), which threads large parameters and vectorises for the widest
// instruction set the CPU runs.
namespace axonal {

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr, double momentum,
                bool nesterov, double weight_decay) {
  const SgdStep step(lr, momentum, nesterov, weight_decay);
  if (momentum_buf) elementwise(n, [&](int64_t i) { step.apply<true>(param, momentum_buf, grad, i); });
  else elementwise(n, [&](int64_t i) { step.apply<false>(param, momentum_buf, grad, i); });
}

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, double lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay) {
  const RmspropStep step(lr, rho, momentum, epsilon, weight_decay);
  with_flags(centered, momentum_buf != nullptr, [&](auto centered_flag, auto momentum_flag) {
    constexpr bool kCentered = decltype(centered_flag)::value, kMomentum = decltype(momentum_flag)::value;
    elementwise(n, [&](int64_t i) {
      step.apply<kCentered, kMomentum>(param, velocity, momentum_buf, average_grad, grad, i);
    });
  });
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, double lr, double epsilon,
                    double weight_decay) {
  const AdagradStep step(lr, epsilon, weight_decay);
  elementwise(n, [&](int64_t i) { step.apply(param, accumulator, grad, i); });
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, double lr,
                     double rho, double epsilon, double weight_decay) {
  const AdadeltaStep step(lr, rho, epsilon, weight_decay);
  elementwise(n, [&](int64_t i) { step.apply(param, accum_grad, accum_delta, grad, i); });
}

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, double lr,
                 double beta_1, double beta_2, double epsilon, int64_t step_number, double weight_decay) {
  adam_update(AdamStep(lr, beta_1, beta_2, epsilon, step_number, weight_decay), param, m, v, v_hat, grad, n);
}

void adam_update(const AdamStep& step, float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n) {
  if (v_hat) elementwise(n, [&](int64_t i) { step.apply<true>(param, m, v, v_hat, grad, i); });
  else elementwise(n, [&](int64_t i) { step.apply<false>(param, m, v, v_hat, grad, i); });
}

void lion_update(float* param, float* m, const float* grad, int64_t n, double lr, double beta_1, double beta_2,
                 double weight_decay) {
  const LionStep step(lr, beta_1, beta_2, weight_decay);
  elementwise(n, [&](int64_t i) { step.apply(param, m, grad, i); });
}

}  // namespace axonal
