"""Models used as layers (axonal/models/nesting.py): Sequential([base, head]), base(inputs) in a
functional model, called once or twice, frozen or trained, saved and loaded, on the fast path."""
import warnings

import numpy as np
import pytest

import axonal
from axonal.layers import Concatenate, Dense, Dropout, Flatten, Input, RandomFlip, RandomRotation
from axonal.models import Model, Sequential, load_model
from axonal.models.executors import LayerwiseExecutor

X = np.random.default_rng(0).normal(size=(48, 6)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, 3, 48)


def _base(name="base"):
    return Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dropout(0.25), Dense(4, activation="relu")],
                      name=name)


def _fit(model, x, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fast-path note: nested models run natively
        return model.fit(x, y, verbose=0, **kwargs)


@pytest.fixture
def native_only(monkeypatch):
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("fit ran layer by layer"))


def test_a_frozen_base_is_one_layer_and_keeps_its_weights(native_only):
    axonal.set_seed(1)
    base = _base()
    before = [w.copy() for w in base.get_weights()]
    base.trainable = False
    model = Sequential([base, Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _fit(model, X, Y, epochs=2)
    assert model.layers[0] is base and len(model.layers) == 2
    assert all(np.array_equal(w, v) for w, v in zip(base.get_weights(), before))
    assert model.count_params() == base.count_params() + 4 * 3 + 3
    assert len(model.trainable_weights) == 2


def test_a_trained_base_is_the_same_arrays(native_only):
    axonal.set_seed(2)
    base = _base()
    model = Sequential([base, Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in base.get_weights()]
    _fit(model, X, Y)
    assert not np.array_equal(base.get_weights()[0], before[0])
    np.testing.assert_array_equal(model.get_weights()[0], base.get_weights()[0])
    model.layers[0].trainable = False  # Keras' idiom: freeze the base through the outer model
    frozen = [w.copy() for w in base.get_weights()]
    _fit(model, X, Y)
    assert all(np.array_equal(w, v) for w, v in zip(base.get_weights(), frozen))
    model.trainable = False  # the outer flag reaches the nested model's own
    assert base.trainable is False and model.trainable_weights == []
    model.trainable = True
    assert base.trainable is True and len(model.trainable_weights) == len(model.weights)


def _flat_twin(nested):
    """The same layers wired directly (no nested model), from the same weights."""
    a, b = Input(shape=(6,)), Input(shape=(6,))
    shared = Dense(5, activation="tanh")
    head = Dense(1, activation="sigmoid")
    twin = Model([a, b], head(Concatenate()([shared(a), shared(b)])))
    twin.set_weights(nested.get_weights())
    return twin


def test_a_model_called_twice_shares_its_layers_with_the_bits_of_the_flat_graph(native_only):
    axonal.set_seed(3)
    a, b = Input(shape=(6,)), Input(shape=(6,))
    encoder = Sequential([Input(shape=(6,)), Dense(5, activation="tanh")], name="encoder")
    nested = Model([a, b], Dense(1, activation="sigmoid")(Concatenate()([encoder(a), encoder(b)])))
    twin = _flat_twin(nested)
    labels = (Y > 0).astype(np.float32)
    for model in (nested, twin):
        model.compile(optimizer="adam", loss="binary_crossentropy")
    history = [_fit(model, [X, X[::-1]], labels, epochs=2, shuffle=False).history for model in (nested, twin)]
    assert history[0] == history[1]
    for ours, theirs in zip(nested.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert [layer.name for layer in nested.layers][2] == "encoder"


def test_nested_functional_model_in_a_functional_model():
    axonal.set_seed(4)
    inner_in = Input(shape=(6,))
    inner = Model(inner_in, Dense(4, activation="relu")(Dense(7)(inner_in)), name="inner")
    outer_in = Input(shape=(6,))
    outer = Model(outer_in, Dense(3, activation="softmax")(inner(outer_in)))
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    _fit(outer, X, Y)
    expected = inner.predict(X, verbose=0) @ outer.layers[-1].kernel + outer.layers[-1].bias
    expected = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(outer.predict(X, verbose=0), expected / expected.sum(1, keepdims=True), rtol=1e-5)


def test_saving_and_config_round_trip(tmp_path):
    axonal.set_seed(5)
    model = Sequential([_base(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    _fit(model, X, Y)
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Sequential", "Dense"]
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    _fit(loaded, X, Y)
    _fit(model, X, Y)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # resumed bit for bit
    clone = Sequential.from_config(model.get_config())
    assert [type(layer).__name__ for layer in clone.layers] == ["Sequential", "Dense"]


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_keras_files_of_nested_models_are_refused_before_writing(tmp_path, suffix):
    model = Sequential([_base(), Dense(3)])
    with pytest.raises(ValueError, match=r"holds the model\(s\) \['base'\] as layers"):
        model.save(tmp_path / f"m.{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_models_that_cannot_be_layers_are_refused():
    unbuilt = Sequential([Dense(3)], name="unbuilt")
    with pytest.raises(ValueError, match="'unbuilt' is not built"):
        Sequential([unbuilt, Dense(2)])
    source = Input(shape=(6,))
    two_heads = Model(source, [Dense(1)(source), Dense(2)(source)], name="two_heads")
    with pytest.raises(ValueError, match="has 2 outputs"):
        two_heads(Input(shape=(6,)))
    with pytest.raises(ValueError, match=r"was built for inputs \(None, 6\)"):
        _base()(Input(shape=(5,)))


def test_an_input_less_sequential_is_built_by_its_call_on_an_input():
    # keras.io's image classification example: an augmentation Sequential without Input, called on one
    augmentation = Sequential([RandomFlip("horizontal"), RandomRotation(0.1)], name="augmentation")
    inputs = Input(shape=(8, 8, 1))
    model = Model(inputs, Dense(2, activation="softmax")(Flatten()(augmentation(inputs))))
    assert augmentation.built and augmentation.input_shape == (None, 8, 8, 1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    history = model.fit(x, np.arange(16) % 2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match=r"'flat_only'.*Flatten\(\)"):  # a layer that cannot take the input
        unbuilt = Sequential([Dense(3, name="flat_only")])
        unbuilt(Input(shape=(4, 4)))
    assert not unbuilt.built and unbuilt.input_shape is None
