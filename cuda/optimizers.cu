// Optimiser kernels: each update is one elementwise pass over the parameter and its slots. The float
// expressions are those of cpp/optimizers.cpp, term for term, and the build turns off fused
// multiply-add contraction (--fmad=false, cuda/CMakeLists.txt) as the C++ build does
// (-ffp-contract=off), so an update rounds as the cpu backend's does.
#include <cmath>
#include <type_traits>

#include "common.cuh"
#include "optimizers.cuh"

namespace axonal::cuda {

namespace {
// Keras' decoupled weight decay p ← p − p·wd·lr, folded into a factor applied with the update.
float decay_factor(double lr, double weight_decay) { return static_cast<float>(1.0 - weight_decay * lr); }

// RMSprop for one (centered, momentum) setting, so the kernel holds no per-element branch.
template <bool Centered, bool Momentum>
void rmsprop_launch(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, float decay, float rate, float keep, float blend, float mu, float eps,
                    cudaStream_t stream) {
  // param, velocity, momentum_buf, average_grad, grad (n) -> updated in place. The captures are
  // named: nvcc does not let a device lambda capture a variable first inside `if constexpr`.
  launch_elementwise(n, stream, [param, velocity, momentum_buf, average_grad, grad, decay, rate, keep, blend, mu,
                                 eps] __device__(int64_t i) {
    const float g = grad[i];
    const float v = keep * velocity[i] + blend * g * g;
    velocity[i] = v;
    float denominator = v + eps;
    if constexpr (Centered) {
      const float a = keep * average_grad[i] + blend * g;
      average_grad[i] = a;
      denominator -= a * a;
    }
    float increment = rate * g / sqrtf(denominator);
    if constexpr (Momentum) {
      increment += mu * momentum_buf[i];
      momentum_buf[i] = increment;
    }
    param[i] = param[i] * decay - increment;
  });
}

// Adam for one setting of amsgrad.
template <bool Amsgrad>
void adam_launch(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, float decay,
                 float alpha, float blend_1, float blend_2, float eps, cudaStream_t stream) {
  // param, m, v, v_hat, grad (n) -> updated in place (captures named, as in rmsprop_launch)
  launch_elementwise(n, stream, [param, m, v, v_hat, grad, decay, alpha, blend_1, blend_2, eps] __device__(int64_t i) {
    const float g = grad[i];
    const float mi = m[i] + (g - m[i]) * blend_1;
    float vi = v[i] + (g * g - v[i]) * blend_2;
    m[i] = mi;
    v[i] = vi;
    if constexpr (Amsgrad) {
      vi = fmaxf(v_hat[i], vi);
      v_hat[i] = vi;
    }
    param[i] = param[i] * decay - alpha * mi / (sqrtf(vi) + eps);
  });
}
}  // namespace

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr, double momentum,
                bool nesterov, double weight_decay, cudaStream_t stream) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float mu = static_cast<float>(momentum);
  if (!momentum_buf) {
    launch_elementwise(n, stream, [=] __device__(int64_t i) { param[i] = param[i] * decay - rate * grad[i]; });
    return;
  }
  launch_elementwise(n, stream, [=] __device__(int64_t i) {
    const float m = mu * momentum_buf[i] - rate * grad[i];
    momentum_buf[i] = m;
    param[i] = param[i] * decay + (nesterov ? mu * m - rate * grad[i] : m);
  });
}

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, double lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay, cudaStream_t stream) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float keep = static_cast<float>(rho), blend = static_cast<float>(1.0 - rho);
  const float mu = static_cast<float>(momentum), eps = static_cast<float>(epsilon);
  auto run = [&](auto centered_tag, auto momentum_tag) {
    rmsprop_launch<decltype(centered_tag)::value, decltype(momentum_tag)::value>(
        param, velocity, momentum_buf, average_grad, grad, n, decay, rate, keep, blend, mu, eps, stream);
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if (centered && momentum_buf) run(Yes{}, Yes{});
  else if (centered) run(Yes{}, No{});
  else if (momentum_buf) run(No{}, Yes{});
  else run(No{}, No{});
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, double lr, double epsilon,
                    double weight_decay, cudaStream_t stream) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float eps = static_cast<float>(epsilon);
  launch_elementwise(n, stream, [=] __device__(int64_t i) {
    const float acc = accumulator[i] + grad[i] * grad[i];
    accumulator[i] = acc;
    param[i] = param[i] * decay - rate * grad[i] / sqrtf(acc + eps);
  });
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, double lr,
                     double rho, double epsilon, double weight_decay, cudaStream_t stream) {
  const float decay = decay_factor(lr, weight_decay), rate = static_cast<float>(lr);
  const float keep = static_cast<float>(rho), blend = static_cast<float>(1.0 - rho);
  const float eps = static_cast<float>(epsilon);
  launch_elementwise(n, stream, [=] __device__(int64_t i) {
    const float g = grad[i];
    const float eg = keep * accum_grad[i] + blend * g * g;
    accum_grad[i] = eg;
    const float delta = -sqrtf(accum_delta[i] + eps) / sqrtf(eg + eps) * g;
    accum_delta[i] = keep * accum_delta[i] + blend * delta * delta;
    param[i] = param[i] * decay + rate * delta;
  });
}

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, double lr,
                 double beta_1, double beta_2, double epsilon, int64_t step, double weight_decay,
                 cudaStream_t stream) {
  const float decay = decay_factor(lr, weight_decay);
  const double t = static_cast<double>(step);
  // The bias corrections folded into the step size, as Keras does (and cpp/optimizers.cpp).
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta_2, t)) / (1.0 - std::pow(beta_1, t)));
  const float blend_1 = static_cast<float>(1.0 - beta_1), blend_2 = static_cast<float>(1.0 - beta_2);
  const float eps = static_cast<float>(epsilon);
  if (v_hat)
    adam_launch<true>(param, m, v, v_hat, grad, n, decay, alpha, blend_1, blend_2, eps, stream);
  else
    adam_launch<false>(param, m, v, v_hat, grad, n, decay, alpha, blend_1, blend_2, eps, stream);
}

}  // namespace axonal::cuda
