"""The merge op family's cases for the backend catalogue (``backend_cases.py`` adds them to ``CASES``).

Each case has the catalogue's form ``case(backend, sizes, dtype)`` with ``sizes = (N, C, K)``: the
merges run over n inputs of shape (N, K) (forward and every gradient, some cases with a gradient
skipped as None); the concatenations join inputs of unequal widths built from K and C; accumulate
and scale run on (N, K). ``ties`` cases draw every input from {-1, 0, 1}, so maxima and minima are
shared between inputs at most elements (the first must win) and products meet zeros.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from axonal.backend.reference_merge import MAX_MERGE_INPUTS, MERGE_OPS


def _catalogue():
    """backend_cases, imported when a case runs: it imports this module while it is being built."""
    import backend_cases
    return backend_cases


def _inputs(rng, n, shape, values, dtype):
    if values == "ties":
        return [rng.integers(-1, 2, shape).astype(dtype) for _ in range(n)]
    return [rng.standard_normal(shape).astype(dtype) for _ in range(n)]


def merge_case(op, n, values, skip, backend, sizes, dtype):
    """merge_forward over n inputs, then merge_backward with every gradient except those in ``skip``
    (passed as None); returns y and dx<i> for the gradients asked for."""
    cases = _catalogue()
    rows, _, k = sizes
    rng = np.random.default_rng(cases.SEED)
    inputs = _inputs(rng, n, (rows, k), values, dtype)
    dy = rng.standard_normal((rows, k)).astype(dtype)
    y, *dxs = cases._outputs(*[((rows, k), dtype)] * (n + 1), backend=backend)
    dxs = [None if index in skip else dx for index, dx in enumerate(dxs)]
    device_inputs = [cases._device(backend, x) for x in inputs]
    backend.merge_forward(y, device_inputs, op)
    backend.merge_backward(dxs, cases._device(backend, dy), device_inputs, op)
    return {"y": cases._host(y), **{f"dx{index}": cases._host(dx) for index, dx in enumerate(dxs) if dx is not None}}


def _widths(n, sizes):
    """n unequal widths from (C, K): K, C, then 1, 2, ... (an extra 1 + K % 3 keeps the third apart)."""
    _, c, k = sizes
    return ([k, c] + [1 + (k + index) % 3 for index in range(n - 2)])[:n]


def concat_case(n, skip, backend, sizes, dtype, empty=(), pass_widths=False):
    """concat_forward of n inputs (N, K_i), then concat_backward with the gradients in ``skip`` given
    as None (and ``widths`` passed when ``pass_widths``); inputs in ``empty`` have width 0."""
    cases = _catalogue()
    rows = sizes[0]
    widths = [0 if index in empty else width for index, width in enumerate(_widths(n, sizes))]
    rng = np.random.default_rng(cases.SEED)
    inputs = [rng.standard_normal((rows, width)).astype(dtype) for width in widths]
    dy = rng.standard_normal((rows, sum(widths))).astype(dtype)
    y, *dxs = cases._outputs(((rows, sum(widths)), dtype), *[((rows, width), dtype) for width in widths],
                             backend=backend)
    dxs = [None if index in skip else dx for index, dx in enumerate(dxs)]
    backend.concat_forward(y, [cases._device(backend, x) for x in inputs])
    if pass_widths:
        backend.concat_backward(dxs, cases._device(backend, dy), widths)
    else:
        backend.concat_backward(dxs, cases._device(backend, dy))
    return {"y": cases._host(y), **{f"dx{index}": cases._host(dx) for index, dx in enumerate(dxs) if dx is not None}}


def accumulate_case(backend, sizes, dtype):
    """y += x, from a y that holds values (not the NaN of fresh outputs)."""
    cases = _catalogue()
    rows, _, k = sizes
    rng = np.random.default_rng(cases.SEED)
    y = cases._device(backend, rng.standard_normal((rows, k)).astype(dtype))
    backend.accumulate(y, cases._device(backend, rng.standard_normal((rows, k)).astype(dtype)))
    return {"y": cases._host(y)}


def scale_case(factor, in_place, backend, sizes, dtype):
    """y = factor * x into a separate y, or in place (y is x)."""
    cases = _catalogue()
    rows, _, k = sizes
    rng = np.random.default_rng(cases.SEED)
    x = cases._device(backend, rng.standard_normal((rows, k)).astype(dtype))
    (y,) = (x,) if in_place else cases._outputs(((rows, k), dtype), backend=backend)
    backend.scale(y, x, factor)
    return {"y": cases._host(y)}


MERGE_CASES = {}
for _op in MERGE_OPS:
    for _n in (2,) if _op == "subtract" else (1, 2, 3, MAX_MERGE_INPUTS):
        MERGE_CASES[f"merge:{_op}:{_n}"] = partial(merge_case, _op, _n, "normal", ())
for _op in ("maximum", "minimum", "multiply"):
    for _n in (2, 3):
        MERGE_CASES[f"merge:{_op}:{_n}:ties"] = partial(merge_case, _op, _n, "ties", ())
for _op in MERGE_OPS:  # a gradient skipped (None): the others are still written, the skipped one not read
    MERGE_CASES[f"merge:{_op}:{2 if _op == 'subtract' else 3}:skip_dx0"] = partial(
        merge_case, _op, 2 if _op == "subtract" else 3, "ties" if _op in ("maximum", "minimum") else "normal", (0,))
for _n in (1, 2, 3):
    MERGE_CASES[f"concat:{_n}"] = partial(concat_case, _n, ())
MERGE_CASES["concat:10"] = partial(concat_case, 10, ())  # more inputs than one CUDA launch carries
MERGE_CASES["concat:3:empty_middle"] = partial(concat_case, 3, (), empty=(1,))
MERGE_CASES["concat:3:skip_dx1"] = partial(concat_case, 3, (1,))  # one None: its width is the remainder
MERGE_CASES["concat:4:skip_dx0_dx2:widths"] = partial(concat_case, 4, (0, 2), pass_widths=True)
MERGE_CASES["accumulate"] = accumulate_case
MERGE_CASES["scale"] = partial(scale_case, 0.37, False)
MERGE_CASES["scale:in_place"] = partial(scale_case, -2.5, True)
