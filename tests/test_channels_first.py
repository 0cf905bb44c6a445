"""``data_format="channels_first"`` on Conv2D, the pooling layers and Flatten: each layer gives, on
(N, C, H, W) data, the channels_last layer's outputs and gradients transposed; configurations
round-trip; a channels_first CNN trains to the channels_last one's result on transposed data; and
the compiled executors say why they do not run it."""
import warnings

import numpy as np
import pytest

import axonal
from axonal import backend as K
from axonal.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                           MaxPooling2D, Reshape)
from axonal.models import Sequential, load_model
from axonal.models.executors import LayerwiseExecutor

TO_LAST, TO_FIRST = (0, 2, 3, 1), (0, 3, 1, 2)

LAYERS = {
    "conv_valid_relu": lambda fmt: Conv2D(4, 3, activation="relu", data_format=fmt),
    "conv_same_strided": lambda fmt: Conv2D(5, (3, 2), strides=(2, 1), padding="same", data_format=fmt),
    "conv_gelu_no_bias": lambda fmt: Conv2D(3, 2, activation="gelu", use_bias=False, data_format=fmt),
    "max_pool": lambda fmt: MaxPooling2D(2, data_format=fmt),
    "max_pool_same_strided": lambda fmt: MaxPooling2D(3, strides=2, padding="same", data_format=fmt),
    "avg_pool": lambda fmt: AveragePooling2D((2, 3), padding="same", data_format=fmt),
    "global_avg_pool": lambda fmt: GlobalAveragePooling2D(data_format=fmt),
    "flatten": lambda fmt: Flatten(data_format=fmt),
}


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    yield
    K.set_image_data_format("channels_last")


def _run(layer, x, dy_of):
    """(y, dx, weight gradients) of one forward/backward through ``layer`` on ``x``."""
    y = layer(x).copy()  # builds the layer
    dy = dy_of(y)
    layer.forward(x, True)
    dx = layer.backward(dy).copy()
    return y, dx, [g.copy() for g in layer.gradients]


@pytest.mark.parametrize("name", LAYERS)
def test_channels_first_is_channels_last_transposed_forward_and_backward(name, backend):
    rng = np.random.default_rng(7)
    x_first = rng.normal(size=(3, 2, 7, 6)).astype(np.float32)  # odd sizes, C != H != W
    x_last = np.ascontiguousarray(x_first.transpose(TO_LAST))
    first, last = LAYERS[name]("channels_first"), LAYERS[name]("channels_last")
    last(x_last[:1])
    first(x_first[:1])
    first.set_weights(last.get_weights())
    dy_first = {}

    def first_dy(y):
        dy_first["value"] = rng.normal(size=y.shape).astype(np.float32)
        return dy_first["value"]

    y_first, dx_first, grads_first = _run(first, x_first, first_dy)

    def last_dy(y):  # the same gradient, laid out as the channels_last layer's output
        dy = dy_first["value"]
        if name == "flatten":  # both outputs are (N, H·W·C) in channels_last order
            return dy
        return np.ascontiguousarray(dy.transpose(TO_LAST)) if dy.ndim == 4 else dy

    y_last, dx_last, grads_last = _run(last, x_last, last_dy)
    if y_first.ndim == 4:
        y_last = y_last.transpose(TO_FIRST)
    assert y_first.shape == y_last.shape
    np.testing.assert_array_equal(y_first, y_last)
    np.testing.assert_array_equal(dx_first, dx_last.transpose(TO_FIRST))
    for got, expected in zip(grads_first, grads_last, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_output_shapes_follow_the_data_format():
    assert Conv2D(8, 3, data_format="channels_first").compute_output_shape((None, 3, 32, 30)) == (None, 8, 30, 28)
    assert MaxPooling2D(2, data_format="channels_first").compute_output_shape((None, 3, 32, 30)) == (None, 3, 16, 15)
    assert GlobalAveragePooling2D(data_format="channels_first").compute_output_shape((None, 3, 9, 9)) == (None, 3)
    model = Sequential([Input(shape=(1, 28, 28)), Conv2D(4, 3, data_format="channels_first"),
                        AveragePooling2D(2, data_format="channels_first"), Flatten(data_format="channels_first")])
    assert [layer.output_shape for layer in model.layers] == [(None, 4, 26, 26), (None, 4, 13, 13), (None, 676)]


def test_flatten_moves_channels_last_as_keras_does():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x), x.transpose(TO_LAST).reshape(2, -1))
    x3 = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # any rank: axis 1 goes last
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x3), x3.transpose(0, 2, 1).reshape(2, -1))
    x2 = np.ones((2, 5), np.float32)  # nothing to move
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x2), x2)


def test_none_means_image_data_format_when_the_layer_is_created():
    assert Conv2D(2, 3).data_format == "channels_last"
    K.set_image_data_format("channels_first")
    layers = [Conv2D(2, 3), MaxPooling2D(), AveragePooling2D(), GlobalAveragePooling2D(), Flatten()]
    assert {layer.data_format for layer in layers} == {"channels_first"}
    assert Conv2D(2, 3, data_format="channels_last").data_format == "channels_last"
    K.set_image_data_format("channels_last")
    assert layers[0].data_format == "channels_first"  # fixed at creation, as in Keras
    assert Conv2D(2, 3, data_format="Channels_First").data_format == "channels_first"


@pytest.mark.parametrize("name", LAYERS)
def test_get_config_round_trips_the_data_format(name):
    layer = LAYERS[name]("channels_first")
    config = layer.get_config()
    assert config["data_format"] == "channels_first"
    K.set_image_data_format("channels_last")  # the stored value wins over the global default
    assert type(layer).from_config(config).get_config() == config
    assert LAYERS[name](None).get_config()["data_format"] == "channels_last"  # None is stored resolved


def test_a_saved_channels_first_model_loads_and_predicts_the_same(tmp_path):
    model = Sequential([Input(shape=(2, 8, 8)), Conv2D(3, 3, activation="relu", data_format="channels_first"),
                        MaxPooling2D(2, data_format="channels_first"), Flatten(data_format="channels_first"),
                        Dense(2)])
    x = np.random.default_rng(0).normal(size=(5, 2, 8, 8)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    assert [layer.data_format for layer in loaded.layers[:3]] == ["channels_first"] * 3
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


@pytest.mark.parametrize("bad", ["channels_middle", "NCHW", 1, ""])
def test_a_wrong_data_format_is_refused_with_the_choices(bad):
    for make in (lambda: Conv2D(2, 3, data_format=bad), lambda: MaxPooling2D(data_format=bad),
                 lambda: GlobalAveragePooling2D(data_format=bad), lambda: Flatten(data_format=bad)):
        with pytest.raises(ValueError, match=r"data_format must be 'channels_last' .* 'channels_first' .*received"):
            make()


def test_channels_first_input_of_the_wrong_rank_is_explained():
    model = Sequential([Input(shape=(28, 28))])
    with pytest.raises(ValueError, match=r"channels_first.*\(batch, channels, height, width\).*\(None, 28, 28\).*"
                                         r"x\.reshape\(-1, 1, 28, 28\)"):
        model.add(Conv2D(2, 3, data_format="channels_first"))


def test_a_window_larger_than_the_channels_first_image_names_height_and_width():
    with pytest.raises(ValueError, match="5x5 window but its input images are 4x4"):
        Sequential([Input(shape=(3, 4, 4)), Conv2D(2, 5, data_format="channels_first")])


def test_softmax_over_channels_first_convolution_outputs_is_refused():
    with pytest.raises(ValueError, match="softmax.*channels_first.*Fix"):
        Conv2D(4, 1, activation="softmax", data_format="channels_first")


def _cnn(data_format, input_shape):
    axonal.set_seed(11)
    model = Sequential([Input(shape=input_shape),
                        Conv2D(6, 3, activation="relu", padding="same", data_format=data_format),
                        MaxPooling2D(2, data_format=data_format),
                        Conv2D(8, 3, activation="relu", data_format=data_format),
                        AveragePooling2D(2, padding="same", data_format=data_format),
                        Flatten(data_format=data_format), Dropout(0.25), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_channels_first_cnn_trains_to_the_channels_last_result_on_transposed_data():
    rng = np.random.default_rng(3)
    x_last = rng.normal(size=(96, 10, 10, 2)).astype(np.float32)
    y = (x_last[:, :5, :, 0].mean(axis=(1, 2)) > x_last[:, 5:, :, 1].mean(axis=(1, 2))).astype(np.int64)
    y += (x_last[..., 0].mean(axis=(1, 2)) > 0.1)
    x_first = np.ascontiguousarray(x_last.transpose(TO_FIRST))
    last, first = _cnn("channels_last", (10, 10, 2)), _cnn("channels_first", (2, 10, 10))
    for a, b in zip(last.get_weights(), first.get_weights(), strict=True):  # the same initial weights
        np.testing.assert_array_equal(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the channels_last model runs natively without a word
        history_last = last.fit(x_last, y, batch_size=16, epochs=4, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # so does the channels_first one (native_layout.py)
        history_first = first.fit(x_first, y, batch_size=16, epochs=4, verbose=0)
    np.testing.assert_allclose(history_first.history["loss"], history_last.history["loss"], rtol=1e-5)
    assert history_first.history["accuracy"] == history_last.history["accuracy"]
    assert history_last.history["loss"][-1] < history_last.history["loss"][0]  # it did learn
    for a, b in zip(last.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(first.predict(x_first, verbose=0), last.predict(x_last, verbose=0), atol=1e-5)


def test_a_channels_first_model_runs_natively_with_the_bits_of_the_layer_by_layer_path(monkeypatch):
    """Transposes only where the layout changes (models/executors/native_layout.py): the model's
    input, and before the Flatten that moves the channels; the weights are the same bits."""
    from model_checks import fit_on_path

    x = np.random.default_rng(4).normal(size=(21, 2, 6, 6)).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    runs = []
    for use_native in (False, True):
        axonal.set_seed(9)
        model = Sequential([Input(shape=(2, 6, 6)), Conv2D(3, 3, data_format="channels_first", name="conv_cf"),
                            MaxPooling2D(2, data_format="channels_first"), Flatten(data_format="channels_first"),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        history = fit_on_path(model, x, y, use_native, monkeypatch, batch_size=4, epochs=2)
        runs.append((model, history.history))
    (python_model, python_history), (native_model, native_history) = runs
    assert native_history == python_history
    for ours, theirs in zip(native_model.get_weights(), python_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_a_channels_first_flatten_moving_channels_runs_natively(monkeypatch):
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda *args: pytest.fail("ran layer by layer"))
    for model, shape in ((Sequential([Input(shape=(2, 3, 3)), Flatten(data_format="channels_first"), Dense(1)]),
                          (4, 2, 3, 3)),
                         (Sequential([Input(shape=(5,)), Flatten(data_format="channels_first"), Dense(1)]), (4, 5))):
        model.compile(optimizer="sgd", loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.fit(np.ones(shape, np.float32), np.ones((4, 1), np.float32), verbose=0)


def test_keras_2_program_branching_on_image_data_format_runs_either_way():
    """The classic mnist_cnn.py shapes its data from K.image_data_format(); both branches train."""
    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 12, 12)).astype(np.float32), rng.integers(0, 2, 64)
    losses = {}
    for data_format in ("channels_last", "channels_first"):
        K.set_image_data_format(data_format)
        if K.image_data_format() == "channels_first":
            x, input_shape = images.reshape(-1, 1, 12, 12), (1, 12, 12)
        else:
            x, input_shape = images.reshape(-1, 12, 12, 1), (12, 12, 1)
        axonal.set_seed(5)
        model = Sequential([Input(shape=input_shape), Conv2D(4, 3, activation="relu"), MaxPooling2D(2),
                            Flatten(), Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the channels_first fast-path note
            losses[data_format] = model.fit(x, labels, epochs=2, batch_size=16, verbose=0).history["loss"]
    np.testing.assert_allclose(losses["channels_first"], losses["channels_last"], rtol=1e-5)
