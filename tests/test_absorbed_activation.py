"""A loss absorbs its model's output softmax only while that model runs: the same layer used by
another model, or called on its own, still applies its activation (the bug this guards: the
absorption was a flag on the layer, so an ensemble of a compiled model got logits and compiling an
outer model made the inner one apply its softmax twice)."""
import numpy as np
import pytest

import axonal
from axonal.callbacks import Callback
from axonal.layers import Average, Dense, Input
from axonal.models import Model, Sequential

pytestmark = pytest.mark.usefixtures("backend")

X = np.random.default_rng(0).random((40, 4), dtype=np.float32)
LABELS = np.arange(40) % 3


def classifier():
    axonal.set_seed(2)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_compiled_model_called_inside_another_gives_probabilities():
    model = classifier()
    inputs = Input(shape=(4,))
    ensemble = Model(inputs, Average()([model(inputs), model(inputs)]))
    expected = model.predict(X, verbose=0)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ensemble.predict(X, verbose=0), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(X), expected, rtol=1e-6, atol=1e-7)


def test_the_output_layer_called_on_its_own_applies_its_softmax():
    model = classifier()
    hidden = model.layers[0](X)
    np.testing.assert_allclose(model.layers[-1](hidden), model.predict(X, verbose=0), rtol=1e-6, atol=1e-7)


def test_compiling_an_outer_model_leaves_the_inner_predictions_alone():
    model = classifier()
    before = model.predict(X, verbose=0)
    outer = Sequential([model])
    outer.compile(optimizer="adam", loss="mse")
    np.testing.assert_array_equal(model.predict(X, verbose=0), before)
    # the outer loss is on probabilities: mean squared error against the one-hot labels
    one_hot = np.eye(3, dtype=np.float32)[LABELS]
    expected = np.mean((before - one_hot) ** 2)
    np.testing.assert_allclose(outer.evaluate(X, one_hot, verbose=0), expected, rtol=1e-5)


def test_an_outer_cross_entropy_model_absorbs_for_itself_only():
    model = classifier()
    outer = Sequential([model])
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = outer.fit(X, LABELS, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    inner = model.predict(X, verbose=0)
    np.testing.assert_allclose(inner.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(outer.predict(X, verbose=0), inner, rtol=1e-6, atol=1e-7)
    assert outer.objective.absorbs(model.layers[-1]) and model.objective.absorbs(model.layers[-1])


def test_a_layer_called_from_a_callback_of_fit_applies_its_softmax():
    model = classifier()
    seen = []

    class Probe(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.layers[-1](self.model.layers[0](X)).sum(axis=1))

    model.fit(X, LABELS, epochs=2, batch_size=8, verbose=0, callbacks=[Probe()])
    for sums in seen:
        np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
