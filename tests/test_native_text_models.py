"""Embedding text models off the layer-by-layer path: on the emulated device (the device executor
with the cpu kernels: the host path's bits) and, where the ``cuda`` backend imports (a GPU, or the
CUDA host emulation of CI), on ``cuda`` against ``cpu``. The native loop's own bits are in
``tests/test_training_loop.py``."""
from __future__ import annotations

import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D, Input
from axonal.models import Sequential
from axonal.models.executors import NativeExecutor
from emulated_device import EmulatedDevice

ROWS, BATCH = 103, 10


pytestmark = pytest.mark.usefixtures("cpu_backend")


def _layers(pooling: bool):
    return [Input(shape=(9,)), Embedding(37, 6), GlobalAveragePooling1D() if pooling else Flatten(),
            Dense(7, activation="relu"), Dropout(0.2), Dense(1, activation="sigmoid")]


def _data():
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 37, (ROWS, 9)).astype(np.int64)
    return ids, (ids[:, 0] > 18).astype(np.float32)


def _fit(pooling: bool, device=None):
    axonal.set_seed(5)
    model = Sequential(_layers(pooling))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    if device is not None:
        model.device = device
    ids, labels = _data()
    history = model.fit(ids, labels, batch_size=BATCH, epochs=2, verbose=0, validation_split=0.2)
    return model, history.history


@pytest.mark.parametrize("pooling", [True, False], ids=["global average pooling", "flatten"])
def test_an_embedding_model_on_the_emulated_device_gives_the_bits_of_the_native_loop(pooling, monkeypatch):
    host_epoch = NativeExecutor.train_epoch
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *args: pytest.fail("device model ran on the host"))
    device_model, device_history = _fit(pooling, EmulatedDevice())
    monkeypatch.setattr(NativeExecutor, "train_epoch", host_epoch)
    host_model, host_history = _fit(pooling)
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-12, err_msg=key)
    for ours, theirs in zip(device_model.get_weights() + device_model.optimizer.variables,
                            host_model.get_weights() + host_model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    ids, _ = _data()
    np.testing.assert_array_equal(device_model.predict(ids, verbose=0), host_model.predict(ids, verbose=0))


@pytest.mark.skipif(axonal.backends()["cuda"] != "available", reason="the cuda backend is unavailable here")
def test_an_embedding_model_trains_on_cuda_as_on_cpu():
    results = []
    for backend in ("cpu", "cuda"):
        axonal.set_backend(backend)
        results.append(_fit(True))
    (host, host_history), (device, device_history) = results
    assert device.device is not None
    for key in host_history:
        np.testing.assert_allclose(device_history[key], host_history[key], rtol=1e-3, atol=1e-4, err_msg=key)
    for ours, theirs in zip(device.get_weights(), host.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


def test_repeated_one_row_predictions_of_an_embedding_model_check_their_ids():
    """The one-batch predict shortcut (quick_predict.py) takes float32 rows as they are; an id input
    needs the general path's conversion and check, so the shortcut leaves such a model alone."""
    model, _ = _fit(True)
    ids, _ = _data()
    first = model.predict(ids[:1], verbose=0)
    np.testing.assert_array_equal(model.predict(ids[:1].astype(np.float32), verbose=0), first)
    bad = ids[:1].astype(np.float32)
    bad[0, 3] = 37
    with pytest.raises(ValueError, match=r"Layer 'embedding.*input_dim=37.*the id 37.0 at index \(0, 3\)"):
        model.predict(bad, verbose=0)


def test_a_two_input_model_of_ids_and_numbers_trains_natively_with_the_python_bits(monkeypatch):
    """The loop's inputs mix kinds: int32 ids for the Embedding, float32 rows for the Dense."""
    from axonal.layers import Concatenate
    from axonal.models import Model
    from model_checks import fit_on_path

    rng = np.random.default_rng(12)
    ids, numbers = rng.integers(0, 50, (ROWS, 7)), rng.normal(size=(ROWS, 4)).astype(np.float32)
    labels = ((ids[:, 0] > 25) ^ (numbers[:, 0] > 0)).astype(np.float32)
    runs = []
    for use_native in (False, True):
        axonal.set_seed(8)
        words, values = Input(shape=(7,), name="words"), Input(shape=(4,), name="values")
        pooled = GlobalAveragePooling1D()(Embedding(50, 5)(words))
        joined = Concatenate()([pooled, Dense(3, activation="relu")(values)])
        model = Model([words, values], Dense(1, activation="sigmoid")(joined))
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        history = fit_on_path(model, [ids, numbers], labels, use_native, monkeypatch, batch_size=BATCH, epochs=2)
        runs.append((model, history.history))
    (python_model, python_history), (native_model, native_history) = runs
    assert native_history == python_history
    for ours, theirs in zip(native_model.get_weights(), python_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
