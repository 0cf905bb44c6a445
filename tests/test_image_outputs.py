"""Outputs of rank > 2 (an autoencoder's images) with the element-wise losses: mean squared error
and binary cross-entropy over every value of a sample, as Keras reduces them (its mean over the last
axis, then over the rest, is the mean over all values). The native loop and the device give the
layer-by-layer path's bits for such a model (``functional_models.image_autoencoder``, run by
test_functional.py, test_device_loop.py and test_fast_path.py); here: the values, the labels'
shapes, the metrics and what is refused."""
import numpy as np
import pytest

import axonal
from axonal.layers import Conv2D, Input, MaxPooling2D, UpSampling2D
from axonal.models import Model

pytestmark = pytest.mark.usefixtures("backend")

IMAGES = np.random.default_rng(0).random((24, 8, 8, 1), dtype=np.float32)


def autoencoder(loss, activation=None, channels=1, metrics=None):
    axonal.set_seed(5)
    inputs = Input(shape=(8, 8, 1))
    code = MaxPooling2D()(Conv2D(4, 3, padding="same", activation="relu")(inputs))
    outputs = Conv2D(channels, 3, padding="same", activation=activation)(UpSampling2D()(code))
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    return model


def test_mean_squared_error_is_the_mean_over_every_value():
    model = autoencoder("mse", metrics=["mae"])
    model.fit(IMAGES, IMAGES, epochs=2, batch_size=8, verbose=0)
    loss, mae = model.evaluate(IMAGES, IMAGES, verbose=0)
    predictions = model.predict(IMAGES, verbose=0)
    assert predictions.shape == IMAGES.shape
    assert loss == pytest.approx(np.mean((predictions - IMAGES) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(predictions - IMAGES)), rel=1e-5)


def test_binary_cross_entropy_of_every_pixel_and_its_accuracy():
    model = autoencoder("binary_crossentropy", "sigmoid", metrics=["accuracy"])
    targets = (IMAGES > 0.5).astype(np.float32)
    history = model.fit(IMAGES, targets, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(IMAGES, targets, verbose=0)
    p = np.clip(model.predict(IMAGES, verbose=0).astype(np.float64), 1e-7, 1 - 1e-7)
    assert loss == pytest.approx(np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p))), rel=1e-4)
    assert accuracy == pytest.approx(np.mean((p > 0.5) == (targets > 0.5)), abs=1e-6)  # each pixel, as Keras


def test_labels_may_leave_out_a_trailing_axis_of_one():
    model = autoencoder("mse")
    with_axis = model.evaluate(IMAGES, IMAGES, verbose=0)
    assert model.evaluate(IMAGES, IMAGES[..., 0], verbose=0) == with_axis


def test_sample_weights_weigh_each_image():
    model = autoencoder("mse")
    weights = np.linspace(0.0, 2.0, len(IMAGES), dtype=np.float32)
    per_image = np.mean((model.predict(IMAGES, verbose=0) - IMAGES) ** 2, axis=(1, 2, 3))
    loss = model.evaluate(IMAGES, IMAGES, sample_weight=weights, verbose=0)
    assert loss == pytest.approx(np.sum(weights * per_image) / len(IMAGES), rel=1e-5)


@pytest.mark.parametrize("make, call, message", [
    (lambda: autoencoder("mse"), lambda m: m.fit(IMAGES, IMAGES[:, :4], verbose=0),
     r"one target of the output's shape per sample, \(24, 8, 8, 1\), received shape \(24, 4, 8, 1\)"),
    (lambda: autoencoder("mse"), lambda m: m.fit(IMAGES, IMAGES, class_weight={0: 1.0}, verbose=0),
     r"class_weight is not supported for an output of shape \(None, 8, 8, 1\)"),
    (lambda: autoencoder("sparse_categorical_crossentropy", "softmax", channels=3), lambda m: None,
     "a cross-entropy per pixel or per step is not supported yet"),
    (lambda: autoencoder("mse", channels=3, metrics=["accuracy"]), lambda m: None,
     "works along the last axis"),
])
def test_what_an_image_output_refuses(make, call, message):
    with pytest.raises(ValueError, match=message):
        call(make())


def test_image_sample_weights_may_keep_axes_of_one():
    model = autoencoder("mse")
    weights = np.linspace(0.5, 1.5, len(IMAGES), dtype=np.float32)
    flat = model.evaluate(IMAGES, IMAGES, sample_weight=weights, verbose=0)
    assert model.evaluate(IMAGES, IMAGES, sample_weight=weights.reshape(-1, 1, 1), verbose=0) == flat
    with pytest.raises(ValueError, match="a weight per pixel or per step is not supported"):
        model.evaluate(IMAGES, IMAGES, sample_weight=np.ones((len(IMAGES), 8, 8), np.float32), verbose=0)
