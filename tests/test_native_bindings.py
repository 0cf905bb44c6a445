"""Every function of ``axonal._native`` called directly with wrong arguments (the optimiser updates
through their named ops, which pass their arguments straight to ``optimizer_update``).

Each binding must check dtype, shape, number of dimensions, C-contiguity, alignment, writability of
outputs and aliasing between its arrays before it touches memory, and raise ``ValueError`` naming
the op and the argument (``TypeError`` from pybind11 for a Python value of the wrong type: a string
for a float, a short tuple for strides) — never crash, never accept silently. The cases come from
one table of valid calls (``native_calls.py``): every array argument of every op gets every damage
in :data:`DAMAGES`, every output is made to overlap every other array, and :data:`SCALAR_CASES`
covers rates, labels, argmax, strides, padding and pools. Every case was first run in a
subprocess, and a module fixture runs them all in one again before the in-process tests, so a
binding that crashes fails here with the call that did it instead of ending the test run
(docs/reliability.md, "Native argument checks").
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from native_calls import DAMAGES, SCALAR_CASES, VALID, optional, outputs, valid

native = pytest.importorskip("axonal._native")
from axonal.backend import cpu, reference  # noqa: E402  (reference: the expected values of the frozen-layer case)


def _op(name: str):
    """The binding ``name``; the optimiser updates are the cpu backend's named ops, each a thin call
    of the one binding ``optimizer_update`` (axonal/backend/update_ops.py)."""
    return getattr(native, name) if hasattr(native, name) else getattr(cpu, name)


@pytest.fixture(scope="module", autouse=True)
def no_call_crashes_the_interpreter():
    """Make every call of this module once in a child process first: a binding that crashes then
    fails each test here with the call that crashed, instead of ending the whole pytest run."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
           "import test_native_bindings as t; t.make_every_call()"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if child.returncode != 0:
        last = (child.stdout.strip().splitlines() or ["(before the first call)"])[-1]
        pytest.fail(f"a native call ended the interpreter (exit status {child.returncode}) at: {last}\n"
                    f"{child.stderr[-2000:]}", pytrace=False)


def make_every_call() -> None:
    """Each call the tests below make, printing its id before it runs; exceptions are expected."""
    calls = [(f"{op}-{name}-{damage}", op, lambda op=op, n=name, d=damage: _damaged_call(op, n, d))
             for op, name, damage in (case.values for case in _damage_cases())]
    calls += [("-".join(case), case[0], lambda case=case: _aliased_call(*case)) for case in _alias_cases()]
    calls += [(f"{op}-{sorted(o)}", op, lambda op=op, o=o: {**valid(op), **o}) for op, o, _, _ in SCALAR_CASES]
    calls += [(f"{op}-n0", op, lambda op=op: valid(op, n=0)) for op in VALID]
    calls += [(f"{op}-c0", op, lambda op=op: valid(op, c=0)) for op in VALID]
    calls += [(f"{op}-k0", op, lambda op=op: valid(op, k=0)) for op in VALID]
    for case_id, op, kwargs in calls:
        print(case_id, flush=True)
        try:
            _op(op)(**kwargs())
        except (ValueError, TypeError):
            pass


def _mentions(message: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message) is not None


def _damage_cases():
    for op in VALID:
        for name, value in valid(op).items():
            if not isinstance(value, np.ndarray):
                continue
            for damage in [*DAMAGES, *(["read_only"] if name in outputs(op) else [])]:
                if (damage == "none" and name in optional(op) or damage == "big_endian" and value.dtype.itemsize == 1
                        or damage == "fortran_order" and value.ndim < 2
                        or (op, name, damage) == ("conv2d_backward", "dW", "none")):
                    continue  # allowed, no damage at all for this array, or the known gap tested below
                yield pytest.param(op, name, damage, id=f"{op}-{name}-{damage}")


def _damaged_call(op, name, damage) -> dict:
    kwargs = valid(op)
    if damage == "read_only":
        kwargs[name].setflags(write=False)
    else:
        kwargs[name] = DAMAGES[damage](kwargs[name])
    return kwargs


@pytest.mark.parametrize("op, name, damage", list(_damage_cases()))
def test_damaged_array_argument_is_refused(op, name, damage):
    with pytest.raises(ValueError) as caught:
        _op(op)(**_damaged_call(op, name, damage))
    message = str(caught.value)
    assert message.startswith(f"{op}: "), message
    if damage in ("wrong_shape", "extra_dim"):
        # A size is defined by several arguments together: the message may blame another one.
        assert any(_mentions(message, other) for other in valid(op)), message
    else:
        assert _mentions(message, name), message


# ----- aliasing ---------------------------------------------------------------------------------

# (op, output, input) pairs that may be the very same array: element-wise in-place updates.
IN_PLACE = {("activation_forward", "y", "x"), ("activation_backward", "dx", "dy"), ("activation_backward", "dx", "y"),
            ("dense_backward", "dz", "dy"), ("conv2d_backward", "dz", "dy"), ("dropout_forward", "y", "x"),
            ("dropout_backward", "dx", "dy"), ("spatial_dropout_forward", "y", "x"),
            ("spatial_dropout_backward", "dx", "dy"), ("softmax_cross_entropy", "dlogits", "logits"),
            ("sigmoid_binary_cross_entropy", "dlogits", "logits"), ("mean_squared_error", "dpred", "pred")}


def _alias_cases():
    """(op, output, other array, "partial" | "same" | "in_place") for every output and array."""
    for op in VALID:
        arrays = {k: v for k, v in valid(op).items() if isinstance(v, np.ndarray)}
        outs = outputs(op)
        for out in outs:
            for other in arrays:
                if other == out or other in outs and outs.index(other) < outs.index(out):
                    continue  # each pair of outputs once
                kinds = ["partial"]
                if arrays[out].shape == arrays[other].shape and arrays[out].dtype == arrays[other].dtype:
                    kinds.append("in_place" if (op, out, other) in IN_PLACE else "same")
                yield from ((op, out, other, kind) for kind in kinds)


def _overlapping(out: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of one buffer: ``other`` (holding its values) starts 4 bytes into ``out`` (8 when either
    holds float64, so that both stay aligned to their items)."""
    shift = max(4, out.itemsize, other.itemsize)
    buffer = np.zeros(out.nbytes + other.nbytes + 8, np.uint8)
    out_view = buffer[:out.nbytes].view(out.dtype).reshape(out.shape)
    other_view = buffer[shift:shift + other.nbytes].view(other.dtype).reshape(other.shape)
    other_view[...] = other
    return out_view, other_view


def _aliased_call(op, out, other, kind) -> dict:
    kwargs = valid(op)
    if kind == "partial":
        kwargs[out], kwargs[other] = _overlapping(kwargs[out], kwargs[other])
    else:
        kwargs[out] = kwargs[other]
    return kwargs


@pytest.mark.parametrize("op, out, other, kind", [pytest.param(*case, id="-".join(case))
                                                  for case in _alias_cases()])
def test_output_aliasing_an_input_is_refused(op, out, other, kind):
    kwargs = _aliased_call(op, out, other, kind)
    if kind == "in_place":  # allowed, and the same numbers (returned loss included) as with separate arrays
        expected = valid(op)
        expected_result = _op(op)(**expected)
        result = _op(op)(**kwargs)
        np.testing.assert_allclose(kwargs[out], expected[out], rtol=1e-6)
        if expected_result is not None:  # a loss must read its input before writing the gradient over it
            assert result == pytest.approx(expected_result, rel=1e-6)
        return
    with pytest.raises(ValueError, match=rf"^{op}: .*shares memory") as caught:
        _op(op)(**kwargs)
    assert _mentions(str(caught.value), out) and _mentions(str(caught.value), other), caught.value


# ----- scalar arguments, labels, argmax, windows ---------------------------------------------------

@pytest.mark.parametrize("op, overrides, error, word", SCALAR_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}-{i}" for i, c in enumerate(SCALAR_CASES)])
def test_bad_scalar_or_index_argument_is_refused(op, overrides, error, word):
    with pytest.raises(error) as caught:
        _op(op)(**{**valid(op), **overrides})
    message = str(caught.value)
    assert message.startswith(f"{op}: " if error is ValueError else f"{op}(): "), message
    assert word in message, message


@pytest.mark.parametrize("op, overrides", [("sgd_update", dict(momentum=0.0, momentum_buf=None)),
                                           ("adam_update", dict(amsgrad=False, v_hat=None)),
                                           ("rmsprop_update", dict(centered=False, average_grad=None))])
def test_slots_an_option_does_not_use_may_be_none(op, overrides):
    _op(op)(**{**valid(op), **overrides})


LOSSES = ("softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error")


@pytest.mark.parametrize("op", VALID)
def test_empty_batch_is_a_no_op_or_refused(op):
    kwargs = valid(op, n=0)
    if op in LOSSES:  # a mean over no samples has no value
        with pytest.raises(ValueError, match=rf"^{op}: .* is empty"):
            _op(op)(**kwargs)
    else:
        _op(op)(**kwargs)  # nothing to compute; must neither fail nor touch memory


@pytest.mark.parametrize("op", LOSSES)
def test_loss_with_no_outputs_is_refused(op):
    with pytest.raises(ValueError, match=rf"^{op}: .* is empty"):
        _op(op)(**valid(op, k=0))


# ----- zero-size inner dimensions, alignment, the open gap ------------------------------------------

@pytest.mark.parametrize("op", ["dense_forward", "conv2d_forward"])
def test_zero_input_features_give_the_activated_bias(op):
    # Found here: MKL refused the zero leading dimension (printing "Parameter 9 was incorrect on
    # entry to cblas_sgemm") and left y unwritten; the sum over no inputs is 0, so y = relu(b).
    kwargs = valid(op, c=0)
    kwargs["y"][...] = np.nan
    _op(op)(**kwargs)
    np.testing.assert_array_equal(kwargs["y"], np.broadcast_to(np.maximum(kwargs["b"], 0), kwargs["y"].shape))


def _misaligned(a: np.ndarray) -> np.ndarray:
    buffer = np.zeros(a.nbytes + 1, np.uint8)
    view = buffer[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    return view


@pytest.mark.parametrize("op", VALID)
def test_misaligned_array_is_refused(op):
    # Found here: C-contiguous data not aligned to its item size was accepted (undefined behaviour).
    kwargs = valid(op)
    name = next(k for k, v in kwargs.items() if isinstance(v, np.ndarray) and v.dtype.itemsize > 1)
    kwargs[name] = _misaligned(kwargs[name])
    with pytest.raises(ValueError, match=rf"^{op}: '{name}' .*not aligned"):
        _op(op)(**kwargs)


def test_conv2d_backward_takes_no_dW_for_a_frozen_layer():
    """dW=None is the frozen-layer case (docs/design.md): accepted, dz still written as the reference does."""
    kwargs, expected = _damaged_call("conv2d_backward", "dW", "none"), _damaged_call("conv2d_backward", "dW", "none")
    native.conv2d_backward(**kwargs)
    reference.conv2d_backward(**expected)
    np.testing.assert_allclose(kwargs["dz"], expected["dz"], rtol=1e-5, atol=1e-6)
