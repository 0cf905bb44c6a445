"""Rescaling, Normalization, RandomRotation, RandomZoom, RandomContrast: training-only where random,
exact backward passes, seeded draws, configuration round trips, and fit on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import axonal
from axonal import layers, models
from axonal.backend import reference

RNG = np.random.default_rng(8)
IMAGES = RNG.uniform(0, 1, (5, 8, 8, 2)).astype(np.float32)
LABELS = np.arange(5) % 2

RANDOM_LAYERS = {
    "rotation": lambda: layers.RandomRotation(0.2, fill_mode="constant", fill_value=0.5, seed=3),
    "rotation_nearest": lambda: layers.RandomRotation((-0.1, 0.3), interpolation="nearest", seed=3),
    "zoom": lambda: layers.RandomZoom(0.3, seed=3),
    "zoom_aspect": lambda: layers.RandomZoom((-0.2, 0.1), width_factor=0.4, fill_mode="wrap", seed=3),
    "contrast": lambda: layers.RandomContrast((0.3, 0.5), value_range=(-100, 100), seed=3),
}
ALL_LAYERS = {**RANDOM_LAYERS, "rescaling": lambda: layers.Rescaling(2.0, offset=-1.0),
              "normalization": lambda: layers.Normalization(mean=[0.5, 0.2], variance=[0.1, 0.3])}


def attached(layer, ops=reference):
    """The layer as a model would hold it (position 1, seed 0), on the backend ``ops``."""
    layer.attach(ops, 1, 0, layer.steps)
    layer.build((None,) + IMAGES.shape[1:])
    return layer


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_backward_is_the_transpose_of_forward(name):
    """Each layer is affine in x for its drawn transformation (a step draws once): with A its
    linear part, <A x, g> must equal <x, backward(g)>."""
    layer = attached(ALL_LAYERS[name]())
    offset = layer.forward(np.zeros_like(IMAGES), training=True).copy()
    linear = layer.forward(IMAGES, training=True) - offset
    g = RNG.normal(size=IMAGES.shape).astype(np.float32)
    assert np.vdot(linear, g) == pytest.approx(np.vdot(IMAGES, layer.backward(g)), rel=1e-4)


@pytest.mark.parametrize("name", RANDOM_LAYERS)
def test_random_layers_draw_from_seed_and_step_and_pass_through_at_inference(name):
    layer = attached(RANDOM_LAYERS[name]())
    first = layer.forward(IMAGES, training=True).copy()
    assert not np.allclose(first, IMAGES)
    np.testing.assert_array_equal(layer.forward(IMAGES, training=True), first)  # same step, same draw
    layer.steps.value += 1
    assert not np.array_equal(layer.forward(IMAGES, training=True), first)
    assert layer.forward(IMAGES, training=False) is IMAGES


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_config_round_trip(name):
    layer = ALL_LAYERS[name]()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_each_layer_trains_in_a_model_on_every_backend(name, backend):
    axonal.set_seed(1)
    model = models.Sequential([layers.Input((8, 8, 2)), ALL_LAYERS[name](), layers.Flatten(),
                               layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(IMAGES, LABELS, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(IMAGES, verbose=0).shape == (5, 2)


def test_normalization_adapt_and_its_refusals():
    layer = layers.Normalization()
    with pytest.raises(ValueError, match=r"has no statistics yet. Fix: call layer.adapt\(x_train\)"):
        layer.build((None, 3))
        layer.forward(np.ones((2, 3), np.float32), training=False)
    layer.adapt(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0]]))
    np.testing.assert_allclose(layer.mean, [2, 2, 4])
    np.testing.assert_allclose(layer.variance, [1, 0, 1])
    batches = [np.array([[1.0, 2.0, 3.0]]), np.array([[3.0, 2.0, 5.0]])]
    from_batches = layers.Normalization()
    from_batches.adapt(iter(batches))
    np.testing.assert_allclose(from_batches.mean, layer.mean)
    with pytest.raises(ValueError, match="give both mean and variance"):
        layers.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="factor must be a number in"):
        layers.RandomContrast(1.5)


def test_adapt_after_a_compiled_predict_reaches_the_kept_native_loop():
    """The native loop reads Normalization's per-feature rows in place: adapt rewrites them, so a
    predict loop kept from before the adapt uses the new statistics (no stale copy)."""
    norm = layers.Normalization()
    norm.adapt(np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    model = models.Sequential([layers.Input((2,)), norm])
    x = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), [[0, 0], [2, 3]], atol=1e-6)
    norm.adapt(np.array([[10.0, 0.0], [14.0, 4.0]], np.float32))
    np.testing.assert_allclose(model.predict(x, verbose=0), [[-5.5, 0], [-4.5, 1.5]], atol=1e-6)
