"""Checks and conversions of what ``fit``, ``evaluate`` and ``predict`` receive, run once per call.

Inputs become C-contiguous float32 (integers and booleans are converted, as in Keras), labels
become what the compiled loss takes, and anything unusable raises an exception that names the
argument or layer, the expected and the received value, and a likely fix.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from axonal._validation import as_float_array, check_feature_shape, check_positive_int, check_same_length
from axonal.callbacks import Callback


def resolve_batch_size(batch_size: Any) -> int:
    """None means 32, as in Keras; anything but a positive integer is refused."""
    return check_positive_int(32 if batch_size is None else batch_size, "batch_size")


def resolve_verbose(verbose: Any) -> int:
    """``"auto"`` means 1, as in Keras; anything but 0, 1, 2 is refused."""
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0 (silent), 1 (progress bar) or 2 (one line per epoch), "
                     f"received {verbose!r}.")


def prepare_inputs(model, x: Any, argument: str = "x") -> np.ndarray:
    """Convert ``x`` once to C-contiguous float32, build the model from it if needed, check its shape."""
    inputs = as_float_array(x, argument)
    if not model.built:
        model.build((None,) + inputs.shape[1:])
    check_feature_shape(inputs, model.input_shape, model.layers[0].name, argument)
    return inputs


def prepare_targets(model, y: Any, inputs: np.ndarray, argument: str = "y",
                    x_argument: str = "x") -> np.ndarray:
    """Convert labels once to what the compiled loss takes, checked against the output layer."""
    if y is None:
        raise ValueError(f"{argument} is None: the model needs labels to compute its loss. "
                         f"Fix: pass them, e.g. model.fit(x, y).")
    output_layer = model.layers[-1]
    targets = model.loss.prepare_targets(y, output_layer.output_shape[-1], output_layer.name, argument)
    check_same_length(inputs, targets, x_argument, argument)
    return targets


def unpack_validation_data(validation_data: Any) -> tuple[Any, Any]:
    """``(x_val, y_val)`` from ``fit(validation_data=...)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError(f"validation_data must be a pair (x_val, y_val), received "
                         f"{type(validation_data).__name__} {validation_data!r:.80}. "
                         "Fix: pass validation_data=(x_val, y_val).")
    return validation_data[0], validation_data[1]


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float):
    """Keras' ``validation_split``: the last ``fraction`` of the samples, taken before shuffling."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be a number in [0, 1), received {fraction!r}.")
    split_at = math.floor(len(x) * (1.0 - fraction))
    if split_at in (0, len(x)):
        raise ValueError(f"validation_split={fraction} leaves {split_at} of {len(x)} samples for training "
                         "and the rest for validation; both need at least one. Fix: use more data or a "
                         "different fraction.")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list (None means none)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    return list(callbacks)
