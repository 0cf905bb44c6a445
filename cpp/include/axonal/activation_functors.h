// Elementwise activations and their derivatives, shared by cpp/ and cuda/. Each is a template on the
// activation so that a kernel's inner loop holds no switch and vectorises; with_activation() turns
// the runtime enum into that template argument once per call. Softmax is a row operation: it lives
// in the kernels, not here.
//
// AXONAL_ACTIVATIONS is the C++ side of the activation table: names in enum order, and whether the
// backward pass takes the derivative from the activation's output y or from its input z. The one
// declaration is python/axonal/activations.py (TABLE); tests/test_tables.py fails when this list
// and that one differ. Adding an activation: a line here, its maths in act_forward/act_derivative,
// the same in backend/reference.py, and its TABLE entry.
#pragma once
#include <cmath>
#include <type_traits>

#include "axonal/philox.h"  // AXONAL_HD

// X(name, derivative from: output | input)
#define AXONAL_ACTIVATIONS(X)                                                                       \
  X(linear, output) X(relu, output) X(leaky_relu, output) X(elu, output) X(sigmoid, output)          \
  X(tanh, output) X(softmax, output) X(softplus, output) X(hard_step, output) X(gelu, input)         \
  X(gelu_approximate, input) X(silu, input) X(softsign, output) X(mish, input)

namespace axonal {

enum class Act : int {
#define AXONAL_ACT_ENUM(name, from) name,
  AXONAL_ACTIVATIONS(AXONAL_ACT_ENUM)
#undef AXONAL_ACT_ENUM
};

// How many activations the table holds.
#define AXONAL_ACT_ONE(name, from) +1
constexpr int kActivationCount = 0 AXONAL_ACTIVATIONS(AXONAL_ACT_ONE);
#undef AXONAL_ACT_ONE

// True where the derivative needs the input z: it is not a function of y alone (GELU, SiLU and Mish
// are not monotonic, so one y has two z). Fused kernels (dense, conv2d) keep only y, so they refuse
// these; activation_backward then takes z in the place of y.
AXONAL_HD constexpr bool derivative_from_input(Act act) {
  constexpr bool from_input[] = {
#define AXONAL_ACT_FROM(name, from) (#from[0] == 'i'),
      AXONAL_ACTIVATIONS(AXONAL_ACT_FROM)
#undef AXONAL_ACT_FROM
  };
  return from_input[static_cast<int>(act)];
}

// 1/√2, 1/√(2π), √(2/π) and the cubic coefficient of GELU's tanh form, as floats.
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluCubic = 0.044715f;

AXONAL_HD float sigmoid_of(float z) { return 1.f / (1.f + expf(-z)); }
// log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large |z|.
AXONAL_HD float softplus_of(float z) { return fmaxf(z, 0.f) + log1pf(expf(-fabsf(z))); }
// Φ(z), the standard normal CDF, as erfc: 1 + erf(z/√2) would cancel to 0 for z below about −5.
AXONAL_HD float normal_cdf(float z) { return 0.5f * erfcf(-z * kSqrtHalf); }

template <Act A>
AXONAL_HD float act_forward(float z, float alpha) {
  if constexpr (A == Act::relu) return z > 0.f ? z : 0.f;
  else if constexpr (A == Act::leaky_relu) return z > 0.f ? z : alpha * z;
  else if constexpr (A == Act::elu) return z > 0.f ? z : alpha * expm1f(z);
  else if constexpr (A == Act::sigmoid) return sigmoid_of(z);
  else if constexpr (A == Act::tanh) return tanhf(z);
  else if constexpr (A == Act::softplus) return softplus_of(z);
  else if constexpr (A == Act::hard_step) return z >= 0.f ? 1.f : 0.f;
  else if constexpr (A == Act::gelu) return z * normal_cdf(z);
  else if constexpr (A == Act::gelu_approximate)
    return 0.5f * z * (1.f + tanhf(kSqrt2OverPi * (z + kGeluCubic * z * z * z)));
  else if constexpr (A == Act::silu) return z * sigmoid_of(z);
  else if constexpr (A == Act::softsign) return z / (1.f + fabsf(z));
  else if constexpr (A == Act::mish) return z * tanhf(softplus_of(z));
  else return z;  // linear (softmax is handled by the caller)
}

// dy/dz (docs/design.md, activation table), written through s: the output y, or the input z where
// derivative_from_input(A). hard_step is straight-through.
template <Act A>
AXONAL_HD float act_derivative(float s, float alpha) {
  if constexpr (A == Act::relu) return s > 0.f ? 1.f : 0.f;
  else if constexpr (A == Act::leaky_relu) return s > 0.f ? 1.f : alpha;
  else if constexpr (A == Act::elu) return s > 0.f ? 1.f : s + alpha;
  else if constexpr (A == Act::sigmoid) return s * (1.f - s);
  else if constexpr (A == Act::tanh) return 1.f - s * s;
  else if constexpr (A == Act::softplus) return -expm1f(-s);  // sigmoid(z) = 1 − e^−y
  else if constexpr (A == Act::softsign) {
    const float d = 1.f - fabsf(s);  // 1/(1 + |z|) = 1 − |y|
    return d * d;
  } else if constexpr (A == Act::gelu) {
    return normal_cdf(s) + s * kInvSqrt2Pi * expf(-0.5f * s * s);  // Φ(z) + z·φ(z)
  } else if constexpr (A == Act::gelu_approximate) {
    const float t = tanhf(kSqrt2OverPi * (s + kGeluCubic * s * s * s));
    return 0.5f * (1.f + t) + 0.5f * s * (1.f - t * t) * kSqrt2OverPi * (1.f + 3.f * kGeluCubic * s * s);
  } else if constexpr (A == Act::silu) {
    const float g = sigmoid_of(s);
    return g * (1.f + s * (1.f - g));
  } else if constexpr (A == Act::mish) {
    const float t = tanhf(softplus_of(s));  // d softplus/dz = sigmoid(z)
    return t + s * (1.f - t * t) * sigmoid_of(s);
  } else {
    return 1.f;  // linear, hard_step
  }
}

template <Act A>
using ActTag = std::integral_constant<Act, A>;

// Calls fn(ActTag<A>{}) with A equal to the runtime value act.
template <typename Fn>
AXONAL_HD void with_activation(Act act, Fn&& fn) {
  switch (act) {
#define AXONAL_ACT_CASE(name, from) \
  case Act::name: fn(ActTag<Act::name>{}); break;
    AXONAL_ACTIVATIONS(AXONAL_ACT_CASE)
#undef AXONAL_ACT_CASE
    default: fn(ActTag<Act::linear>{}); break;
  }
}

}  // namespace axonal
