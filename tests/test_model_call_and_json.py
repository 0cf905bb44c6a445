"""Model and layer conveniences Keras programs use: model(x), metrics_names, to_json /
model_from_json, plot_model, and the activation layers ReLU, LeakyReLU, ELU and Softmax."""
import json
import os
import stat
import warnings

import numpy as np
import pytest

import axonal
from axonal import activations
from axonal.layers import ELU, Activation, Concatenate, Dense, Dropout, Input, LeakyReLU, ReLU, Softmax
from axonal.models import Model, Sequential, model_from_json
from axonal.models.executors import LayerwiseExecutor
from axonal.utils import model_to_dot, plot_model

X = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, 3, 16)


def _mlp():
    axonal.set_seed(2)
    model = Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dropout(0.5), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_calling_a_model_on_data_is_predict_on_one_batch():
    model = _mlp()
    np.testing.assert_array_equal(model(X), model.predict(X, batch_size=16, verbose=0))
    np.testing.assert_array_equal(model(X, training=False), model(X))
    assert (model(X, training=True) != model(X)).any()  # dropout on
    steps = model.steps.value
    model(X, training=True)
    assert model.steps.value == steps  # nothing is updated


def test_metrics_names_follow_evaluate():
    model = _mlp()
    assert model.metrics_names == ["loss", "accuracy"]
    assert len(model.evaluate(X, Y, verbose=0)) == len(model.metrics_names)


def test_to_json_round_trips_and_is_keras_json():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    model = Model([a, b], Dense(2, name="head")(Concatenate()([Dense(4)(a), b])))
    text = model.to_json()
    record = json.loads(text)
    assert record["class_name"] == "Functional" and record["module"] == "keras.src.models.functional"
    clone = model_from_json(text)
    assert (clone.input_names, clone.output_names, clone.count_params()) == (["a", "b"], ["head"], model.count_params())
    sequential = _mlp()
    assert [type(layer) for layer in model_from_json(sequential.to_json()).layers] == [Dense, Dropout, Dense]


@pytest.mark.parametrize("text, message", [("{", "not valid JSON"), ('{"class_name": "LSTM"}', "not a model"),
                                           ("[]", "not a model")])
def test_model_from_json_refuses_what_is_not_a_model(text, message):
    with pytest.raises(ValueError, match=message):
        model_from_json(text)


def test_model_to_dot_draws_every_layer_and_connection():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    model = Model([a, b], Dense(2, name="head", activation="softmax")(Concatenate(name="join")([a, b])))
    dot = model_to_dot(model, show_shapes=True, show_layer_activations=True)
    assert dot.count("->") == 3 and "join (Concatenate)" in dot and "head (Dense)\\nsoftmax" in dot
    assert "output: (None, 2)" in dot


def test_plot_model_writes_dot_text_and_renders_through_graphviz(tmp_path, monkeypatch):
    model = _mlp()
    plot_model(model, tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text() == model_to_dot(model)
    path = os.environ.get("PATH", "")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz: a clear ImportError
    with pytest.raises(ImportError, match="Graphviz's 'dot' program"):
        plot_model(model, tmp_path / "m.png")
    fake = tmp_path / "dot"  # a stand-in for Graphviz: copies the DOT text to the -o file
    fake.write_text('#!/bin/sh\ncat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{path}")
    plot_model(model, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_text() == model_to_dot(model)


@pytest.mark.parametrize("layer, activation, alpha", [
    (ReLU(), "relu", 0.0), (ReLU(negative_slope=0.1), "leaky_relu", 0.1), (LeakyReLU(), "leaky_relu", 0.3),
    (LeakyReLU(negative_slope=0.05), "leaky_relu", 0.05), (ELU(alpha=0.7), "elu", 0.7), (Softmax(), "softmax", 0.0),
])
def test_activation_layers_are_activations_with_keras_defaults(layer, activation, alpha):
    assert isinstance(layer, Activation) and (layer.activation, layer.alpha) == (activation, alpha)
    clone = type(layer).from_config(layer.get_config())
    assert (clone.activation, clone.alpha) == (activation, alpha) and "activation" not in layer.get_config()
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    expected = getattr(activations, activation)(x) if activation != "leaky_relu" else np.where(x > 0, x, alpha * x)
    if activation == "elu":
        expected = np.where(x > 0, x, alpha * (np.exp(x) - 1))
    np.testing.assert_allclose(Sequential([Input(shape=(4,)), layer]).predict(x, verbose=0), expected, rtol=1e-6)


def test_models_of_activation_layers_train_natively(monkeypatch):
    axonal.set_seed(3)
    model = Sequential([Input(shape=(6,)), Dense(8), LeakyReLU(0.1), Dense(8), ELU(), Dense(5), ReLU(), Dense(3),
                        Softmax()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("ran layer by layer"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, Y, epochs=2, verbose=0)


@pytest.mark.parametrize("make, message", [
    (lambda: ReLU(max_value=6), "max_value=6 is not supported"), (lambda: ReLU(threshold=1.0), "threshold"),
    (lambda: Softmax(axis=1), "axis=1 is not supported"), (lambda: LeakyReLU(negative_slope=-1), ">= 0"),
])
def test_activation_layer_settings_without_a_kernel_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_keras2_alpha_of_leaky_relu_is_mapped():
    with pytest.warns(DeprecationWarning, match="negative_slope=0.2"):
        assert LeakyReLU(alpha=0.2).alpha == 0.2
