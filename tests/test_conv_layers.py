"""Conv2D and the pooling layers: shapes, configuration, initialisation, the seed CNN's summary, and
a small CNN that learns, on every available backend."""
import math

import numpy as np
import pytest

import axonal
from axonal.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                           MaxPooling2D, deserialize, serialize)
from axonal.models import Sequential
from axonal.utils import to_categorical

WINDOW_OPS = ("conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward",
              "avg_pool2d_forward", "avg_pool2d_backward")


@pytest.fixture
def conv_backend(backend):
    """Each available backend that has the convolution and pooling ops."""
    missing = [op for op in WINDOW_OPS if not hasattr(axonal.get_backend(), op)]
    if missing:
        pytest.skip(f"backend {backend!r} has no {', '.join(missing)} yet")
    return backend


def images(n, h, w, c, seed=0):
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)


def seed_cnn():
    """The seed CNN, layer for layer as the Keras program writes it."""
    return Sequential([
        Input(shape=(28, 28, 1)),
        Conv2D(32, kernel_size=(3, 3), activation="relu"),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(1024, activation="sigmoid"),
        Dropout(0.2),
        Dense(1024, activation="sigmoid"),
        Dropout(0.2),
        Dense(10, activation="softmax"),
    ])


# --------------------------------------------------------------------------------------------------
# Shapes and arguments

@pytest.mark.parametrize("layer, input_shape, output_shape", [
    (Conv2D(4, 3), (7, 9, 3), (5, 7, 4)),
    (Conv2D(4, 3, padding="same"), (7, 9, 3), (7, 9, 4)),
    (Conv2D(4, 3, strides=2), (7, 9, 3), (3, 4, 4)),
    (Conv2D(4, (3, 2), strides=(2, 1), padding="same"), (7, 9, 3), (4, 9, 4)),
    (Conv2D(2, 5, padding="same"), (1, 1, 1), (1, 1, 2)),
    (MaxPooling2D(), (7, 9, 3), (3, 4, 3)),
    (MaxPooling2D(padding="same"), (7, 9, 3), (4, 5, 3)),
    (MaxPooling2D(3, strides=1), (9, 9, 2), (7, 7, 2)),
    (AveragePooling2D((2, 3), strides=2, padding="same"), (7, 9, 1), (4, 5, 1)),
    (GlobalAveragePooling2D(), (7, 9, 3), (3,)),
], ids=lambda value: str(value) if isinstance(value, tuple) else type(value).__name__)
def test_output_shapes_follow_keras(layer, input_shape, output_shape, conv_backend):
    assert layer.compute_output_shape((None, *input_shape)) == (None, *output_shape)
    assert layer(images(2, *input_shape)).shape == (2, *output_shape)


def test_ints_and_pairs_are_the_same_arguments():
    assert Conv2D(8, 3, strides=2).get_config()["kernel_size"] == (3, 3)
    assert Conv2D(8, 3, strides=2).strides == Conv2D(8, (3, 3), strides=(2, 2)).strides == (2, 2)
    assert MaxPooling2D(3).strides == (3, 3)  # strides None: the windows tile the image
    assert MaxPooling2D(3, strides=1, padding="SAME").padding == "same"


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D(8, 0), r"kernel_size must be a positive integer or a pair of them, received 0"),
    (lambda: Conv2D(8, (3, 3, 3)), r"kernel_size .* received \(3, 3, 3\)"),
    (lambda: Conv2D(0, 3), r"filters must be a positive integer, received 0"),
    (lambda: Conv2D(8, 3, padding="full"), r"padding must be 'valid' .* or 'same' .*received 'full'"),
    (lambda: MaxPooling2D(2, strides=(1,)), r"strides must be a positive integer or a pair"),
])
def test_bad_arguments_are_refused_with_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_conv2d_without_a_channel_axis_suggests_adding_one():
    with pytest.raises(ValueError, match=r"received input shape \(None, 28, 28\), which has no channel axis.*"
                                         r"x\[\.\.\., None\].*Input\(shape=\(28, 28, 1\)\).*Reshape"):
        Sequential([Input(shape=(28, 28)), Conv2D(8, 3)])


def test_a_valid_window_larger_than_the_image_is_refused_at_build():
    with pytest.raises(ValueError, match=r"5x5 window but its input images are 3x3.*padding='same'"):
        Sequential([Input(shape=(3, 3, 1)), Conv2D(8, 5)])


def test_model_inputs_must_have_the_channel_axis(conv_backend):
    model = Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3), Flatten(), Dense(3, activation="softmax")])
    assert model.predict(np.zeros((4, 6, 6, 1), dtype=np.uint8), verbose=0).shape == (4, 3)
    with pytest.raises(ValueError, match=r"expected shape \(None, 6, 6, 1\), received x with shape \(4, 6, 6\)"
                                         r".*x = x.reshape\(4, 6, 6, 1\)"):
        model.predict(np.zeros((4, 6, 6)), verbose=0)


@pytest.mark.parametrize("layer", [
    Conv2D(16, (3, 5), strides=(2, 1), padding="same", activation="elu", use_bias=False,
           kernel_initializer="he_normal", bias_initializer="ones", name="features", input_shape=(9, 9, 3)),
    Conv2D(4, 1, trainable=False),
    MaxPooling2D(3, strides=1, padding="same"), AveragePooling2D((2, 3)), GlobalAveragePooling2D(),
], ids=lambda layer: type(layer).__name__)
def test_get_config_round_trip(layer):
    copy = deserialize(serialize(layer))
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()


# --------------------------------------------------------------------------------------------------
# Weights and values

def test_conv_kernel_follows_keras_layout_and_glorot_fans(conv_backend):
    layer = Conv2D(64, 3)
    layer(images(1, 5, 5, 32))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 32, 64) and bias.shape == (64,) and not bias.any()
    limit = math.sqrt(6 / (3 * 3 * 32 + 3 * 3 * 64))  # fans KH·KW·C and KH·KW·F, as Keras
    assert 0.99 * limit < np.abs(kernel).max() <= limit
    assert layer.count_params() == 3 * 3 * 32 * 64 + 64
    no_bias = Conv2D(64, 3, use_bias=False)
    no_bias.build((None, 5, 5, 32))
    assert [w.shape for w in no_bias.weights] == [(3, 3, 32, 64)]


def test_conv_layer_computes_the_reference_convolution(conv_backend):
    x = images(3, 7, 6, 2)
    layer = Conv2D(5, (3, 2), strides=(2, 1), padding="same", activation="tanh")
    output = layer(x)
    kernel, bias = layer.get_weights()
    expected = np.empty((3, 4, 6, 5), dtype=np.float32)
    axonal.backend.reference.conv2d_forward(expected, x, kernel, bias, (2, 1), (1, 1, 0, 1), "tanh", 0.0)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_pools_compute_the_window_maximum_and_mean(conv_backend):
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(MaxPooling2D(2)(x)[0, :, :, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(AveragePooling2D(2)(x)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    # 'same' with a 3x3 window: the corner windows hold 4 inputs, padding is not counted.
    np.testing.assert_allclose(AveragePooling2D(3, strides=1, padding="same")(x)[0, 0, 0, 0], (0 + 1 + 4 + 5) / 4)
    np.testing.assert_allclose(GlobalAveragePooling2D()(x), [[7.5]])


def test_backward_passes_return_input_shaped_gradients(conv_backend):
    x = images(3, 6, 5, 2)
    for layer in (Conv2D(4, 3, padding="same"), MaxPooling2D(2, padding="same"), AveragePooling2D(3, 1),
                  GlobalAveragePooling2D()):
        y = layer(x)
        layer.forward(x, training=True)
        assert layer.backward(np.ones_like(y)).shape == x.shape
    pool = GlobalAveragePooling2D()
    pool(x)
    pool.forward(x, training=True)
    np.testing.assert_allclose(pool.backward(np.ones((3, 2), np.float32)), np.full(x.shape, 1 / 30), rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Models

def test_seed_cnn_summary_reproduces_keras_counts():
    lines = []
    seed_cnn().summary(line_length=88, print_fn=lines.append)
    text = lines[0]
    rows = [line for line in text.splitlines() if "(Conv2D)" in line or "(Dense)" in line]
    counts = [row.split("│")[-2].strip() if "│" in row else row.split("|")[-2].strip() for row in rows]
    assert counts == ["320", "9,248", "18,496", "36,928", "1,049,600", "1,049,600", "10,250"]
    for shape in ("(None, 26, 26, 32)", "(None, 12, 12, 32)", "(None, 4, 4, 64)", "(None, 1024)"):
        assert shape in text
    assert "Total params: 2,174,442 (8.29 MB)" in text


def bright_half_images(n, seed):
    """10x10 noise images with a brighter left (class 0) or right (class 1) half."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.5, (n, 10, 10, 1)).astype(np.float32)
    for index, label in enumerate(labels):
        x[index, :, 5 * label:5 * label + 5] += 0.5
    return x, labels


def test_a_small_cnn_learns_which_half_is_bright(conv_backend):
    axonal.set_seed(3)
    x, labels = bright_half_images(300, seed=1)
    x_test, labels_test = bright_half_images(200, seed=2)
    # Eight filters: with four, about one seed in ten starts with every ReLU dead and stays at 0.5.
    model = Sequential([Input(shape=(10, 10, 1)), Conv2D(8, 3, padding="same", activation="relu"),
                        MaxPooling2D(2), Conv2D(8, 3, strides=2, activation="relu"), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=axonal.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, to_categorical(labels, 2), batch_size=32, epochs=8, verbose=0)  # 300 = 9 x 32 + 12
    _, accuracy = model.evaluate(x_test, to_categorical(labels_test, 2), verbose=0)
    assert accuracy >= 0.95


def test_frozen_conv_layer_keeps_its_weights(conv_backend):
    frozen = Conv2D(3, 3, trainable=False)
    model = Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3, padding="same"), frozen, GlobalAveragePooling2D(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    before = frozen.get_weights()
    model.fit(images(8, 6, 6, 1), to_categorical(np.arange(8) % 2, 2), batch_size=4, epochs=1, verbose=0)
    for weight, saved in zip(frozen.get_weights(), before):
        np.testing.assert_array_equal(weight, saved)
