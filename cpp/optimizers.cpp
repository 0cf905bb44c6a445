#include "optimizers.h"

#include <cmath>

#include "parallel.h"

// Each update is one pass over memory, vectorised, and threaded only for large parameters.
#define AXONAL_ELEMENTWISE _Pragma("omp parallel for simd schedule(static) if (n >= kParallelMinWork)")

namespace axonal {

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, float lr, float momentum,
                bool nesterov, float weight_decay) {
  const float decay = 1.f - weight_decay * lr;
  if (!momentum_buf) {
    AXONAL_ELEMENTWISE
    for (int64_t i = 0; i < n; ++i) param[i] = param[i] * decay - lr * grad[i];
    return;
  }
  AXONAL_ELEMENTWISE
  for (int64_t i = 0; i < n; ++i) {
    const float m = momentum * momentum_buf[i] - lr * grad[i];
    momentum_buf[i] = m;
    param[i] = param[i] * decay + (nesterov ? momentum * m - lr * grad[i] : m);
  }
}

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, float lr, float rho, float momentum, float epsilon, bool centered,
                    float weight_decay) {
  const float decay = 1.f - weight_decay * lr;
  AXONAL_ELEMENTWISE
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float v = rho * velocity[i] + (1.f - rho) * g * g;
    velocity[i] = v;
    float denominator = v + epsilon;
    if (centered) {
      const float a = rho * average_grad[i] + (1.f - rho) * g;
      average_grad[i] = a;
      denominator -= a * a;
    }
    float increment = lr * g / std::sqrt(denominator);
    if (momentum_buf) {
      increment += momentum * momentum_buf[i];
      momentum_buf[i] = increment;
    }
    param[i] = param[i] * decay - increment;
  }
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, float lr, float epsilon,
                    float weight_decay) {
  const float decay = 1.f - weight_decay * lr;
  AXONAL_ELEMENTWISE
  for (int64_t i = 0; i < n; ++i) {
    const float acc = accumulator[i] + grad[i] * grad[i];
    accumulator[i] = acc;
    param[i] = param[i] * decay - lr * grad[i] / std::sqrt(acc + epsilon);
  }
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, float lr,
                     float rho, float epsilon, float weight_decay) {
  const float decay = 1.f - weight_decay * lr;
  AXONAL_ELEMENTWISE
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float eg = rho * accum_grad[i] + (1.f - rho) * g * g;
    accum_grad[i] = eg;
    const float delta = -std::sqrt(accum_delta[i] + epsilon) / std::sqrt(eg + epsilon) * g;
    accum_delta[i] = rho * accum_delta[i] + (1.f - rho) * delta * delta;
    param[i] = param[i] * decay + lr * delta;
  }
}

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, float lr,
                 float beta_1, float beta_2, float epsilon, int64_t step, float weight_decay) {
  const float decay = 1.f - weight_decay * lr;
  const double t = static_cast<double>(step);
  const float alpha =
      static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta_2, t)) / (1.0 - std::pow(beta_1, t)));
  AXONAL_ELEMENTWISE
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float mi = m[i] + (g - m[i]) * (1.f - beta_1);
    float vi = v[i] + (g * g - v[i]) * (1.f - beta_2);
    m[i] = mi;
    v[i] = vi;
    if (v_hat) {
      vi = std::fmax(v_hat[i], vi);
      v_hat[i] = vi;
    }
    param[i] = param[i] * decay - alpha * mi / (std::sqrt(vi) + epsilon);
  }
}

}  // namespace axonal
