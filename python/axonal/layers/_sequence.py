"""Argument handling shared by the layers over sequences (N, T, C): Conv1D and the 1-D poolings.

They run on the 2-D kernels with images one row high, (N, 1, T, C), so these helpers turn Keras'
1-D arguments (an int or a 1-tuple; ``'valid'``, ``'same'``, ``'causal'``) into the pairs and the
explicit (top, bottom, left, right) padding the ops take.

Example:
    >>> explicit_sequence_padding("causal", 10, 3, 1)
    (0, 0, 2, 0)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from axonal.layers._data_format import data_format_argument
from axonal.layers._window import same_padding


def single(value: Any, argument: str) -> int:
    """``value`` (a positive int, or a 1-tuple/list of one) as an int, as Keras' 1-D layers take it."""
    entries = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        entries = tuple(entries)
    except TypeError:
        entries = ()
    if len(entries) != 1 or isinstance(entries[0], bool) or not isinstance(entries[0], (int, np.integer)) \
            or entries[0] < 1:
        raise ValueError(f"{argument} must be a positive integer (or a tuple of one), received {value!r}. "
                         f"Fix: pass e.g. {argument}=3.")
    return int(entries[0])


def sequence_padding(padding: Any, causal: bool) -> str:
    """``'valid'``, ``'same'`` (any case) and, where ``causal``, ``'causal'``; else a ValueError."""
    modes = ("valid", "same", "causal") if causal else ("valid", "same")
    if isinstance(padding, str) and padding.lower() in modes:
        return padding.lower()
    raise ValueError(f"padding must be one of {', '.join(repr(m) for m in modes)}, received {padding!r}.")


def explicit_sequence_padding(mode: str, steps: int, window: int, stride: int) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) padding of the one-row image: ``'same'`` as TensorFlow (the odd
    step at the end), ``'causal'`` K - 1 zeros before the sequence, ``'valid'`` none."""
    if mode == "same":
        return same_padding((1, steps), (1, window), (1, stride))
    if mode == "causal":
        return (0, 0, window - 1, 0)
    return (0, 0, 0, 0)


def check_channels_last_only(layer, data_format: Any) -> str:
    """The layer's data_format, which must come out as channels_last (the 1-D layers take (N, T, C))."""
    value = data_format_argument(layer, data_format)
    if value != "channels_last":
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) takes sequences (batch, steps, channels) "
                         f"only; received data_format={data_format!r}, which resolves to {value!r}. Fix: pass "
                         "data_format='channels_last' and transpose the data with x.transpose(0, 2, 1).")
    return value


def check_unit_argument(layer, value: Any, argument: str, fix: str) -> None:
    """Refuse anything but 1 (an int or a 1-tuple) for an argument axonal does not implement."""
    if single(value, argument) != 1:
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}): {argument}={value!r} is not supported "
                         f"(only 1). Fix: {fix}.")


def check_sequence_shape(layer, input_shape: tuple, window: int | None = None, mode: str = "valid") -> None:
    """Raise unless ``input_shape`` is (batch, steps, channels) and, with ``'valid'``, ``window`` fits."""
    kind = f"Layer {layer.name!r} ({type(layer).__name__})"
    shape = tuple(input_shape)
    if len(shape) == 2:
        raise ValueError(f"{kind} expects sequences of shape (batch, steps, channels), received input shape "
                         f"{shape}, which has no channel axis. Fix: give the data one, e.g. x = x[..., None] "
                         f"and Input(shape=({shape[1]}, 1)); or put Reshape(({shape[1]}, 1)) before this layer.")
    if len(shape) != 3:
        raise ValueError(f"{kind} expects sequences of shape (batch, steps, channels), received input shape "
                         f"{shape}. Fix: reshape the data to (N, T, C) (or use the 2-D layer for images).")
    if window is not None and mode == "valid" and shape[1] < window:
        raise ValueError(f"{kind} has a window of {window} steps but its input sequences have {shape[1]} and "
                         "padding='valid' does not pad them. Fix: use padding='same', a smaller window, or "
                         "longer sequences.")
