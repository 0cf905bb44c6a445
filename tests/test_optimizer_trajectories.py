"""Five optimiser steps through fit, against the Keras 3 update rules worked by hand, on every backend.

Every case trains Input(1) -> Dense(1) (kernel w, bias b) from w = 0.5, b = 1.5 on x = (1, 2),
t = (4, 7) with loss "mse", one batch of both samples (batch_size=2, shuffle=False) per fit call.
Residuals r_i = x_i·w + b − t_i; loss = (r_1² + r_2²)/2, so g_w = r_1 + 2·r_2 and g_b = r_1 + r_2
(at the start r = (−2, −4.5), g = (−11, −6.5)). The exact fit is w = 3, b = 1; w and b stay well
away from 0 over five steps and the residuals stay O(1), so float32 holds rel 1e-6 everywhere.

Step 1 by hand, for example:
    SGD(0.01):           w = 0.5 + 0.01·11 = 0.61,  b = 1.5 + 0.01·6.5 = 1.565.
    SGD(0.01, wd 0.5):   decay first, w = 0.5·(1 − 0.005) = 0.4975, then + 0.11 = 0.6075 (b: 1.5575).
    RMSprop(0.01):       v = 0.1·121 = 12.1, w = 0.5 + 0.01·11/√(12.1 + 1e-7) = 0.5316227765.
    Adam(0.1):           m = 0.1·g, v = 0.001·g², α = 0.1·√0.001/0.1, w = 0.5 + α·1.1/(√0.121 + 1e-7)
                         = 0.5999999713 (one lr per step, short of it by ε).

EXPECTED holds, as literals, (w, b) after each of the five steps and every slot array after the
fifth. They were computed in plain Python floats (float64) from the Keras 3 formulas
(keras/src/optimizers/{sgd,rmsprop,adagrad,adadelta,adam,lion,adamax}.py and base_optimizer._apply_weight_decay;
docs/design.md "Optimiser maths"). `_keras_rule` is that derivation, written out so a reviewer can
re-derive every number; it shares nothing with axonal, and `test_literals_follow_from_the_formulas`
checks it reproduces the literals.
"""
import math

import numpy as np
import pytest

from axonal import optimizers
from axonal.layers import Dense, Input
from axonal.models import Sequential

X, T, W0, B0 = (1.0, 2.0), (4.0, 7.0), 0.5, 1.5

EXPECTED = [  # (class, arguments, [(w, b) after steps 1..5], {slot: (for w, for b) after step 5})
    ("SGD", dict(learning_rate=0.01),
     [(0.61, 1.565), (0.71255, 1.6254), (0.8081605, 1.6815155), (0.89730701, 1.733640375),
      (0.9804324482, 1.782048357)], {}),
    ("SGD", dict(learning_rate=0.01, momentum=0.9),
     [(0.61, 1.565), (0.81155, 1.6839), (1.0818505, 1.8428855), (1.39574186, 2.026659225),
      (1.727657214, 2.219650137)], {"momentum": (0.3319153543, 0.1929909122)}),
    ("SGD", dict(learning_rate=0.01, momentum=0.9, nesterov=True),
     [(0.709, 1.6235), (0.9802055, 1.783044), (1.28527692, 1.961372214), (1.598193109, 2.142635019),
      (1.896653649, 2.313261583)], {"momentum": (0.2918324958, 0.1682500632)}),
    ("SGD", dict(learning_rate=0.01, weight_decay=0.5),
     [(0.6075, 1.5575), (0.7073625, 1.6103375), (0.8001474375, 1.658858187), (0.8863735828, 1.70338231),
      (0.9665215665, 1.744206544)], {}),
    ("RMSprop", dict(learning_rate=0.01),
     [(0.5316227765, 1.531622776), (0.5543098301, 1.554294862), (0.5731772212, 1.57314189),
      (0.5898391975, 1.589780376), (0.605042486, 1.604957924)],
     {"velocity": (45.73353284, 15.89424238)}),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5),
     [(0.5316227765, 1.531622776), (0.5701212183, 1.57010625), (0.6080914255, 1.608039721),
      (0.6434631163, 1.643352404), (0.6759790507, 1.675789247)],
     {"velocity": (44.13839976, 15.30783852), "momentum": (-0.03251593441, -0.03243684344)}),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, centered=True),
     [(0.5249999999, 1.525), (0.5456619206, 1.545651842), (0.5653858933, 1.565358998),
      (0.5853260353, 1.585275171), (0.6061026412, 1.606019062)],
     {"velocity": (75.18587407, 26.13212278), "average_gradient": (-7.108113892, -4.190453153)}),
    ("Adagrad", dict(learning_rate=0.1),
     [(0.5999587032, 1.599881866), (0.6679395681, 1.667668777), (0.7220597078, 1.721545065),
      (0.7679836079, 1.767193265), (0.8083334102, 1.807243209)],
     {"accumulator": (481.9897133, 166.1022132)}),
    ("Adadelta", dict(learning_rate=1.0, epsilon=1e-4),  # the default lr 0.001 would barely move w
     [(0.54472099, 1.544720301), (0.5892757887, 1.589230803), (0.6332085797, 1.633058384),
      (0.6762953805, 1.675970092), (0.718411168, 1.717835804)],
     {"accumulated_grad": (23.84443257, 8.258681607),
      "accumulated_delta": (0.0004305140584, 0.0004281604387)}),
    ("Adam", dict(learning_rate=0.1),
     [(0.5999999713, 1.599999951), (0.6997322381, 1.699711646), (0.7989855953, 1.798905035),
      (0.897521307, 1.897317732), (0.995070861, 1.99465191)],
     {"momentum": (-3.783664684, -2.211227837), "velocity": (0.4476586376, 0.1535707211)}),
    ("Adam", dict(learning_rate=0.2, beta_2=0.7, amsgrad=True),  # v falls from step 4: v̂ > v
     [(0.6999999967, 1.699999994), (0.9013537867, 1.901398087), (1.105136141, 2.105296713),
      (1.302842785, 2.301632761), (1.48682276, 2.482585112)],
     {"momentum": (-3.050229387, -1.752839987), "velocity": (40.98610325, 13.51544709),
      "velocity_hat": (54.54332844, 18.61974881)}),
    ("Adam", dict(learning_rate=0.1, weight_decay=0.1),
     [(0.5949999713, 1.584999951), (0.6888122895, 1.668895249), (0.781268866, 1.75150221),
      (0.8721863348, 1.832619022), (0.9613658474, 1.912025211)],
     {"momentum": (-3.853527038, -2.2560104), "velocity": (0.4610112189, 0.1585540818)}),
    ("Lion", dict(learning_rate=0.1),  # every step lr in the gradient's direction
     [(0.6, 1.6), (0.7, 1.7), (0.8, 1.8), (0.9, 1.9), (1.0, 2.0)],
     {"momentum": (-0.4599054591, -0.2690621807)}),
    ("Lion", dict(learning_rate=0.5, beta_1=0.5, beta_2=0.9),  # overshoots: the sign flips at step 5
     [(1.0, 2.0), (1.5, 2.5), (2.0, 3.0), (2.5, 3.5), (2.0, 3.0)],
     {"momentum": (-0.88501, -0.399565)}),
    ("Lion", dict(learning_rate=0.1, weight_decay=0.5),
     [(0.575, 1.525), (0.64625, 1.54875), (0.7139375, 1.5713125), (0.778240625, 1.592746875),
      (0.8393285937, 1.613109531)],
     {"momentum": (-0.4967404031, -0.2926724797)}),
    ("Adamax", dict(learning_rate=0.1),
     [(0.5999999991, 1.599999998), (0.6962685156, 1.696047461), (0.7887731734, 1.788108297),
      (0.877490439, 1.876157777), (0.9624058804, 1.960180815)],
     {"momentum": (-3.809831998, -2.227605125), "norm": (10.95606596, 6.474038974)}),
    ("Adamax", dict(learning_rate=0.1, beta_2=0.5, weight_decay=0.2),
     [(0.5899999991, 1.569999998), (0.6812235143, 1.641789004), (0.7740216801, 1.715754655),
      (0.8688594889, 1.792418353), (0.9663732716, 1.872505282)],
     {"momentum": (-3.894926986, -2.282955659), "norm": (8.278447495, 4.808584826)}),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in arguments.items()) for name, arguments, *_ in EXPECTED]

KERAS_DEFAULTS = {
    "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None),
    "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                    weight_decay=None),
    "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None),
    "Adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None),
    "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None),
    "Lion": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None),
    "Adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None),
}


def _keras_rule(name, arguments, steps=5):
    """The Keras 3 update rules on Python floats: ((w, b) after each step, final slots per parameter)."""
    h = {**KERAS_DEFAULTS[name], **arguments}
    lr, wd = h["learning_rate"], h["weight_decay"]
    params, trajectory = [W0, B0], []
    slots = [dict(momentum=0.0, velocity=0.0, average_gradient=0.0, velocity_hat=0.0, accumulated_grad=0.0,
                  accumulated_delta=0.0, norm=0.0, accumulator=h.get("initial_accumulator_value", 0.0))
             for _ in params]
    for t in range(1, steps + 1):
        r = [x * params[0] + params[1] - y for x, y in zip(X, T)]
        grads = [r[0] + 2 * r[1], r[0] + r[1]]  # at the weights before this step (and its decay)
        for i, (g, s) in enumerate(zip(grads, slots)):
            p = params[i] - params[i] * wd * lr if wd else params[i]  # decoupled decay comes first
            if name == "SGD" and h["momentum"]:
                s["momentum"] = h["momentum"] * s["momentum"] - lr * g
                p += h["momentum"] * s["momentum"] - lr * g if h["nesterov"] else s["momentum"]
            elif name == "SGD":
                p -= lr * g
            elif name == "RMSprop":
                rho, eps = h["rho"], h["epsilon"]
                s["velocity"] = rho * s["velocity"] + (1 - rho) * g * g
                s["average_gradient"] = rho * s["average_gradient"] + (1 - rho) * g
                denominator = s["velocity"] - (s["average_gradient"] ** 2 if h["centered"] else 0.0) + eps
                s["momentum"] = h["momentum"] * s["momentum"] + lr * g / math.sqrt(denominator)
                p -= s["momentum"]  # without momentum this is just the increment
            elif name == "Adagrad":
                s["accumulator"] += g * g
                p -= lr * g / math.sqrt(s["accumulator"] + h["epsilon"])
            elif name == "Adadelta":
                rho, eps = h["rho"], h["epsilon"]
                s["accumulated_grad"] = rho * s["accumulated_grad"] + (1 - rho) * g * g
                delta = -math.sqrt(s["accumulated_delta"] + eps) / math.sqrt(s["accumulated_grad"] + eps) * g
                s["accumulated_delta"] = rho * s["accumulated_delta"] + (1 - rho) * delta * delta
                p += lr * delta
            elif name == "Lion":  # the sign of the blend with the old momentum, then the momentum moves
                c = h["beta_1"] * s["momentum"] + (1 - h["beta_1"]) * g
                p -= lr * (1 if c > 0 else -1 if c < 0 else 0)
                s["momentum"] = h["beta_2"] * s["momentum"] + (1 - h["beta_2"]) * g
            elif name == "Adamax":  # Keras divides lr·m by (1 − β1^t)(u + ε)
                s["momentum"] += (g - s["momentum"]) * (1 - h["beta_1"])
                s["norm"] = max(h["beta_2"] * s["norm"], abs(g))
                p -= lr * s["momentum"] / ((1 - h["beta_1"] ** t) * (s["norm"] + h["epsilon"]))
            else:  # Adam: bias corrections folded into the step size, ε added to the uncorrected √v
                b1, b2 = h["beta_1"], h["beta_2"]
                alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                s["momentum"] += (g - s["momentum"]) * (1 - b1)
                s["velocity"] += (g * g - s["velocity"]) * (1 - b2)
                s["velocity_hat"] = max(s["velocity_hat"], s["velocity"])
                root = math.sqrt(s["velocity_hat"] if h["amsgrad"] else s["velocity"])
                p -= alpha * s["momentum"] / (root + h["epsilon"])
            params[i] = p
        trajectory.append(tuple(params))
    return trajectory, slots


@pytest.mark.parametrize("name, arguments, trajectory, final_slots", EXPECTED, ids=IDS)
def test_literals_follow_from_the_formulas(name, arguments, trajectory, final_slots):
    derived, slots = _keras_rule(name, arguments)
    assert derived == [pytest.approx(step, rel=1e-9) for step in trajectory]
    for slot, values in final_slots.items():
        assert (slots[0][slot], slots[1][slot]) == pytest.approx(values, rel=1e-9)


def _model(optimizer, weights=((W0,), B0), use_bias=True):
    model = Sequential([Input(shape=(1,)), Dense(1, use_bias=use_bias)])
    model.set_weights([np.array([weights[0]])] + ([np.array([weights[1]])] if use_bias else []))
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("name, arguments, trajectory, final_slots", EXPECTED, ids=IDS)
def test_five_step_trajectory(backend, name, arguments, trajectory, final_slots):
    x, t = np.array(X).reshape(2, 1), np.array(T).reshape(2, 1)
    stepped = _model(getattr(optimizers, name)(**arguments))
    for expected in trajectory:  # one fit call per step
        stepped.fit(x, t, batch_size=2, epochs=1, shuffle=False, verbose=0)
        kernel, bias = stepped.get_weights()
        np.testing.assert_allclose([kernel[0, 0], bias[0]], expected, rtol=1e-6)
    at_once = _model(getattr(optimizers, name)(**arguments))  # the same five steps as five epochs
    at_once.fit(x, t, batch_size=2, epochs=5, shuffle=False, verbose=0)
    np.testing.assert_allclose([w.item() for w in at_once.get_weights()], trajectory[-1], rtol=1e-6)

    for model in (stepped, at_once):
        optimizer = model.optimizer
        assert optimizer.iterations == 5
        assert [set(slots) for slots in optimizer.slots] == [set(final_slots)] * 2
        for slot, values in final_slots.items():
            assert optimizer.slots[0][slot].shape == (1, 1)  # slots[0] are the kernel's, slots[1] the bias'
            got = [optimizer.slots[0][slot].item(), optimizer.slots[1][slot].item()]
            np.testing.assert_allclose(got, values, rtol=1e-6, err_msg=slot)


# ----- Documented differences from PyTorch (docs/design.md) -------------------------------------

def _one_weight_tiny_gradient(optimizer):
    """w = 1, x = 2⁻¹³, t = −1/32 (all exact in float32), one step: g = 2x(xw − t) ≈ 7.66e-6,
    small enough that ε = 1e-7 matters. Returns (w after the step, g)."""
    x, t = 2.0**-13, -1 / 32
    model = _model(optimizer, weights=((1.0,), None), use_bias=False)
    model.fit(np.array([[x]]), np.array([[t]]), batch_size=1, epochs=1, verbose=0)
    return model.get_weights()[0].item(), 2 * x * (x * 1.0 - t)


@pytest.mark.parametrize("optimizer, decay", [(optimizers.RMSprop, 0.9), (optimizers.Adagrad, 0.0)],
                         ids=["RMSprop", "Adagrad"])
def test_epsilon_is_inside_the_root(backend, optimizer, decay):
    """Keras: w − lr·g/√(v + ε); PyTorch's RMSprop and Adagrad (same ρ, ε, a zero accumulator):
    w − lr·g/(√v + ε). RMSprop: v = (1 − ρ)·g²; Adagrad from accumulator 0: v = g²."""
    kwargs = dict(rho=decay) if decay else dict(initial_accumulator_value=0.0)
    w, g = _one_weight_tiny_gradient(optimizer(learning_rate=0.01, **kwargs))
    v = (1 - decay) * g * g  # ≈ 6e-12 or 6e-11, far below ε = 1e-7
    keras, torch = 1 - 0.01 * g / math.sqrt(v + 1e-7), 1 - 0.01 * g / (math.sqrt(v) + 1e-7)
    assert w == pytest.approx(keras, rel=1e-6)  # a step of 2.4e-4 ...
    assert abs((1 - torch) / (1 - w)) > 10  # ... where ε outside the root steps over ten times as far


def test_adam_epsilon_is_added_to_the_uncorrected_root(backend):
    """Keras: w − lr·√(1−β₂)/(1−β₁)·m/(√v + ε); PyTorch: w − lr·m̂/(√v̂ + ε) with the corrected
    m̂ = m/(1−β₁), v̂ = v/(1−β₂): ε weighs √(1/(1−β₂)) ≈ 32 times more in Keras at step 1."""
    w, g = _one_weight_tiny_gradient(optimizers.Adam(learning_rate=0.01))
    m, v = 0.1 * g, 0.001 * g * g
    keras = 1 - 0.01 * math.sqrt(0.001) / 0.1 * m / (math.sqrt(v) + 1e-7)
    torch = 1 - 0.01 * (m / 0.1) / (math.sqrt(v / 0.001) + 1e-7)
    assert w == pytest.approx(keras, rel=1e-6)  # a step of 0.0071 ...
    assert (1 - torch) / (1 - w) > 1.3  # ... where PyTorch's would be 0.0099
    assert w == pytest.approx(1 - 0.01 * g / (g + 1e-7 * math.sqrt(1000)), rel=1e-6)  # same, simplified


def test_sgd_momentum_stores_the_step_not_the_gradient(backend):
    """Keras m ← μm − lr·g, w ← w + m; PyTorch v ← μv + g, w ← w − lr·v. Equal for a constant lr;
    after a change of lr the old steps keep their old size in Keras only.
    w = 1, x = 2, t = 0: g = 8w. Step 1 (lr 0.1): m = −0.8, w = 0.2. Step 2 (lr 0.01, g = 1.6):
    Keras m = 0.9·(−0.8) − 0.016 = −0.736, w = −0.536; PyTorch v = 0.9·8 + 1.6 = 8.8, w = 0.112."""
    model = _model(optimizers.SGD(learning_rate=0.1, momentum=0.9), weights=((1.0,), None),
                   use_bias=False)
    x, t = np.array([[2.0]]), np.array([[0.0]])
    model.fit(x, t, batch_size=1, epochs=1, verbose=0)
    assert model.get_weights()[0].item() == pytest.approx(0.2, rel=1e-6)
    model.optimizer.learning_rate = 0.01
    model.fit(x, t, batch_size=1, epochs=1, verbose=0)
    assert model.get_weights()[0].item() == pytest.approx(-0.536, rel=1e-6)
    assert model.optimizer.slots[0]["momentum"].item() == pytest.approx(-0.736, rel=1e-6)
