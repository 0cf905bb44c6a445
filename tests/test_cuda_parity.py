"""The ``cuda`` backend against the NumPy reference, and how its absence is reported.

Where a GPU, cupy and a CUDA build (``AXONAL_CUDA=1``, docs/cuda.md) are present, every case of the
catalogue in ``backend_cases.py`` that the backend has ops for (each activation, dense with each
activation, each loss and label kind, dropout with masks compared bit for bit, each optimiser) runs
on cupy arrays on a non-default stream, on the odd sizes 1, 3, 17, 129, with TF32 off, and is
compared with the reference. Further tests cover the loss kept on the device, a sparse label out of
range, determinism, the argument checks, the per-step values given as device scalars (dropout and
Adam steps, learning rates), the accuracy counts and counters of an on-device training loop, and a
training step captured in a CUDA graph and replayed. Elsewhere these skip with the reason
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
from axonal.backend.update_ops import named_updates
from axonal.activations import FROM_INPUT
from backend_cases import CASE_NAMES, assert_matches_reference, fused_refusals, missing_ops, size_id, sizes_for

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

    if NOT_YET:
        def test_ops_not_yet_on_cuda():
            pytest.skip(f"no CUDA kernels yet for {', '.join(NOT_YET)} (docs/cuda.md, 'Not done yet')")
else:
    def test_matches_reference():
        pytest.skip(CUDA_REASON)


@pytest.fixture(scope="module")
def _module_stream():
    """One non-blocking stream for all tests: each stream a thread runs GEMMs on keeps a cuBLAS
    workspace for the rest of the process (cuda/dense.cu), so the tests do not make a new one each."""
    return cupy.cuda.Stream(non_blocking=True)


@pytest.fixture
def side_stream(_module_stream):
    """A non-blocking cupy stream made current: the ops must queue on it, not on stream 0."""
    assert not cuda.get_allow_tf32(), "TF32 must be off unless a benchmark turns it on"
    with _module_stream as stream:
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


def _images(seed, shape, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


@cuda_only
def test_conv_over_several_chunks_matches_reference(side_stream):
    """A batch whose column matrix exceeds the workspace budget runs in chunks of whole images (here
    28, 28 and 4): y, and dW accumulated over the chunks, match the reference."""
    strides, padding = (1, 1), (1, 1, 1, 1)
    x, W, b = _images(9, (60, 64, 64, 16)), _images(10, (3, 3, 16, 8), 1 / 12), _images(11, (8,))
    y = np.empty((60, 64, 64, 8), np.float32)
    reference.conv2d_forward(y, x, W, b, strides, padding, "relu", 0.0)
    dy = _images(12, y.shape)
    expected = {name: np.empty(shape, np.float32) for name, shape in
                (("dx", x.shape), ("dW", W.shape), ("db", b.shape), ("dz", y.shape))}
    reference.conv2d_backward(expected["dx"], expected["dW"], expected["db"], expected["dz"], dy, x, W, y,
                              strides, padding, "relu", 0.0)
    dev = {name: cupy.empty(array.shape, cupy.float32) for name, array in expected.items()}
    dev_y = cupy.empty(y.shape, cupy.float32)
    dev_x, dev_W = cupy.asarray(x), cupy.asarray(W)
    cuda.conv2d_forward(dev_y, dev_x, dev_W, cupy.asarray(b), strides, padding, "relu", 0.0)
    cuda.conv2d_backward(dev["dx"], dev["dW"], dev["db"], dev["dz"], cupy.asarray(dy), dev_x, dev_W,
                         cupy.asarray(y), strides, padding, "relu", 0.0)
    np.testing.assert_allclose(dev_y.get(), y, rtol=RTOL, atol=ATOL * 12)
    pixels = 60 * 64 * 64
    for name, length in (("dz", 1), ("db", pixels), ("dW", pixels), ("dx", 9 * 8)):
        np.testing.assert_allclose(dev[name].get(), expected[name], rtol=RTOL, atol=ATOL * np.sqrt(length),
                                   err_msg=name)


@cuda_only
def test_conv_and_pooling_gradients_have_the_same_bits_on_every_run(side_stream):
    """No float atomics: col2im and the pooling backwards are gathers (or one thread per plane)."""
    x, W = cupy.asarray(_images(13, (5, 9, 9, 3))), cupy.asarray(_images(14, (3, 3, 3, 4), 0.2))
    strides, padding = (2, 1), (1, 1, 1, 1)
    y = cupy.empty((5, 5, 9, 4), cupy.float32)
    cuda.conv2d_forward(y, x, W, None, strides, padding, "tanh", 0.0)
    dy = cupy.asarray(_images(15, y.shape))

    def gradients():
        dx, dW, dz = cupy.empty(x.shape, cupy.float32), cupy.empty(W.shape, cupy.float32), cupy.empty_like(y)
        cuda.conv2d_backward(dx, dW, None, dz, dy, x, W, y, strides, padding, "tanh", 0.0)
        pooled, argmax = cupy.empty((5, 9, 9, 3), cupy.float32), cupy.empty((5, 9, 9, 3), cupy.int32)
        cuda.max_pool2d_forward(pooled, argmax, x, (3, 3), (1, 1), (1, 1, 1, 1))
        max_dx, avg_dx = cupy.empty(x.shape, cupy.float32), cupy.empty(x.shape, cupy.float32)
        cuda.max_pool2d_backward(max_dx, pooled, argmax)
        cuda.avg_pool2d_backward(avg_dx, pooled, (3, 3), (1, 1), (1, 1, 1, 1))
        return [a.get() for a in (dx, dW, max_dx, avg_dx)]

    first = gradients()
    for _ in range(3):
        for expected, again in zip(first, gradients()):
            np.testing.assert_array_equal(again, expected)


@cuda_only
@pytest.mark.parametrize("stray", [-1, 12])
def test_max_pool_argmax_out_of_range_is_nan_not_a_stray_write(stray, side_stream):
    """argmax stays on the device (not range-checked): a bad index poisons its (image, channel) plane."""
    argmax = np.zeros((2, 2, 2, 3), np.int32)
    argmax[1, 0, 1, 2] = stray  # the image is 3x4: 12 pixels
    dx = cupy.empty((2, 3, 4, 3), cupy.float32)
    cuda.max_pool2d_backward(dx, cupy.ones((2, 2, 2, 3), cupy.float32), cupy.asarray(argmax))
    host = dx.get()
    assert np.isnan(host[1, :, :, 2]).all()
    host[1, :, :, 2] = 0.0
    assert np.isfinite(host).all() and host[0, 0, 0, 0] == 4.0


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
# Device scalars, accuracy counts and counters: what a training step captured in a CUDA graph needs.

def _device(value, dtype):
    """A device scalar (shape ()) holding value."""
    return cupy.asarray(value, dtype=dtype).reshape(())


@cuda_only
@pytest.mark.parametrize("step", [0, 7, 2**32 + 5, 2**40 + 3])
def test_dropout_with_a_device_step_gives_the_int_steps_mask(step, side_stream):
    x = cupy.asarray(_rows(16, 37, 29))  # odd: the last Philox block is partial
    masks, outputs = [], []
    for given in (step, _device(step, cupy.int64)):
        mask, y = cupy.empty(x.shape, cupy.uint8), cupy.empty(x.shape, cupy.float32)
        cuda.dropout_forward(y, mask, x, 0.3, 2**33 + 9, 4, given)
        masks.append(mask.get())
        outputs.append(y.get())
    np.testing.assert_array_equal(masks[1], masks[0])
    np.testing.assert_array_equal(outputs[1], outputs[0])


# name: (slots, update(ops, state, lr, step)); every slot starts at zero.
OPTIMIZER_CALLS = {
    "sgd": ((), lambda o, s, lr, step: o.sgd_update(s["param"], s["grad"], None, lr, 0.0, False, 0.01)),
    "sgd nesterov": (("momentum_buf",), lambda o, s, lr, step: o.sgd_update(
        s["param"], s["grad"], s["momentum_buf"], lr, 0.9, True)),
    "rmsprop centered momentum": (("velocity", "momentum_buf", "average_grad"), lambda o, s, lr, step: o.rmsprop_update(
        s["param"], s["grad"], s["velocity"], s["momentum_buf"], s["average_grad"], lr, 0.9, 0.5, 1e-7, True, 0.004)),
    "adagrad": (("accumulator",), lambda o, s, lr, step: o.adagrad_update(
        s["param"], s["grad"], s["accumulator"], lr, 1e-7, 0.01)),
    "adadelta": (("accum_grad", "accum_delta"), lambda o, s, lr, step: o.adadelta_update(
        s["param"], s["grad"], s["accum_grad"], s["accum_delta"], lr, 0.95, 1e-7)),
    "adam": (("m", "v"), lambda o, s, lr, step: o.adam_update(
        s["param"], s["grad"], s["m"], s["v"], None, lr, 0.9, 0.999, 1e-7, step, False, 0.004)),
    "adam amsgrad": (("m", "v", "v_hat"), lambda o, s, lr, step: o.adam_update(
        s["param"], s["grad"], s["m"], s["v"], s["v_hat"], lr, 0.9, 0.999, 1e-7, step, True)),
    "lion": (("m",), lambda o, s, lr, step: o.lion_update(s["param"], s["grad"], s["m"], lr, 0.9, 0.99, 0.01)),
    "adamax": (("m", "u"), lambda o, s, lr, step: o.adamax_update(
        s["param"], s["grad"], s["m"], s["u"], lr, 0.9, 0.999, 1e-7, step, 0.004)),
}


@cuda_only
@pytest.mark.parametrize("name, on_device", [(name, on_device) for name in OPTIMIZER_CALLS
                                             for on_device in (("lr", "step", "lr and step") if "adam" in name
                                                               else ("lr",))])
def test_optimizer_with_device_scalars_matches_host_numbers(name, on_device, side_stream):
    """Three updates with a changing learning rate, given as numbers and as device scalars. Bit for
    bit, except Adam's parameter: its bias-corrected rate is then formed with the device's pow(),
    which may differ from the host's by an ulp in double (its moments stay bit for bit)."""
    slots, update = OPTIMIZER_CALLS[name]
    param = _rows(17, 129, 3)
    host, dev = ({"param": cupy.asarray(param), **{slot: cupy.zeros(param.shape, cupy.float32) for slot in slots}}
                 for _ in range(2))
    lr_dev, step_dev = cupy.zeros((), cupy.float64), cupy.zeros((), cupy.int64)
    for step, lr in enumerate([0.01, 0.003, 0.02], start=1):
        grad = cupy.asarray(_rows(18 + step, 129, 3))
        host["grad"] = dev["grad"] = grad
        lr_dev.fill(lr)
        step_dev.fill(step)
        update(cuda, host, lr, step)
        update(cuda, dev, lr_dev if "lr" in on_device else lr, step_dev if "step" in on_device else step)
    for key in ("param",) + slots:
        if key == "param" and name.startswith("adam"):
            np.testing.assert_allclose(dev[key].get(), host[key].get(), rtol=1e-6, atol=1e-7)
        else:
            np.testing.assert_array_equal(dev[key].get(), host[key].get(), err_msg=key)


def _cpu_argmax(rows):
    """TrainingLoop's argmax: the first of equal maxima; NaN never wins, but a NaN in column 0 gives 0."""
    return np.where(np.isnan(rows[:, 0]), 0, np.argmax(np.where(np.isnan(rows), -np.inf, rows), axis=1))


def _ties(seed, n, k):
    """Rows of small integers (many ties), some rows NaN or -inf in places."""
    rows = np.random.default_rng(seed).integers(-2, 3, (n, k)).astype(np.float32)
    rows[::7, 0] = np.nan
    rows[3::11, k // 2] = np.nan
    rows[5::13] = -np.inf
    return rows


def _count(kind, predictions, targets, threshold=0.5, start=5):
    total = _device(start, cupy.int64)
    for _ in range(2):  # it adds
        cuda.accuracy_count(total, cupy.asarray(predictions), cupy.asarray(targets), kind, threshold)
    return int(total) - start


@cuda_only
@pytest.mark.parametrize("n, k", [(1, 1), (3, 7), (129, 33), (20011, 70)])  # the last: a grid-stride loop
def test_accuracy_count_categorical_and_sparse_match_numpy(n, k, side_stream):
    predictions, targets = _ties(22, n, k), _ties(23, n, k)
    expected = int((_cpu_argmax(predictions) == _cpu_argmax(targets)).sum())
    assert _count("categorical", predictions, targets) == 2 * expected
    labels = np.random.default_rng(24).integers(-1, k + 1, n)  # -1 and k: never right
    expected = int((_cpu_argmax(predictions) == labels).sum())
    for dtype in (np.int32, np.int64):
        assert _count("sparse", predictions, labels.astype(dtype)) == 2 * expected


@cuda_only
@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("flat", [True, False], ids=["targets (N,)", "targets (N, 1)"])
def test_accuracy_count_binary_matches_numpy(threshold, flat, side_stream):
    rng = np.random.default_rng(25)
    predictions = rng.choice(np.float32([0.0, 0.3, 0.5, 0.7, 1.0, np.nan]), (5003, 1))
    targets = rng.choice(np.float32([0.0, 1.0, 0.7]), (5003, 1))  # 0.7 is never right
    expected = int((targets == (predictions > np.float32(threshold)).astype(np.float32)).sum())
    assert _count("binary", predictions, targets.ravel() if flat else targets, threshold) == 2 * expected


@cuda_only
@pytest.mark.parametrize("start", [np.int64(-1), np.array([0, -1, 2**40], np.int64)], ids=["0-d", "1-d"])
def test_increment_adds_one_to_every_counter(start, side_stream):
    counters = cupy.asarray(start)
    for _ in range(3):
        cuda.increment(counters)
    np.testing.assert_array_equal(counters.get(), start + 3)


@cuda_only
def test_a_captured_step_replays_like_eager_steps():
    """dropout -> dense -> softmax cross-entropy -> accuracy -> dense backward -> RMSprop -> step += 1,
    captured once in a CUDA graph with the step counter and the learning rate on the device: three
    replays, the learning rate changed on the device before each, leave the bits of three eager steps."""
    rng = np.random.default_rng(26)
    x, labels = cupy.asarray(_rows(27, 16, 5)), cupy.asarray(rng.integers(0, 4, 16))
    W0 = _rows(28, 5, 4, 1 / 3)
    learning_rates = [0.01, 0.02, 0.005]

    def new_state():
        f32 = lambda shape: cupy.zeros(shape, cupy.float32)  # noqa: E731
        return {"W": cupy.asarray(W0), "b": f32(4), "vW": f32((5, 4)), "vb": f32(4), "xd": f32((16, 5)),
                "mask": cupy.zeros((16, 5), cupy.uint8), "y": f32((16, 4)), "dlogits": f32((16, 4)),
                "dz": f32((16, 4)), "dW": f32((5, 4)), "db": f32(4), "loss": cupy.zeros((), cupy.float64),
                "loss_sum": cupy.zeros((), cupy.float64), "right": cupy.zeros((), cupy.int64),
                "step": cupy.zeros((), cupy.int64), "lr": cupy.zeros((), cupy.float64)}

    def train_step(s):
        cuda.dropout_forward(s["xd"], s["mask"], x, 0.25, 7, 1, s["step"])
        cuda.dense_forward(s["y"], s["xd"], s["W"], s["b"], "linear", 0.0)
        cuda.softmax_cross_entropy(s["dlogits"], s["y"], labels, loss_out=s["loss"], loss_sum=s["loss_sum"])
        cuda.accuracy_count(s["right"], s["y"], labels, "sparse")
        cuda.dense_backward(None, s["dW"], s["db"], s["dz"], s["dlogits"], s["xd"], s["W"], s["y"], "linear", 0.0)
        cuda.rmsprop_update(s["W"], s["dW"], s["vW"], None, None, s["lr"], 0.9, 0.0, 1e-7, False)
        cuda.rmsprop_update(s["b"], s["db"], s["vb"], None, None, s["lr"], 0.9, 0.0, 1e-7, False)
        cuda.increment(s["step"])

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        eager = new_state()
        for lr in learning_rates:
            eager["lr"].fill(lr)
            train_step(eager)
        warm_up, graphed = new_state(), new_state()
        warm_up["lr"].fill(learning_rates[0])
        train_step(warm_up)  # the first calls on this stream make its workspaces: not inside the capture
        stream.begin_capture()
        train_step(graphed)
        graph = stream.end_capture()
        for lr in learning_rates:
            graphed["lr"].fill(lr)
            graph.launch(stream)
    stream.synchronize()
    assert int(graphed["step"]) == 3 and int(warm_up["step"]) == 1
    for key, value in eager.items():
        np.testing.assert_array_equal(graphed[key].get(), value.get(), err_msg=key)
    expected_mask = np.empty((16, 5), np.uint8)
    reference.dropout_forward(np.empty((16, 5), np.float32), expected_mask, x.get(), 0.25, 7, 1, 2)
    np.testing.assert_array_equal(graphed["mask"].get(), expected_mask)  # the third replay read step 2


# ------------------------------------------------------------------------------------------------
# Argument checks, wherever the extension is built (a GPU is not needed: they run before any launch).
# Stand-in arrays expose only __cuda_array_interface__, with made-up device addresses.

class _WithNamedUpdates:
    """axonal._cuda with the named optimiser ops (sgd_update, ...) that the cuda backend makes from
    its one ``optimizer_update`` (axonal/backend/update_ops.py), for calls on fake device arrays."""

    def __init__(self, extension):
        self._extension = extension
        self.__dict__.update(named_updates(extension.optimizer_update))

    def __getattr__(self, name):
        return getattr(self._extension, name)


def _extension():
    """axonal._cuda (with the named optimiser ops), or a skip saying why it cannot be imported here."""
    try:
        return _WithNamedUpdates(importlib.import_module("axonal._cuda"))
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
    "activation": (lambda c: c.activation_forward(_a((3, 4), 1), _a((3, 4), 2), "swish", 0.2),
                   "unknown activation 'swish'"),
    "dense silu": (lambda c: c.dense_forward(_a((3, 5), 1), _a((3, 4), 2), _a((4, 5), 3), None, "silu", 0.0),
                   r"^dense_forward: activation 'silu' takes its derivative from its input, which a fused kernel "
                   r"does not keep; use activation 'linear' here"),
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
    "lion slot": (lambda c: c.lion_update(_a((7,), 1), _a((7,), 2), None, 0.1, 0.9, 0.99), "'m' is required"),
    "slots apart": (lambda c: c.adagrad_update(_a((7,), 1), _a((7,), 2), _a((7,), 1), 0.1, 1e-7),
                    "output 'param' shares memory with output 'accumulator'"),
}


def _f8(shape=(), address=9, **kwargs):
    return _a(shape, address, typestr="<f8", **kwargs)


def _i8(shape=(), address=9, **kwargs):
    return _a(shape, address, typestr="<i8", **kwargs)


def _adam(lr=0.1, step=1):
    return lambda c: c.adam_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _a((7,), 4), None, lr, 0.9, 0.99, 1e-7,
                                   step, False)


def _dropout(step):
    return lambda c: c.dropout_forward(_a((3, 5), 1), _a((3, 5), 2, typestr="|u1"), _a((3, 5), 3), 0.5, 1, 2, step)


def _accuracy(kind, total=None, predictions=(3, 5), targets=(3, 5), targets_type="<f4"):
    return lambda c: c.accuracy_count(_i8() if total is None else total, _a(predictions, 2),
                                      _a(targets, 3, typestr=targets_type), kind)


# Device scalars (a learning rate, a step), accuracy counts and counters.
BAD_CALLS.update({
    "lr float32": (lambda c: c.sgd_update(_a((7,), 1), _a((7,), 2), None, _a((), 9), 0.0, False),
                   r"^sgd_update: 'lr' must be a Python float or a float64 device scalar \(a cupy array of shape "
                   r"\(\)\); received a float32 device array of shape \(\)\. Fix: lr.astype\(cupy.float64\)\.$"),
    "lr shape (1,)": (lambda c: c.rmsprop_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), None, None, _f8((1,)),
                                                 0.9, 0.0, 1e-7, False),
                      r"^rmsprop_update: 'lr' must be .* received a float64 device array of shape \(1,\)\. "
                      r"Fix: lr.reshape\(\(\)\)\.$"),
    "lr shape (2,)": (lambda c: c.adadelta_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _a((7,), 4), _f8((2,)),
                                                  0.95, 1e-7),
                      r"^adadelta_update: 'lr' must be .* of shape \(2,\)\.$"),
    "lr null": (lambda c: c.adagrad_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _f8(address=0), 1e-7),
                r"^adagrad_update: 'lr' .* Its device pointer is null\.$"),
    "lr on param": (lambda c: c.sgd_update(_a((7,), 1), _a((7,), 2), None, _Array((), 0x10008, typestr="<f8"),
                                           0.0, False),
                    r"^sgd_update: output 'param' shares memory with input 'lr'"),
    "adam lr int64": (_adam(lr=_i8()), r"^adam_update: 'lr' .* received an int64 device array .* "
                                       r"Fix: lr.astype\(cupy.float64\)"),
    "adam step int32": (_adam(step=_a((), 9, typestr="<i4")),
                        r"^adam_update: 'step' must be a Python int or an int64 device scalar .* received an int32 "
                        r"device array of shape \(\)\. Fix: step.astype\(cupy.int64\)\.$"),
    "adam step float64": (_adam(step=_f8()), r"^adam_update: 'step' .* Fix: step.astype\(cupy.int64\)"),
    "adam step (1, 1)": (_adam(step=_i8((1, 1))), r"^adam_update: 'step' .* of shape \(1, 1\)\. "
                                                  r"Fix: step.reshape\(\(\)\)\.$"),
    "dropout step shape": (_dropout(_i8((2,))),
                           r"^dropout_forward: 'step' must be a non-negative Python int or an int64 device scalar "
                           r".* of shape \(2,\)\.$"),
    "dropout step big-endian": (_dropout(_a((), 9, typestr=">i8")),
                                r"^dropout_forward: 'step' .* received a big-endian int64 .* "
                                r"Fix: step.astype\(cupy.int64\)"),
    "accuracy kind": (_accuracy("top_5"), r"^accuracy_count: unknown kind 'top_5'; expected one of categorical, "
                                          r"sparse, binary\.$"),
    "accuracy total (1,)": (_accuracy("categorical", total=_i8((1,))),
                            r"^accuracy_count: 'total' must be an int64 device scalar \(shape \(\)\); received "
                            r"shape \(1,\)\. Fix: cupy.zeros\(\(\), cupy.int64\)\.$"),
    "accuracy total float64": (_accuracy("categorical", total=_f8()),
                               r"^accuracy_count: 'total' .* int64 .* Fix: total.astype\(cupy.int64\)"),
    "accuracy total read-only": (_accuracy("categorical", total=_i8(readonly=True)),
                                 r"^accuracy_count: 'total' .* \(read-only\)\. It is written in place"),
    "accuracy total numpy": (_accuracy("categorical", total=np.zeros((), np.int64)),
                             r"^accuracy_count: 'total' must be a CUDA device array .* Fix: cupy.asarray\(total\)"),
    "accuracy total on predictions": (_accuracy("categorical", total=_Array((), 0x20000, typestr="<i8")),
                                      r"^accuracy_count: output 'total' shares memory with input 'predictions'"),
    "accuracy 1-D predictions": (_accuracy("binary", predictions=(3,), targets=(3,)),
                                 r"^accuracy_count: 'predictions' must have 2 dimension\(s\)"),
    "accuracy no columns": (_accuracy("categorical", predictions=(3, 0), targets=(3, 0)),
                            r"^accuracy_count: 'predictions' has no columns: \(3, 0\)\.$"),
    "accuracy categorical targets": (_accuracy("categorical", targets=(3, 4)),
                                     r"^accuracy_count: 'targets' must be .* float32 .* of shape \(3, 5\)"),
    "accuracy sparse float targets": (_accuracy("sparse", targets=(3,)),
                                      r"^accuracy_count: 'targets' must be .* int64 .* \(3,\); received a float32 "
                                      r".* Fix: targets.astype\(cupy.int64\)"),
    "accuracy sparse targets shape": (_accuracy("sparse", targets=(4,), targets_type="<i4"),
                                      r"^accuracy_count: 'targets' must be .* int32 .* of shape \(3,\)"),
    "accuracy binary columns": (_accuracy("binary", targets=(3,)),
                                r"^accuracy_count: binary accuracy needs one output column; 'predictions' is "
                                r"\(3, 5\)"),
    "accuracy binary targets": (_accuracy("binary", predictions=(3, 1), targets=(3, 2)),
                                r"^accuracy_count: 'targets' must be .* of shape \(3, 1\)"),
    "accuracy binary int targets": (_accuracy("binary", predictions=(3, 1), targets=(3,), targets_type="<i8"),
                                    r"^accuracy_count: 'targets' must be .* float32 .* Fix: targets.astype"),
    "increment 2-D": (lambda c: c.increment(_i8((2, 2))),
                      r"^increment: 'counters' must be an int64 device array of shape \(\) or \(n,\); "
                      r"received shape \(2, 2\)\.$"),
    "increment int32": (lambda c: c.increment(_a((2,), 1, typestr="<i4")),
                        r"^increment: 'counters' .* Fix: counters.astype\(cupy.int64\)"),
    "increment read-only": (lambda c: c.increment(_i8(readonly=True)), r"^increment: 'counters' .* \(read-only\)"),
    "increment strided": (lambda c: c.increment(_i8((3,), strides=(16,))),
                          r"^increment: 'counters' .* \(strided\)\. Fix: cupy.ascontiguousarray"),
    "increment null": (lambda c: c.increment(_i8((3,), address=0)), r"^increment: .* pointer is null"),
})

# Neither a number nor a device array: a TypeError, as for any argument of the wrong type.
BAD_TYPES = {
    "lr str": (lambda c: c.sgd_update(_a((7,), 1), _a((7,), 2), None, "0.1", 0.0, False),
               r"^sgd_update: 'lr' must be a Python float or a float64 device scalar .*; received '0.1'\.$"),
    "lr None": (lambda c: c.adagrad_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), None, 1e-7),
                r"^adagrad_update: 'lr' .*; received None\.$"),
    "lion lr str": (lambda c: c.lion_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), "0.1", 0.9, 0.99),
                    r"^lion_update: 'lr' must be a Python float or a float64 device scalar"),
    "adam step float": (_adam(step=1.5), r"^adam_update: 'step' must be a Python int or an int64 device scalar "
                                         r".*; received 1.5\.$"),
    "dropout step negative": (_dropout(-3), r"^dropout_forward: 'step' must be a non-negative Python int .*; "
                                            r"received -3\.$"),
    "dropout step host array": (_dropout(np.zeros(1, np.int64)), r"^dropout_forward: 'step' .*; received "
                                                                 r"array\(\[0\]\)\.$"),
}


def _conv(y=(1, 3, 3, 4), x=(1, 5, 5, 2), strides=(1, 1), padding=(0, 0, 0, 0), act="relu", b=None, y_at=1):
    """conv2d_forward on stand-ins, W (3, 3, 2, 4): a valid call unless an argument is changed
    (y_at: y's address; 2 is x's)."""
    return lambda c: c.conv2d_forward(_a(y, y_at), _a(x, 2), _a((3, 3, 2, 4), 3), b, strides, padding, act, 0.0)


def _conv_backward(act="relu", dz=4, dy=5, dW=2, x=6):
    """conv2d_backward on stand-ins: x (1, 5, 5, 2), W (3, 3, 2, 4), dy (1, 3, 3, 4); the numbers are
    addresses (equal numbers: the same memory)."""
    return lambda c: c.conv2d_backward(_a((1, 5, 5, 2), 1), _a((3, 3, 2, 4), dW), None, _a((1, 3, 3, 4), dz),
                                       _a((1, 3, 3, 4), dy), _a((1, 5, 5, 2), x), _a((3, 3, 2, 4), 7),
                                       _a((1, 3, 3, 4), 8), (1, 1), (0, 0, 0, 0), act, 0.0)


def _max_pool(y=1, argmax=2, x=3, argmax_type="<i4", readonly=False, pool=(2, 2)):
    return lambda c: c.max_pool2d_forward(_a((1, 2, 2, 3), y), _a((1, 2, 2, 3), argmax, typestr=argmax_type,
                                                                   readonly=readonly),
                                          _a((1, 4, 5, 3), x), pool, (2, 2), (0, 0, 0, 0))


BAD_CALLS.update({
    "conv strides": (_conv(strides=(0, 1)), r"^conv2d_forward: strides must be positive; received \(0, 1\)\.$"),
    "conv padding": (_conv(padding=(3, 0, 0, 0)),
                     r"^conv2d_forward: each padding must be in \[0, window size\); received \(top, bottom, "
                     r"left, right\) = \(3, 0, 0, 0\) for a 3x3 window\.$"),
    "conv window": (_conv(x=(1, 2, 2, 2)), r"^conv2d_forward: a 3x3 window does not fit in the padded 2x2 image; "
                                           r"use padding='same' or a smaller window\.$"),
    "conv channels": (_conv(x=(1, 5, 5, 3)), r"^conv2d_forward: x has 3 channels but W is \(3, 3, 2, 4\)\.$"),
    "conv 3-D x": (_conv(x=(5, 5, 2)), r"^conv2d_forward: 'x' must have 4 dimension\(s\)"),
    "conv y shape": (_conv(y=(1, 3, 3, 5)), r"^conv2d_forward: 'y' must be .* of shape \(1, 3, 3, 4\); received"),
    "conv bias": (_conv(b=_a((5,), 4)), r"^conv2d_forward: 'b' must be .* of shape \(4,\)"),
    "conv activation": (_conv(act="gelu_new"), r"^conv2d_forward: unknown activation 'gelu_new'"),
    "conv gelu": (_conv_backward("gelu"), r"^conv2d_backward: activation 'gelu' takes its derivative from its input"),
    "conv y on x": (_conv(y_at=2),
                    r"^conv2d_forward: output 'y' shares memory with input 'x'"),
    "conv dz on dy, softmax": (_conv_backward("softmax", dz=5, dy=5),
                               r"^conv2d_backward: output 'dz' shares memory with input 'dy'"),
    "conv dW on x": (_conv_backward(dW=6, x=6), r"^conv2d_backward: output 'dW' shares memory with input 'x'"),
    "pool size": (_max_pool(pool=(0, 2)), r"^max_pool2d_forward: pool size must be positive; received \(0, 2\)\.$"),
    "argmax dtype": (_max_pool(argmax_type="<f4"), r"^max_pool2d_forward: 'argmax' must be .* int32 .* "
                                                  r"received a float32 device array .* Fix: argmax.astype"),
    "argmax read-only": (_max_pool(readonly=True),
                         r"^max_pool2d_forward: 'argmax' must be .*\(read-only\)\. It is written in place"),
    "argmax on x": (_max_pool(argmax=3), r"^max_pool2d_forward: output 'argmax' shares memory with input 'x'"),
    "y on argmax": (_max_pool(y=2), r"^max_pool2d_forward: output 'y' shares memory with output 'argmax'"),
    "pool backward batch": (lambda c: c.max_pool2d_backward(_a((2, 4, 5, 3), 1), _a((1, 2, 2, 3), 2),
                                                            _a((1, 2, 2, 3), 3, typestr="<i4")),
                            r"^max_pool2d_backward: dy \(1, 2, 2, 3\) and dx \(2, 4, 5, 3\) differ in batch "
                            r"or channels\.$"),
    "pool backward argmax": (lambda c: c.max_pool2d_backward(_a((1, 4, 5, 3), 1), _a((1, 2, 2, 3), 2),
                                                             _a((1, 2, 3, 3), 3, typestr="<i4")),
                             r"^max_pool2d_backward: 'argmax' must be .* of shape \(1, 2, 2, 3\)"),
    "avg pool 3-D dx": (lambda c: c.avg_pool2d_backward(_a((4, 5, 3), 1), _a((1, 2, 2, 3), 2), (2, 2), (2, 2),
                                                        (0, 0, 0, 0)),
                        r"^avg_pool2d_backward: 'dx' must have 4 dimension\(s\)"),
    "avg pool dy shape": (lambda c: c.avg_pool2d_backward(_a((1, 4, 5, 3), 1), _a((1, 2, 3, 3), 2), (2, 2), (2, 2),
                                                          (0, 0, 0, 0)),
                          r"^avg_pool2d_backward: 'dy' must be .* of shape \(1, 2, 2, 3\)"),
    "avg pool y on x": (lambda c: c.avg_pool2d_forward(_a((1, 2, 2, 3), 1), _a((1, 4, 5, 3), 1), (2, 2), (2, 2),
                                                       (0, 0, 0, 0)),
                        r"^avg_pool2d_forward: output 'y' shares memory with input 'x'"),
})


def _affine(params_shape=(2, 6), params_type="<f8", fill_mode="reflect", interpolation="bilinear", y_at=1):
    return lambda c: c.affine_forward(_a((2, 4, 5, 3), y_at), _a((2, 4, 5, 3), 2),
                                      _a(params_shape, 3, typestr=params_type), fill_mode, interpolation, 0.0)


BAD_CALLS.update({  # the augmentation family (cuda/augmentation_bindings.cpp)
    "augment kind": (lambda c: c.augment_draw(_a((2, 6), 1, typestr="<f8"), "shear", 1, 2, 3, 4, 5,
                                              (0.0, 0.0, 0.0, 0.0)),
                     r"^augment_draw: unknown kind 'shear'; expected flip_horizontal"),
    "augment ranges": (lambda c: c.augment_draw(_a((2, 6), 1, typestr="<f8"), "rotation", 1, 2, 3, 4, 5,
                                                (0.0, float("nan"), 0.0, 0.0)),
                       r"^augment_draw: ranges must be finite numbers in \[-1024, 1024\]"),
    "augment params float32": (lambda c: c.augment_draw(_a((2, 6), 1), "rotation", 1, 2, 3, 4, 5,
                                                        (0.0, 0.1, 0.0, 0.0)),
                               r"^augment_draw: 'params' .* received a float32 device array"),
    "affine params shape": (_affine(params_shape=(2, 5)), r"^affine_forward: 'params' must be .* of shape \(2, 6\)"),
    "affine params float32": (_affine(params_type="<f4"), r"^affine_forward: 'params' .* received a float32"),
    "affine fill mode": (_affine(fill_mode="mirror"), r"^affine_forward: unknown fill_mode 'mirror'"),
    "affine interpolation": (_affine(interpolation="cubic"), r"^affine_forward: unknown interpolation 'cubic'"),
    "affine y on x": (_affine(y_at=2), r"^affine_forward: output 'y' shares memory with input 'x'"),
    "contrast range": (lambda c: c.contrast_forward(_a((2, 4, 5, 3), 1), _a((2, 4, 5, 3), 2, typestr="|u1"),
                                                    _a((2, 4, 5, 3), 3), _a((2, 6), 4, typestr="<f8"), 1.0, 0.0),
                       r"^contrast_forward: low must not exceed high"),
    "rescale scale shape": (lambda c: c.rescale_forward(_a((3, 4), 1), _a((3, 4), 2), _a((5,), 3), _a((4,), 4)),
                            r"^rescale_forward: 'scale' must be .* of shape \(4,\)"),
    "normalize dx on dy": (lambda c: c.normalize_backward(_a((3, 4), 1), _a((3, 4), 1), _a((4,), 3)),
                           r"^normalize_backward: output 'dx' shares memory with input 'dy'"),
})


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_arguments_are_rejected_before_any_launch(name):
    call, message = BAD_CALLS[name]
    with pytest.raises(ValueError, match=message):
        call(_extension())


@pytest.mark.parametrize("name", list(BAD_TYPES))
def test_a_step_value_of_the_wrong_type_is_a_type_error(name):
    call, message = BAD_TYPES[name]
    with pytest.raises(TypeError, match=message):
        call(_extension())


def test_without_a_gpu_a_launch_is_an_error_not_a_crash():
    extension = _extension()
    if not extension.device_problem():
        pytest.skip("a GPU is usable here: the made-up addresses must not be launched on")
    with pytest.raises(RuntimeError, match="failed at .*cuda"):
        extension.activation_forward(_a((3, 4), 1), _a((3, 4), 2), "relu", 0.2)
    valid_calls = [  # each passes its checks, then fails at its first CUDA call
        _conv(),
        _conv_backward(),
        _max_pool(),
        lambda c: c.max_pool2d_backward(_a((1, 4, 5, 3), 1), _a((1, 2, 2, 3), 2), _a((1, 2, 2, 3), 3, typestr="<i4")),
        lambda c: c.avg_pool2d_forward(_a((1, 2, 2, 3), 1), _a((1, 4, 5, 3), 2), (2, 2), (2, 2), (0, 0, 0, 0)),
        lambda c: c.avg_pool2d_backward(_a((1, 4, 5, 3), 1), _a((1, 2, 2, 3), 2), (2, 2), (2, 2), (0, 0, 0, 0)),
        # device scalars, and the numbers that stand for them (numpy's included), pass their checks
        _dropout(_i8()), _dropout(np.int64(4)), _dropout(2**64 - 1), _adam(lr=_f8(), step=_i8()), _adam(step=_i8()),
        _adam(lr=np.float32(0.1), step=np.int64(3)), _adam(lr=_f8(readonly=True)),
        lambda c: c.sgd_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _f8(), 0.9, True, 0.01),
        lambda c: c.rmsprop_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), None, None, _f8(), 0.9, 0.0, 1e-7, False),
        lambda c: c.adagrad_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _f8(), 1e-7),
        lambda c: c.adadelta_update(_a((7,), 1), _a((7,), 2), _a((7,), 3), _a((7,), 4), _f8(), 0.95, 1e-7),
        _accuracy("categorical"), _accuracy("sparse", targets=(3,), targets_type="<i4"),
        _accuracy("sparse", targets=(3,), targets_type="<i8"), _accuracy("binary", predictions=(3, 1), targets=(3,)),
        _accuracy("binary", predictions=(3, 1), targets=(3, 1)),
        lambda c: c.increment(_i8()), lambda c: c.increment(_i8((4,))),
    ]
    for call in valid_calls:
        with pytest.raises(RuntimeError, match="failed at .*cuda"):
            call(extension)
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


# ------------------------------------------------------------------------------------------------
# The merge family (merge, concat, accumulate, scale) on the device. Parity on odd sizes is in the
# catalogue (merge_cases.py, run by test_matches_reference above); here the rules on the device,
# a grid-stride launch, every op in a captured CUDA graph, and the argument checks on stand-ins.

@cuda_only
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_merge_ties_and_nan_follow_the_reference_bit_for_bit(op, side_stream):
    """Equal inputs: the first gets dy; a tie after the extreme: the earliest of the tied; NaN wins
    and its first input gets dy."""
    rng = np.random.default_rng(31)
    base = rng.integers(-1, 2, (17, 9)).astype(np.float32)
    inputs = [base, base.copy(), rng.integers(-1, 2, (17, 9)).astype(np.float32)]
    inputs[1][3, :4] = np.nan
    inputs[2][5] = np.nan
    dy = _rows(32, 17, 9)
    y, dxs = np.empty_like(dy), [np.empty_like(dy) for _ in inputs]
    reference.merge_forward(y, inputs, op)
    reference.merge_backward(dxs, dy, inputs, op)
    dev_inputs = [cupy.asarray(x) for x in inputs]
    dev_y, dev_dxs = cupy.empty(dy.shape, cupy.float32), [cupy.empty(dy.shape, cupy.float32) for _ in inputs]
    cuda.merge_forward(dev_y, dev_inputs, op)
    cuda.merge_backward(dev_dxs, cupy.asarray(dy), dev_inputs, op)
    np.testing.assert_array_equal(dev_y.get(), y)
    for dev_dx, dx in zip(dev_dxs, dxs):
        np.testing.assert_array_equal(dev_dx.get(), dx)
    others = np.ones(17, bool)
    others[[3, 5]] = False
    assert not dxs[1][others].any()  # equal to the first input there: never chosen
    np.testing.assert_array_equal(dxs[1][3, :4], dy[3, :4])  # its NaN beats the first input's number
    np.testing.assert_array_equal(dxs[2][5], dy[5])  # row 5: the only NaN


@cuda_only
def test_merge_over_more_elements_than_one_grid_gives_the_reference_bits(side_stream):
    """1031 x 1031 elements: more than the 4096 blocks x 256 threads of a launch (grid-stride loop)."""
    inputs = [_rows(33 + index, 1031, 1031) for index in range(3)]
    dy = _rows(36, 1031, 1031)
    expected = [np.empty_like(dy) for _ in inputs]
    reference.merge_backward(expected, dy, inputs, "multiply")
    dxs = [cupy.empty(dy.shape, cupy.float32) for _ in inputs]
    cuda.merge_backward(dxs, cupy.asarray(dy), [cupy.asarray(x) for x in inputs], "multiply")
    for dx, want in zip(dxs, expected):
        np.testing.assert_array_equal(dx.get(), want)


@cuda_only
def test_merge_ops_captured_in_a_graph_replay_like_eager_calls():
    """Every op of the family, captured on their first call (they allocate nothing, not even once),
    replayed twice: the bits of two eager runs. The pointer lists travel in the launch arguments."""
    inputs = [cupy.asarray(_rows(37 + index, 17, 9)) for index in range(3)]

    def new_state():
        f32 = lambda shape: cupy.zeros(shape, cupy.float32)  # noqa: E731
        return {"y": f32((17, 9)), "dxs": [f32((17, 9)) for _ in range(3)], "cat": f32((17, 27)),
                "a": f32((17, 9)), "b": f32((17, 9)), "sum": f32((17, 9))}

    def step(s):
        cuda.merge_forward(s["y"], inputs, "multiply")
        cuda.merge_backward(s["dxs"], s["y"], inputs, "maximum")
        cuda.concat_forward(s["cat"], [s["y"], inputs[0], s["dxs"][2]])
        cuda.concat_backward([s["a"], None, s["b"]], s["cat"])
        cuda.accumulate(s["sum"], s["a"])
        cuda.scale(s["sum"], s["sum"], 0.5)

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        eager, graphed = new_state(), new_state()
        step(eager)
        step(eager)
        stream.begin_capture()
        step(graphed)
        graph = stream.end_capture()
        graph.launch(stream)
        graph.launch(stream)
    stream.synchronize()
    for key in ("y", "cat", "a", "b", "sum"):
        np.testing.assert_array_equal(graphed[key].get(), eager[key].get(), err_msg=key)
    for dx, want in zip(graphed["dxs"], eager["dxs"]):
        np.testing.assert_array_equal(dx.get(), want.get())


def _merge_call(op="add", n=2, y=1, at=(2, 3, 4, 5, 6, 7, 8, 9, 10), shape=(3, 4), **bad):
    """merge_forward on stand-ins: y at address `y`, input i at at[i]; bad={index: kwargs} changes one."""
    inputs = [_a(bad.get(f"shape{index}", shape), at[index], **bad.get(f"input{index}", {})) for index in range(n)]
    return lambda c: c.merge_forward(_a(shape, y), inputs, op)


def _merge_backward_call(dxs=(1, 2), dy=3, inputs=(4, 5), op="add"):
    """merge_backward on stand-ins (3, 4); the numbers are addresses (None: a skipped gradient)."""
    return lambda c: c.merge_backward([None if dx is None else _a((3, 4), dx) for dx in dxs], _a((3, 4), dy),
                                      [_a((3, 4), x) for x in inputs], op)


MERGE_BAD_CALLS = {
    "unknown op": (_merge_call(op="concat"), r"^merge_forward: unknown op 'concat'; expected one of add, subtract, "
                                             r"multiply, average, maximum, minimum"),
    "nine inputs": (_merge_call(n=9, at=tuple(range(2, 11))),
                    r"^merge_forward: 'inputs' must hold 1 to 8 arrays; received 9\. Fix: merge in stages"),
    "no inputs": (_merge_call(n=0), r"^merge_forward: 'inputs' must hold 1 to 8 arrays; received 0\."),
    "subtract of three": (_merge_call(op="subtract", n=3), r"^merge_forward: 'subtract' takes exactly 2 inputs"),
    "inputs an array": (lambda c: c.merge_forward(_a((3, 4), 1), _a((2, 3, 4), 2), "add"),
                        r"^merge_forward: 'inputs' must be a list of arrays; received a _Array\.$"),
    "input shape": (_merge_call(n=3, shape2=(3, 5)), r"^merge_forward: 'inputs\[2\]' must be .* of shape \(3, 4\); "
                                                     r"received a float32 device array of shape \(3, 5\)"),
    "input float64": (_merge_call(input1={"typestr": "<f8"}),
                      r"^merge_forward: 'inputs\[1\]' .* Fix: inputs\[1\]\.astype\(cupy\.float32\)"),
    "input strided": (_merge_call(input0={"strides": (32, 8)}), r"'inputs\[0\]' .* \(strided\)"),
    "input numpy": (lambda c: c.merge_forward(_a((3, 4), 1), [np.zeros((3, 4), np.float32)], "add"),
                    r"'inputs\[0\]' must be a CUDA device array .* Fix: cupy.asarray\(inputs\[0\]\)"),
    "y is an input": (_merge_call(y=3), r"^merge_forward: output 'y' shares memory with input 'inputs\[1\]'"),
    "y read-only": (lambda c: c.merge_forward(_a((3, 4), 1, readonly=True), [_a((3, 4), 2)], "add"),
                    r"'y' .* \(read-only\)"),
    "dxs count": (_merge_backward_call(dxs=(1,)), r"^merge_backward: 'dxs' holds 1 entries but 'inputs' 2"),
    "dx on dy": (_merge_backward_call(dxs=(None, 3)), r"^merge_backward: output 'dxs\[1\]' shares memory with "
                                                      r"input 'dy'"),
    "dx on an input": (_merge_backward_call(dxs=(5, None), op="multiply"),
                       r"^merge_backward: output 'dxs\[0\]' shares memory with input 'inputs\[1\]'"),
    "dxs shared": (_merge_backward_call(dxs=(1, 1), op="subtract"),
                   r"^merge_backward: output 'dxs\[0\]' shares memory with output 'dxs\[1\]'"),
    "concat width": (lambda c: c.concat_forward(_a((3, 6), 1), [_a((3, 2), 2), _a((3, 3), 3)]),
                     r"^concat_forward: the inputs' widths add up to 5 columns but y has 6"),
    "concat rows": (lambda c: c.concat_forward(_a((3, 4), 1), [_a((3, 2), 2), _a((2, 2), 3)]),
                    r"^concat_forward: 'inputs\[1\]' has 2 rows but y has 3"),
    "concat y on an input": (lambda c: c.concat_forward(_a((3, 4), 1), [_a((3, 2), 2), _Array((3, 2), 0x10010)]),
                             r"^concat_forward: output 'y' shares memory with input 'inputs\[1\]'"),
    "concat two None": (lambda c: c.concat_backward([None, _a((3, 1), 1), None], _a((3, 4), 2)),
                        r"^concat_backward: 'dxs' holds 2 None entries, whose widths cannot be told apart"),
    "concat widths": (lambda c: c.concat_backward([None, None], _a((3, 4), 2), [2.0, 2.0]),
                      r"^concat_backward: 'widths' must be non-negative ints"),
    "concat dx on dy": (lambda c: c.concat_backward([_Array((3, 2), 0x20000), None], _Array((3, 4), 0x20008)),
                        r"^concat_backward: output 'dxs\[0\]' shares memory with input 'dy'"),
    "accumulate y is x": (lambda c: c.accumulate(_a((3, 4), 1), _a((3, 4), 1)),
                          r"^accumulate: output 'y' shares memory with input 'x'"),
    "accumulate shape": (lambda c: c.accumulate(_a((3, 4), 1), _a((4, 3), 2)), r"^accumulate: 'x' must be .* \(3, 4\)"),
    "scale partial overlap": (lambda c: c.scale(_Array((3, 4), 0x10000), _Array((3, 4), 0x10008), 2.0),
                              r"^scale: output 'y' shares memory with input 'x'"),
}


@pytest.mark.parametrize("name", list(MERGE_BAD_CALLS))
def test_merge_bad_arguments_are_rejected_before_any_launch(name):
    call, message = MERGE_BAD_CALLS[name]
    with pytest.raises(ValueError, match=message):
        call(_extension())


def test_merge_calls_that_pass_their_checks_reach_the_device():
    """Without a GPU, each valid call (inputs that share memory, scale in place, a skipped gradient,
    a concatenation of more inputs than one launch carries) fails at its first CUDA call."""
    extension = _extension()
    if not extension.device_problem():
        pytest.skip("a GPU is usable here: the made-up addresses must not be launched on")
    valid_calls = [
        _merge_call(n=8, at=(2, 2, 3, 4, 5, 6, 7, 8)), _merge_call(op="subtract"),
        _merge_backward_call(dxs=(None, 1), op="maximum"), _merge_backward_call(dxs=(1, 2), inputs=(4, 4)),
        lambda c: c.concat_forward(_a((3, 11), 1), [_a((3, 1), 2 + index) for index in range(11)]),
        lambda c: c.concat_backward([_a((3, 1), 1), None, _a((3, 2), 2)], _a((3, 4), 3)),
        lambda c: c.accumulate(_a((7,), 1), _a((7,), 2)),
        lambda c: c.scale(_a((2, 3, 4), 1), _a((2, 3, 4), 1), 0.5),
    ]
    for call in valid_calls:
        with pytest.raises(RuntimeError, match="failed at .*cuda"):
            call(extension)


@cuda_only
@pytest.mark.parametrize("activation", sorted(FROM_INPUT) + ["relu"])
def test_fused_kernels_refuse_activations_from_the_input(activation, side_stream):
    """dense and conv2d, forward and backward, with the reference's words (as on cpu: test_parity.py)."""
    assert fused_refusals(cuda, activation) == fused_refusals(reference, activation)
