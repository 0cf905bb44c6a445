"""The merge op family (merge, concat, accumulate, scale) on the host backends (``numpy`` and ``cpu``).

Parity with the reference on odd sizes is in the backend catalogue (``merge_cases.py``, run by
test_parity.py and test_cuda_parity.py). Here: the rules every backend must follow (ties go to the
first input, NaN wins, a product's gradient at zero inputs, inputs that are one array, scale in
place, any number of concatenated inputs); the cpu kernels giving the reference's bits on arrays
large enough to be threaded, for 1 and 2 threads; and the argument checks, with the messages that
the backends share and those of the native checks (dtype, layout, writability, overlaps).
"""
import importlib
import re

import numpy as np
import pytest

from axonal.backend import reference
from axonal.backend.reference_merge import MERGE_OPS

try:
    cpu = importlib.import_module("axonal.backend.cpu")
except ImportError:  # the extension is not built: the cpu cases skip
    cpu = None

needs_cpu = pytest.mark.skipif(cpu is None, reason="axonal._native is not built here")
HOST_BACKENDS = [pytest.param(reference, id="numpy"),
                 pytest.param(cpu, id="cpu", marks=needs_cpu)]


def f32(values):
    return np.ascontiguousarray(values, dtype=np.float32)


def rows(seed, shape=(3, 4)):
    return f32(np.random.default_rng(seed).standard_normal(shape))


# --------------------------------------------------------------------------------------------------
# Rules

@pytest.mark.parametrize("ops", HOST_BACKENDS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_equal_inputs_send_the_whole_gradient_to_the_first(ops, op):
    x = rows(1)
    inputs = [x, x.copy(), x.copy()]
    y = np.full_like(x, np.nan)
    ops.merge_forward(y, inputs, op)
    np.testing.assert_array_equal(y, x)
    dy = rows(2)
    dxs = [np.full_like(x, np.nan) for _ in inputs]
    ops.merge_backward(dxs, dy, inputs, op)
    np.testing.assert_array_equal(dxs[0], dy)
    np.testing.assert_array_equal(dxs[1], np.zeros_like(x))
    np.testing.assert_array_equal(dxs[2], np.zeros_like(x))


@pytest.mark.parametrize("ops", HOST_BACKENDS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_a_tie_after_the_extreme_goes_to_the_earliest_of_the_tied(ops, op):
    extreme = 3.0 if op == "maximum" else -3.0
    inputs = [f32([[0.0, extreme]]), f32([[extreme, 0.0]]), f32([[extreme, extreme]])]
    dxs = [np.full((1, 2), np.nan, np.float32) for _ in inputs]
    ops.merge_backward(dxs, f32([[1.0, 2.0]]), inputs, op)
    np.testing.assert_array_equal(np.stack([dx[0] for dx in dxs]), [[0, 2], [1, 0], [0, 0]])


@pytest.mark.parametrize("ops", HOST_BACKENDS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_nan_wins_and_the_first_nan_gets_the_gradient(ops, op):
    nan = np.nan
    inputs = [f32([[1.0, nan, 2.0, 1.0]]), f32([[nan, nan, 3.0, 0.0]]), f32([[nan, 0.0, nan, -1.0]])]
    y = np.empty((1, 4), np.float32)
    ops.merge_forward(y, inputs, op)
    assert np.isnan(y[0, :3]).all() and y[0, 3] == (1.0 if op == "maximum" else -1.0)
    dxs = [np.empty((1, 4), np.float32) for _ in inputs]
    ops.merge_backward(dxs, f32([[1.0, 2.0, 3.0, 4.0]]), inputs, op)
    expected_last = [4, 0, 0] if op == "maximum" else [0, 0, 4]
    np.testing.assert_array_equal(np.stack([dx[0] for dx in dxs]),
                                  np.column_stack([[0, 1, 0], [2, 0, 0], [0, 0, 3], expected_last]))


@pytest.mark.parametrize("ops", HOST_BACKENDS)
def test_product_gradient_at_zero_inputs_is_the_others_product(ops):
    inputs = [f32([[0.0, 2.0, 0.0]]), f32([[3.0, 0.0, 0.0]]), f32([[5.0, 7.0, 11.0]])]
    dxs = [np.empty((1, 3), np.float32) for _ in inputs]
    ops.merge_backward(dxs, f32([[2.0, 2.0, 2.0]]), inputs, "multiply")
    np.testing.assert_array_equal(np.stack([dx[0] for dx in dxs]), [[30, 0, 0], [0, 28, 0], [0, 0, 0]])


@pytest.mark.parametrize("ops", HOST_BACKENDS)
def test_inputs_may_be_one_array(ops):
    """Keras' Add()([x, x]): the inputs are only read, so they may share memory."""
    x, y = rows(3), np.empty((3, 4), np.float32)
    ops.merge_forward(y, [x, x], "add")
    np.testing.assert_array_equal(y, x + x)
    dxs = [np.empty_like(x), np.empty_like(x)]
    ops.merge_backward(dxs, rows(4), [x, x], "multiply")
    np.testing.assert_array_equal(dxs[0], rows(4) * x)


@pytest.mark.parametrize("ops", HOST_BACKENDS)
def test_scale_in_place_and_accumulate_any_shape(ops):
    """Weight gradients are 1-D to 4-D: accumulate and scale take any shape (the same for y and x)."""
    grad, other = rows(5, (2, 3, 3, 4)), rows(6, (2, 3, 3, 4))
    expected = np.float32(-0.5) * (grad + other)
    ops.accumulate(grad, other)
    ops.scale(grad, grad, -0.5)
    np.testing.assert_array_equal(grad, expected)
    bias, out = rows(7, (5,)), np.empty(5, np.float32)
    ops.scale(out, bias, 3.0)
    np.testing.assert_array_equal(out, np.float32(3.0) * bias)


@pytest.mark.parametrize("ops", HOST_BACKENDS)
def test_concat_of_many_inputs_and_gradients_skipped(ops):
    widths = [1, 3, 0, 2, 5, 1, 1, 4, 2, 3, 1]  # more than kMaxMergeInputs, one empty
    inputs = [rows(10 + index, (3, width)) for index, width in enumerate(widths)]
    y = np.full((3, sum(widths)), np.nan, np.float32)
    ops.concat_forward(y, inputs)
    np.testing.assert_array_equal(y, np.concatenate(inputs, axis=1))
    dxs = [None if index in (0, 4, 9) else np.full((3, width), np.nan, np.float32) for index, width in enumerate(widths)]
    ops.concat_backward(dxs, y, widths)
    for dx, x in zip(dxs, inputs):
        if dx is not None:
            np.testing.assert_array_equal(dx, x)


@needs_cpu
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("op", MERGE_OPS)
def test_cpu_gives_the_reference_bits_on_threaded_arrays(op, threads):
    """Above the kernels' work threshold (2^15) the chunks run on the OpenMP team: the same bits as
    the reference (same left-to-right maths, no fused multiply-add) whatever the thread count."""
    from axonal import _native
    n = 2 if op == "subtract" else 3
    rng = np.random.default_rng(8)
    inputs = [f32(rng.integers(-2, 3, (257, 301)) / 2 + rng.standard_normal((257, 301)) * (rng.random() < 0.5))
              for _ in range(n)]  # ties at some elements, for maximum and minimum
    dy = rows(9, (257, 301))
    expected_y, y = np.empty_like(dy), np.empty_like(dy)
    expected_dxs, dxs = [np.empty_like(dy) for _ in inputs], [np.empty_like(dy) for _ in inputs]
    reference.merge_forward(expected_y, inputs, op)
    reference.merge_backward(expected_dxs, dy, inputs, op)
    previous = _native.get_num_threads()
    _native.set_num_threads(threads)
    try:
        cpu.merge_forward(y, inputs, op)
        cpu.merge_backward(dxs, dy, inputs, op)
    finally:
        _native.set_num_threads(previous)
    np.testing.assert_array_equal(y, expected_y)
    for dx, expected in zip(dxs, expected_dxs):
        np.testing.assert_array_equal(dx, expected)


# --------------------------------------------------------------------------------------------------
# Argument checks every backend makes, with the same message

def _merge(op="add", n=2, shape=(3, 4), y_shape=(3, 4), at=None, bad_shape=(3, 5)):
    inputs = [np.zeros(bad_shape if index == at else shape, np.float32) for index in range(n)]
    return lambda ops: ops.merge_forward(np.zeros(y_shape, np.float32), inputs, op)


SHARED_ERRORS = {
    "unknown op": (_merge(op="concat"), r"^merge_forward: unknown op 'concat'; expected one of add, subtract, "
                                        r"multiply, average, maximum, minimum"),
    "no inputs": (_merge(n=0), r"^merge_forward: 'inputs' must hold 1 to 8 arrays; received 0\."),
    "nine inputs": (_merge(n=9), r"^merge_forward: 'inputs' must hold 1 to 8 arrays; received 9\. Fix: merge in "
                                 r"stages"),
    "subtract of three": (_merge(op="subtract", n=3),
                          r"^merge_forward: 'subtract' takes exactly 2 inputs \(x0 - x1\); received 3\.$"),
    "subtract of one": (_merge(op="subtract", n=1), r"^merge_forward: 'subtract' takes exactly 2 inputs"),
    "inputs an array": (lambda ops: ops.merge_forward(np.zeros((3, 4), np.float32), np.zeros((2, 3, 4), np.float32),
                                                      "add"),
                        r"^merge_forward: 'inputs' must be a list of arrays; received a ndarray\.$"),
    "input shape": (_merge(n=3, at=2), r"^merge_forward: 'inputs\[2\]' must .*shape \(3, 4\); received .*\(3, 5\)"),
    "dxs count": (lambda ops: ops.merge_backward([np.zeros((3, 4), np.float32)], np.zeros((3, 4), np.float32),
                                                 [np.zeros((3, 4), np.float32)] * 2, "add"),
                  r"^merge_backward: 'dxs' holds 1 entries but 'inputs' 2; pass one gradient array \(or None\) per "
                  r"input\.$"),
    "dx shape": (lambda ops: ops.merge_backward([None, np.zeros((4, 3), np.float32)], np.zeros((3, 4), np.float32),
                                                [np.zeros((3, 4), np.float32)] * 2, "maximum"),
                 r"^merge_backward: 'dxs\[1\]' must .*shape \(3, 4\); received .*\(4, 3\)"),
    "backward input shape": (lambda ops: ops.merge_backward([None, None], np.zeros((3, 4), np.float32),
                                                            [np.zeros((3, 4), np.float32), np.zeros((3, 3), np.float32)],
                                                            "multiply"),
                             r"^merge_backward: 'inputs\[1\]' must .*shape \(3, 4\)"),
    "concat width": (lambda ops: ops.concat_forward(np.zeros((3, 6), np.float32),
                                                    [np.zeros((3, 2), np.float32), np.zeros((3, 3), np.float32)]),
                     r"^concat_forward: the inputs' widths add up to 5 columns but y has 6 \(y is \(3, 6\)\); y must "
                     r"be \(N, sum of the widths\)\.$"),
    "concat rows": (lambda ops: ops.concat_forward(np.zeros((3, 4), np.float32),
                                                   [np.zeros((3, 2), np.float32), np.zeros((2, 2), np.float32)]),
                    r"^concat_forward: 'inputs\[1\]' has 2 rows but y has 3 \(y is \(3, 4\), inputs\[1\] \(2, 2\)\)\.$"),
    "concat 1-D input": (lambda ops: ops.concat_forward(np.zeros((3, 4), np.float32), [np.zeros(4, np.float32)]),
                         r"^concat_forward: 'inputs\[0\]' must have 2 dimension\(s\)"),
    "concat nothing": (lambda ops: ops.concat_forward(np.zeros((3, 0), np.float32), []),
                       r"^concat_forward: 'inputs' must hold at least one array; received an empty list\.$"),
    "concat two None": (lambda ops: ops.concat_backward([None, np.zeros((3, 1), np.float32), None],
                                                        np.zeros((3, 4), np.float32)),
                        r"^concat_backward: 'dxs' holds 2 None entries, whose widths cannot be told apart; pass "
                        r"widths=\[\.\.\.\]"),
    "concat dxs too wide": (lambda ops: ops.concat_backward([None, np.zeros((3, 5), np.float32)],
                                                            np.zeros((3, 4), np.float32)),
                            r"^concat_backward: the widths of 'dxs' add up to 5 columns but dy has 4 \(dy is \(3, 4\)\)\.$"),
    "concat dxs too narrow": (lambda ops: ops.concat_backward([np.zeros((3, 1), np.float32)] * 2,
                                                              np.zeros((3, 4), np.float32)),
                              r"^concat_backward: the widths of 'dxs' add up to 2 columns but dy has 4"),
    "concat widths count": (lambda ops: ops.concat_backward([None, None], np.zeros((3, 4), np.float32), [4]),
                            r"^concat_backward: 'widths' must"),
    "concat widths negative": (lambda ops: ops.concat_backward([None, None], np.zeros((3, 4), np.float32), [5, -1]),
                               r"^concat_backward: 'widths' must"),
    "concat widths float": (lambda ops: ops.concat_backward([None, None], np.zeros((3, 4), np.float32), [2.0, 2.0]),
                            r"^concat_backward: 'widths' must"),
    "concat widths sum": (lambda ops: ops.concat_backward([None, None], np.zeros((3, 4), np.float32), [2, 1]),
                          r"^concat_backward: the widths of 'dxs' add up to 3 columns but dy has 4"),
    "concat dx against widths": (lambda ops: ops.concat_backward([np.zeros((3, 1), np.float32), None],
                                                                 np.zeros((3, 4), np.float32), [2, 2]),
                                 r"^concat_backward: 'dxs\[0\]' must .*shape \(3, 2\)"),
    "accumulate shape": (lambda ops: ops.accumulate(np.zeros((3, 4), np.float32), np.zeros((4, 3), np.float32)),
                         r"^accumulate: 'x' must .*shape \(3, 4\)"),
    "scale shape": (lambda ops: ops.scale(np.zeros((3, 4), np.float32), np.zeros((12,), np.float32), 2.0),
                    r"^scale: 'y' must .*shape \(12,\)"),
}


@pytest.mark.parametrize("ops", HOST_BACKENDS)
@pytest.mark.parametrize("name", list(SHARED_ERRORS))
def test_bad_arguments_raise_the_same_error_on_every_backend(ops, name):
    call, message = SHARED_ERRORS[name]
    with pytest.raises(ValueError, match=message):
        call(ops)


# --------------------------------------------------------------------------------------------------
# The native checks: dtype, layout, writability and overlaps (the reference, plain NumPy, has none)

def _buffer(rows_=6, columns=4):
    return np.zeros((rows_, columns), np.float32)


def _read_only():
    array = _buffer(3)
    array.flags.writeable = False
    return array


NATIVE_ERRORS = {
    "float64 input": (lambda: cpu.merge_forward(_buffer(3), [_buffer(3), np.zeros((3, 4))], "add"),
                      r"^merge_forward: 'inputs\[1\]' must be a C-contiguous float32 array of shape \(3, 4\); "
                      r"received float64 array .* Fix: convert with np.ascontiguousarray"),
    "strided input": (lambda: cpu.merge_forward(_buffer(3), [_buffer(6)[::2]], "maximum"),
                      r"'inputs\[0\]' .* It is a strided view"),
    "read-only y": (lambda: cpu.merge_forward(_read_only(), [_buffer(3)], "add"), r"'y' .* It is read-only"),
    "y is an input": (lambda b=_buffer(3): cpu.merge_forward(b, [_buffer(3), b], "add"),
                      r"^merge_forward: output 'y' shares memory with input 'inputs\[1\]'; pass a separate array\.$"),
    "y inside an input": (lambda b=_buffer(6): cpu.merge_forward(b[3:], [b[2:5], _buffer(3)], "multiply"),
                          r"^merge_forward: output 'y' shares memory with input 'inputs\[0\]'"),
    "dx on dy": (lambda b=_buffer(3): cpu.merge_backward([b, None], b, [_buffer(3)] * 2, "add"),
                 r"^merge_backward: output 'dxs\[0\]' shares memory with input 'dy'"),
    "dx on an input": (lambda b=_buffer(3): cpu.merge_backward([None, b], _buffer(3), [b, _buffer(3)], "multiply"),
                       r"^merge_backward: output 'dxs\[1\]' shares memory with input 'inputs\[0\]'"),
    "dxs shared": (lambda b=_buffer(3): cpu.merge_backward([b, b], _buffer(3), [_buffer(3)] * 2, "subtract"),
                   r"^merge_backward: output 'dxs\[1\]' shares memory with input 'dxs\[0\]'"),
    "dx float64": (lambda: cpu.merge_backward([np.zeros((3, 4))], _buffer(3), [_buffer(3)], "average"),
                   r"'dxs\[0\]' must be a C-contiguous float32 array"),
    "dy read-only is fine, dx read-only is not": (lambda: cpu.merge_backward([_read_only()], _buffer(3), [_buffer(3)],
                                                                             "add"),
                                                  r"'dxs\[0\]' .* It is read-only"),
    "concat y on an input": (lambda b=_buffer(3, 6): cpu.concat_forward(b, [_buffer(3, 3), b.reshape(6, 3)[3:]]),
                             r"^concat_forward: output 'y' shares memory with input 'inputs\[1\]'"),
    "concat dx on dy": (lambda b=_buffer(4, 3): cpu.concat_backward([b[1:3], None], b[2:]),
                        r"^concat_backward: output 'dxs\[0\]' shares memory with input 'dy'"),
    "concat dxs shared": (lambda b=_buffer(3, 2): cpu.concat_backward([b, b], _buffer(3)),
                          r"^concat_backward: output 'dxs\[1\]' shares memory with input 'dxs\[0\]'"),
    "concat int input": (lambda: cpu.concat_forward(_buffer(3), [np.zeros((3, 4), np.int32)]),
                         r"'inputs\[0\]' must be a C-contiguous float32 array"),
    "accumulate y is x": (lambda b=_buffer(3): cpu.accumulate(b, b),
                          r"^accumulate: output 'y' shares memory with input 'x'; pass a separate array\.$"),
    "accumulate float64": (lambda: cpu.accumulate(_buffer(3), np.zeros((3, 4))), r"^accumulate: 'x' must be .*float32"),
    "accumulate a list": (lambda: cpu.accumulate([[0.0]], _buffer(3)), r"^accumulate: 'y' must be a numpy array"),
    "scale partial overlap": (lambda b=_buffer(4): cpu.scale(b[1:], b[:3], 2.0),
                              r"^scale: output 'y' shares memory with input 'x'"),
    "scale read-only": (lambda: cpu.scale(_read_only(), _buffer(3), 2.0), r"^scale: 'y' .* It is read-only"),
}


@needs_cpu
@pytest.mark.parametrize("name", list(NATIVE_ERRORS))
def test_native_checks_refuse_bad_arrays(name):
    call, message = NATIVE_ERRORS[name]
    with pytest.raises(ValueError, match=message):
        call()


@needs_cpu
def test_native_checks_let_through_what_is_allowed():
    """scale in place; inputs that share memory; None gradients; empty arrays."""
    x = rows(11)
    expected = np.float32(4.0) * x
    cpu.scale(x, x, 4.0)
    np.testing.assert_array_equal(x, expected)
    y = _buffer(3)
    cpu.merge_forward(y, [x, x, x[:, :]], "maximum")
    np.testing.assert_array_equal(y, x)
    cpu.merge_backward([None, None], x, [x, x], "multiply")
    empty = np.zeros((0, 4), np.float32)
    cpu.merge_forward(empty, [empty.copy(), empty.copy()], "maximum")
    cpu.concat_forward(np.zeros((2, 0), np.float32), [np.zeros((2, 0), np.float32)])


def _valid_merge_calls():
    """op -> (function of the arrays, {argument path: array}, paths that may be None): a correct call
    of each op of the family, with list entries named like 'inputs[1]'."""
    def arrays(*shapes):
        return [rows(20 + index, shape) for index, shape in enumerate(shapes)]

    y, x0, x1, x2 = arrays((3, 4), (3, 4), (3, 4), (3, 4))
    c0, c1 = arrays((3, 2), (3, 3))
    return {
        "merge_forward": (lambda a: cpu.merge_forward(a["y"], [a["inputs[0]"], a["inputs[1]"], a["inputs[2]"]],
                                                      "multiply"),
                          {"y": y, "inputs[0]": x0, "inputs[1]": x1, "inputs[2]": x2}, ()),
        "merge_backward": (lambda a: cpu.merge_backward([a["dxs[0]"], a["dxs[1]"]], a["dy"],
                                                        [a["inputs[0]"], a["inputs[1]"]], "maximum"),
                           {"dxs[0]": y, "dxs[1]": x2.copy(), "dy": x0, "inputs[0]": x1, "inputs[1]": x2},
                           ("dxs[0]", "dxs[1]")),
        "concat_forward": (lambda a: cpu.concat_forward(a["y"], [a["inputs[0]"], a["inputs[1]"]]),
                           {"y": rows(30, (3, 5)), "inputs[0]": c0, "inputs[1]": c1}, ()),
        "concat_backward": (lambda a: cpu.concat_backward([a["dxs[0]"], a["dxs[1]"]], a["dy"]),
                            {"dxs[0]": c0, "dxs[1]": c1, "dy": rows(31, (3, 5))}, ("dxs[0]", "dxs[1]")),
        "accumulate": (lambda a: cpu.accumulate(a["y"], a["x"]), {"y": y, "x": x0}, ()),
        "scale": (lambda a: cpu.scale(a["y"], a["x"], 0.5), {"y": y, "x": x0}, ()),
    }


def _damaged_merge_calls():
    from native_calls import DAMAGES
    calls = []
    for op, (_, array_args, may_be_none) in _valid_merge_calls().items():
        for path in array_args:
            for damage in DAMAGES:
                if not (damage == "none" and path in may_be_none):
                    calls.append(pytest.param(op, path, damage, id=f"{op}-{path}-{damage}"))
    return calls


@needs_cpu
@pytest.mark.parametrize("op, path, damage", _damaged_merge_calls())
def test_every_damaged_array_argument_is_refused(op, path, damage):
    """Each array argument and list entry, in turn spoilt in each way of native_calls.DAMAGES (dtype,
    byte order, shape, layout, None, a list, a scalar), is refused with a ValueError naming it."""
    from native_calls import DAMAGES
    call, array_args, _ = _valid_merge_calls()[op]
    call(dict(array_args))  # the undamaged call is valid
    args = dict(array_args, **{path: DAMAGES[damage](array_args[path])})
    # A size is defined by several arguments together: a wrong one may be blamed on another argument.
    if damage in ("wrong_shape", "extra_dim"):
        named = "|".join(re.escape(name.split("[")[0]) for name in array_args)
        message = rf"^{op}: .*\b({named})\b"
    else:
        message = rf"^{op}: .*'{re.escape(path)}'"
    with pytest.raises(ValueError, match=message):
        call(args)
