"""Weight regularisers: Keras' penalties and defaults, their gradients, and their effect on training."""
import tracemalloc

import numpy as np
import pytest

import axonal
from axonal import regularizers
from axonal.layers import Conv1D, Conv2D, Dense, Input, deserialize, serialize
from axonal.models import Sequential
from axonal.optimizers import SGD, Adam

W = np.array([[0.5, -1.0], [0.0, 2.0]])


@pytest.mark.parametrize("identifier, l1, l2", [
    ("l1", 0.01, 0.0), ("l2", 0.0, 0.01), ("l1_l2", 0.01, 0.01), ("L1L2", 0.0, 0.0),
    (regularizers.l2(0.3), 0.0, 0.3), (regularizers.L1L2(l1=0.2, l2=0.1), 0.2, 0.1),
    ({"class_name": "L1", "config": {"l1": 0.4}}, 0.4, 0.0),
])
def test_penalty_and_gradient_follow_keras(identifier, l1, l2):
    regularizer = regularizers.get(identifier)
    # Σ|w| = 3.5, Σw² = 5.25; d/dw = l1·sign(w) + 2·l2·w (sign(0) = 0).
    assert regularizer(W) == pytest.approx(l1 * 3.5 + l2 * 5.25, rel=1e-12)
    grad = np.ones_like(W)
    regularizer.add_gradient(grad, W, np.empty_like(W))
    np.testing.assert_allclose(grad, 1 + l1 * np.sign(W) + 2 * l2 * W, rtol=1e-12)


def test_gradient_matches_finite_differences():
    regularizer = regularizers.L1L2(l1=0.3, l2=0.7)
    weight = np.array([[0.4, -1.3, 2.2]])
    grad = np.zeros_like(weight)
    regularizer.add_gradient(grad, weight, np.empty_like(weight))
    step = 1e-6
    numeric = [(regularizer(weight + step * e) - regularizer(weight - step * e)) / (2 * step)
               for e in np.eye(3).reshape(3, 1, 3)]
    np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-6)


def test_serialization_round_trip_and_errors():
    for regularizer in (regularizers.L1(0.2), regularizers.L2(0.05), regularizers.L1L2(0.1, 0.3)):
        restored = regularizers.get(regularizers.serialize(regularizer))
        assert type(restored) is type(regularizer) and restored.get_config() == regularizer.get_config()
    assert regularizers.get(None) is None and regularizers.serialize(None) is None
    with pytest.raises(ValueError, match=r"l2=-0.1.*Fix"):
        regularizers.L2(-0.1)
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        regularizers.get("l3")


def test_penalty_and_gradient_allocate_nothing_with_a_scratch_array():
    weight, grad, scratch = (np.ones((256, 256), np.float32) for _ in range(3))
    regularizer = regularizers.L1L2(0.01, 0.01)
    regularizer(weight, scratch), regularizer.add_gradient(grad, weight, scratch)  # warm up
    tracemalloc.start()
    try:
        regularizer(weight, scratch)
        regularizer.add_gradient(grad, weight, scratch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4096  # the weight is 256 KB: no temporary of its size


def linear_model(regularizer, trainable=True):
    axonal.set_seed(3)
    model = Sequential([Input(shape=(2,)), Dense(1, kernel_regularizer=regularizer, bias_regularizer="l1",
                                                 trainable=trainable)])
    model.set_weights([np.array([[0.5], [-1.5]], np.float32), np.array([0.25], np.float32)])
    model.compile(optimizer=SGD(0.1), loss="mse")
    return model


X = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
Y = np.array([[1.0], [0.0]], np.float32)


def test_reported_loss_and_sgd_step_include_the_penalties(backend):
    model = linear_model(regularizers.l2(0.1))
    kernel, bias = np.array([[0.5], [-1.5]]), np.array([0.25])
    error = X @ kernel + bias - Y
    penalty = 0.1 * np.sum(kernel**2) + 0.01 * np.sum(np.abs(bias))
    assert model.test_on_batch(X, Y) == pytest.approx(np.mean(error**2) + penalty, rel=1e-6)
    assert model.train_on_batch(X, Y) == pytest.approx(np.mean(error**2) + penalty, rel=1e-6)
    kernel_grad = X.T @ (2 * error / 2) + 2 * 0.1 * kernel
    bias_grad = np.sum(2 * error / 2, axis=0) + 0.01 * np.sign(bias)
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * kernel_grad, rtol=1e-6)
    np.testing.assert_allclose(new_bias, bias - 0.1 * bias_grad, rtol=1e-6)


def test_frozen_layers_add_no_penalty(backend):
    frozen = linear_model("l2", trainable=False)
    plain = linear_model(None, trainable=False)
    assert frozen.test_on_batch(X, Y) == pytest.approx(plain.test_on_batch(X, Y), rel=1e-7)


def test_regularizers_round_trip_through_the_layer_config():
    layer = Dense(4, kernel_regularizer=regularizers.L1L2(0.1, 0.2), bias_regularizer="l2")
    config = serialize(layer)["config"]
    assert config["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}
    assert config["bias_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    restored = deserialize({"class_name": "Dense", "config": {**config, "name": "restored"}})
    assert restored.kernel_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}
    assert isinstance(restored.bias_regularizer, regularizers.L2)


def test_l2_shrinks_the_weights_of_a_trained_model(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    norms = {}
    for factor in (0.0, 0.05):
        axonal.set_seed(11)
        model = Sequential([Input(shape=(8,)),
                            Dense(16, activation="relu", kernel_regularizer=regularizers.l2(factor)),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
        norms[factor] = np.linalg.norm(model.layers[0].get_weights()[0])
        assert history.history["accuracy"][-1] > 0.9
    assert norms[0.05] < 0.7 * norms[0.0]


@pytest.mark.parametrize("make", [lambda **kw: Conv2D(2, 2, **kw), lambda **kw: Conv1D(2, 2, **kw)])
def test_convolutions_take_regularizers_and_round_trip_them(make, backend):
    layer = make(kernel_regularizer=regularizers.l2(0.1), bias_regularizer="l1", bias_initializer="ones")
    shape = (3, 3, 1) if isinstance(layer, Conv2D) else (3, 1)
    model = Sequential([Input(shape=shape), layer])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((2,) + shape, np.float32)
    y = np.ones((2,) + model.output_shape[1:], np.float32)
    kernel = layer.get_weights()[0]
    penalty = 0.1 * np.sum(kernel.astype(np.float64) ** 2) + 0.01 * 2  # the bias: ones, L1 of 0.01
    assert model.test_on_batch(x, y) == pytest.approx(0.0 + penalty, rel=1e-6)  # zeros in: the output is the bias
    config = serialize(layer)["config"]
    restored = deserialize({"class_name": type(layer).__name__, "config": {**config, "name": "restored"}})
    assert restored.kernel_regularizer.get_config() == {"l2": 0.1}
    assert isinstance(restored.bias_regularizer, regularizers.L1)


@pytest.mark.parametrize("argument", [{"dilation_rate": 2}, {"groups": 2}])
def test_conv2d_refuses_what_it_does_not_compute(argument):
    with pytest.raises(ValueError, match=f"{next(iter(argument))}=2 is not supported.*Fix:"):
        Conv2D(4, 3, **argument)
