#include "optimizers.h"

#include <cmath>
#include <type_traits>

#include "parallel.h"

// Each update is one pass over memory, vectorised, and threaded only for large parameters
// (parallel_for_simd in parallel.h).

namespace axonal {

namespace {
// Keras' decoupled weight decay p ← p − p·wd·lr, folded into a factor applied with the update.
inline float decay_factor(double lr, double weight_decay) { return static_cast<float>(1.0 - weight_decay * lr); }
}  // namespace

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr, double momentum,
                bool nesterov, double weight_decay) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float mu = static_cast<float>(momentum);
  if (!momentum_buf) {
    elementwise(n, [&](int64_t i) { param[i] = param[i] * decay - rate * grad[i]; });
    return;
  }
  elementwise(n, [&](int64_t i) {
    const float m = mu * momentum_buf[i] - rate * grad[i];
    momentum_buf[i] = m;
    param[i] = param[i] * decay + (nesterov ? mu * m - rate * grad[i] : m);
  });
}

namespace {
// RMSprop's loop for one (centered, momentum) setting: no branch or conditional store is left in
// it, so it vectorises.
template <bool Centered, bool Momentum>
void rmsprop_loop(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                  int64_t n, float decay, float rate, float keep, float blend, float mu, float eps) {
  elementwise(n, [&](int64_t i) {
    const float g = grad[i];
    const float v = keep * velocity[i] + blend * g * g;
    velocity[i] = v;
    float denominator = v + eps;
    if constexpr (Centered) {
      const float a = keep * average_grad[i] + blend * g;
      average_grad[i] = a;
      denominator -= a * a;
    }
    float increment = rate * g / std::sqrt(denominator);
    if constexpr (Momentum) {
      increment += mu * momentum_buf[i];
      momentum_buf[i] = increment;
    }
    param[i] = param[i] * decay - increment;
  });
}
}  // namespace

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, double lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float keep = static_cast<float>(rho), blend = static_cast<float>(1.0 - rho);
  const float mu = static_cast<float>(momentum), eps = static_cast<float>(epsilon);
  auto run = [&](auto centered_tag, auto momentum_tag) {
    rmsprop_loop<decltype(centered_tag)::value, decltype(momentum_tag)::value>(
        param, velocity, momentum_buf, average_grad, grad, n, decay, rate, keep, blend, mu, eps);
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if (centered && momentum_buf) run(Yes{}, Yes{});
  else if (centered) run(Yes{}, No{});
  else if (momentum_buf) run(No{}, Yes{});
  else run(No{}, No{});
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, double lr, double epsilon,
                    double weight_decay) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float eps = static_cast<float>(epsilon);
  elementwise(n, [&](int64_t i) {
    const float acc = accumulator[i] + grad[i] * grad[i];
    accumulator[i] = acc;
    param[i] = param[i] * decay - rate * grad[i] / std::sqrt(acc + eps);
  });
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, double lr,
                     double rho, double epsilon, double weight_decay) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float keep = static_cast<float>(rho), blend = static_cast<float>(1.0 - rho);
  const float eps = static_cast<float>(epsilon);
  elementwise(n, [&](int64_t i) {
    const float g = grad[i];
    const float eg = keep * accum_grad[i] + blend * g * g;
    accum_grad[i] = eg;
    const float delta = -std::sqrt(accum_delta[i] + eps) / std::sqrt(eg + eps) * g;
    accum_delta[i] = keep * accum_delta[i] + blend * delta * delta;
    param[i] = param[i] * decay + rate * delta;
  });
}

namespace {
// Adam's loop for one setting of amsgrad, so that neither version holds a branch (or a masked
// store) that would stop it vectorising.
template <bool Amsgrad>
void adam_loop(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, float decay, float alpha,
               float blend_1, float blend_2, float eps) {
  elementwise(n, [&](int64_t i) {
    const float g = grad[i];
    const float mi = m[i] + (g - m[i]) * blend_1;
    float vi = v[i] + (g * g - v[i]) * blend_2;
    m[i] = mi;
    v[i] = vi;
    if constexpr (Amsgrad) {
      vi = std::fmax(v_hat[i], vi);
      v_hat[i] = vi;
    }
    param[i] = param[i] * decay - alpha * mi / (std::sqrt(vi) + eps);
  });
}
}  // namespace

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, double lr,
                 double beta_1, double beta_2, double epsilon, int64_t step, double weight_decay) {
  const float decay = decay_factor(lr, weight_decay);
  const double t = static_cast<double>(step);
  // The bias corrections folded into the step size, as Keras does.
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta_2, t)) / (1.0 - std::pow(beta_1, t)));
  const float blend_1 = static_cast<float>(1.0 - beta_1), blend_2 = static_cast<float>(1.0 - beta_2);
  const float eps = static_cast<float>(epsilon);
  if (v_hat) {
    adam_loop<true>(param, m, v, v_hat, grad, n, decay, alpha, blend_1, blend_2, eps);
  } else {
    adam_loop<false>(param, m, v, v_hat, grad, n, decay, alpha, blend_1, blend_2, eps);
  }
}

}  // namespace axonal
