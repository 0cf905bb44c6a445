"""Weight regularisers, with Keras' names and defaults: ``l1``, ``l2`` and ``l1_l2``.

A regulariser given to a layer (``Dense(64, kernel_regularizer="l2")``) adds its penalty to the
loss the model reports and optimises, as in Keras. Its gradient is added to the weight's gradient
after the backward pass and before the optimiser step, on the host with NumPy, in place and
through a scratch array the layer keeps, so a step allocates nothing. Only trainable weights are
regularised (a frozen layer adds no penalty), as in Keras.

Penalties: ``l1·Σ|w| + l2·Σw²``; gradients ``l1·sign(w) + 2·l2·w`` (sign(0) = 0, as Keras'
automatic differentiation gives).

Example:
    >>> Dense(64, activation="relu", kernel_regularizer=regularizers.l2(0.001))
    >>> Dense(64, kernel_regularizer="l1_l2")          # l1 = l2 = 0.01
    >>> regularizers.L2(0.5)(np.array([1.0, 2.0]))
    2.5
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from axonal._validation import resolve


class Regularizer:
    """Base class: ``regularizer(weight)`` is the penalty; :meth:`add_gradient` adds its gradient."""

    def __call__(self, weight: np.ndarray, scratch: np.ndarray | None = None) -> float:
        """The penalty of ``weight`` (``scratch``, an array of its shape, avoids a temporary)."""
        raise NotImplementedError

    def add_gradient(self, grad: np.ndarray, weight: np.ndarray, scratch: np.ndarray) -> None:
        """``grad += d penalty / d weight``, in place, using ``scratch`` (same shape) for the terms."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)


class L1L2(Regularizer):
    """``l1·Σ|w| + l2·Σw²``. The class defaults are 0 (as in Keras); the string ``"l1_l2"`` and the
    function :func:`l1_l2` use 0.01 for both.

    Args:
        l1: L1 factor, a finite number >= 0.
        l2: L2 factor, a finite number >= 0.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor(l1, "l1")
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, weight, scratch=None):
        penalty = 0.0
        if self.l1:
            # Summed in the weight's dtype: a float64 sum would cast through a temporary buffer.
            penalty += self.l1 * float(np.abs(weight, out=scratch).sum())
        if self.l2:
            # vdot reads the weights once and allocates nothing.
            penalty += self.l2 * float(np.vdot(weight, weight))
        return penalty

    def add_gradient(self, grad, weight, scratch):
        if self.l1:
            np.sign(weight, out=scratch)
            scratch *= self.l1
            grad += scratch
        if self.l2:
            np.multiply(weight, 2.0 * self.l2, out=scratch)
            grad += scratch

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1·Σ|w|``.

    Args:
        l1: the factor (Keras' default 0.01).
    """

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2·Σw²`` (the gradient ``2·l2·w``; Keras' weight penalty, not decoupled weight decay).

    Args:
        l2: the factor (Keras' default 0.01).
    """

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Both penalties, 0.01 each by default (Keras' ``l1_l2`` and its string ``"l1_l2"``)."""
    return L1L2(l1=l1, l2=l2)


# Keras' lower-case spellings of the classes, for ``regularizers.l2(0.001)``.
l1 = L1
l2 = L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": L1L2}


def get(identifier: Any) -> Regularizer | None:
    """A regulariser from a name (``"l1"``, ``"l2"``, ``"l1_l2"``), a serialized dict, itself, or None.

    Raises:
        ValueError: for an unknown name.
        TypeError: for anything else.
    """
    if identifier is None:
        return None
    return resolve("regularizer", identifier, Regularizer, _BY_NAME,
                   "a name such as 'l2' or an instance such as regularizers.L2(0.001)")


def serialize(regularizer: Regularizer | None) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None stays None); :func:`get` turns it back."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def _check_factor(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"Regularization factor {name} must be a finite number >= 0, received "
                         f"{name}={value!r}. Fix: pass e.g. {name}=0.01.")
    return float(value)
