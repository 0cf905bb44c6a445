"""``fit(class_weight={class id: weight})`` turned into per-sample weights, refusing what cannot be
meant.

Keras looks each sample's class up in the dict and silently ignores keys that match no class, so
``{"cat": 2.0}`` or ``{1: ..., 10: ...}`` for classes 0..9 train as if the weights were not
there. Here a key must be a class of the model: an integer in ``[0, K)`` for K outputs, or, for
one output, 0, 1 or a class present in the rounded labels. A weight must be a finite number >= 0.
Classes not in the dict weigh 1, as in Keras. Checked once per call, in one pass over the labels.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["sample_weights"]


def sample_weights(class_weight: Any, targets: np.ndarray, output_width: int | None = None) -> np.ndarray:
    """Per-sample float32 weights (N,) from ``class_weight``.

    Args:
        class_weight: ``{class id: weight}``.
        targets: prepared labels: one-hot/probability rows (N, K), class ids (N,), or (N, 1) values.
        output_width: K, the model's number of outputs (None: taken from ``targets``).

    Raises:
        TypeError: ``class_weight`` is not a dict, or a weight is not a number.
        ValueError: keys that are no class of the model, or weights that are negative or not finite.
    """
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"class_weight must be a dict {{class id: weight}}, received "
                        f"{type(class_weight).__name__} {class_weight!r:.80}. Fix: pass e.g. "
                        "class_weight={0: 1.0, 1: 5.0}.")
    if targets.ndim == 2 and targets.shape[1] > 1:
        classes = np.argmax(targets, axis=1)
    else:
        classes = np.round(targets.reshape(len(targets))).astype(np.int64)
    present, index = np.unique(classes, return_inverse=True)
    width = output_width if output_width is not None else (targets.shape[1] if targets.ndim == 2 else None)
    table = _weights_by_class(class_weight, present, width)
    return np.ascontiguousarray(np.array([table.get(int(c), 1.0) for c in present],
                                         dtype=np.float32)[index.reshape(-1)])


def _weights_by_class(class_weight: Mapping, present: np.ndarray, width: int | None) -> dict[int, float]:
    """``{class: weight}`` after checking every key and value."""
    seen = [int(c) for c in present]
    if width is not None and width > 1:
        valid, described = set(range(width)), f"class ids 0..{width - 1} (the model has {width} outputs)"
    else:
        valid, described = {0, 1} | set(seen), "0 and 1, or the classes of the rounded labels"
    unmatched = [key for key in class_weight if _class_id(key) not in valid]
    if unmatched:
        shown = ", ".join(repr(key) for key in unmatched[:10]) + (" ..." if len(unmatched) > 10 else "")
        classes = ", ".join(map(str, seen[:20])) + (" ..." if len(seen) > 20 else "")
        raise ValueError(f"class_weight has key(s) {shown} that match no class: keys must be {described}; the "
                         f"labels hold classes {classes}. Fix: key class_weight by class id, e.g. "
                         f"class_weight={{{seen[0]}: 1.0{f', {seen[-1]}: 2.0' if len(seen) > 1 else ''}}}.")
    table = {}
    for key, weight in class_weight.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise TypeError(f"class_weight[{key!r}] must be a number, received {type(weight).__name__} "
                            f"{weight!r:.40}. Fix: e.g. class_weight={{{key!r}: 2.0}}.")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight[{key!r}] must be a finite number >= 0, received {weight!r}. "
                             "Fix: weigh rare classes up with weights above 1, e.g. 2.0.")
        table[_class_id(key)] = float(weight)
    return table


def _class_id(key: Any) -> int | None:
    """The class a key stands for: an int, or a float holding one; None for anything else."""
    if isinstance(key, bool):
        return None
    if isinstance(key, numbers.Integral):
        return int(key)
    if isinstance(key, numbers.Real) and float(key).is_integer():
        return int(key)
    return None
