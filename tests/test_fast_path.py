"""No silent slow path: every reason a compiled executor (the native loop on cpu, the device on
cuda) cannot run a call is pinned here, each makes the model say so once (which layer or setting,
which executor runs instead), and everything else runs on the fast executor without a word.

The complete list lives in ``models/executors/support.py``; adding a case there without a line
here fails ``test_the_list_of_reasons_is_pinned``.
"""
import inspect
import re
import warnings

import numpy as np
import pytest

import axonal
from axonal import optimizers, regularizers
from axonal.callbacks import Callback, EarlyStopping, ModelCheckpoint
from axonal.layers import (Activation, BatchNormalization, Conv2D, Dense, Embedding, Flatten, Input, Layer,
                           Normalization, RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
                           Rescaling, Reshape, SpatialDropout2D, UpSampling2D, ZeroPadding2D)
from axonal.losses import MeanSquaredError
from axonal.models import Sequential
from axonal.models.executors import LayerwiseExecutor, NativeExecutor, support
from axonal.optimizers import Adam
from functional_models import BUILDERS


class Printer(Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


class Doubling(Layer):
    def forward(self, x, training):
        return x * 2

    def backward(self, dy):
        return dy * 2


class MyLoss(MeanSquaredError):
    pass


class MyAdam(Adam):
    pass


def _model(*middle, loss="binary_crossentropy", metrics=("accuracy",), optimizer="adam", weighted_metrics=None):
    model = Sequential([Input(shape=(6,)), *middle, Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), weighted_metrics=weighted_metrics)
    return model


X, Y = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32), np.ones((40, 1), np.float32)

# reason shown -> how to cause it (model, fit arguments)
FIT_CASES = {
    "layer 'doubling' (Doubling)": lambda: (_model(Doubling(name="doubling")), {}),
    "(Activation) works along the last axis of rank-3":
        lambda: (_model(Reshape((2, 3)), Activation("softmax"), Flatten()), {}),
    "layer 'words' (Embedding) reads values computed by the model": lambda: (
        _model(Reshape((6,)), Embedding(5, 2, name="words"), Flatten()), {"x": np.arange(240).reshape(40, 6) % 5}),
    "has a method replaced": lambda: (_replaced_forward(_model(Dense(3, name="patched"))), {}),
    "layer 'bn2' normalises axis 2, neither the last nor 1": lambda: (
        _model(Reshape((1, 2, 3)), BatchNormalization(axis=2, name="bn2"), Flatten()), {}),
    "loss 'mean_squared_error'": lambda: (_model(loss=MyLoss(), metrics=()), {}),
    "optimizer MyAdam": lambda: (_model(optimizer=MyAdam()), {}),
    "optimizer Adam's clipnorm=1.0 (applied in Python)": lambda: (_model(optimizer=optimizers.Adam(clipnorm=1.0)), {}),
    "metric 'mae'": lambda: (_model(metrics=("mae",)), {}),
    "weighted_metrics with sample weights": lambda: (_model(weighted_metrics=["accuracy"]),
                                                     {"sample_weight": np.ones(40, np.float32)}),
    "regulariser": lambda: (_model(Dense(3, kernel_regularizer=regularizers.l2(0.01))), {}),
    "check_numerics": lambda: (_numerics(_model()), {}),
    "callback Printer has batch hooks": lambda: (_model(), {"callbacks": [Printer()]}),
}


# Layers that ran layer by layer with a pinned reason before issue #19's native steps: now natively
# in fit, evaluate and predict, without a word (their bits: tests/test_training_loop.py).
NATIVE_NOW = {
    "SpatialDropout2D, ZeroPadding2D, UpSampling2D": lambda: (_model(
        Reshape((2, 3, 1)), ZeroPadding2D(1), UpSampling2D(), SpatialDropout2D(0.3), Flatten()), {}),
    "Embedding on an id input": lambda: (_model(Embedding(5, 2), Flatten()), {"x": np.arange(240).reshape(40, 6) % 5}),
    "channels_first Conv2D and Flatten": lambda: (
        _model(Reshape((1, 2, 3)), Conv2D(2, 1, data_format="channels_first"), Flatten(data_format="channels_first")),
        {}),
    "BatchNormalization on axis 1": lambda: (_model(Reshape((2, 3)), BatchNormalization(axis=1), Flatten()), {}),
}


@pytest.mark.parametrize("case", NATIVE_NOW)
def test_issue_19_layers_run_natively_without_a_word(case, monkeypatch):
    model, arguments = NATIVE_NOW[case]()
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("fit ran layer by layer"))
    monkeypatch.setattr(LayerwiseExecutor, "test_epoch", lambda *args: pytest.fail("evaluate ran layer by layer"))
    monkeypatch.setattr(LayerwiseExecutor, "predict", lambda *args: pytest.fail("predict ran layer by layer"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(model, validation_split=0.25, **arguments)
        model.evaluate(arguments.get("x", X), Y, verbose=0)
        model.predict(arguments.get("x", X), verbose=0)


def _replaced_forward(model):
    layer = model.layers[0]
    layer.forward = type(layer).forward.__get__(layer)
    return model


def _numerics(model):
    model.check_numerics = True
    return model


def _fit(model, **arguments):
    x, y = arguments.pop("x", X), arguments.pop("y", Y)
    return model.fit(x, y, batch_size=8, epochs=1, verbose=0, **arguments)


@pytest.mark.parametrize("reason", FIT_CASES)
def test_each_reason_is_said_once_and_the_fit_runs_layer_by_layer(reason, monkeypatch):
    model, arguments = FIT_CASES[reason]()
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *args: pytest.fail("ran natively"))
    with pytest.warns(UserWarning, match=rf"axonal fast path: model '{model.name}': fit\(\) runs layer by layer "
                                         rf"in Python instead of the native loop, because of .*{re.escape(reason)}") as seen:
        _fit(model, **arguments)
        _fit(model, **arguments)
    assert len([w for w in seen if "fast path" in str(w.message)]) == 1  # once per model and reason


def test_the_list_of_reasons_is_pinned():
    """Each reason the support module can give is one of the cases above (by its wording)."""
    source = inspect.getsource(support)
    wordings = ["layer {layer.name!r} ({type(layer).__name__})", "has a method replaced",
                "normalises axis {layer.axis}, neither the last nor 1",
                "(Embedding) reads values computed by the model, not an id input", "works along the last axis of rank-",
                "loss {loss.name!r}", "optimizer {type(optimizer).__name__}",
                "{optimizer.runs_in_python} (applied in Python)",
                "metric {metric.name!r}", "weighted_metrics with sample weights", "sample weights",
                "has a regulariser", "check_numerics checks", "has batch hooks"]
    returned = [line for line in source.splitlines() if line.strip().startswith("return f\"") or
                line.strip().startswith("return \"")]
    assert len(returned) == len(wordings), returned
    for wording in wordings:
        assert wording in source


@pytest.mark.parametrize("name", BUILDERS)
def test_every_functional_model_fits_evaluates_and_predicts_natively_without_a_word(name, monkeypatch):
    model, x, y = BUILDERS[name]()
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("fit ran layer by layer"))
    monkeypatch.setattr(LayerwiseExecutor, "test_epoch", lambda *args: pytest.fail("evaluate ran layer by layer"))
    monkeypatch.setattr(LayerwiseExecutor, "predict", lambda *args: pytest.fail("predict ran layer by layer"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y),
                  callbacks=[EarlyStopping(patience=1)])
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)


# The augmentation and preprocessing layers run in the native loop and on the device (issue #19
# point 5): no reason is said for them.
PREPROCESSING_MODELS = {
    "flip": lambda: _model(Reshape((2, 3, 1)), RandomFlip(name="flip"), Flatten()),
    "rotation": lambda: _model(Reshape((2, 3, 1)), RandomRotation(0.1, name="turn"), Flatten()),
    "zoom": lambda: _model(Reshape((2, 3, 1)), RandomZoom(0.1, name="zoom"), Flatten()),
    "contrast": lambda: _model(Reshape((2, 3, 1)), RandomContrast(0.2, value_range=(-5, 5), name="contrast"),
                               Flatten()),
    "translation": lambda: _model(Reshape((2, 3, 1)), RandomTranslation(0.2, 0.3, name="shift"), Flatten()),
    "rescaling": lambda: _model(Rescaling(0.5, name="scale")),
    "normalization": lambda: _model(Normalization(mean=0.0, variance=1.0, name="norm")),
}


@pytest.mark.parametrize("name", PREPROCESSING_MODELS)
def test_augmentation_and_preprocessing_layers_fit_natively_without_a_word(name, monkeypatch):
    model = PREPROCESSING_MODELS[name]()
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("fit ran layer by layer"))
    monkeypatch.setattr(LayerwiseExecutor, "predict", lambda *args: pytest.fail("predict ran layer by layer"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(model)
        model.predict(X, verbose=0)


def test_the_numpy_reference_runs_layer_by_layer_without_a_word():
    axonal.set_backend("numpy")
    try:
        model = _model()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _fit(model)
    finally:
        axonal.set_backend("cpu")


def test_validation_and_evaluate_run_natively_with_the_bits_of_the_layer_by_layer_path(monkeypatch, tmp_path):
    """The native test batches give the layer-by-layer executor's loss and metrics exactly."""
    model, x, y = BUILDERS["two_outputs"]()
    native = model.evaluate(x, y, verbose=0, return_dict=True)
    monkeypatch.setattr(support, "testing_problem", lambda *args: "the test asks for Python")
    assert model.evaluate(x, y, verbose=0, return_dict=True) == native
    checkpoint = ModelCheckpoint(str(tmp_path / "m.axonal"), monitor="val_loss")
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[checkpoint])


@pytest.mark.parametrize("reason", FIT_CASES)
def test_on_a_device_each_reason_is_said_and_the_host_runs_the_fit(reason, monkeypatch):
    from axonal.models.executors import DeviceExecutor
    from emulated_device import EmulatedDevice

    model, arguments = FIT_CASES[reason]()
    model.device = EmulatedDevice()
    monkeypatch.setattr(DeviceExecutor, "train_epoch", lambda *args: pytest.fail("ran on the device"))
    with pytest.warns(RuntimeWarning, match=rf"fit\(\) runs on the host \(cpu backend\), not on .*{re.escape(reason)}"):
        _fit(model, **arguments)


def test_sample_weights_keep_a_device_fit_on_the_host_with_the_reason(monkeypatch):
    from axonal.models.executors import DeviceExecutor
    from emulated_device import EmulatedDevice

    model = _model()
    model.device = EmulatedDevice()
    monkeypatch.setattr(DeviceExecutor, "train_epoch", lambda *args: pytest.fail("ran on the device"))
    with pytest.warns(RuntimeWarning, match=r"not on .*because of sample weights"):
        _fit(model, sample_weight=np.ones(40, np.float32))
