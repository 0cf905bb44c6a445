"""The device executor of the ``cuda`` backend (``models/executors/device.py``, ``device_copy.py``),
run on :class:`~emulated_device.EmulatedDevice`: NumPy arrays, the cpu kernels, and graphs that
replay their captured calls with their captured arguments, as CUDA graphs do.

The device executes the kernels of the host path in the same order, so with the cpu kernels it
must give the host path's bits: every case of the native loop's suite trains the same model from
the same seed on the host and on the emulated device and compares weights, optimiser slots,
counters and History. Then the parts that only the device loop has: runs captured once and
replayed every epoch, data that does not fit on the device, learning rates changed by callbacks,
validation/evaluate/predict on the device, and the fallback to the host with its warning.
(On a GPU, tests/test_cuda_fit.py runs the real thing.)
"""
from __future__ import annotations

import types

import numpy as np
import pytest

import axonal
from axonal import optimizers
from axonal.callbacks import Callback, LearningRateScheduler, TerminateOnNaN
from axonal.layers import Dense, Input
from axonal.backend import cpu
from axonal.models import Sequential, model as model_module
from axonal.models.executors import NativeExecutor, device as device_loop
from axonal import regularizers
from emulated_device import EmulatedDevice
from functional_models import BUILDERS
from test_training_loop import BATCH, CASES, ROWS, _data, fit_interrupted, state

pytest.importorskip("axonal._native")


@pytest.fixture(autouse=True)
def cpu_backend(monkeypatch):
    """Models are built on cpu (the host backend of a cuda model), runs hold 3 steps."""
    previous = axonal.backend.backend_name()
    axonal.set_backend("cpu")
    monkeypatch.setattr(device_loop, "STEPS_PER_RUN", 3)
    yield
    axonal.set_backend(previous)


def build(case: str, device: EmulatedDevice | None):
    layers, optimizer, loss, metrics, kind = CASES[case]
    axonal.set_seed(3)
    model = Sequential(layers())
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics)
    model.device = device
    x, y = _data(kind, int(np.prod(model.input_shape[1:])))
    return model, x.reshape((ROWS,) + model.input_shape[1:]), y


def train(case: str, device: EmulatedDevice | None, epochs: int = 2, **fit_args):
    model, x, y = build(case, device)
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, **fit_args)
    return model, history.history


def assert_same_training(device_run, host_run) -> None:
    (device_model, device_history), (host_model, host_history) = device_run, host_run
    assert device_history.keys() == host_history.keys()
    for key in host_history:
        # The device sums batch means (times the batch size at the end), the host the products:
        # the same numbers added in another order.
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-12, err_msg=key)
    assert device_model.optimizer.iterations == host_model.optimizer.iterations
    assert device_model.steps.value == host_model.steps.value
    for ours, theirs in zip(state(device_model), state(host_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", CASES)
def test_device_loop_gives_the_bits_of_the_host_path(case, monkeypatch):
    device = EmulatedDevice()
    host_epoch = NativeExecutor.train_epoch
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *args: pytest.fail("device model ran on the host"))
    device_run = train(case, device)
    monkeypatch.setattr(NativeExecutor, "train_epoch", host_epoch)
    assert_same_training(device_run, train(case, None))
    # 11 batches in runs of 3: a full run and the last one (2 batches, 13 rows), captured once each
    # and replayed every epoch.
    assert (device.captures, device.launches) == (2, 8)


def train_functional(name: str, device: EmulatedDevice | None, **fit_args):
    model, x, y = BUILDERS[name]()
    model.device = device
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, validation_data=(x, y), **fit_args)
    return model, history.history


@pytest.mark.parametrize("name", BUILDERS)
def test_functional_models_give_the_bits_of_the_host_path(name, monkeypatch):
    """Every graph feature (merges, several inputs and outputs, loss weights, a shared layer, a
    tensor read twice, a frozen layer) runs on the device, with validation there too."""
    device = EmulatedDevice()
    host_epoch = NativeExecutor.train_epoch
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *args: pytest.fail("device model ran on the host"))
    device_model, device_history = train_functional(name, device)
    monkeypatch.setattr(NativeExecutor, "train_epoch", host_epoch)
    host_model, host_history = train_functional(name, None)
    assert device_history.keys() == host_history.keys()
    for key in host_history:  # per output, batch means summed on the device (another order)
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-6, err_msg=key)
    for ours, theirs in zip(state(device_model), state(host_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert device.captures >= 1 and device.launches == 4  # runs captured once, replayed each epoch
    x = BUILDERS[name]()[1]
    ours, theirs = device_model.predict(x, verbose=0), host_model.predict(x, verbose=0)
    for mine, other in zip(*(p if isinstance(p, list) else [p] for p in (ours, theirs)), strict=True):
        np.testing.assert_array_equal(mine, other)


@pytest.mark.parametrize("case", ["churn: adam, binary cross-entropy, accuracy",
                                  "dropout MLP: centered rmsprop with momentum, one-hot"])
@pytest.mark.parametrize("setting", ["no shuffling, validation", "data stays on the host", "no graphs"])
def test_device_loop_settings(case, setting, monkeypatch):
    args = dict(shuffle=False, validation_split=0.2) if setting == "no shuffling, validation" else {}
    device = EmulatedDevice(free_bytes=0 if setting == "data stays on the host" else 1 << 40)
    if setting == "no graphs":
        monkeypatch.setenv("AXONAL_CUDA_GRAPHS", "0")
    assert_same_training(train(case, device, **args), train(case, None, **args))
    assert device.captures == (0 if setting == "no graphs" else 2)


def test_learning_rate_changed_by_a_callback_reaches_the_captured_steps():
    case = "amsgrad with weight decay, no bias"
    schedule = lambda epoch, rate: 0.01 / (1 + epoch)  # noqa: E731
    device_run = train(case, EmulatedDevice(), epochs=3, callbacks=[LearningRateScheduler(schedule)])
    host_run = train(case, None, epochs=3, callbacks=[LearningRateScheduler(schedule)])
    assert_same_training(device_run, host_run)
    assert device_run[0].optimizer.learning_rate == pytest.approx(0.01 / 3)


def test_a_layer_frozen_between_epochs_stops_training_on_the_device():
    class FreezeFirstLayer(Callback):
        def on_epoch_end(self, epoch, logs=None):
            next(layer for layer in self.model.layers if layer.weights).trainable = False

    case = "dropout MLP: centered rmsprop with momentum, one-hot"
    device_model, device_history = train(case, EmulatedDevice(), epochs=3, callbacks=[FreezeFirstLayer()])
    assert_same_training((device_model, device_history),
                         train(case, None, epochs=3, callbacks=[FreezeFirstLayer()]))


def test_weights_are_on_the_host_after_every_epoch():
    seen = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    device_model, _ = train("sparse labels: nesterov sgd, activation layer", EmulatedDevice(), epochs=3,
                            callbacks=[Snapshot()])
    assert len(seen) == 3 and not all(np.array_equal(a, b) for a, b in zip(seen[0], seen[1]))
    for ours, final in zip(seen[-1], device_model.get_weights()):
        np.testing.assert_array_equal(ours, final)


@pytest.mark.parametrize("case", ["cnn: same/valid convs, max and average pooling, adam",
                                  "churn: adam, binary cross-entropy, accuracy"])
def test_predict_and_evaluate_on_the_device(case):
    device = EmulatedDevice()
    device_model, x, y = build(case, device)
    host_model, _, _ = build(case, None)
    executed = device.ops.executed
    np.testing.assert_array_equal(device_model.predict(x, batch_size=7, verbose=0),
                                  host_model.predict(x, batch_size=7, verbose=0))
    ours = device_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    theirs = host_model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12)
    assert device.ops.executed > executed
    assert device_model.predict(x[:5], verbose=0, device_array=True).shape == (5,) + host_model.output_shape[1:]


def test_run_length_from_a_timed_step(monkeypatch):
    monkeypatch.setattr(device_loop, "STEPS_PER_RUN", None)
    device = EmulatedDevice()
    assert_same_training(train("mse: adagrad, no metrics, reshape", device),
                         train("mse: adagrad, no metrics, reshape", None))
    assert device.captures >= 1


def test_what_the_device_cannot_run_runs_on_the_host_with_a_warning():
    axonal.set_seed(5)
    model = Sequential([Input(shape=(6,)), Dense(4, activation="relu", kernel_regularizer=regularizers.l2(0.01)),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    device = model.device = EmulatedDevice()
    x = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(20) % 2]
    with pytest.warns(RuntimeWarning, match=r"fit\(\) runs on the host \(cpu backend\).*regulariser"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.warns(RuntimeWarning, match=r"evaluate\(\) runs on the host.*sample weights"):
        model.evaluate(x, y, sample_weight=np.ones(20), verbose=0)
    assert device.ops.executed == 0


def test_a_cuda_model_computes_on_the_host_outside_its_device(monkeypatch):
    """With cuda active, a model's layers (and layers or optimisers used on their own) hold NumPy
    arrays and use the host backend; only the model's device copy uses the device's ops."""
    fake_cuda = types.ModuleType("axonal.backend.cuda")
    fake_cuda.NAME = "cuda"
    monkeypatch.setattr(axonal.backend, "_active", fake_cuda)
    monkeypatch.setattr(model_module, "device_for", lambda backend: EmulatedDevice() if backend is fake_cuda else None)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="softmax")])
    model.build()
    assert model.ops is cpu and isinstance(model.device, EmulatedDevice)
    assert all(layer.ops is cpu for layer in model.layers)
    assert Dense(2)(np.ones((1, 3), dtype=np.float32)).shape == (1, 2)
    assert axonal.backend.host_backend() is cpu


def test_terminate_on_nan_stops_at_the_end_of_the_run_with_the_nan():
    """The device sees a non-finite loss when it reads the logs, after the run that produced it
    (the native cpu loop stops after the step itself): the stop lands within one run of it."""
    def diverging(device):
        axonal.set_seed(0)
        model = Sequential([Input(shape=(11,)), Dense(6, activation="relu"), Dense(3)])
        model.compile(optimizer=optimizers.SGD(1e3), loss="mse")
        model.device = device
        x = np.random.default_rng(0).normal(size=(200, 11)).astype(np.float32) * 100
        callback = TerminateOnNaN()
        model.fit(x, np.ones((200, 3), np.float32), batch_size=10, epochs=3, verbose=0, callbacks=[callback])
        return callback.stopped_batch, model.steps.value

    (host_batch, host_steps), (device_batch, device_steps) = diverging(None), diverging(EmulatedDevice())
    assert host_batch is not None and device_batch is not None
    assert host_steps <= device_steps < host_steps + device_loop.STEPS_PER_RUN
    assert device_batch == device_steps - 1  # the run's last batch


def test_ctrl_c_lands_between_device_runs_and_leaves_whole_steps_on_the_host():
    model, callback = fit_interrupted(EmulatedDevice())
    # Epoch 0 whole, then one whole run of epoch 1, whose weights reached the host.
    assert model.optimizer.iterations == model.steps.value == 10 + device_loop.STEPS_PER_RUN
    assert not all(np.array_equal(a, b) for a, b in zip(callback.snapshots[0], model.get_weights()))
