"""Checks on weights a user hands to layers and models, made before anything is assigned.

``set_weights`` on a layer or a model checks every array (how many, shapes, numbers rather than
strings or objects, no NaN/inf) first and only then copies them in: a refused list leaves every
layer as it was. Before this, a model's second layer could refuse its kernel after the first
layer had been overwritten. Replacing one weight attribute (``layer.kernel = array``) is checked
the same way, and stricter on dtype: the array must already be the layer's float32, as it would
be used as is.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from axonal._validation import as_float_array

__all__ = ["assign_weights", "checked_replacement", "checked_weights", "set_weights_of"]


def checked_weights(layer, weights: Any, first_index: int | None = None) -> list[np.ndarray]:
    """``weights`` for ``layer`` as float32 arrays, each checked against the layer's weight of the
    same position; ready for :func:`assign_weights`.

    Args:
        layer: the layer the arrays are for.
        weights: a list shaped like ``layer.get_weights()``.
        first_index: where the layer's arrays start in a model's list (named in messages).

    Raises:
        TypeError: not a list, or arrays of strings or objects.
        ValueError: a wrong count or shape, an empty array, NaN or inf.
    """
    weights = _as_list(weights, f"weights for layer {layer.name!r}")
    own = layer._weights
    if len(weights) != len(own):
        raise ValueError(f"Layer {layer.name!r} expects {len(own)} weight arrays ({', '.join(own) or 'none'}), "
                         f"received {len(weights)}. Fix: pass a list shaped like layer.get_weights().")
    checked = []
    for offset, ((name, current), new) in enumerate(zip(own.items(), weights)):
        where = "" if first_index is None else f" (array {first_index + offset} of the list)"
        shape = np.shape(new)
        if shape != current.shape:
            raise ValueError(f"Weight {layer.name}/{name}{where} has shape {current.shape}, received an array of "
                             f"shape {shape}. Fix: pass arrays shaped like get_weights() returns them.")
        checked.append(as_float_array(new, f"weight {layer.name}/{name}{where}", current.dtype))
    return checked


def assign_weights(layer, arrays: list[np.ndarray]) -> None:
    """Copy checked ``arrays`` into the layer's own weight arrays (the optimiser's slots and the
    native loops refer to those, so they are never rebound)."""
    for current, new in zip(layer._weights.values(), arrays):
        np.copyto(current, new)


def set_weights_of(layers: list, weights: Any, owner: str) -> None:
    """Set the weights of ``layers`` from one list in their order (a model's ``set_weights``),
    checking every array of every layer before the first is copied.

    Args:
        owner: names the model in messages, e.g. ``"Model 'sequential'"``.
    """
    weights = _as_list(weights, "weights")
    expected = sum(len(layer.weights) for layer in layers)
    if len(weights) != expected:
        raise ValueError(f"{owner} has {expected} weight arrays, received {len(weights)}. "
                         "Fix: pass a list shaped like model.get_weights().")
    checked, start = [], 0
    for layer in layers:
        count = len(layer.weights)
        checked.append(checked_weights(layer, weights[start:start + count], start))
        start += count
    for layer, arrays in zip(layers, checked):
        assign_weights(layer, arrays)


def checked_replacement(layer, name: str, value: Any) -> np.ndarray:
    """``value`` for ``layer.<name> = value``: an array of the weight's very dtype and shape, with
    finite numbers, or a ValueError naming the layer and the weight as the user wrote them."""
    current = layer._weights[name]
    what = f"{layer.name}.{name} (weight {name!r} of layer {layer.name!r}, {type(layer).__name__})"
    dtype = getattr(value, "dtype", None)
    if np.shape(value) != current.shape or (dtype is not None and dtype != current.dtype):
        received = f"{dtype if dtype is not None else type(value).__name__} of shape {np.shape(value)}"
        raise ValueError(f"Cannot replace {what}: expected a {current.dtype} array of shape {current.shape}, "
                         f"received {received}. Fix: layer.{name} = np.asarray(value, dtype='{current.dtype}'), "
                         "or layer.set_weights([...]), which converts the dtype.")
    return as_float_array(value, f"{layer.name}.{name}", current.dtype)


def _as_list(weights: Any, argument: str) -> list:
    if isinstance(weights, np.ndarray):
        raise TypeError(f"{argument} must be a list of arrays (as get_weights() returns), received one array of "
                        f"shape {weights.shape}. Fix: wrap the arrays in a list, e.g. set_weights([kernel, bias]).")
    if isinstance(weights, (str, bytes, dict)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"{argument} must be a list of arrays (as get_weights() returns), received "
                        f"{type(weights).__name__}. Fix: pass e.g. other_model.get_weights().")
    return list(weights)
