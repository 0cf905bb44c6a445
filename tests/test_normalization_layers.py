"""BatchNormalization and LayerNormalization against Keras 3.15's recorded numbers
(``tests/fixtures/make_normalization_fixtures.py`` wrote ``normalization_keras.npz``; no Keras here),
on every backend that imports: single layers in training and inference mode with the moving
statistics they leave, and two models after three SGD steps of ``fit``. Then the Keras surface:
weight names and order, trainable and non-trainable parameters, freezing, configuration, saving,
and clear errors.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import axonal
from axonal import optimizers
from axonal.layers import (Activation, BatchNormalization, Conv2D, Dense, Flatten, Input, LayerNormalization,
                           MaxPooling2D)
from axonal.models import Sequential, load_model
from backend_cases import available_backends

FIXTURE = np.load(os.path.join(os.path.dirname(__file__), "fixtures", "normalization_keras.npz"))
BACKENDS = ["numpy"] + [module.NAME for module in available_backends() if module.NAME == "cpu"]
RTOL, ATOL = 1e-5, 2e-6

LAYER_CASES = {  # as in make_normalization_fixtures.py
    "bn_dense": (BatchNormalization, {}),
    "bn_image": (BatchNormalization, {"momentum": 0.9, "epsilon": 0.01}),
    "bn_no_scale_no_center": (BatchNormalization, {"scale": False, "center": False}),
    "bn_axis_1": (BatchNormalization, {"axis": 1}),
    "ln_last": (LayerNormalization, {}),
    "ln_image_all_axes": (LayerNormalization, {"axis": [1, 2, 3], "epsilon": 0.01}),
    "ln_no_center": (LayerNormalization, {"center": False}),
    "ln_rms_scaling": (LayerNormalization, {"rms_scaling": True}),
}


@pytest.fixture(params=BACKENDS)
def backend(request):
    previous = axonal.backend.backend_name()
    axonal.set_backend(request.param)
    yield request.param
    axonal.set_backend(previous)


def _recorded(prefix: str, key: str) -> list[np.ndarray]:
    count = len([name for name in FIXTURE.files if name.startswith(f"{prefix}/{key}/")])
    return [FIXTURE[f"{prefix}/{key}/{i}"] for i in range(count)]


def _layer(cls, arguments):
    if arguments.get("rms_scaling"):
        with pytest.warns(UserWarning, match="rms_scaling=True"):
            return cls(**arguments)
    return cls(**arguments)


@pytest.mark.parametrize("case", LAYER_CASES)
def test_a_layer_gives_keras_outputs_in_both_modes_and_moves_its_statistics_as_keras(case, backend):
    cls, arguments = LAYER_CASES[case]
    prefix = f"layer/{case}"
    x = FIXTURE[f"{prefix}/x"]
    layer = _layer(cls, arguments)
    layer(x)  # builds it (on the host backend of the active one)
    layer.set_weights(_recorded(prefix, "initial"))
    np.testing.assert_allclose(layer(x, training=False), FIXTURE[f"{prefix}/inference"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer(x, training=True), FIXTURE[f"{prefix}/training"], rtol=RTOL, atol=ATOL)
    for ours, keras_weight in zip(layer.get_weights(), _recorded(prefix, "after"), strict=True):
        np.testing.assert_allclose(ours, keras_weight, rtol=RTOL, atol=ATOL)


def _mlp():
    return Sequential([Input(shape=(10,)), Dense(8), BatchNormalization(), Activation("relu"),
                       Dense(6, activation="tanh"), LayerNormalization(), BatchNormalization(momentum=0.9, center=False),
                       Dense(3, activation="softmax")])


def _cnn():
    return Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, padding="same"), BatchNormalization(), Activation("relu"),
                       MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")])


MODELS = {"mlp": _mlp, "cnn": _cnn}


@pytest.mark.parametrize("name", MODELS)
def test_three_sgd_steps_of_fit_give_keras_weights_moving_statistics_and_predictions(name, backend):
    prefix = f"model/{name}"
    model = MODELS[name]()
    model.set_weights(_recorded(prefix, "initial"))
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
    x, y = FIXTURE[f"{prefix}/x"], FIXTURE[f"{prefix}/y"]
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for ours, keras_weight in zip(model.get_weights(), _recorded(prefix, "after"), strict=True):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(history.history["loss"][0], FIXTURE[f"{prefix}/fit_loss"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), FIXTURE[f"{prefix}/predictions"], rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), FIXTURE[f"{prefix}/evaluate_loss"], rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts_are_keras_with_moving_statistics_non_trainable(name):
    model = MODELS[name]()
    total, trainable, non_trainable = FIXTURE[f"model/{name}/params"]
    assert model.count_params() == total
    assert sum(w.size for w in model.trainable_weights) == trainable
    assert sum(w.size for w in model.non_trainable_weights) == non_trainable
    lines = []
    model.summary(print_fn=lines.append)
    assert f"Non-trainable params: {non_trainable:,}" in lines[0]
    assert f"Trainable params: {trainable:,}" in lines[0]


def test_weights_are_named_and_ordered_as_keras():
    bn, ln = BatchNormalization(), LayerNormalization()
    bn.build((None, 4, 3))
    ln.build((None, 4, 3))
    assert list(bn._weights) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.tolist() for w in bn.get_weights()] == [[1.0] * 3, [0.0] * 3, [0.0] * 3, [1.0] * 3]
    assert [id(w) for w in bn.trainable_weights] == [id(bn.gamma), id(bn.beta)]
    assert [id(w) for w in bn.non_trainable_weights] == [id(bn.moving_mean), id(bn.moving_variance)]
    assert list(ln._weights) == ["gamma", "beta"] and ln.gamma.shape == (3,)
    no_affine = BatchNormalization(center=False, scale=False)
    no_affine.build((None, 5))
    assert list(no_affine._weights) == ["moving_mean", "moving_variance"] and no_affine.trainable_weights == []


def test_a_frozen_layer_normalises_with_its_moving_statistics_and_keeps_them(backend):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    frozen = BatchNormalization(trainable=False)
    model = Sequential([Input(shape=(4,)), frozen, Dense(2)])
    statistics = [rng.normal(size=4).astype("float32"), rng.uniform(0.5, 2, 4).astype("float32")]
    frozen.set_weights(frozen.get_weights()[:2] + statistics)
    gamma_beta = frozen.get_weights()[:2]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = frozen.get_weights()
    for ours, before in zip(after, gamma_beta + statistics):
        np.testing.assert_array_equal(ours, before)
    np.testing.assert_allclose(frozen(x, training=True), (x - statistics[0]) / np.sqrt(statistics[1] + 1e-3),
                               rtol=1e-5, atol=1e-6)


def test_training_moves_the_statistics_and_inference_does_not(backend):
    x = np.random.default_rng(3).normal(size=(64, 3)).astype("float32") * 2 + 5
    model = Sequential([Input(shape=(3,)), BatchNormalization(momentum=0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    layer = model.layers[0]
    model.predict(x, verbose=0)
    model.evaluate(x, np.zeros((64, 1), "float32"), verbose=0)
    np.testing.assert_array_equal(layer.moving_mean, np.zeros(3))
    model.fit(x, np.zeros((64, 1), "float32"), batch_size=64, epochs=1, verbose=0)
    np.testing.assert_allclose(layer.moving_mean, 0.5 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, 0.5 + 0.5 * x.var(axis=0), rtol=1e-5)


def test_configuration_round_trips_with_keras_keys():
    bn = BatchNormalization(axis=1, momentum=0.9, epsilon=0.01, center=False, gamma_initializer="zeros",
                            beta_regularizer="l2", name="bn")
    config = bn.get_config()
    assert set(config) >= {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized"}
    assert BatchNormalization.from_config(config).get_config() == config
    ln = LayerNormalization(axis=[1, 2], epsilon=0.1, scale=False, name="ln")
    config = ln.get_config()
    assert config["axis"] == [1, 2] and config["rms_scaling"] is False
    assert LayerNormalization.from_config(config).get_config() == config
    assert axonal.layers.deserialize(axonal.layers.serialize(bn)).get_config() == bn.get_config()


def test_save_and_load_are_bit_identical(tmp_path, backend):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 6, 6, 2)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 40)]
    model = _cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "bn.axonal")
    model.save(path)
    loaded = load_model(path)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("make, shape, words", [
    (lambda: BatchNormalization(axis=0), (None, 4), ["axis=0", "(None, 4)", "Fix"]),
    (lambda: BatchNormalization(axis=3), (None, 4, 2), ["axis=3", "(None, 4, 2)", "Fix"]),
    (lambda: BatchNormalization(), (None,), ["axis=-1", "Fix"]),
    (lambda: LayerNormalization(axis=1), (None, 4, 2), ["axis=1", "trailing", "Fix"]),
    (lambda: LayerNormalization(axis=[1, 1]), (None, 4, 2), ["axis=[1, 1]", "Fix"]),
])
def test_a_bad_axis_is_refused_when_wired(make, shape, words):
    layer = make()
    with pytest.raises(ValueError) as caught:
        layer.check_input_shape(shape)
    for word in words + [layer.name]:
        assert word in str(caught.value)


@pytest.mark.parametrize("make, words", [
    (lambda: BatchNormalization(axis="last"), ["axis='last'", "Fix"]),
    (lambda: BatchNormalization(momentum=1.5), ["momentum=1.5", "[0, 1]"]),
    (lambda: BatchNormalization(epsilon=0), ["epsilon=0", "Fix"]),
    (lambda: BatchNormalization(gamma_constraint="non_neg"), ["gamma_constraint", "expected None"]),
    (lambda: BatchNormalization(renorm=True), ["renorm=True", "Fix"]),
    (lambda: LayerNormalization(axis=1.5), ["axis=1.5", "Fix"]),
    (lambda: LayerNormalization(beta_constraint="max_norm"), ["beta_constraint", "expected None"]),
])
def test_bad_arguments_are_refused_with_the_value_and_a_fix(make, words):
    with pytest.raises(ValueError) as caught:
        make()
    for word in words:
        assert word in str(caught.value)


def test_a_model_wires_a_bad_axis_with_the_layer_name():
    with pytest.raises(ValueError, match="'bn'.*axis=2"):
        Sequential([Input(shape=(5,)), BatchNormalization(axis=2, name="bn")])


def test_a_channels_first_batch_norm_runs_natively_and_another_axis_says_why(backend):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 3, 4, 4)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = Sequential([Input(shape=(3, 4, 4)), BatchNormalization(axis=1, name="bn1"), Flatten(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert not any("fast path" in str(w.message) for w in seen)  # axis 1: the native loop's transposes
    layer = model.layers[0]
    np.testing.assert_allclose(layer.moving_mean, 0.01 * x.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-7)
    other = Sequential([Input(shape=(3, 4, 4)), BatchNormalization(axis=2, name="bn2"), Flatten(), Dense(1)])
    other.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        other.fit(x, y, batch_size=16, epochs=1, verbose=0)
    if backend == "cpu":
        assert any("normalises axis 2" in str(w.message) for w in seen)


def _shared_batch_norm_model():
    axonal.set_seed(21)
    left, right = Input(shape=(5,), name="left"), Input(shape=(5,), name="right")
    shared = BatchNormalization(momentum=0.8, name="shared_bn")
    joined = axonal.layers.Concatenate()([shared(Dense(4)(left)), shared(Dense(4)(right))])
    model = axonal.models.Model([left, right], Dense(1, activation="sigmoid")(LayerNormalization()(joined)))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(8)
    x = [rng.normal(size=(50, 5)).astype("float32") for _ in range(2)]
    return model, x, rng.integers(0, 2, (50, 1)).astype("float32")


@pytest.mark.skipif("cpu" not in BACKENDS, reason="the native loop needs axonal._native")
def test_a_shared_batch_norm_moves_its_statistics_once_per_call_natively_as_in_python(monkeypatch):
    """Both calls of one BatchNormalization move the same moving statistics, in call order; the
    native loop (which lists the shared arrays once) gives the Python steps' bits."""
    from axonal.models.executors import support
    from model_checks import fit_on_path

    previous = axonal.backend.backend_name()
    axonal.set_backend("cpu")
    try:
        runs = []
        for native in (False, True):
            model, x, y = _shared_batch_norm_model()
            history = fit_on_path(model, x, y, native, monkeypatch, batch_size=16, epochs=2, validation_data=(x, y))
            runs.append((model.get_weights(), history.history))
        assert runs[0][1] == runs[1][1]
        for ours, theirs in zip(runs[1][0], runs[0][0], strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert support.training_problem(model, x, [y], None, []) is None
    finally:
        axonal.set_backend(previous)
