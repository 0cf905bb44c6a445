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
from axonal.models import class_weights


def resolve_batch_size(batch_size: Any) -> int:
    """None means 32, as in Keras; anything but a positive integer is refused."""
    return check_positive_int(32 if batch_size is None else batch_size, "batch_size")


def clamp_batch_size(batch_size: int, inputs: np.ndarray) -> int:
    """A batch larger than the data is one batch of all of it, as in Keras (rather than buffers
    sized for the batch asked for)."""
    return min(batch_size, len(inputs))


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


def check_initial_epoch(initial_epoch: Any) -> int:
    """``fit(initial_epoch=...)`` as an int >= 0 (one at or past ``epochs`` runs nothing, as in Keras)."""
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"initial_epoch must be an integer >= 0 (the epoch to resume from), received "
                         f"{initial_epoch!r}. Fix: pass e.g. initial_epoch=history.epoch[-1] + 1.")
    return int(initial_epoch)


def sample_weights(sample_weight: Any, class_weight: Any, targets: np.ndarray,
                   argument: str = "sample_weight", output_width: int | None = None) -> np.ndarray | None:
    """Per-sample weights as C-contiguous float32 (N,), from ``sample_weight`` or ``class_weight``.

    ``sample_weight`` may be (N,) or (N, 1). ``class_weight`` maps class ids to weights; a sample's
    class is found as Keras finds it: the argmax of a one-hot (or probability) row, else the label
    rounded to an integer; classes not in the mapping weigh 1. None when neither is given. Keys that
    are no class of the model (``output_width`` outputs) and weights that are not finite numbers
    >= 0 are refused (Keras ignores such keys; there they are always a mistake).
    """
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("sample_weight and class_weight cannot be given together (as in Keras). Fix: "
                             "fold the class weights into the sample weights, e.g. sample_weight * "
                             "np.array([class_weight[c] for c in labels]), and pass only sample_weight.")
        return class_weights.sample_weights(class_weight, targets, output_width)
    if sample_weight is None:
        return None
    weights = as_float_array(sample_weight, argument)
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights.reshape(-1)
    if weights.ndim != 1 or len(weights) != len(targets):
        raise ValueError(f"{argument} must hold one weight per sample, shape ({len(targets)},), received shape "
                         f"{weights.shape}. Fix: pass a 1-D array with one weight per row of the labels.")
    return weights


def unpack_validation_data(validation_data: Any) -> tuple[Any, Any, Any]:
    """``(x_val, y_val, sample_weight_val or None)`` from ``fit(validation_data=...)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(f"validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, "
                         f"sample_weight_val), received {type(validation_data).__name__} "
                         f"{validation_data!r:.80}. Fix: pass validation_data=(x_val, y_val).")
    return validation_data[0], validation_data[1], (validation_data[2] if len(validation_data) == 3 else None)


def split_validation(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, fraction: float):
    """Keras' ``validation_split``: the last ``fraction`` of the samples (and of their weights),
    taken before shuffling; returns ``(x, y, weights), (x_val, y_val, weights_val)``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be a number in [0, 1), received {fraction!r}.")
    split_at = math.floor(len(x) * (1.0 - fraction))
    if split_at in (0, len(x)):
        raise ValueError(f"validation_split={fraction} leaves {split_at} of {len(x)} samples for training "
                         "and the rest for validation; both need at least one. Fix: use more data or a "
                         "different fraction.")
    head = tuple(None if a is None else a[:split_at] for a in (x, y, weights))
    tail = tuple(None if a is None else a[split_at:] for a in (x, y, weights))
    return head, tail


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list (None means none)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    return list(callbacks)
