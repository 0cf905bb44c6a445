// The optimisers of the C++ and CUDA kernels, declared once: each is a Step (its per-element maths,
// Keras 3's formulas, docs/design.md "Optimiser maths") with a `kInfo` row saying how it is called,
// and one entry in AXONAL_OPTIMIZERS below. Everything else is generated from that list: the cpu
// and CUDA updates, their bindings, the native training loop's update and the tables the tests
// compare with optimizers.KERNELS. Adding an optimiser here is one struct and one list entry.
//
// Rounding: both builds forbid fused multiply-adds, so cpu and CUDA round alike. The
// hyper-parameters arrive as double and are rounded to float once, in the constructor; complements
// such as 1 − ρ are formed in double first, as the reference does. A slot a configuration does not
// use is a bit of the template mask `Used`, so no kernel holds a per-element branch. The
// constructors are __host__ __device__: with the learning rate or Adam's step in device memory
// (CUDA graphs) each CUDA thread builds its Step from the values it reads there, with these same
// double expressions.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "axonal/philox.h"  // AXONAL_HD

namespace axonal {

constexpr int kMaxSlots = 3;  // the most slot arrays an optimiser keeps per parameter
constexpr int kMaxHyper = 6;  // the most hyper-parameters besides lr, step and weight_decay

// How an optimiser's update is called (the binding's op name, its slots in order, its
// hyper-parameters in order), as optimizers.KERNELS declares it in Python.
struct UpdateInfo {
  const char* op;                       // "adam_update"
  int slots;                            // slot arrays, in the kernel's order
  int required;                         // the first `required` slots must always be given
  const char* slot_names[kMaxSlots];    // as the reference op names its arguments
  // An optional slot's hyper-parameter: when it is non-zero the slot must be given. `gated`: the
  // slot is used only while it is non-zero (amsgrad, centered); otherwise whenever it is given.
  const char* needed_by[kMaxSlots];
  bool gated[kMaxSlots];
  int hypers;                           // hyper-parameters other than lr, step and weight_decay
  const char* hyper_names[kMaxHyper];   // in the order the op takes them
  bool uses_step;                       // takes the 1-based iteration (Adam's bias corrections)
};

// The slot arrays of one parameter, in the kernel's order; null where unused.
struct SlotArrays {
  float* at[kMaxSlots];
};

// The hyper-parameters of one optimiser, in its UpdateInfo order (flags as 0 or 1).
struct HyperValues {
  double at[kMaxHyper];
};

// Keras' decoupled weight decay p ← p − p·wd·lr, as a factor applied with the update.
AXONAL_HD float decay_factor(double lr, double weight_decay) { return static_cast<float>(1.0 - weight_decay * lr); }

// Every Step has the constructor Step(hyper, lr, step, weight_decay) and
// apply<Used>(param, slots, grad, i), where bit k of Used says slot k is in use.
template <unsigned Used, int k>
constexpr bool uses_slot = ((Used >> k) & 1u) != 0;

struct SgdStep {
  static constexpr UpdateInfo kInfo{"sgd_update", 1, 0, {"momentum_buf"}, {"momentum"}, {false},
                                    2, {"momentum", "nesterov"}, false};
  float decay, rate, mu;
  bool nesterov;
  AXONAL_HD SgdStep(const HyperValues& h, double lr, int64_t, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), mu(static_cast<float>(h.at[0])),
        nesterov(h.at[1] != 0) {}

  // m ← μm − lr·g; p ← p·decay + m (Nesterov: + μm − lr·g); without momentum p ← p·decay − lr·g
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    if constexpr (uses_slot<Used, 0>) {
      const float m = mu * s.at[0][i] - rate * grad[i];
      s.at[0][i] = m;
      param[i] = param[i] * decay + (nesterov ? mu * m - rate * grad[i] : m);
    } else {
      param[i] = param[i] * decay - rate * grad[i];
    }
  }
};

struct RmspropStep {
  static constexpr UpdateInfo kInfo{"rmsprop_update", 3, 1, {"velocity", "momentum_buf", "average_grad"},
                                    {nullptr, "momentum", "centered"}, {false, false, true},
                                    4, {"rho", "momentum", "epsilon", "centered"}, false};
  float decay, rate, keep, blend, mu, eps;
  AXONAL_HD RmspropStep(const HyperValues& h, double lr, int64_t, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep(static_cast<float>(h.at[0])),
        blend(static_cast<float>(1.0 - h.at[0])), mu(static_cast<float>(h.at[1])), eps(static_cast<float>(h.at[2])) {}

  // v ← ρv + (1−ρ)g²; centered: a ← ρa + (1−ρ)g and v − a² under the root; momentum accumulates
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float g = grad[i];
    const float v = keep * s.at[0][i] + blend * g * g;
    s.at[0][i] = v;
    float denominator = v + eps;
    if constexpr (uses_slot<Used, 2>) {
      const float a = keep * s.at[2][i] + blend * g;
      s.at[2][i] = a;
      denominator -= a * a;
    }
    float increment = rate * g / sqrtf(denominator);
    if constexpr (uses_slot<Used, 1>) {
      increment += mu * s.at[1][i];
      s.at[1][i] = increment;
    }
    param[i] = param[i] * decay - increment;
  }
};

struct AdagradStep {
  static constexpr UpdateInfo kInfo{"adagrad_update", 1, 1, {"accumulator"}, {nullptr}, {false},
                                    1, {"epsilon"}, false};
  float decay, rate, eps;
  AXONAL_HD AdagradStep(const HyperValues& h, double lr, int64_t, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), eps(static_cast<float>(h.at[0])) {}

  // acc ← acc + g²; p ← p·decay − lr·g/√(acc + ε)
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float acc = s.at[0][i] + grad[i] * grad[i];
    s.at[0][i] = acc;
    param[i] = param[i] * decay - rate * grad[i] / sqrtf(acc + eps);
  }
};

struct AdadeltaStep {
  static constexpr UpdateInfo kInfo{"adadelta_update", 2, 2, {"accum_grad", "accum_delta"}, {nullptr, nullptr},
                                    {false, false}, 2, {"rho", "epsilon"}, false};
  float decay, rate, keep, blend, eps;
  AXONAL_HD AdadeltaStep(const HyperValues& h, double lr, int64_t, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep(static_cast<float>(h.at[0])),
        blend(static_cast<float>(1.0 - h.at[0])), eps(static_cast<float>(h.at[1])) {}

  // E[g²] ← ρE[g²] + (1−ρ)g²; Δ = −√(E[Δ²] + ε)/√(E[g²] + ε)·g; E[Δ²] ← ρE[Δ²] + (1−ρ)Δ²
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float g = grad[i];
    const float eg = keep * s.at[0][i] + blend * g * g;
    s.at[0][i] = eg;
    const float delta = -sqrtf(s.at[1][i] + eps) / sqrtf(eg + eps) * g;
    s.at[1][i] = keep * s.at[1][i] + blend * delta * delta;
    param[i] = param[i] * decay + rate * delta;
  }
};

struct AdamStep {
  static constexpr UpdateInfo kInfo{"adam_update", 3, 2, {"m", "v", "v_hat"}, {nullptr, nullptr, "amsgrad"},
                                    {false, false, true}, 4, {"beta_1", "beta_2", "epsilon", "amsgrad"}, true};
  float decay, alpha, blend_1, blend_2, eps;
  // step is the 1-based iteration; both bias corrections are folded into alpha, as Keras does.
  AXONAL_HD AdamStep(const HyperValues& h, double lr, int64_t step, double weight_decay)
      : decay(decay_factor(lr, weight_decay)),
        alpha(static_cast<float>(lr * std::sqrt(1.0 - std::pow(h.at[1], static_cast<double>(step))) /
                                 (1.0 - std::pow(h.at[0], static_cast<double>(step))))),
        blend_1(static_cast<float>(1.0 - h.at[0])), blend_2(static_cast<float>(1.0 - h.at[1])),
        eps(static_cast<float>(h.at[2])) {}

  // m ← m + (g − m)(1−β1); v ← v + (g² − v)(1−β2); AMSGrad: v̂ ← max(v̂, v); p ← p·decay − α·m/(√v + ε)
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float g = grad[i];
    const float mi = s.at[0][i] + (g - s.at[0][i]) * blend_1;
    float vi = s.at[1][i] + (g * g - s.at[1][i]) * blend_2;
    s.at[0][i] = mi;
    s.at[1][i] = vi;
    if constexpr (uses_slot<Used, 2>) {
      vi = fmaxf(s.at[2][i], vi);
      s.at[2][i] = vi;
    }
    param[i] = param[i] * decay - alpha * mi / (sqrtf(vi) + eps);
  }
};

struct LionStep {
  static constexpr UpdateInfo kInfo{"lion_update", 1, 1, {"m"}, {nullptr}, {false}, 2, {"beta_1", "beta_2"}, false};
  float decay, rate, keep_1, blend_1, keep_2, blend_2;
  AXONAL_HD LionStep(const HyperValues& h, double lr, int64_t, double weight_decay)
      : decay(decay_factor(lr, weight_decay)), rate(static_cast<float>(lr)), keep_1(static_cast<float>(h.at[0])),
        blend_1(static_cast<float>(1.0 - h.at[0])), keep_2(static_cast<float>(h.at[1])),
        blend_2(static_cast<float>(1.0 - h.at[1])) {}

  // c = β1·m + (1−β1)·g; p ← p·decay − lr·sign(c); m ← β2·m + (1−β2)·g (the momentum the sign saw is
  // the old one). sign(0) = 0 and a NaN stays NaN, as NumPy's sign: a zero gradient on a zero
  // momentum does not move the weight, and a NaN is not hidden.
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float g = grad[i], momentum = s.at[0][i];
    const float c = keep_1 * momentum + blend_1 * g;
    const float sign = c > 0.f ? 1.f : c < 0.f ? -1.f : c;
    param[i] = param[i] * decay - rate * sign;
    s.at[0][i] = keep_2 * momentum + blend_2 * g;
  }
};

struct AdamaxStep {
  static constexpr UpdateInfo kInfo{"adamax_update", 2, 2, {"m", "u"}, {nullptr, nullptr}, {false, false},
                                    3, {"beta_1", "beta_2", "epsilon"}, true};
  float decay, alpha, blend_1, keep_2, eps;
  // step is the 1-based iteration; the bias correction is folded into alpha, as for Adam.
  AXONAL_HD AdamaxStep(const HyperValues& h, double lr, int64_t step, double weight_decay)
      : decay(decay_factor(lr, weight_decay)),
        alpha(static_cast<float>(lr / (1.0 - std::pow(h.at[0], static_cast<double>(step))))),
        blend_1(static_cast<float>(1.0 - h.at[0])), keep_2(static_cast<float>(h.at[1])),
        eps(static_cast<float>(h.at[2])) {}

  // m ← m + (g − m)(1−β1); u ← max(β2·u, |g|); p ← p·decay − α·m/(u + ε)
  template <unsigned Used>
  AXONAL_HD void apply(float* param, const SlotArrays& s, const float* grad, int64_t i) const {
    const float g = grad[i];
    const float mi = s.at[0][i] + (g - s.at[0][i]) * blend_1;
    const float scaled = keep_2 * s.at[1][i], magnitude = fabsf(g);
    const float ui = magnitude > scaled || magnitude != magnitude ? magnitude : scaled;  // a NaN wins, as np.maximum
    s.at[0][i] = mi;
    s.at[1][i] = ui;
    param[i] = param[i] * decay - alpha * mi / (ui + eps);
  }
};

// The optimiser list, in the order optimizer_kernels() reports it. A new optimiser: its Step above
// and one entry here (then its Python class and reference op: docs/design.md, "How to add").
#define AXONAL_OPTIMIZERS(X) X(SgdStep) X(RmspropStep) X(AdagradStep) X(AdadeltaStep) X(AdamStep) X(LionStep) \
  X(AdamaxStep)

namespace detail {
template <typename... Steps>
struct StepList {
  static constexpr int size = sizeof...(Steps);
  static constexpr const UpdateInfo* info[] = {&Steps::kInfo...};
};
#define AXONAL_OPTIMIZER_TYPE(Step) , Step
template <typename Ignored, typename... Steps>
struct DropFirst {
  using type = StepList<Steps...>;
};
using Optimizers = DropFirst<void AXONAL_OPTIMIZERS(AXONAL_OPTIMIZER_TYPE)>::type;
#undef AXONAL_OPTIMIZER_TYPE

template <typename F, unsigned... M>
void for_each_mask(F& f, std::integer_sequence<unsigned, M...>) {
  (f(std::integral_constant<unsigned, M>{}), ...);
}
}  // namespace detail

constexpr int kOptimizerCount = detail::Optimizers::size;

// The UpdateInfo of optimiser `kind` (its index in AXONAL_OPTIMIZERS).
inline const UpdateInfo& optimizer_info(int kind) { return *detail::Optimizers::info[kind]; }

// The index of the optimiser whose op is `op` ("adam_update"), or -1.
inline int optimizer_kind(const std::string& op) {
  for (int kind = 0; kind < kOptimizerCount; ++kind)
    if (op == optimizer_info(kind).op) return kind;
  return -1;
}

// f(tag) with tag a null Step* of optimiser `kind` (a valid index): the callee takes the type from
// decltype(tag), as no Step is made here.
template <typename F>
void visit_optimizer(int kind, F&& f) {
  int index = 0;
  bool done = false;
  auto visit = [&](auto tag) {
    if (!done && index++ == kind) {
      done = true;
      f(tag);
    }
  };
#define AXONAL_OPTIMIZER_VISIT(Step) visit(static_cast<Step*>(nullptr));
  AXONAL_OPTIMIZERS(AXONAL_OPTIMIZER_VISIT)
#undef AXONAL_OPTIMIZER_VISIT
}

// f(std::integral_constant<unsigned, Used>{}) with the run-time slot mask `used` as a compile-time one,
// for the masks Step can meet (its required slots set, bits only for slots it has). Returns false,
// calling nothing, for any other mask (use_slots() never makes one).
template <typename Step, typename F>
bool with_used_slots(unsigned used, F&& f) {
  constexpr unsigned all = (1u << Step::kInfo.slots) - 1, required = (1u << Step::kInfo.required) - 1;
  bool called = false;
  auto attempt = [&](auto mask) {
    constexpr unsigned Used = decltype(mask)::value;
    if constexpr ((Used & ~all) == 0 && (Used & required) == required)
      if (used == Used) {
        called = true;
        f(mask);
      }
  };
  detail::for_each_mask(attempt, std::make_integer_sequence<unsigned, 1u << kMaxSlots>{});
  return called;
}

// Which slots optimiser `kind` uses given those present (bit k: slot k given) and its
// hyper-parameters; `problem` says why the call is invalid (a required slot missing, or one its
// hyper-parameter asks for), and is empty otherwise.
struct SlotUse {
  unsigned used = 0;
  std::string problem;  // empty when the call is valid
};

inline SlotUse use_slots(int kind, unsigned present, const HyperValues& h) {
  const UpdateInfo& info = optimizer_info(kind);
  SlotUse result;
  for (int k = 0; k < info.slots; ++k) {
    const bool given = ((present >> k) & 1u) != 0;
    double setting = 1.0;  // the hyper-parameter that needs slot k, if any
    int hyper = -1;
    for (int j = 0; info.needed_by[k] != nullptr && j < info.hypers; ++j)
      if (std::strcmp(info.needed_by[k], info.hyper_names[j]) == 0) hyper = j;
    if (hyper >= 0) setting = h.at[hyper];
    if (k < info.required && !given) {
      result.problem = std::string("'") + info.slot_names[k] + "' is required.";
      return result;
    }
    if (hyper >= 0 && setting != 0 && !given) {
      result.problem = std::string(info.needed_by[k]) + " is set but '" + info.slot_names[k] + "' is None.";
      return result;
    }
    if (given && (!info.gated[k] || setting != 0)) result.used |= 1u << k;
  }
  return result;
}

}  // namespace axonal
