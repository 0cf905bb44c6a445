"""The activations of the reference backend: ``activation_forward``/``activation_backward`` and
the name checks every reference op that takes an activation shares (dense, conv2d). Re-exported
by :mod:`axonal.backend.reference`; the maths is the table in ``docs/design.md``."""
from __future__ import annotations

import math

import numpy as np

from axonal.activations import FROM_INPUT, FUSED_REFUSAL, TABLE

ACTIVATIONS = tuple(TABLE)  # the names every backend's kernels accept, in kernel order


def check_activation(activation: str) -> str:
    """Return ``activation`` when it is one of :data:`ACTIVATIONS`, else raise ValueError naming it."""
    if activation not in TABLE:
        raise ValueError(f"Unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}.")
    return activation


def check_fused_activation(op: str, activation: str) -> str:
    """As :func:`check_activation`, for the fused kernels (dense, conv2d): they keep only the output
    y, so an activation whose derivative needs the input z is refused, with the fix."""
    check_activation(activation)
    if activation in FROM_INPUT:
        raise ValueError(f"{op}: " + FUSED_REFUSAL.format(name=activation))
    return activation


# --------------------------------------------------------------------------------------------------
# Activations

def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: e^-|z| never exceeds 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|), finite for any z."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise e^z / sum e^z, shifted by the row maximum so that no exponent overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2, written with erfc, which does not cancel to 0 for z << 0
    (NumPy has no erf: math.erfc, exact in float64, runs element by element)."""
    return 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-np.asarray(z, np.float64) / math.sqrt(2))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _gelu_tanh(z: np.ndarray) -> np.ndarray:
    """tanh(sqrt(2/pi) (z + 0.044715 z^3)), the inner part of GELU's tanh approximation."""
    return np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3))


# y = act(z), elementwise, given (z, alpha); softmax is a row operation (activation_forward).
_FORWARD = {
    "linear": lambda z, alpha: z,
    "relu": lambda z, alpha: np.maximum(z, 0),
    "leaky_relu": lambda z, alpha: np.where(z > 0, z, alpha * z),
    # expm1 of min(z, 0): the positive branch is never exponentiated, so no overflow.
    "elu": lambda z, alpha: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))),
    "sigmoid": lambda z, alpha: _sigmoid(z),
    "tanh": lambda z, alpha: np.tanh(z),
    "softplus": lambda z, alpha: _softplus(z),
    "hard_step": lambda z, alpha: np.where(z >= 0, 1, 0),  # the perceptron's threshold unit
    "gelu": lambda z, alpha: z * _normal_cdf(z),  # Keras: 0.5 z (1 + erf(z / sqrt 2))
    "gelu_approximate": lambda z, alpha: 0.5 * z * (1 + _gelu_tanh(z)),
    "silu": lambda z, alpha: z * _sigmoid(z),
    "softsign": lambda z, alpha: z / (1 + np.abs(z)),
    "mish": lambda z, alpha: z * np.tanh(_softplus(z)),
}


def _gelu_approximate_derivative(z: np.ndarray) -> np.ndarray:
    """d/dz of 0.5 z (1 + t), t = tanh(u), u = sqrt(2/pi) (z + 0.044715 z^3)."""
    t = _gelu_tanh(z)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)


def _mish_derivative(z: np.ndarray) -> np.ndarray:
    """d/dz of z tanh(softplus(z)) = t + z (1 - t^2) sigmoid(z), t = tanh(softplus(z))."""
    t = np.tanh(_softplus(z))
    return t + z * (1 - t * t) * _sigmoid(z)


# dx = dy * act'(z), given (dy, s, alpha): s is the output y, or the input z for FROM_INPUT.
_BACKWARD = {
    # hard_step is straight-through: its true derivative is 0 almost everywhere, which would stop
    # all learning, so the gradient passes unchanged, as for the classic perceptron rule.
    "linear": lambda dy, y, alpha: dy,
    "hard_step": lambda dy, y, alpha: dy,
    "relu": lambda dy, y, alpha: np.where(y > 0, dy, 0),
    "leaky_relu": lambda dy, y, alpha: np.where(y > 0, dy, alpha * dy),
    # For z <= 0, y = alpha (e^z - 1), so dy/dz = alpha e^z = y + alpha.
    "elu": lambda dy, y, alpha: np.where(y > 0, dy, dy * (y + alpha)),
    "sigmoid": lambda dy, y, alpha: dy * y * (1 - y),
    "tanh": lambda dy, y, alpha: dy * (1 - y * y),
    # dy/dz = sigmoid(z) = 1 - e^-y; -expm1(-y) keeps precision for small y
    "softplus": lambda dy, y, alpha: dy * -np.expm1(-y),
    # 1 / (1 + |z|)^2, and 1 / (1 + |z|) = 1 - |y|
    "softsign": lambda dy, y, alpha: dy * (1 - np.abs(y)) ** 2,
    # From the input: Phi(z) + z phi(z) with phi the normal density.
    "gelu": lambda dy, z, alpha: dy * (_normal_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)),
    "gelu_approximate": lambda dy, z, alpha: dy * _gelu_approximate_derivative(z),
    "silu": lambda dy, z, alpha: dy * _sigmoid(z) * (1 + z * (1 - _sigmoid(z))),
    "mish": lambda dy, z, alpha: dy * _mish_derivative(z),
}


def activation_forward(y, x, activation, alpha):
    """y = act(x), elementwise (row-wise for softmax).

    ``alpha`` is the negative slope of leaky_relu and the scale of elu; others ignore it.
    """
    # x (N, K) -> y (N, K)
    check_activation(activation)
    y[...] = _softmax_rows(x) if activation == "softmax" else _FORWARD[activation](x, alpha)


def activation_backward(dx, dy, y, activation, alpha):
    """dx = dy * act'(z), with act'(z) written in terms of the output y = act(z); for the
    activations whose derivative needs the input (FROM_INPUT: gelu, gelu_approximate, silu, mish)
    the third argument is that input z instead.
    """
    # dy, y (or z) (N, K) -> dx (N, K)
    check_activation(activation)
    if activation == "softmax":
        # Jacobian-vector product of the row softmax: y * (dy - <dy, y>).
        dx[...] = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    else:
        dx[...] = _BACKWARD[activation](dy, y, alpha)


# --------------------------------------------------------------------------------------------------
# Dense layer
