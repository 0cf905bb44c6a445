"""Training on the ``cuda`` backend against ``cpu``, on a GPU (skipped with the reason elsewhere).

The seed MLP trains 50 steps (6,400 rows, batch 128) on each backend from the same seed: the
device sees the same batches (the shuffle order is drawn on the host), its dropout masks must be
identical bit for bit (the shared Philox header), and the weights equal within float tolerance
(TF32 is off, but cuBLAS adds in another order than MKL). The same for the churn model (Adam,
binary cross-entropy) and a small CNN. The device loop's logic is also tested without a GPU, on a
host-emulated device (tests/test_device_loop.py).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import axonal
from axonal import optimizers
from axonal.callbacks import LearningRateScheduler
from axonal.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from axonal.models import Sequential
from axonal.models.executors import device as device_loop, support

import functional_models
import test_training_loop as training_loop_cases

CUDA_STATUS = axonal.backends()["cuda"]
pytestmark = pytest.mark.skipif(CUDA_STATUS != "available",
                                reason=f"the cuda backend is unavailable here: {CUDA_STATUS}")

MODELS = {  # name: (layers, optimizer, loss, rows, label kind)
    "seed mlp": (lambda: [Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                          Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")],
                 lambda: optimizers.RMSprop(), "categorical_crossentropy", 6400, "onehot"),
    "churn": (lambda: [Input(shape=(11,)), Dense(6, activation="relu"), Dense(6, activation="relu"),
                       Dense(1, activation="sigmoid")], lambda: "adam", "binary_crossentropy", 500, "binary"),
    "cnn": (lambda: [Input(shape=(28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
                     Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dropout(0.5),
                     Dense(10, activation="softmax")], lambda: "adam", "sparse_categorical_crossentropy", 1280,
            "sparse"),
}
BATCH = {"seed mlp": 128, "churn": 10, "cnn": 26}  # 50 steps each (the CNN's last one of 6 rows)


def _data(name: str):
    layers, _, _, rows, kind = MODELS[name]
    shape = layers()[0].shape[1:]  # an Input tensor: (None, ...)
    rng = np.random.default_rng(1)
    x = rng.random((rows,) + shape, dtype=np.float32)
    score = x.reshape(rows, -1)[:, :10]
    if kind == "binary":
        return x, (score[:, 0] > 0.5).astype(np.float32).reshape(-1, 1)
    labels = np.argmax(score, axis=1)
    return x, labels if kind == "sparse" else np.eye(10, dtype=np.float32)[labels]


def _train(name: str, backend: str, monkeypatch):
    """(model, history, the DeviceFit of a cuda run) after 50 steps on ``backend``."""
    layers, optimizer, loss, _, _ = MODELS[name]
    fits = []
    with monkeypatch.context() as patch:
        if backend == "cpu":  # the Python steps keep each Dropout layer's last mask
            patch.setattr(support, "training_problem", lambda *args: "the test reads the masks")
        else:
            original = device_loop.DeviceFit.__init__
            patch.setattr(device_loop.DeviceFit, "__init__",
                          lambda self, *args: fits.append(self) or original(self, *args))
        axonal.set_backend(backend)
        axonal.set_seed(11)
        model = Sequential(layers())
        model.compile(optimizer=optimizer(), loss=loss, metrics=["accuracy"])
        x, y = _data(name)
        history = model.fit(x, y, batch_size=BATCH[name], epochs=1, verbose=0)
    return model, history.history, fits[0] if fits else None


@pytest.fixture(autouse=True)
def restore_backend():
    previous = axonal.backend.backend_name()
    yield
    axonal.set_backend(previous)


@pytest.mark.parametrize("name", MODELS)
def test_fifty_steps_agree_with_cpu(name, monkeypatch):
    cuda = importlib.import_module("axonal.backend.cuda")
    assert not cuda.get_allow_tf32(), "parity runs need TF32 off"
    host, host_history, _ = _train(name, "cpu", monkeypatch)
    device, device_history, fit = _train(name, "cuda", monkeypatch)
    assert fit.graphs, "the steps were not captured as CUDA graphs"
    assert device.optimizer.iterations == host.optimizer.iterations == 50
    for host_layer, device_layer in zip(host._layers, fit.copy.layers):
        if isinstance(host_layer, Dropout):
            np.testing.assert_array_equal(device_layer.mask.get(), host_layer.mask, err_msg=host_layer.name)
    for ours, theirs in zip(device.get_weights(), host.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-3, atol=1e-4, err_msg=key)


def test_predict_returns_numpy_or_the_device_array(monkeypatch):
    cupy = pytest.importorskip("cupy")
    model, _, _ = _train("churn", "cuda", monkeypatch)
    x, _ = _data("churn")
    predictions = model.predict(x, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (len(x), 1)
    on_device = model.predict(x, verbose=0, device_array=True)
    assert isinstance(on_device, cupy.ndarray)
    np.testing.assert_array_equal(on_device.get(), predictions)
    axonal.set_backend("cpu")  # the host weights are the model's truth: rebuilt on cpu, it agrees
    model.build()
    assert model.device is None
    np.testing.assert_allclose(model.predict(x, verbose=0), predictions, rtol=1e-5, atol=1e-6)


def _fit_on(backend: str, seed: int, layers, optimizer, loss, metrics, x, y, **fit_args):
    """(model, History dict) of a fresh model built on ``backend`` from ``seed`` and fitted quietly."""
    axonal.set_backend(backend)
    axonal.set_seed(seed)
    model = Sequential(layers())
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model, model.fit(x, y, verbose=0, **fit_args).history


def test_validation_a_schedule_and_data_kept_on_the_host_agree_with_cpu(monkeypatch):
    """Three epochs of the churn model with validation data and a learning-rate schedule, the
    dataset left on the host (as when it does not fit on the device: each run's rows uploaded), and
    ``evaluate`` afterwards: the same logs and weights as on cpu, within float tolerance."""
    schedule = LearningRateScheduler(lambda epoch, rate: 0.01 / (1 + epoch))
    x, y = _data("churn")
    results, fits = {}, []
    original = device_loop.DeviceFit.__init__
    for backend in ("cpu", "cuda"):
        with monkeypatch.context() as patch:
            patch.setattr(device_loop, "DATASET_SHARE", 0.0)  # nothing fits: rows go up run by run
            patch.setattr(device_loop.DeviceFit, "__init__",
                          lambda self, *args: fits.append(self) or original(self, *args))
            model, history = _fit_on(backend, 11, MODELS["churn"][0], "adam", "binary_crossentropy", ["accuracy"],
                                     x[:400], y[:400], batch_size=16, epochs=3, callbacks=[schedule],
                                     validation_data=(x[400:], y[400:]))
            results[backend] = (model, history, model.evaluate(x[400:], y[400:], verbose=0))
    (host, host_history, host_eval), (device, device_history, device_eval) = results["cpu"], results["cuda"]
    assert device.device is not None and host.device is None
    assert len(fits) == 1 and not fits[0].rows.resident and not fits[0].validation.resident
    assert sorted(device_history) == sorted(host_history) and "val_loss" in device_history
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-3, atol=1e-4, err_msg=key)
    np.testing.assert_allclose(device_eval, host_eval, rtol=1e-3, atol=1e-4)
    for ours, theirs in zip(device.get_weights(), host.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case", training_loop_cases.CASES)
def test_every_native_loop_case_trains_on_cuda_as_on_cpu(case):
    """Each model of the native loop's suite (every optimiser and its options, the fused losses and
    metrics, frozen layers, convolutions and pooling), two epochs through ``fit`` on ``cuda`` and on
    ``cpu`` from the same seed: the same History, weights and optimiser slots within float tolerance."""
    layers, optimizer, loss, metrics, kind = training_loop_cases.CASES[case]
    input_shape = layers()[0].shape[1:]  # an Input tensor: (None, ...)
    x, y = training_loop_cases._data(kind, int(np.prod(input_shape)))
    x = x.reshape((training_loop_cases.ROWS,) + input_shape)
    (host, host_history), (device, device_history) = (
        _fit_on(backend, 3, layers, optimizer(), loss, metrics, x, y, batch_size=training_loop_cases.BATCH, epochs=2)
        for backend in ("cpu", "cuda"))
    assert device.device is not None and device_history.keys() == host_history.keys()
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-3, atol=1e-4, err_msg=key)
    assert device.optimizer.iterations == host.optimizer.iterations
    for ours, theirs in zip(training_loop_cases.state(device), training_loop_cases.state(host), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", functional_models.BUILDERS)
def test_functional_models_train_on_cuda_as_on_cpu(name):
    """Each graph feature (merges, several inputs and outputs with loss weights, a shared layer, a
    tensor read twice, a frozen layer, a residual CNN), two epochs with validation on ``cuda`` and
    on ``cpu`` from the same seed: the same History, weights and predictions within float tolerance."""
    runs = {}
    for backend in ("cpu", "cuda"):
        axonal.set_backend(backend)
        model, x, y = functional_models.BUILDERS[name]()
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y)).history
        runs[backend] = (model, history, model.predict(x, verbose=0))
    (host, host_history, host_predictions), (device, device_history, device_predictions) = runs["cpu"], runs["cuda"]
    assert device.device is not None and device_history.keys() == host_history.keys()
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-3, atol=1e-4, err_msg=key)
    for ours, theirs in zip(device.get_weights(), host.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    for ours, theirs in zip(*(p if isinstance(p, list) else [p] for p in (device_predictions, host_predictions))):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
