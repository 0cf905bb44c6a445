"""A refused call changes nothing (issue #18, point 3), and structural changes cannot land inside a
running fit (point 4): set_weights on a model or a layer, compile, add, load_weights into an unbuilt
model, replacing layer.kernel, and add/pop/trainable from a callback or from another thread."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import axonal
from axonal.callbacks import Callback
from axonal.layers import Conv2D, Dense, Input
from axonal.models import Sequential
from axonal.saving import SavedFileError


def mlp(compiled=True):
    axonal.set_seed(4)
    model = Sequential([Input(shape=(6,)), Dense(5, activation="relu"), Dense(3, activation="softmax")])
    if compiled:
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def snapshot(model):
    return [w.copy() for w in model.get_weights()]


def assert_unchanged(model, before):
    for old, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(now, old)


DATA = (np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32), np.arange(40) % 3)


# ----- set_weights ------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, error, message", [
    (lambda w: w.__setitem__(2, np.zeros((5, 4))), ValueError, r"dense_\d+/kernel \(array 2 of the list\) has "
                                                                r"shape \(5, 3\), received an array of shape \(5, 4\)"),
    (lambda w: w[3].__setitem__(1, np.nan), ValueError, r"bias \(array 3 of the list\) contains NaN"),
    (lambda w: w.__setitem__(3, np.array(["a", "b", "c"])), TypeError, r"must hold numbers"),
    (lambda w: w.pop(), ValueError, r"has 4 weight arrays, received 3"),
])
def test_model_set_weights_checks_every_array_before_assigning_any(backend, damage, error, message):
    model = mlp()
    before = snapshot(model)
    weights = [w + 1 for w in model.get_weights()]
    damage(weights)
    with pytest.raises(error, match=message):
        model.set_weights(weights)
    assert_unchanged(model, before)


def test_layer_set_weights_checks_every_array_before_assigning_any():
    model = mlp()
    layer = model.layers[0]
    kernel = layer.get_weights()[0]
    with pytest.raises(ValueError, match=r"bias contains NaN"):
        layer.set_weights([kernel + 1, np.full(5, np.nan)])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


def test_set_weights_given_one_array_says_to_wrap_it_in_a_list():
    layer = mlp().layers[0]
    with pytest.raises(TypeError, match=r"received one array of shape \(6, 5\).*set_weights\(\[kernel, bias\]\)"):
        layer.set_weights(layer.get_weights()[0])


def test_set_weights_converts_float64_and_keeps_the_arrays_the_optimizer_holds():
    model = mlp()
    arrays = model.weights
    model.set_weights([w.astype(np.float64) + 1 for w in model.get_weights()])
    assert all(a is b for a, b in zip(arrays, model.weights)) and arrays[0].dtype == np.float32


# ----- compile, add, load_weights ---------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (dict(optimizer="adam", loss="categorical_crossentropy", metrics=["acuracy"]), "Unknown metric 'acuracy'"),
    (dict(optimizer="adam", loss="binary_crossentropy"), "expects the output layer .* to end in a sigmoid"),
    (dict(optimizer="adam", loss="mse", metrics=["sparse_categorical_accuracy"]), "expects labels as class ids"),
    (dict(optimizer="adam", loss="nope"), "Unknown loss"),
])
def test_a_refused_compile_leaves_the_previous_compilation(arguments, message):
    model = mlp()
    model.fit(*DATA, epochs=1, verbose=0)
    optimizer, loss, metrics = model.optimizer, model.loss, model.metrics
    with pytest.raises(ValueError, match=message):
        model.compile(**arguments)
    assert model.optimizer is optimizer and model.loss is loss and model.metrics == metrics
    assert model.objective.absorbs(model.layers[-1])  # still fused with the loss it was compiled with
    model.fit(*DATA, epochs=1, verbose=0)


def test_a_refused_compile_of_an_uncompiled_model_leaves_it_uncompiled(monkeypatch):
    model = mlp(compiled=False)
    monkeypatch.setenv("AXONAL_CHECK_NUMERICS", "maybe")
    with pytest.raises(ValueError, match="AXONAL_CHECK_NUMERICS"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.optimizer is None and model.loss is None


def test_a_layer_that_cannot_be_built_is_not_added():
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(2, 3)])
    with pytest.raises(ValueError, match="Flatten"):
        model.add(Dense(3))
    assert len(model.layers) == 1
    model.add(axonal.layers.Flatten())
    model.add(Dense(3))
    assert model.output_shape == (None, 3)


def test_a_first_layer_that_cannot_be_built_leaves_no_input_shape():
    model = Sequential()
    with pytest.raises(ValueError, match="Flatten"):
        model.add(Dense(3, input_shape=(4, 4)))
    assert model.layers == [] and model.input_shape is None


def test_refused_load_weights_leaves_an_unbuilt_model_unbuilt(tmp_path):
    mlp().save_weights(tmp_path / "w.axonal")
    axonal.set_seed(4)
    other = Sequential([Dense(5, activation="relu"), Dense(4, activation="softmax")])  # 4 outputs, not 3
    with pytest.raises(SavedFileError, match=r"shape \(5, 3\) in the file, but the model expects \(5, 4\)"):
        other.load_weights(tmp_path / "w.axonal")
    assert not other.built and other.input_shape is None
    assert all(not layer.built and layer.weights == [] for layer in other.layers)
    other.build((None, 6))
    assert [w.shape for w in other.weights] == [(6, 5), (5,), (5, 4), (4,)]


# ----- replacing a weight attribute -------------------------------------------------------------------

@pytest.mark.parametrize("value, received", [
    (np.zeros((6, 5), np.float64), r"received float64 of shape \(6, 5\)"),
    (np.zeros((5, 6), np.float32), r"received float32 of shape \(5, 6\)"),
    ([[0.0] * 5] * 5, r"received list of shape \(5, 5\)"),
])
def test_replacing_a_kernel_with_the_wrong_dtype_or_shape_names_the_layer(backend, value, received):
    model = mlp()
    layer = model.layers[0]
    before = snapshot(model)
    with pytest.raises(ValueError, match=rf"Cannot replace {layer.name}\.kernel \(weight 'kernel' of layer "
                                         rf"'{layer.name}', Dense\): expected a float32 array of shape \(6, 5\), "
                                         rf"{received}"):
        layer.kernel = value
    assert_unchanged(model, before)
    model.fit(*DATA, epochs=1, verbose=0)


def test_replacing_a_kernel_with_a_fitting_array_assigns_its_values(backend):
    model = mlp()
    layer = model.layers[0]
    kernel = layer.kernel
    layer.kernel = np.full((6, 5), 0.5, np.float32)
    assert layer.kernel is kernel and layer.weights[0] is kernel and (kernel == 0.5).all()
    with pytest.raises(ValueError, match=r"kernel contains NaN"):
        layer.kernel = np.full((6, 5), np.nan, np.float32)
    model.fit(*DATA, epochs=1, verbose=0)
    assert not (layer.kernel == 0.5).all()  # the optimiser trained the array the layer computes with


# ----- structural changes during fit ------------------------------------------------------------------

class During(Callback):
    """Calls ``action(model)`` at the end of the first batch and records what it raised."""

    def __init__(self, action):
        super().__init__()
        self.action, self.error = action, None

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and self.error is None:
            try:
                self.action(self.model)
                self.error = False
            except RuntimeError as error:
                self.error = error


def test_add_or_pop_from_a_callback_during_fit_is_refused(backend):
    for action in (lambda m: m.pop(), lambda m: m.add(Dense(2))):
        model = mlp()
        callback = During(action)
        model.fit(*DATA, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
        assert "while model.fit() runs" in str(callback.error) and len(model.layers) == 2


def test_freezing_from_a_callback_during_fit_is_allowed(backend):
    model = mlp()
    callback = During(lambda m: setattr(m.layers[0], "trainable", False))
    model.fit(*DATA, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    assert callback.error is False and not model.layers[0].trainable


@pytest.mark.parametrize("change", ["pop", "add", "layer.trainable", "model.trainable"])
def test_a_structural_change_from_another_thread_during_fit_raises(backend, change):
    actions = {"pop": lambda m: m.pop(), "add": lambda m: m.add(Dense(2)),
               "layer.trainable": lambda m: setattr(m.layers[0], "trainable", False),
               "model.trainable": lambda m: setattr(m, "trainable", False)}
    model = mlp()
    outcome = {}

    def other_thread():
        try:
            actions[change](model)
            outcome["error"] = None
        except RuntimeError as error:
            outcome["error"] = error

    def start_and_wait(m):
        thread = threading.Thread(target=other_thread, name="meddler")
        thread.start()
        thread.join(30)

    model.fit(*DATA, batch_size=8, epochs=1, verbose=0, callbacks=[During(start_and_wait)])
    assert outcome["error"] is not None, "the change was applied while fit ran"
    assert "from thread 'meddler' is refused: model.fit() is running in thread 'MainThread'" in str(outcome["error"])
    assert len(model.layers) == 2 and model.layers[0].trainable and model.trainable
    actions[change](model)  # after the fit, the same change is fine
