"""Merge ops of the ``numpy`` backend: the readable definition of Keras' merge layers and of the sums
a graph's backward pass needs.

* ``merge_forward`` / ``merge_backward``: Add, Subtract (two inputs: x0 - x1), Multiply, Average,
  Maximum, Minimum over 1 to :data:`MAX_MERGE_INPUTS` inputs of one shape;
* ``concat_forward`` / ``concat_backward``: Concatenate along the last axis;
* ``accumulate`` (y += x): a tensor that feeds two layers gets the sum of their gradients, a layer
  called twice the sum of its per-call weight gradients;
* ``scale`` (y = factor * x, in place allowed): loss weights.

Conventions as in :mod:`axonal.backend.reference`: outputs first, preallocated and overwritten (never
accumulated into, ``accumulate`` aside, whose job it is); an output given as None is skipped; arrays
are 2-D (N, K) float32 or float64 (``accumulate`` and ``scale`` take any shape). Sums and products
run left to right, in the arrays' dtype, as the native kernels compute them.

Maximum and minimum: the output is the value of the *first* input holding the extreme, and the
gradient goes to that input only (0 to the others): of equal values the earliest wins, which is what
TensorFlow's pairwise maximum gradient (``x >= y`` sends dy to x) gives when applied left to right.
NaN propagates: a NaN in any input makes the output NaN (as ``np.maximum``), and the gradient goes
to the first NaN input.

Example:
    >>> x0, x1 = np.array([[1.0, 5.0]]), np.array([[3.0, 5.0]])
    >>> y = np.empty((1, 2)); merge_forward(y, [x0, x1], "maximum"); y
    array([[3., 5.]])
    >>> dxs = [np.empty((1, 2)), np.empty((1, 2))]
    >>> merge_backward(dxs, np.ones((1, 2)), [x0, x1], "maximum"); dxs
    [array([[0., 1.]]), array([[1., 0.]])]
"""
from __future__ import annotations

import numbers

import numpy as np

MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")
MAX_MERGE_INPUTS = 8
"""The most inputs a merge takes, on every backend: the CUDA kernels carry the input pointers inside
their launch arguments (a fixed array of 8), so that a step can be captured as a CUDA graph. Merge
more in stages. ``concat`` has no limit."""


def _entries(op: str, name: str, entries) -> list:
    """``entries`` (a list or tuple) as a list, else ValueError naming the argument."""
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"{op}: {name!r} must be a list of arrays; received a {type(entries).__name__}.")
    return list(entries)


def _check_merge(op: str, merge: str, inputs) -> list:
    """The inputs of a merge, after checking the op name and the input count."""
    if merge not in MERGE_OPS:
        raise ValueError(f"{op}: unknown op {merge!r}; expected one of {', '.join(MERGE_OPS)} "
                         "(concatenation is concat_forward).")
    inputs = _entries(op, "inputs", inputs)
    if merge == "subtract" and len(inputs) != 2:
        raise ValueError(f"{op}: 'subtract' takes exactly 2 inputs (x0 - x1); received {len(inputs)}.")
    if not 1 <= len(inputs) <= MAX_MERGE_INPUTS:
        raise ValueError(f"{op}: 'inputs' must hold 1 to {MAX_MERGE_INPUTS} arrays; received {len(inputs)}. "
                         f"Fix: merge in stages (merge the first {MAX_MERGE_INPUTS}, then merge that result "
                         "with the rest).")
    return inputs


def _check_shape(op: str, name: str, array, shape) -> None:
    """Raise unless ``array`` (not None) has ``shape``."""
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{op}: {name!r} must have shape {tuple(shape)}; received {tuple(array.shape)}.")


def _chosen_input(inputs, merge: str) -> np.ndarray:
    """For each element, the index of the input a maximum (minimum) picks: scanning the inputs in
    order, a later one replaces the current choice only when strictly greater (less), or when it is
    NaN and the current choice is not. So ties go to the earliest input and the first NaN wins."""
    better = np.greater if merge == "maximum" else np.less
    best = inputs[0].copy()
    chosen = np.zeros(best.shape, dtype=np.intp)
    for index, x in enumerate(inputs[1:], start=1):
        take = better(x, best) | (np.isnan(x) & ~np.isnan(best))
        best = np.where(take, x, best)
        chosen[take] = index
    return chosen


def merge_forward(y, inputs, op):
    """y = op(inputs), elementwise over inputs of y's shape (N, K).

    add: x0 + x1 + ...; subtract: x0 - x1 (exactly two inputs); multiply: x0 * x1 * ...;
    average: (x0 + x1 + ...) / n; maximum, minimum: the first input's value among those holding the
    extreme (a NaN anywhere gives NaN). 1 to ``MAX_MERGE_INPUTS`` inputs.
    """
    # inputs[i] (N, K) -> y (N, K)
    inputs = _check_merge("merge_forward", op, inputs)
    for index, x in enumerate(inputs):
        _check_shape("merge_forward", f"inputs[{index}]", x, y.shape)
    if op in ("maximum", "minimum"):
        chosen = _chosen_input(inputs, op)
        result = inputs[0].copy()
        for index, x in enumerate(inputs):
            result = np.where(chosen == index, x, result)
    elif op == "subtract":
        result = inputs[0] - inputs[1]
    else:
        result = inputs[0].copy()
        for x in inputs[1:]:  # left to right, as the native kernels
            result = result * x if op == "multiply" else result + x
        if op == "average":
            result = result / len(inputs)  # a division, as Keras' Average
    y[...] = result


def merge_backward(dxs, dy, inputs, op):
    """dxs[i] = dL/d inputs[i] from dy = dL/dy (None entries skipped); inputs as in the forward.

    add: dy; subtract: dy and -dy; average: dy / n; multiply: dy * (product of the other inputs,
    left to right; never dy * y / x_i, which fails at x_i = 0); maximum, minimum: dy for the input
    the forward chose, 0 for the others.
    """
    # dy (N, K), inputs[i] (N, K) -> dxs[i] (N, K)
    inputs = _check_merge("merge_backward", op, inputs)
    dxs = _entries("merge_backward", "dxs", dxs)
    if len(dxs) != len(inputs):
        raise ValueError(f"merge_backward: 'dxs' holds {len(dxs)} entries but 'inputs' {len(inputs)}; pass one "
                         "gradient array (or None) per input.")
    for index, x in enumerate(inputs):
        _check_shape("merge_backward", f"inputs[{index}]", x, dy.shape)
    chosen = _chosen_input(inputs, op) if op in ("maximum", "minimum") else None
    for index, dx in enumerate(dxs):
        if dx is None:
            continue
        _check_shape("merge_backward", f"dxs[{index}]", dx, dy.shape)
        if op == "add":
            dx[...] = dy
        elif op == "subtract":
            dx[...] = dy if index == 0 else -dy
        elif op == "average":
            dx[...] = dy / len(inputs)
        elif op == "multiply":
            others = np.ones_like(dy)  # 1 · x is exact: the same bits as starting from the first other
            for other, x in enumerate(inputs):
                if other != index:
                    others = others * x
            dx[...] = dy * others
        else:
            dx[...] = np.where(chosen == index, dy, 0)


def concat_forward(y, inputs):
    """y = the inputs side by side along the last axis, in order: inputs[i] (N, K_i) -> y (N, sum K_i)."""
    inputs = _entries("concat_forward", "inputs", inputs)
    if not inputs:
        raise ValueError("concat_forward: 'inputs' must hold at least one array; received an empty list.")
    for index, x in enumerate(inputs):
        if x.ndim != 2:
            raise ValueError(f"concat_forward: 'inputs[{index}]' must have 2 dimension(s); received shape "
                             f"{tuple(x.shape)}.")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"concat_forward: 'inputs[{index}]' has {x.shape[0]} rows but y has {y.shape[0]} "
                             f"(y is {tuple(y.shape)}, inputs[{index}] {tuple(x.shape)}).")
    total = sum(x.shape[1] for x in inputs)
    if total != y.shape[1]:
        raise ValueError(f"concat_forward: the inputs' widths add up to {total} columns but y has {y.shape[1]} "
                         f"(y is {tuple(y.shape)}); y must be (N, sum of the widths).")
    y[...] = np.concatenate(inputs, axis=1)


def concat_backward(dxs, dy, widths=None):
    """dxs[i] = input i's columns of dy (None entries skipped): dy (N, sum K_i) -> dxs[i] (N, K_i).

    The widths K_i come from the arrays in ``dxs``; one None entry takes the columns the others
    leave, and with two or more None entries ``widths`` (every input's K_i) must be given.
    """
    dxs = _entries("concat_backward", "dxs", dxs)
    if not dxs:
        raise ValueError("concat_backward: 'dxs' must hold at least one entry (an array or None); received an "
                         "empty list.")
    missing = [index for index, dx in enumerate(dxs) if dx is None]
    infer = widths is None and len(missing) == 1  # the one None entry takes the columns left over
    if widths is not None:
        widths = list(widths)
        if len(widths) != len(dxs) or not all(isinstance(w, numbers.Integral) and w >= 0 for w in widths):
            raise ValueError(f"concat_backward: 'widths' must list the width of each of the {len(dxs)} inputs as "
                             f"non-negative ints; received {widths!r}.")
        widths = [int(w) for w in widths]
    elif len(missing) > 1:
        raise ValueError(f"concat_backward: 'dxs' holds {len(missing)} None entries, whose widths cannot be told "
                         "apart; pass widths=[...] (the last dimension of every input).")
    else:
        widths = [0 if dx is None else dx.shape[1] for dx in dxs]
    known = sum(widths)
    if known > dy.shape[1] or (known != dy.shape[1] and not infer):
        raise ValueError(f"concat_backward: the widths of 'dxs' add up to {known} columns but dy has "
                         f"{dy.shape[1]} (dy is {tuple(dy.shape)}).")
    if infer:
        widths[missing[0]] = dy.shape[1] - known
    offsets = np.cumsum([0] + widths)
    for index, dx in enumerate(dxs):
        if dx is not None:
            _check_shape("concat_backward", f"dxs[{index}]", dx, (dy.shape[0], widths[index]))
            dx[...] = dy[:, offsets[index]:offsets[index + 1]]


def accumulate(y, x):
    """y += x (any shape, y's): the gradient of a tensor read by several layers is the sum of theirs."""
    _check_shape("accumulate", "x", x, y.shape)
    y += x


def scale(y, x, factor):
    """y = factor * x (any shape, x's), in the arrays' dtype; y may be x (in place)."""
    _check_shape("scale", "y", y, x.shape)
    y[...] = x.dtype.type(factor) * x
