"""Activation functions, named as in Keras, and THE activation table every backend follows.

:data:`TABLE` is the one declaration of the activations: for each name, the kernels' enum value
(``Act`` in ``cpp/include/axonal/activation_functors.h``, shared by the C++ and CUDA kernels), Keras'
default for the one scalar parameter ``alpha``, and whether the derivative is taken from the
activation's output ``y`` or from its input ``z``. The reference backend derives its list from it,
and ``tests/test_tables.py`` checks the C++ and CUDA tables (``activation_table()`` of each
extension) against it, so an entry missing anywhere fails a test.

Layers do not call the functions below: they pass the activation's *name* to the backend's kernels
(``dense_forward`` applies bias and activation in one pass). The functions apply the same kernels
to a NumPy array, for use outside a model, and identify an activation when one is passed to a layer
as ``activation=axonal.activations.relu``.

Most derivatives are computed from the output, so layers need not keep the pre-activation. GELU,
SiLU and Mish are not monotonic (one output comes from two inputs), so theirs is computed from the
input: ``activation_backward`` then takes ``z`` where it otherwise takes ``y``, and the fused
kernels (dense, conv2d), which keep only ``y``, refuse them (:data:`FUSED_REFUSAL`). ``hard_step``
(the perceptron's step) has a zero derivative almost everywhere; its backward pass is
straight-through (derivative 1) so that gradients still flow. The table with every formula is in
``docs/design.md``.

Example:
    >>> from axonal import activations
    >>> activations.relu(np.array([[-1.0, 2.0]], dtype="float32"))
    array([[0., 2.]], dtype=float32)
    >>> activations.get("ReLU"), activations.get("swish")
    ('relu', 'silu')
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from axonal._validation import as_float_array, lookup
from axonal.backend import host_backend


class Activation(NamedTuple):
    """One row of :data:`TABLE`."""

    index: int             # the kernels' enum value (Act, activation_functors.h)
    alpha: float           # Keras' default for the kernels' scalar parameter (0: the activation has none)
    derivative_from: str   # "output": act'(z) written through y; "input": through z


# The activation table, in kernel order. Adding an activation: a row here (and its public function
# below), its maths in backend/reference_activations.py, a line and its maths in activation_functors.h.
TABLE: dict[str, Activation] = {
    "linear": Activation(0, 0.0, "output"),
    "relu": Activation(1, 0.0, "output"),
    "leaky_relu": Activation(2, 0.2, "output"),  # alpha: the negative slope
    "elu": Activation(3, 1.0, "output"),
    "sigmoid": Activation(4, 0.0, "output"),
    "tanh": Activation(5, 0.0, "output"),
    "softmax": Activation(6, 0.0, "output"),
    "softplus": Activation(7, 0.0, "output"),
    "hard_step": Activation(8, 0.0, "output"),
    "gelu": Activation(9, 0.0, "input"),
    "gelu_approximate": Activation(10, 0.0, "input"),  # Keras' gelu(x, approximate=True)
    "silu": Activation(11, 0.0, "input"),
    "softsign": Activation(12, 0.0, "output"),
    "mish": Activation(13, 0.0, "input"),
}
# Other names activations.get accepts (Keras' aliases), mapped to the table's name.
ALIASES = {"swish": "silu"}
# The activations whose backward pass takes the input z in place of the output y.
FROM_INPUT = frozenset(name for name, row in TABLE.items() if row.derivative_from == "input")
# What a fused kernel (dense, conv2d, on every backend) says to an activation of FROM_INPUT,
# after "<op>: "; the C++ and CUDA bindings word it alike (activation_names.h).
FUSED_REFUSAL = ("activation {name!r} takes its derivative from its input, which a fused kernel does not keep; "
                 "use activation 'linear' here and apply {name!r} with activation_forward/activation_backward.")
# The kernels take one scalar parameter, ``alpha``; these are Keras' defaults for it.
DEFAULT_ALPHA = {name: row.alpha for name, row in TABLE.items() if row.alpha}


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
        return lookup("activation", identifier, {**{name: name for name in TABLE}, **ALIASES})
    name = getattr(identifier, "__name__", None)
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__ and name in TABLE:
        return name
    raise TypeError(
        f"Unsupported activation {identifier!r}: axonal runs activations inside fused kernels, so "
        f"it needs one of the names {list(TABLE)} (or the function of the same name in "
        "axonal.activations). Fix: pass e.g. activation='relu'.")


def default_alpha(name: str) -> float:
    """The ``alpha`` the kernels receive for activation ``name`` (0 where it is unused)."""
    return DEFAULT_ALPHA.get(name, 0.0)


def derivative_source(name: str, z: Any, y: Any) -> Any:
    """What ``activation_backward`` takes as its third argument for activation ``name``: the input
    ``z`` for the activations of :data:`FROM_INPUT`, else the output ``y``."""
    return z if name in FROM_INPUT else y


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


def gelu(x: Any, approximate: bool = False) -> np.ndarray:
    """Gaussian error linear unit: ``x * Φ(x) = 0.5 * x * (1 + erf(x / √2))``; with
    ``approximate=True`` Keras' tanh form ``0.5 * x * (1 + tanh(√(2/π) * (x + 0.044715 * x³)))``.
    As a layer's ``activation``, ``gelu`` is the exact form (the name ``"gelu_approximate"`` is the other)."""
    return _apply("gelu_approximate" if approximate else "gelu", x, 0.0)


def silu(x: Any) -> np.ndarray:
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``."""
    return _apply("silu", x, 0.0)


swish = silu  # Keras' other name for it: the same function, so get(swish) == "silu"


def softsign(x: Any) -> np.ndarray:
    """``x / (1 + |x|)``."""
    return _apply("softsign", x, 0.0)


def mish(x: Any) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    return _apply("mish", x, 0.0)
