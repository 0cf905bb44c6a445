"""Checks on what users pass in, shared by every public entry point.

Each check runs once per ``fit``/``evaluate``/``predict`` call (never per batch) and raises an
exception that names the argument or layer, shows what was expected and what was received, and
suggests a likely fix.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


def lookup(kind: str, identifier: str, table: Mapping[str, Any]) -> Any:
    """Return ``table[identifier]`` (case-insensitive), or raise a ValueError listing the choices.

    Args:
        kind: what is being looked up, for the message (``"optimizer"``, ``"loss"``...).
        identifier: the name the user gave.
        table: the accepted names, lower case, mapped to what they stand for.
    """
    key = identifier.lower()
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {kind} {identifier!r}. Expected one of {sorted(table)}.{hint}")


def resolve(kind: str, identifier: Any, base: type, table: Mapping[str, type], example: str) -> Any:
    """An object of class ``base`` from itself, a registered name, or a ``{"class_name", "config"}``
    dict (what ``get_config``-based serialisation writes).

    Args:
        kind: what is being resolved, for the messages (``"optimizer"``, ``"initializer"``).
        identifier: what the user passed.
        base: the class every accepted object derives from.
        table: lower-case names mapped to classes constructed with their defaults.
        example: the fix shown for an identifier of the wrong type.
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        return lookup(kind, identifier, table)()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return lookup(kind, identifier["class_name"], table).from_config(identifier.get("config", {}))
    raise TypeError(f"Could not interpret {kind} {identifier!r}. Fix: pass {example}.")


def check_positive_int(value: Any, argument: str) -> int:
    """Return ``value`` as an int, or raise when it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{argument} must be a positive integer, received {value!r}. "
                         f"Fix: pass a whole number such as {argument}=32.")
    return int(value)


def check_numeric(array: np.ndarray, argument: str) -> None:
    """Raise TypeError for arrays that hold strings, objects or anything but numbers and booleans."""
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{argument} must hold numbers, received an array of dtype {array.dtype} "
            f"(shape {array.shape}). Fix: convert it first, e.g. {argument} = "
            f"np.asarray({argument}, dtype='float32'), after decoding any strings to numbers.")


def check_not_empty(array: np.ndarray, argument: str) -> None:
    """Raise ValueError for arrays without samples or without features."""
    if array.ndim == 0 or array.size == 0:
        raise ValueError(f"{argument} is empty (shape {array.shape}); expected at least one sample "
                         f"with at least one value. Fix: check how {argument} was loaded or sliced.")


def check_finite(array: np.ndarray, argument: str) -> None:
    """Raise ValueError when a float array holds NaN or infinity.

    One pass: a sum propagates NaN and infinity without a full-size temporary (``min`` and ``max``
    took two, 3.5% of a 10k-row ``predict``); only a sum that overflowed from finite values, or
    data that is bad, costs the exact check, and the position is searched for only for the message.
    (``math.isfinite`` tests the sum a third faster than ``np.isfinite``, which a one-row
    ``predict`` feels.)
    """
    if array.dtype.kind != "f" or math.isfinite(array.sum()) or np.isfinite(array).all():
        return
    bad = ~np.isfinite(array)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{argument} contains NaN or infinite values ({int(bad.sum())} of {array.size}; the first "
        f"is {array[first]} at index {first}). Fix: clean the data first, e.g. "
        f"{argument} = np.nan_to_num({argument}), or drop the affected samples.")


def as_float_array(data: Any, argument: str, dtype: np.dtype = np.dtype(np.float32)) -> np.ndarray:
    """Convert user data to a C-contiguous array of ``dtype`` after checking it.

    Integer and boolean arrays are converted, as in Keras; strings and objects are refused.
    The array is copied only when its dtype or layout differ.

    Raises:
        TypeError: for arrays of strings or Python objects.
        ValueError: for empty arrays and for NaN or infinite values.
    """
    array = as_array(data, argument)
    check_numeric(array, argument)
    check_not_empty(array, argument)
    array = np.ascontiguousarray(array, dtype=dtype)
    check_finite(array, argument)
    return array


def as_array(data: Any, argument: str) -> np.ndarray:
    """``np.asarray(data)``, for what numpy would turn into an object array or a bare error:
    scipy.sparse matrices are made dense (Keras accepts them), and a dict, a generator or iterator,
    or a ragged list raise with what was received and a fix."""
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "toarray") and hasattr(data, "nnz"):  # scipy.sparse: the kernels are dense
        return data.toarray()
    if isinstance(data, Mapping):
        keys = ", ".join(repr(key) for key in list(data)[:5])
        raise TypeError(f"{argument} is a dict (keys {keys}); a Sequential model takes one array of samples. "
                        f"Fix: pass the array itself, e.g. {argument}={argument}[{next(iter(data), 'key')!r}].")
    if isinstance(data, Iterator):
        raise TypeError(f"{argument} is a {type(data).__name__} object (an iterator, e.g. of batches); "
                        "axonal's fit/evaluate/predict take arrays (Keras also takes generators; axonal does not "
                        f"yet). Fix: collect the batches first, e.g. batches = list(generator); {argument} = "
                        "np.concatenate([batch[0] for batch in batches]), and likewise the labels.")
    try:
        return np.asarray(data)
    except ValueError as error:  # numpy >= 1.24: "setting an array element with a sequence ... inhomogeneous"
        raise ValueError(f"{argument} is a ragged nested list: {_ragged_rows(data)}, so it is no array of "
                         f"samples. Fix: pad or cut the rows to one length (or drop the odd ones) before "
                         f"calling, e.g. {argument} = np.array(rows_of_equal_length).") from error


def _ragged_rows(data: Any) -> str:
    """``row 0 has 4 values, row 1 has 2`` for the first two rows of different lengths."""
    lengths = [len(row) if hasattr(row, "__len__") else None for row in data]
    for position, length in enumerate(lengths):
        if length != lengths[0]:
            def count(n):
                return "a single value" if n is None else f"{n} values"
            return f"row 0 has {count(lengths[0])}, row {position} has {count(length)}"
    return "its rows hold sub-lists of different lengths"


def check_shape(value: Any, argument: str, owner: str) -> tuple[int, ...]:
    """A per-sample shape argument as a tuple of positive ints (an int n means (n,), as
    ``Input(shape=n)`` and Keras' ``input_dim`` take it), or a ValueError naming ``owner``, the
    argument and the value received."""
    shape = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        shape = tuple(shape)
    except TypeError:
        shape = ()
    if any(d is None for d in shape):  # Keras' variable length: Input(shape=(None,)) for text
        raise ValueError(f"{owner}: {argument}={value!r} has a dimension of variable length (None), which axonal does "
                         "not support: every sample of a batch has one fixed shape. Fix: pad the samples to one "
                         f"length (e.g. axonal.preprocessing.sequence.pad_sequences(x, maxlen=200)) and give it, "
                         f"{argument}=(200,).")
    if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
        raise ValueError(f"{owner}: {argument} must be a tuple of positive integers (the shape of one sample, "
                         f"without the batch), received {argument}={value!r}. Fix: e.g. {argument}=(784,) for "
                         "vectors of 784 values, or (28, 28, 1) for images.")
    return tuple(int(d) for d in shape)


def check_same_length(x: np.ndarray, y: np.ndarray, x_name: str = "x", y_name: str = "y") -> None:
    """Raise ValueError when inputs and labels hold different numbers of samples."""
    if len(x) != len(y):
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of samples (first dimension); "
            f"received {x_name} with {len(x)} (shape {x.shape}) and {y_name} with {len(y)} "
            f"(shape {y.shape}). Fix: check that inputs and labels come from the same split.")


def check_feature_shape(x: np.ndarray, expected: tuple, layer_name: str, argument: str = "x") -> None:
    """Raise ValueError when the per-sample shape of ``x`` differs from what the layer expects.

    Args:
        x: the converted input array, batch first.
        expected: the layer's input shape with ``None`` for the batch, e.g. ``(None, 784)``.
        layer_name: the first layer of the model, named in the message.
        argument: the name of the argument that held ``x``.
    """
    if tuple(x.shape[1:]) == tuple(expected[1:]):
        return
    wanted = (len(x),) + tuple(expected[1:])
    if tuple(x.shape) == tuple(expected[1:]):  # one sample given without its batch axis
        fix = f"add the batch axis, {argument}[None] (shape {(1,) + tuple(x.shape)}), to pass one sample"
    elif int(np.prod(wanted)) == x.size:
        fix = f"reshape it with {argument} = {argument}.reshape{wanted}"
    elif x.ndim < 2:
        fix = f"give the model inputs with {tuple(expected[1:])} features per sample"
    else:
        fix = (f"give the model inputs with {tuple(expected[1:])} features per sample, or build it "
               f"with Input(shape={tuple(x.shape[1:])})")
    raise ValueError(
        f"Input of layer {layer_name!r} is incompatible with {argument}: expected shape "
        f"{tuple(expected)}, received {argument} with shape {x.shape}. Fix: {fix}.")

