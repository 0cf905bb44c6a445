// The per-element maths of every optimiser (Keras 3's formulas, docs/design.md "Optimiser maths"),
// shared by cpp/optimizers.cpp and cuda/optimizers.cu so that both round alike (both builds also
// forbid fused multiply-adds). The hyper-parameters arrive as double and are rounded to float once,
// here; complements such as 1 − ρ are formed in double first, as the reference does. A slot a
// configuration does not use is a template flag, so no kernel holds a per-element branch. The
// constructors are __host__ __device__ too: with the learning rate or Adam's step in device memory
// (CUDA graphs), each CUDA thread builds its Step from the values it reads there, with these same
// double expressions.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "axonal/philox.h"  // AXONAL_HD

namespace axonal {

// Keras' decoupled weight decay p ← p − p·wd·lr, as a factor applied with the update.
AXONAL_HD float decay_factor(double lr, double weight_decay) { return static_cast<float>(1.0 - weight_decay * lr); }

// f(std::bool_constant<a>, std::bool_constant<b>): two run-time flags as compile-time ones.
template <typename F>
void with_flags(bool a, bool b, F&& f) {
  if (a && b) f(std::true_type{}, std::true_type{});
  else if (a) f(std::true_type{}, std::false_type{});
  else if (b) f(std::false_type{}, std::true_type{});
  else f(std::false_type{}, std::false_type{});
}

struct SgdStep {
  float decay, rate, mu;
  bool nesterov;
  AXONAL_HD SgdStep(double lr, double momentum, bool nesterov_, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), mu(static_cast<float>(momentum)),
        nesterov(nesterov_) {}

  // m ← μm − lr·g; p ← p·decay + m (Nesterov: + μm − lr·g); without momentum p ← p·decay − lr·g
  template <bool Momentum>
  AXONAL_HD void apply(float* param, float* momentum_buf, const float* grad, int64_t i) const {
    if constexpr (Momentum) {
      const float m = mu * momentum_buf[i] - rate * grad[i];
      momentum_buf[i] = m;
      param[i] = param[i] * decay + (nesterov ? mu * m - rate * grad[i] : m);
    } else {
      param[i] = param[i] * decay - rate * grad[i];
    }
  }
};

struct RmspropStep {
  float decay, rate, keep, blend, mu, eps;
  AXONAL_HD RmspropStep(double lr, double rho, double momentum, double epsilon, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep(static_cast<float>(rho)),
        blend(static_cast<float>(1.0 - rho)), mu(static_cast<float>(momentum)), eps(static_cast<float>(epsilon)) {}

  // v ← ρv + (1−ρ)g²; centered: a ← ρa + (1−ρ)g and v − a² under the root; momentum accumulates
  template <bool Centered, bool Momentum>
  AXONAL_HD void apply(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                       int64_t i) const {
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
  }
};

struct AdagradStep {
  float decay, rate, eps;
  AXONAL_HD AdagradStep(double lr, double epsilon, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), eps(static_cast<float>(epsilon)) {}

  // acc ← acc + g²; p ← p·decay − lr·g/√(acc + ε)
  AXONAL_HD void apply(float* param, float* accumulator, const float* grad, int64_t i) const {
    const float acc = accumulator[i] + grad[i] * grad[i];
    accumulator[i] = acc;
    param[i] = param[i] * decay - rate * grad[i] / sqrtf(acc + eps);
  }
};

struct AdadeltaStep {
  float decay, rate, keep, blend, eps;
  AXONAL_HD AdadeltaStep(double lr, double rho, double epsilon, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep(static_cast<float>(rho)),
        blend(static_cast<float>(1.0 - rho)), eps(static_cast<float>(epsilon)) {}

  // E[g²] ← ρE[g²] + (1−ρ)g²; Δ = −√(E[Δ²] + ε)/√(E[g²] + ε)·g; E[Δ²] ← ρE[Δ²] + (1−ρ)Δ²
  AXONAL_HD void apply(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t i) const {
    const float g = grad[i];
    const float eg = keep * accum_grad[i] + blend * g * g;
    accum_grad[i] = eg;
    const float delta = -sqrtf(accum_delta[i] + eps) / sqrtf(eg + eps) * g;
    accum_delta[i] = keep * accum_delta[i] + blend * delta * delta;
    param[i] = param[i] * decay + rate * delta;
  }
};

struct AdamStep {
  float decay, alpha, blend_1, blend_2, eps;
  // step is the 1-based iteration; both bias corrections are folded into alpha, as Keras does.
  AXONAL_HD AdamStep(double lr, double beta_1, double beta_2, double epsilon, int64_t step, double weight_decay)
      : decay(decay_factor(lr, weight_decay)),
        alpha(static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta_2, static_cast<double>(step))) /
                                 (1.0 - std::pow(beta_1, static_cast<double>(step))))),
        blend_1(static_cast<float>(1.0 - beta_1)), blend_2(static_cast<float>(1.0 - beta_2)),
        eps(static_cast<float>(epsilon)) {}

  // m ← m + (g − m)(1−β1); v ← v + (g² − v)(1−β2); AMSGrad: v̂ ← max(v̂, v); p ← p·decay − α·m/(√v + ε)
  template <bool Amsgrad>
  AXONAL_HD void apply(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t i) const {
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
  }
};

struct LionStep {
  float decay, rate, keep_1, blend_1, keep_2, blend_2;
  AXONAL_HD LionStep(double lr, double beta_1, double beta_2, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep_1(static_cast<float>(beta_1)),
        blend_1(static_cast<float>(1.0 - beta_1)), keep_2(static_cast<float>(beta_2)),
        blend_2(static_cast<float>(1.0 - beta_2)) {}

  // c = β1·m + (1−β1)·g; p ← p·decay − lr·sign(c); m ← β2·m + (1−β2)·g (the momentum the sign saw is
  // the old one). sign(0) = 0 and a NaN stays NaN, as NumPy's sign: a zero gradient on a zero
  // momentum does not move the weight, and a NaN is not hidden.
  AXONAL_HD void apply(float* param, float* m, const float* grad, int64_t i) const {
    const float g = grad[i], momentum = m[i];
    const float c = keep_1 * momentum + blend_1 * g;
    const float sign = c > 0.f ? 1.f : c < 0.f ? -1.f : c;
    param[i] = param[i] * decay - rate * sign;
    m[i] = keep_2 * momentum + blend_2 * g;
  }
};

}  // namespace axonal
