"""Argument handling shared by the layers that sweep a window over images (Conv2D, pooling).

Keras accepts a window, strides or pool size as an int or a pair, and ``padding`` as ``'valid'`` or
``'same'``. The backend ops take pairs and explicit (top, bottom, left, right) padding, so these
helpers convert once, when a layer is configured or built.

Example:
    >>> as_pair(3, "kernel_size")
    (3, 3)
    >>> same_padding((28, 28), (3, 3), (1, 1))
    (1, 1, 1, 1)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

PADDING_MODES = ("valid", "same")


def as_pair(value: Any, argument: str) -> tuple[int, int]:
    """``value`` (an int, or a pair of ints) as a pair of positive ints, as Keras accepts it."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in pair):
        raise ValueError(f"{argument} must be a positive integer or a pair of them, received {value!r}. "
                         f"Fix: pass e.g. {argument}=3 or {argument}=(3, 3).")
    return int(pair[0]), int(pair[1])


def check_padding_mode(padding: Any) -> str:
    """``'valid'`` or ``'same'`` (any case), else a ValueError with the choices."""
    if isinstance(padding, str) and padding.lower() in PADDING_MODES:
        return padding.lower()
    raise ValueError(f"padding must be 'valid' (no padding) or 'same' (output size ceil(input / stride)), "
                     f"received {padding!r}.")


def same_padding(image_hw: tuple, window: tuple, strides: tuple) -> tuple[int, int, int, int]:
    """Explicit (top, bottom, left, right) zeros for Keras' ``padding='same'``.

    Per axis, as TensorFlow: ``out = ceil(size / stride)``,
    ``total = max((out - 1)·stride + window - size, 0)``, ``before = total // 2``; the odd row or
    column goes after (bottom/right).
    """
    pads = []
    for size, kernel, stride in zip(image_hw, window, strides):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def explicit_padding(mode: str, image_hw: tuple, window: tuple, strides: tuple) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) padding the ops receive for ``mode`` ``'valid'`` or ``'same'``."""
    return same_padding(image_hw, window, strides) if mode == "same" else (0, 0, 0, 0)


def output_hw(image_hw: tuple, window: tuple, strides: tuple, padding: tuple) -> tuple[int, int]:
    """(OH, OW) of the window sweep: ``(H + top + bottom - KH) // sh + 1``, likewise for W."""
    (h, w), (kh, kw), (sh, sw), (top, bottom, left, right) = image_hw, window, strides, padding
    return (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1


def check_image_shape(layer, input_shape: tuple, window: tuple | None = None, mode: str = "valid") -> None:
    """Raise unless ``input_shape`` is (batch, H, W, C) and, with ``'valid'``, ``window`` fits in H×W.

    Args:
        layer: the layer being built (its name and class are shown in the message).
        input_shape: the shape it is built for, batch first.
        window: its (KH, KW) window, or None to skip the fit check.
        mode: its padding mode.
    """
    kind = f"Layer {layer.name!r} ({type(layer).__name__})"
    shape = tuple(input_shape)
    if len(shape) == 3:
        raise ValueError(f"{kind} expects images of shape (batch, height, width, channels), received input "
                         f"shape {shape}, which has no channel axis. Fix: give the images one, e.g. "
                         f"x = x[..., None] (or x.reshape(-1, {shape[1]}, {shape[2]}, 1)) for grey images, "
                         f"and declare Input(shape=({shape[1]}, {shape[2]}, 1)); or put "
                         f"Reshape(({shape[1]}, {shape[2]}, 1)) before this layer.")
    if len(shape) != 4:
        raise ValueError(f"{kind} expects images of shape (batch, height, width, channels), received input "
                         f"shape {shape}. Fix: reshape the data to (N, H, W, C), e.g. "
                         "x.reshape(-1, 28, 28, 1) for 28x28 grey images.")
    if window is not None and mode == "valid" and (shape[1] < window[0] or shape[2] < window[1]):
        raise ValueError(f"{kind} has a {window[0]}x{window[1]} window but its input images are "
                         f"{shape[1]}x{shape[2]} and padding='valid' does not pad them. Fix: use "
                         "padding='same', a smaller window, or larger images.")
