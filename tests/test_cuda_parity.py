"""The ``cuda`` backend against the NumPy reference, and how its absence is reported.

Where a GPU, cupy and a CUDA build (``AXONAL_CUDA=1``, docs/cuda.md) are present, every case of the
catalogue in ``backend_cases.py`` that the backend has ops for (each activation, dense with each
activation, each loss and label kind, dropout with masks compared bit for bit, each optimiser) runs
on cupy arrays on a non-default stream, on the odd sizes 1, 3, 17, 129, with TF32 off, and is
compared with the reference. Further tests cover the loss kept on the device, a sparse label out of
range, determinism and the argument checks. Elsewhere these skip with the reason
``axonal.backends()`` gives. The argument checks also run, on stand-in arrays, wherever the
extension is built (no GPU needed), and the tests of the reported reason run on every machine.
"""
import importlib
import importlib.machinery
import importlib.util
import sys
import types

import numpy as np
import pytest

import axonal
from axonal.backend import reference
from backend_cases import CASE_NAMES, assert_matches_reference, missing_ops, size_id, sizes_for

RTOL, ATOL = 1e-4, 1e-5  # as tests/test_parity.py
CUDA_STATUS = axonal.backends()["cuda"]
CUDA_REASON = f"the cuda backend is unavailable here: {CUDA_STATUS}"

cuda_only = pytest.mark.skipif(CUDA_STATUS != "available", reason=CUDA_REASON)

if CUDA_STATUS == "available":
    import cupy

    cuda = importlib.import_module("axonal.backend.cuda")
    CASES = [pytest.param(name, sizes, id=f"{name}-{size_id(name, sizes)}")
             for name in CASE_NAMES if not missing_ops(cuda, name) for sizes in sizes_for(name)]
    NOT_YET = sorted({name.split(":")[0] for name in CASE_NAMES if missing_ops(cuda, name)})

    @pytest.mark.parametrize("case_name, sizes", CASES)
    def test_matches_reference(case_name, sizes, side_stream):
        assert_matches_reference(cuda, case_name, sizes, rtol=RTOL, atol=ATOL)

    def test_ops_not_yet_on_cuda():
        pytest.skip(f"no CUDA kernels yet for {', '.join(NOT_YET)} (docs/cuda.md, 'Not done yet')")
else:
    def test_matches_reference():
        pytest.skip(CUDA_REASON)


@pytest.fixture
def side_stream():
    """A non-blocking cupy stream made current: the ops must queue on it, not on stream 0."""
    assert not cuda.get_allow_tf32(), "TF32 must be off unless a benchmark turns it on"
    with cupy.cuda.Stream(non_blocking=True) as stream:
        yield stream


def _rows(seed, n, k, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal((n, k))).astype(np.float32)


@cuda_only
def test_loss_stays_on_the_device_and_accumulates(side_stream):
    """With loss_out the op returns that device scalar; loss_sum adds each batch's mean."""
    batches = [(_rows(1, 17, 3), _rows(2, 17, 3)), (_rows(3, 5, 3), _rows(4, 5, 3))]
    loss_out, loss_sum = cupy.zeros((), cupy.float64), cupy.zeros((), cupy.float64)
    expected_sum = 0.0
    for pred, target in batches:
        expected = reference.mean_squared_error(np.empty_like(pred), pred, target)
        grad = cupy.empty(pred.shape, cupy.float32)
        returned = cuda.mean_squared_error(grad, cupy.asarray(pred), cupy.asarray(target),
                                           loss_out=loss_out, loss_sum=loss_sum)
        assert returned is loss_out
        np.testing.assert_allclose(float(loss_out), expected, rtol=1e-6)
        expected_sum += expected
    np.testing.assert_allclose(float(loss_sum), expected_sum, rtol=1e-6)


@cuda_only
def test_loss_has_the_same_bits_on_every_run(side_stream):
    """The device reduction has a fixed order: no atomics on the sum itself."""
    logits, labels = cupy.asarray(_rows(5, 4099, 129, 3.0)), cupy.asarray(np.arange(4099) % 129)
    grad = cupy.empty(logits.shape, cupy.float32)
    first = cuda.softmax_cross_entropy(grad, logits, labels)
    assert all(cuda.softmax_cross_entropy(grad, logits, labels) == first for _ in range(5))


@cuda_only
@pytest.mark.parametrize("label", [-1, 7])
def test_sparse_label_out_of_range_is_nan_not_a_stray_read(label, side_stream):
    labels = cupy.asarray(np.array([0, label, 2], dtype=np.int32))
    grad = cupy.empty((3, 7), cupy.float32)
    loss = cuda.softmax_cross_entropy(grad, cupy.asarray(_rows(6, 3, 7)), labels)
    host = grad.get()
    assert np.isnan(loss) and np.isnan(host[1]).all() and np.isfinite(host[[0, 2]]).all()


@cuda_only
def test_dropout_masks_are_bit_identical_on_a_large_layer(side_stream):
    x = _rows(7, 1001, 1003)  # odd: the last Philox block is partial
    mask, y = np.empty(x.shape, np.uint8), np.empty_like(x)
    reference.dropout_forward(y, mask, x, 0.37, 2**33 + 9, 4, 2**32 + 5)
    dev_mask, dev_y = cupy.empty(x.shape, cupy.uint8), cupy.empty(x.shape, cupy.float32)
    cuda.dropout_forward(dev_y, dev_mask, cupy.asarray(x), 0.37, 2**33 + 9, 4, 2**32 + 5)
    np.testing.assert_array_equal(dev_mask.get(), mask)
    np.testing.assert_allclose(dev_y.get(), y, rtol=1e-6)


@cuda_only
def test_tf32_setting_round_trips():
    assert cuda.get_allow_tf32() is False
    cuda.set_allow_tf32(True)
    try:
        assert cuda.get_allow_tf32() is True
    finally:
        cuda.set_allow_tf32(False)


@cuda_only
@pytest.mark.parametrize("make_x, message", [
    (lambda x: x.get(), r"'x' must be a CUDA device array .* Fix: cupy.asarray\(x\)"),  # a numpy array
    (lambda x: x.astype(cupy.float64), r"'x' .* float64 .* Fix: x.astype\(cupy.float32\)"),
    (lambda x: cupy.tile(x, 2)[:, ::2], r"'x' .* \(strided\). Fix: cupy.ascontiguousarray\(x\)"),
    (lambda x: x[:2], r"'y' must be .* of shape \(2, 4\); received .* \(3, 4\)"),  # y no longer fits
], ids=["numpy", "float64", "strided", "shape"])
def test_bad_arguments_raise_value_error_naming_op_and_argument(make_x, message):
    x, y = cupy.asarray(_rows(8, 3, 4)), cupy.empty((3, 4), cupy.float32)
    with pytest.raises(ValueError, match="^activation_forward: " + message):
        cuda.activation_forward(y, make_x(x), "relu", 0.2)


# ------------------------------------------------------------------------------------------------
# Argument checks, wherever the extension is built (a GPU is not needed: they run before any launch).
# Stand-in arrays expose only __cuda_array_interface__, with made-up device addresses.

def _extension():
    """axonal._cuda, or a skip saying why it cannot be imported here."""
    try:
        return importlib.import_module("axonal._cuda")
    except ImportError as error:
        pytest.skip(f"axonal._cuda does not import here: {error}")


class _Array:
    """An object that looks like a device array to the bindings (nothing is ever read from it)."""

    def __init__(self, shape, address, typestr="<f4", strides=None, readonly=False):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr, "data": (address, readonly),
                                         "strides": strides, "version": 3}


def _a(shape, address, **kwargs):
    return _Array(shape, address * 0x10000, **kwargs)


BAD_CALLS = {
    "numpy array": (lambda c: c.activation_forward(_a((3, 4), 1), np.zeros((3, 4), np.float32), "relu", 0.2),
                    r"activation_forward: 'x' must be a CUDA device array .* Fix: cupy.asarray\(x\)"),
    "float64": (lambda c: c.activation_forward(_a((3, 4), 1), _a((3, 4), 2, typestr="<f8"), "relu", 0.2),
                r"'x' .* received a float64 device array .* Fix: x.astype\(cupy.float32\)"),
    "strided": (lambda c: c.activation_forward(_a((3, 4), 1), _a((3, 4), 2, strides=(32, 8)), "relu", 0.2),
                r"'x' .* \(strided\). Fix: cupy.ascontiguousarray\(x\)"),
    "read-only output": (lambda c: c.activation_forward(_a((3, 4), 1, readonly=True), _a((3, 4), 2), "relu", 0.2),
                         r"'y' .* \(read-only\)"),
    "null pointer": (lambda c: c.activation_forward(_a((3, 4), 0), _a((3, 4), 2), "relu", 0.2), "pointer is null"),
    "overlap": (lambda c: c.activation_forward(_Array((3, 4), 0x10000), _Array((3, 4), 0x10008), "relu", 0.2),
                "output 'y' shares memory with input 'x'"),
    "activation": (lambda c: c.activation_forward(_a((3, 4), 1), _a((3, 4), 2), "gelu", 0.2), "unknown activation"),
    "features": (lambda c: c.dense_forward(_a((3, 5), 1), _a((3, 4), 2), _a((3, 5), 3), None, "relu", 0.0),
                 r"dense_forward: x has 4 features but W expects 3"),
    "dz on dy, softmax": (lambda c: c.dense_backward(None, _a((4, 5), 1), None, _a((3, 5), 2), _a((3, 5), 2),
                                                     _a((3, 4), 3), _a((4, 5), 4), _a((3, 5), 5), "softmax", 0.0),
                          "output 'dz' shares memory with input 'dy'"),
    "loss_sum shape": (lambda c: c.softmax_cross_entropy(_a((3, 5), 1), _a((3, 5), 2), _a((3,), 3, typestr="<i4"),
                                                         None, _a((), 4, typestr="<f8"), _a((2,), 5, typestr="<f8")),
                       r"'loss_sum' must be a float64 device scalar"),
    "int16 labels": (lambda c: c.softmax_cross_entropy(_a((3, 5), 1), _a((3, 5), 2), _a((3,), 3, typestr="<i2")),
                     r"'labels' must be .* float32 .* \(3, 5\); received a 'i2' device array"),
    "empty logits": (lambda c: c.mean_squared_error(_a((0, 5), 1), _a((0, 5), 2), _a((0, 5), 3)), "is empty"),
    "weights": (lambda c: c.mean_squared_error(_a((3, 5), 1), _a((3, 5), 2), _a((3, 5), 3), _a((4,), 4)),
                r"'sample_weight' must be .* of shape \(3,\)"),
    "rate": (lambda c: c.dropout_forward(_a((3, 5), 1), _a((3, 5), 2, typestr="|u1"), _a((3, 5), 3), 1.0, 1, 2, 3),
             r"rate must be in \[0, 1\)"),
    "momentum slot": (lambda c: c.sgd_update(_a((3, 5), 1), _a((3, 5), 2), None, 0.1, 0.9, False),
                      "momentum is set but 'momentum_buf' is None"),
    "adam step": (lambda c: c.adam_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _a((7,), 4), None, 0.1, 0.9, 0.99,
                                          1e-7, 0, False), "step is 1-based"),
    "slots apart": (lambda c: c.adagrad_update(_a((7,), 1), _a((7,), 2), _a((7,), 1), 0.1, 1e-7),
                    "output 'param' shares memory with output 'accumulator'"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_arguments_are_rejected_before_any_launch(name):
    call, message = BAD_CALLS[name]
    with pytest.raises(ValueError, match=message):
        call(_extension())


def test_without_a_gpu_a_launch_is_an_error_not_a_crash():
    extension = _extension()
    if not extension.device_problem():
        pytest.skip("a GPU is usable here: the made-up addresses must not be launched on")
    with pytest.raises(RuntimeError, match="failed at .*cuda"):
        extension.activation_forward(_a((3, 4), 1), _a((3, 4), 2), "relu", 0.2)
    assert extension.cuda_runtime_version >= 12000 and extension.cublas_version().startswith("cuBLAS ")


# ------------------------------------------------------------------------------------------------
# Reporting, on every machine: axonal.backends()["cuda"] says why the backend cannot be used.

def test_unavailable_cuda_backend_gives_its_reason():
    status = axonal.backends()["cuda"]
    if status == "available":
        pytest.skip("the cuda backend is available here")
    assert status.startswith("ImportError: ") and len(status) > len("ImportError: ") + 10
    if importlib.util.find_spec("axonal._cuda") is None:
        assert "built without CUDA" in status and "AXONAL_CUDA=1" in status
    with pytest.raises(ValueError, match="'cuda' is not available"):
        axonal.set_backend("cuda")


def _fake_extension(problem):
    """A stand-in for axonal._cuda whose device probe answers ``problem``."""
    module = types.ModuleType("axonal._cuda")
    module.__spec__ = importlib.machinery.ModuleSpec("axonal._cuda", None)
    module.device_problem = lambda: problem
    return module


@pytest.mark.parametrize("cupy_present, problem, expected", [
    (False, "", "cupy is not installed"),
    (True, "no NVIDIA driver: libcuda.so.1 cannot be loaded", "no NVIDIA driver"),
    (True, "no CUDA GPU is visible (CUDA_VISIBLE_DEVICES=)", "no CUDA GPU is visible"),
])
def test_each_missing_piece_is_named(monkeypatch, cupy_present, problem, expected):
    """A built extension without cupy, without a driver or without a GPU: each reason reaches backends()."""
    fake = _fake_extension(problem)
    monkeypatch.setitem(sys.modules, "axonal._cuda", fake)
    monkeypatch.setattr(axonal, "_cuda", fake, raising=False)  # where the real one was imported already
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy") if cupy_present else None)
    monkeypatch.delitem(sys.modules, "axonal.backend.cuda", raising=False)
    status = axonal.backends()["cuda"]
    assert status.startswith("ImportError: ") and expected in status
