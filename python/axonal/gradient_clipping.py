"""What every optimiser takes besides its own maths: Keras' gradient clipping (``clipnorm``,
``global_clipnorm``, ``clipvalue``) and Keras 2's time-based learning-rate ``decay``.

Clipping follows Keras 3 (``BaseOptimizer._clip_gradients``): at most one of the three is set;
``clipnorm`` rescales each gradient whose L2 norm exceeds it to that norm, ``global_clipnorm``
rescales all of them together when their joint norm exceeds it, ``clipvalue`` clamps every element
to ``[-v, v]``. Norms are summed in float64. Keras 2's ``decay`` makes the learning rate of step t
(1-based) ``lr / (1 + decay·(t − 1))``, as Keras 2 computed it; Keras 3 dropped the argument, so it
is accepted with a DeprecationWarning. Both run in Python on the host: a model whose optimiser uses
them trains layer by layer, and ``fit`` says so once (``models/executors/support.py``).

Example:
    >>> optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)
    >>> optimizers.SGD(lr=0.01, decay=1e-6)   # a Keras 2 program, unchanged
"""
from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")


def check_options(owner: str, options: dict) -> dict:
    """The clipping and legacy-decay options of an optimiser's constructor, checked: each None or
    a positive number, at most one clipping. Returns them as floats (or None)."""
    unknown = sorted(set(options) - {*CLIPPING, "decay"})
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword arguments {unknown}.")
    checked = {}
    for name in (*CLIPPING, "decay"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
                                  or value < 0):
            raise ValueError(f"{owner}: {name} must be a non-negative number or None, received {value!r}.")
        checked[name] = float(value) if value else None  # 0 means off, as in Keras
    chosen = [name for name in CLIPPING if checked[name] is not None]
    if len(chosen) > 1:
        raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, received "
                         f"{', '.join(f'{name}={checked[name]}' for name in chosen)}. Fix: keep one of them.")
    if checked["decay"]:
        warnings.warn(f"{owner}: decay={checked['decay']} is Keras 2's time-based learning-rate decay, which Keras 3 "
                      "dropped; axonal applies it as Keras 2 did: the learning rate of step t is lr / (1 + decay·(t - 1)).",
                      DeprecationWarning, stacklevel=4)
    return checked


def decayed_learning_rate(learning_rate: float, decay: float | None, step: int) -> float:
    """Keras 2's rate for the 1-based ``step``: ``lr / (1 + decay·(step − 1))`` (``lr`` without decay)."""
    return learning_rate / (1.0 + decay * (step - 1)) if decay else learning_rate


def clip_gradients(grads: list, clipnorm: float | None, global_clipnorm: float | None,
                   clipvalue: float | None) -> list:
    """The gradients after Keras' clipping (the same arrays when none is set; new ones otherwise)."""
    if clipnorm:
        return [_scaled(grad, clipnorm, _norm(grad)) for grad in grads]
    if global_clipnorm:
        joint = math.sqrt(sum(_norm(grad) ** 2 for grad in grads))
        return [_scaled(grad, global_clipnorm, joint) for grad in grads]
    if clipvalue:
        return [np.clip(grad, -clipvalue, clipvalue) for grad in grads]
    return grads


def _norm(grad) -> float:
    return math.sqrt(float((grad.astype(np.float64) ** 2).sum()))


def _scaled(grad, limit: float, norm: float):
    """``grad · limit / max(norm, limit)``: unchanged (a copy) below the limit."""
    return (grad * np.float32(limit / max(norm, limit))).astype(grad.dtype, copy=False)
