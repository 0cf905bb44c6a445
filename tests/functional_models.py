"""Small functional models that cover the graph features, with data: shared by the functional,
native-loop and device-loop tests.

Each builder returns ``(model, x, y)`` for a compiled model (seeded: the same call builds the same
model). Together they cover: a residual connection (Add), several inputs (Concatenate), several
outputs with their own losses and loss weights, a layer shared by two calls (with Dropout on one
branch), every merge, a tensor read by two layers and also an output, convolutions with a residual
Add and GlobalAveragePooling2D, a frozen layer, and an image output with a per-pixel loss.
"""
from __future__ import annotations

import numpy as np

import axonal
from axonal.layers import (Activation, Add, Average, Concatenate, Conv2D, Dense, Dropout, Flatten,
                           GlobalAveragePooling2D, Input, MaxPooling2D, Maximum, Minimum, Multiply, Subtract,
                           UpSampling2D)
from axonal.models import Model

ROWS = 60


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def residual_mlp():
    axonal.set_seed(11)
    inputs = Input(shape=(10,), name="features")
    h1 = Dense(16, activation="relu")(inputs)
    h2 = Dense(16, activation="relu")(h1)
    outputs = Dense(3, activation="softmax")(Add()([h1, h2]))
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = _rng()
    return model, rng.normal(size=(ROWS, 10)).astype(np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, ROWS)]


def two_inputs():
    axonal.set_seed(12)
    image, numbers = Input(shape=(6, 6, 1), name="image"), Input(shape=(3,), name="numbers")
    seen = Flatten()(MaxPooling2D()(Conv2D(3, 3, activation="relu")(image)))
    joined = Concatenate()([seen, numbers])
    outputs = Dense(2, activation="softmax")(Dense(8, activation="tanh")(joined))
    model = Model([image, numbers], outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = _rng()
    x = [rng.normal(size=(ROWS, 6, 6, 1)).astype(np.float32), rng.normal(size=(ROWS, 3)).astype(np.float32)]
    return model, x, rng.integers(0, 2, ROWS)


def two_outputs():
    axonal.set_seed(13)
    inputs = Input(shape=(7,))
    hidden = Dense(12, activation="relu")(inputs)
    label = Dense(3, activation="softmax", name="label")(hidden)
    box = Dense(2, name="box")(hidden)
    model = Model(inputs, [label, box])
    model.compile(optimizer="sgd", loss={"label": "sparse_categorical_crossentropy", "box": "mse"},
                  loss_weights={"label": 1.0, "box": 0.25}, metrics={"label": ["accuracy"]})
    rng = _rng()
    x = rng.normal(size=(ROWS, 7)).astype(np.float32)
    return model, x, {"label": rng.integers(0, 3, ROWS), "box": rng.normal(size=(ROWS, 2)).astype(np.float32)}


def shared_layer():
    axonal.set_seed(14)
    left, right = Input(shape=(5,), name="left"), Input(shape=(5,), name="right")
    shared = Dense(6, activation="tanh", name="shared")
    a = shared(left)
    b = shared(Dropout(0.25)(right))
    difference = Subtract()([a, b])
    product = Multiply()([a, b])
    outputs = Dense(1, activation="sigmoid")(Concatenate()([difference, product]))
    model = Model([left, right], outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    rng = _rng()
    x = [rng.normal(size=(ROWS, 5)).astype(np.float32) for _ in range(2)]
    return model, x, rng.integers(0, 2, (ROWS, 1)).astype(np.float32)


def every_merge():
    """Maximum, Minimum, Average of three branches; the first branch is also an output (a tensor
    read by two layers and by a loss); a frozen layer in the middle."""
    axonal.set_seed(15)
    inputs = Input(shape=(4,))
    branches = [Dense(5, activation="linear", name=f"branch_{i}")(inputs) for i in range(3)]
    frozen = Dense(5, name="frozen", trainable=False)
    mixed = Average()([Maximum()(branches), Minimum()(branches), frozen(branches[2])])
    outputs = Dense(2, name="main")(Activation("elu")(mixed))
    model = Model(inputs, [outputs, branches[0]])
    model.compile(optimizer="adam", loss="mse", loss_weights=[1.0, 0.1])
    rng = _rng()
    x = rng.normal(size=(ROWS, 4)).astype(np.float32)
    return model, x, [rng.normal(size=(ROWS, 2)).astype(np.float32), rng.normal(size=(ROWS, 5)).astype(np.float32)]


def residual_cnn():
    axonal.set_seed(16)
    inputs = Input(shape=(8, 8, 1))
    c1 = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    c2 = Conv2D(4, 3, padding="same")(c1)
    merged = Activation("relu")(Add()([c1, c2]))
    outputs = Dense(3, activation="softmax")(GlobalAveragePooling2D()(MaxPooling2D()(merged)))
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = _rng()
    return model, rng.normal(size=(ROWS, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, ROWS)


def image_autoencoder():
    """An image out: binary cross-entropy of every pixel, its sigmoid fused into the loss."""
    axonal.set_seed(17)
    inputs = Input(shape=(8, 8, 1))
    code = MaxPooling2D()(Conv2D(4, 3, padding="same", activation="relu")(inputs))
    outputs = Conv2D(1, 3, padding="same", activation="sigmoid")(UpSampling2D()(code))
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images = _rng().random((ROWS, 8, 8, 1), dtype=np.float32)
    return model, images, images


BUILDERS = {builder.__name__: builder for builder in (residual_mlp, two_inputs, two_outputs, shared_layer,
                                                      every_merge, residual_cnn, image_autoencoder)}
