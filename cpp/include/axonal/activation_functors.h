// Elementwise activations and their derivatives written through the output y, shared by cpp/ and
// cuda/. Each is a template on the activation so that a kernel's inner loop holds no switch and
// vectorises; with_activation() turns the runtime enum into that template argument once per call.
// Softmax is a row operation: it lives in the kernels, not here.
#pragma once
#include <cmath>
#include <type_traits>
#include "axonal/philox.h"  // AXONAL_HD

namespace axonal {

enum class Act : int { linear = 0, relu, leaky_relu, elu, sigmoid, tanh, softmax, softplus, hard_step };

template <Act A>
AXONAL_HD float act_forward(float z, float alpha) {
  if constexpr (A == Act::relu) return z > 0.f ? z : 0.f;
  else if constexpr (A == Act::leaky_relu) return z > 0.f ? z : alpha * z;
  else if constexpr (A == Act::elu) return z > 0.f ? z : alpha * expm1f(z);
  else if constexpr (A == Act::sigmoid) return 1.f / (1.f + expf(-z));
  else if constexpr (A == Act::tanh) return tanhf(z);
  // log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large |z|.
  else if constexpr (A == Act::softplus) return fmaxf(z, 0.f) + log1pf(expf(-fabsf(z)));
  else if constexpr (A == Act::hard_step) return z >= 0.f ? 1.f : 0.f;
  else return z;  // linear (softmax is handled by the caller)
}

// dy/dz from y = act(z) (docs/design.md, activation table). hard_step is straight-through.
template <Act A>
AXONAL_HD float act_derivative(float y, float alpha) {
  if constexpr (A == Act::relu) return y > 0.f ? 1.f : 0.f;
  else if constexpr (A == Act::leaky_relu) return y > 0.f ? 1.f : alpha;
  else if constexpr (A == Act::elu) return y > 0.f ? 1.f : y + alpha;
  else if constexpr (A == Act::sigmoid) return y * (1.f - y);
  else if constexpr (A == Act::tanh) return 1.f - y * y;
  else if constexpr (A == Act::softplus) return -expm1f(-y);  // sigmoid(z) = 1 - e^-y
  else return 1.f;  // linear, hard_step
}

template <Act A>
using ActTag = std::integral_constant<Act, A>;

// Calls fn(ActTag<A>{}) with A equal to the runtime value act.
template <typename Fn>
AXONAL_HD void with_activation(Act act, Fn&& fn) {
  switch (act) {
    case Act::relu: fn(ActTag<Act::relu>{}); break;
    case Act::leaky_relu: fn(ActTag<Act::leaky_relu>{}); break;
    case Act::elu: fn(ActTag<Act::elu>{}); break;
    case Act::sigmoid: fn(ActTag<Act::sigmoid>{}); break;
    case Act::tanh: fn(ActTag<Act::tanh>{}); break;
    case Act::softmax: fn(ActTag<Act::softmax>{}); break;
    case Act::softplus: fn(ActTag<Act::softplus>{}); break;
    case Act::hard_step: fn(ActTag<Act::hard_step>{}); break;
    default: fn(ActTag<Act::linear>{}); break;
  }
}

}  // namespace axonal
