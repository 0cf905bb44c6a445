"""Activation functions, named as in Keras.

Layers do not call these functions: they pass the activation's *name* to the backend's fused
kernels (``dense_forward`` applies bias and activation in one pass). The functions below apply the
same kernels to a NumPy array, for use outside a model, and identify an activation when one is
passed to a layer as ``activation=axonal.activations.relu``.

Every derivative is computed from the activation's output, so layers never keep the
pre-activation (the table is in ``docs/design.md``). ``hard_step`` (the perceptron's step) has a
zero derivative almost everywhere; its backward pass is straight-through (derivative 1) so that
gradients still flow.

Example:
    >>> from axonal import activations
    >>> activations.relu(np.array([[-1.0, 2.0]], dtype="float32"))
    array([[0., 2.]], dtype=float32)
    >>> activations.get("ReLU")
    'relu'
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from axonal._validation import as_float_array, lookup
from axonal.backend import host_backend
from axonal.backend.reference import ACTIVATIONS  # the names every backend's kernels accept

# The kernels take one scalar parameter, ``alpha``; these are Keras' defaults for it.
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


def get(identifier: str | Callable | None) -> str:
    """The canonical name of an activation given as a name, one of this module's functions, or None.

    Raises:
        ValueError: for an unknown name.
        TypeError: for other callables (axonal runs activations inside fused kernels, so an
            arbitrary Python function cannot be used).
    """
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        return lookup("activation", identifier, {name: name for name in ACTIVATIONS})
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        return identifier.__name__
    raise TypeError(
        f"Unsupported activation {identifier!r}: axonal runs activations inside fused kernels, so "
        f"it needs one of the names {list(ACTIVATIONS)} (or the function of the same name in "
        "axonal.activations). Fix: pass e.g. activation='relu'.")


def default_alpha(name: str) -> float:
    """The ``alpha`` the kernels receive for activation ``name`` (0 where it is unused)."""
    return DEFAULT_ALPHA.get(name, 0.0)


def _apply(name: str, x: Any, alpha: float) -> np.ndarray:
    """Run the active backend's activation kernel on ``x``, viewed as rows of its last axis."""
    inputs = as_float_array(np.atleast_1d(x), "x")
    rows = inputs.reshape(-1, inputs.shape[-1])
    outputs = np.empty_like(rows)
    host_backend().activation_forward(outputs, rows, name, alpha)
    return outputs.reshape(np.shape(x))


def linear(x: Any) -> np.ndarray:
    """Identity: ``x``."""
    return _apply("linear", x, 0.0)


def relu(x: Any) -> np.ndarray:
    """Rectified linear unit: ``max(x, 0)``."""
    return _apply("relu", x, 0.0)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> np.ndarray:
    """``x`` where positive, else ``negative_slope * x``."""
    return _apply("leaky_relu", x, negative_slope)


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: ``x`` where positive, else ``alpha * (exp(x) - 1)``."""
    return _apply("elu", x, alpha)


def sigmoid(x: Any) -> np.ndarray:
    """Logistic function: ``1 / (1 + exp(-x))``."""
    return _apply("sigmoid", x, 0.0)


def tanh(x: Any) -> np.ndarray:
    """Hyperbolic tangent."""
    return _apply("tanh", x, 0.0)


def softmax(x: Any) -> np.ndarray:
    """Softmax over the last axis: ``exp(x) / sum(exp(x))``, computed stably."""
    return _apply("softmax", x, 0.0)


def softplus(x: Any) -> np.ndarray:
    """``log(1 + exp(x))``, computed stably."""
    return _apply("softplus", x, 0.0)


def hard_step(x: Any) -> np.ndarray:
    """Perceptron step: 1 where ``x >= 0``, else 0 (straight-through derivative in training)."""
    return _apply("hard_step", x, 0.0)
