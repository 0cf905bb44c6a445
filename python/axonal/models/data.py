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
from axonal.layers.embedding import as_id_array, id_readers
from axonal.models import class_weights


def resolve_batch_size(batch_size: Any) -> int:
    """None means 32, as in Keras; anything but a positive integer is refused."""
    return check_positive_int(32 if batch_size is None else batch_size, "batch_size")


def clamp_batch_size(batch_size: int, inputs: list[np.ndarray]) -> int:
    """A batch larger than the data is one batch of all of it, as in Keras (rather than buffers
    sized for the batch asked for)."""
    return min(batch_size, len(inputs[0]))


def resolve_verbose(verbose: Any) -> int:
    """``"auto"`` means 1, as in Keras; anything but 0, 1, 2 is refused."""
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0 (silent), 1 (progress bar) or 2 (one line per epoch), "
                     f"received {verbose!r}.")


def prepare_inputs(model, x: Any, argument: str = "x") -> list[np.ndarray]:
    """``x`` as one C-contiguous float32 array per model input (converted and checked once); an
    unbuilt Sequential is built from it.

    ``x`` is an array for a one-input model; for several inputs a list in input order or a dict
    keyed by input name (a dict also works for one input)."""
    if not model.built:  # a Sequential without an input shape yet: one input
        first = next(iter(x.values())) if isinstance(x, dict) and x else x
        model.build((None,) + as_float_array(first, argument).shape[1:])
    names = model.input_names
    values, labels = _per_name(x, names, argument, "input")
    # An input only Embedding layers read stays integer (int32 ids, checked against each layer's
    # vocabulary): float32 would round ids above 2**24.
    readers = id_readers(model.plan) if model.plan is not None else [[] for _ in names]
    arrays = [as_id_array(value, label, layers) if layers else as_float_array(value, label)
              for value, label, layers in zip(values, labels, readers)]
    shapes = model.input_shape if len(names) > 1 else [model.input_shape]
    for array, shape, name, label in zip(arrays, shapes, names, labels):
        check_feature_shape(array, shape, name, label)
    for array, label in zip(arrays[1:], labels[1:]):
        check_same_length(arrays[0], array, labels[0], label)
    return arrays


def prepare_targets(model, y: Any, inputs: list[np.ndarray], argument: str = "y",
                    x_argument: str = "x") -> list[np.ndarray]:
    """Labels as what each output's compiled loss takes, checked against the outputs: an array
    for a one-output model, else a list in output order or a dict keyed by output name."""
    if y is None:
        raise ValueError(f"{argument} is None: the model needs labels to compute its loss. "
                         f"Fix: pass them, e.g. model.fit(x, y).")
    values, labels = _per_name(y, model.output_names, argument, "output")
    return model.objective.prepare_targets(model, values, inputs[0], labels, x_argument)


def per_output(model, arrays: list):
    """What predict returns: the array of a one-output model, else the list of arrays (a dict when
    the model's outputs were given as one, as in Keras)."""
    if model._output_keys:
        return model.per_output_key(arrays)
    return arrays[0] if len(arrays) == 1 else arrays


def _per_name(value: Any, names: list[str], argument: str, kind: str) -> tuple[list, list[str]]:
    """``value`` split into one entry per input (output) and the argument label of each.

    One input: the value itself, or the dict's entry. Several: a list/tuple of that length, or a
    dict with every name as a key."""
    if isinstance(value, dict):
        missing = [name for name in names if name not in value]
        unknown = sorted(set(value) - set(names), key=str)
        if (missing or unknown) and len(names) == 1:
            keys = ", ".join(repr(key) for key in value)
            first = next(iter(value), "name")
            raise TypeError(f"{argument} is a dict (keys {keys}) but the model has one {kind}, named {names[0]!r}. "
                            f"Fix: pass the array itself, e.g. {argument}={argument}[{first!r}], or key the dict by "
                            f"{names[0]!r}.")
        if missing or unknown:
            raise ValueError(f"{argument} is a dict with keys {sorted(value, key=str)} but the model's {kind}s are "
                             f"{names}. Fix: key {argument} by exactly these names.")
        return [value[name] for name in names], [f"{argument}[{name!r}]" for name in names]
    if len(names) == 1:
        return [value], [argument]
    if isinstance(value, (list, tuple)) and len(value) == len(names):
        return list(value), [f"{argument}[{i}]" for i in range(len(names))]
    count = len(value) if isinstance(value, (list, tuple)) else "one array"
    raise ValueError(f"The model has {len(names)} {kind}s {names}, so {argument} must be a list of {len(names)} "
                     f"arrays in that order or a dict keyed by those names; received {count}. Fix: e.g. "
                     f"{argument}=[{', '.join(f'{kind}_{i}' for i in range(len(names)))}].")


def check_initial_epoch(initial_epoch: Any) -> int:
    """``fit(initial_epoch=...)`` as an int >= 0 (one at or past ``epochs`` runs nothing, as in Keras)."""
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"initial_epoch must be an integer >= 0 (the epoch to resume from), received "
                         f"{initial_epoch!r}. Fix: pass e.g. initial_epoch=history.epoch[-1] + 1.")
    return int(initial_epoch)


class ValidationSchedule:
    """``fit(validation_freq=..., validation_batch_size=...)``: which epochs validate and in what
    batches. ``freq`` is Keras': an int n validates every n-th epoch (the n-th, 2n-th...), a
    collection of ints the epochs it lists (counted from 1)."""

    def __init__(self, freq: Any = 1, batch_size: Any = None):
        if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool):
            valid = freq >= 1
        else:
            valid = isinstance(freq, (list, tuple, set, range)) and all(
                isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in freq)
        if not valid:
            raise ValueError(f"validation_freq must be an integer >= 1 or a list of epochs counted from 1, received "
                             f"{freq!r}. Fix: e.g. validation_freq=2 (every second epoch) or [1, 5, 10].")
        self.freq = freq
        self.batch_size = None if batch_size is None else check_positive_int(batch_size, "validation_batch_size")

    def validates(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (counted from 0) ends with a validation."""
        if isinstance(self.freq, (int, np.integer)):
            return (epoch + 1) % self.freq == 0
        return epoch + 1 in self.freq


def sample_weights(sample_weight: Any, class_weight: Any, targets: list[np.ndarray],
                   argument: str = "sample_weight", output_shape: tuple | None = None) -> np.ndarray | None:
    """Per-sample weights as C-contiguous float32 (N,), from ``sample_weight`` or ``class_weight``.

    ``sample_weight`` may be (N,), (N, 1) or (N, 1, ..., 1); it weighs each sample in every output's loss.
    ``class_weight`` (one-output models only, as in Keras) maps class ids to weights; a sample's
    class is found as Keras finds it: the argmax of a one-hot (or probability) row, else the label
    rounded to an integer; classes not in the mapping weigh 1. None when neither is given. Keys that
    are no class of the model (the last axis of ``output_shape``) and weights that are not finite numbers
    >= 0 are refused (Keras ignores such keys; there they are always a mistake).
    """
    if class_weight is not None and len(targets) > 1:
        raise ValueError("class_weight is only supported for models of one output (as in Keras). Fix: pass "
                         "sample_weight=..., computed from the labels of the output it should weigh.")
    targets = targets[0]
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("sample_weight and class_weight cannot be given together (as in Keras). Fix: "
                             "fold the class weights into the sample weights, e.g. sample_weight * "
                             "np.array([class_weight[c] for c in labels]), and pass only sample_weight.")
        if output_shape is not None and len(output_shape) > 2:
            raise ValueError(f"class_weight is not supported for an output of shape {tuple(output_shape)}, of "
                             "rank above 2 (nor in Keras): a sample holds many targets. Fix: pass "
                             "sample_weight=..., one weight per sample.")
        return class_weights.sample_weights(class_weight, targets, None if output_shape is None else output_shape[-1])
    if sample_weight is None:
        return None
    weights = as_float_array(sample_weight, argument)
    if weights.ndim >= 2 and all(size == 1 for size in weights.shape[1:]):  # (N, 1), or (N, 1, 1) for images
        weights = weights.reshape(-1)
    if weights.ndim != 1 or len(weights) != len(targets):
        raise ValueError(f"{argument} must hold one weight per sample, shape ({len(targets)},), received shape "
                         f"{weights.shape}. Fix: pass a 1-D array with one weight per row of the labels (a "
                         "weight per pixel or per step is not supported).")
    return weights


def unpack_validation_data(validation_data: Any) -> tuple[Any, Any, Any]:
    """``(x_val, y_val, sample_weight_val or None)`` from ``fit(validation_data=...)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(f"validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, "
                         f"sample_weight_val), received {type(validation_data).__name__} "
                         f"{validation_data!r:.80}. Fix: pass validation_data=(x_val, y_val).")
    return validation_data[0], validation_data[1], (validation_data[2] if len(validation_data) == 3 else None)


def split_validation(xs: list, ys: list, weights: np.ndarray | None, fraction: float):
    """Keras' ``validation_split``: the last ``fraction`` of the samples (of every input, output
    and of the weights), taken before shuffling; returns ``(xs, ys, weights), (xs_val, ys_val,
    weights_val)``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be a number in [0, 1), received {fraction!r}.")
    count = len(xs[0])
    split_at = math.floor(count * (1.0 - fraction))
    if split_at in (0, count):
        raise ValueError(f"validation_split={fraction} leaves {split_at} of {count} samples for training "
                         "and the rest for validation; both need at least one. Fix: use more data or a "
                         "different fraction.")
    head = ([a[:split_at] for a in xs], [a[:split_at] for a in ys], None if weights is None else weights[:split_at])
    tail = ([a[split_at:] for a in xs], [a[split_at:] for a in ys], None if weights is None else weights[split_at:])
    return head, tail


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list (None means none)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    return list(callbacks)
