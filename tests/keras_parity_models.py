"""Five functional models written once for Keras 3 and axonal alike: the same program, only the
module it takes its layers from differs (``keras`` or ``axonal``).

``tests/fixtures/make_keras_fixtures.py`` builds them with Keras 3.15 and records Keras' numbers;
``tests/test_keras_parity.py`` builds them with axonal and compares (no Keras at test time).

Each builder takes the framework module and returns ``(model, loss, loss_weights, data)`` where
``data(rng)`` makes the inputs and targets of one batch in the model's input/output order.
"""
from __future__ import annotations

import numpy as np

BATCH = 8


def residual_mlp(framework):
    layers = framework.layers
    inputs = layers.Input(shape=(12,), name="features")
    hidden = layers.Dense(16, activation="relu", name="hidden")(inputs)
    block = layers.Dense(16, activation="relu", name="block")(hidden)
    merged = layers.Add(name="residual")([hidden, block])
    outputs = layers.Dense(4, activation="softmax", name="classes")(merged)
    model = framework.Model(inputs, outputs, name="residual_mlp")

    def data(rng):
        return [rng.normal(size=(BATCH, 12)).astype(np.float32)], [np.eye(4, dtype=np.float32)[rng.integers(0, 4, BATCH)]]
    return model, "categorical_crossentropy", None, data


def two_inputs(framework):
    layers = framework.layers
    pixels = layers.Input(shape=(10,), name="pixels")
    numbers = layers.Input(shape=(3,), name="numbers")
    joined = layers.Concatenate(name="joined")([layers.Dense(6, activation="tanh", name="seen")(pixels), numbers])
    outputs = layers.Dense(1, activation="sigmoid", name="score")(layers.Dense(5, activation="relu", name="mix")(joined))
    model = framework.Model([pixels, numbers], outputs, name="two_inputs")

    def data(rng):
        x = [rng.normal(size=(BATCH, 10)).astype(np.float32), rng.normal(size=(BATCH, 3)).astype(np.float32)]
        return x, [rng.integers(0, 2, (BATCH, 1)).astype(np.float32)]
    return model, "binary_crossentropy", None, data


def two_outputs(framework):
    layers = framework.layers
    inputs = layers.Input(shape=(9,), name="features")
    hidden = layers.Dense(10, activation="relu", name="trunk")(inputs)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    box = layers.Dense(2, name="box")(hidden)
    model = framework.Model(inputs, [label, box], name="two_outputs")

    def data(rng):
        x = [rng.normal(size=(BATCH, 9)).astype(np.float32)]
        return x, [rng.integers(0, 3, BATCH).astype(np.int64), rng.normal(size=(BATCH, 2)).astype(np.float32)]
    return model, {"label": "sparse_categorical_crossentropy", "box": "mse"}, {"label": 1.0, "box": 0.3}, data


def shared_layer(framework):
    layers = framework.layers
    left = layers.Input(shape=(6,), name="left")
    right = layers.Input(shape=(6,), name="right")
    shared = layers.Dense(5, activation="tanh", name="shared")
    a, b = shared(left), shared(right)
    merged = layers.Concatenate(name="joined")([layers.Subtract(name="difference")([a, b]),
                                                layers.Multiply(name="product")([a, b])])
    outputs = layers.Dense(1, activation="sigmoid", name="same")(merged)
    model = framework.Model([left, right], outputs, name="shared_layer")

    def data(rng):
        x = [rng.normal(size=(BATCH, 6)).astype(np.float32) for _ in range(2)]
        return x, [rng.integers(0, 2, (BATCH, 1)).astype(np.float32)]
    return model, "binary_crossentropy", None, data


def residual_cnn(framework):
    layers = framework.layers
    inputs = layers.Input(shape=(8, 8, 2), name="image")
    first = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
    second = layers.Conv2D(4, 3, padding="same", name="conv_b")(first)
    merged = layers.Activation("relu", name="relu")(layers.Add(name="residual")([first, second]))
    pooled = layers.GlobalAveragePooling2D(name="pool")(layers.MaxPooling2D(2, name="max")(merged))
    outputs = layers.Dense(3, activation="softmax", name="classes")(pooled)
    model = framework.Model(inputs, outputs, name="residual_cnn")

    def data(rng):
        return [rng.normal(size=(BATCH, 8, 8, 2)).astype(np.float32)], [rng.integers(0, 3, BATCH).astype(np.int64)]
    return model, "sparse_categorical_crossentropy", None, data


BUILDERS = {builder.__name__: builder for builder in (residual_mlp, two_inputs, two_outputs, shared_layer,
                                                      residual_cnn)}
OPTIMIZERS = {"sgd": {"learning_rate": 0.1}, "adam": {"learning_rate": 0.01}}


def weights_by_layer(model) -> dict[str, np.ndarray]:
    """``layer/index`` -> a copy of each weight, for every layer that has weights."""
    return {f"{layer.name}/{i}": np.array(weight, dtype=np.float32)
            for layer in model.layers for i, weight in enumerate(layer.get_weights())}
