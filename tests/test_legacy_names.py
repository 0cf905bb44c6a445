"""Keras 1/2 spellings from old tutorials: accepted, with a DeprecationWarning naming the modern one."""
import warnings

import numpy as np
import pytest

import axonal
from axonal import initializers, regularizers
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.optimizers import SGD, Adadelta, Adagrad, Adam, RMSprop


def test_input_dim_means_input_shape():
    with pytest.deprecated_call(match=r"Dense: argument input_dim=8 .* use input_shape=\(8,\) instead"):
        layer = Dense(12, input_dim=8, activation="relu")
    assert layer.input_shape_arg == (8,)
    with pytest.deprecated_call():
        model = Sequential([Dense(12, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
    assert model.input_shape == (None, 8) and model.count_params() == 8 * 12 + 12 + 13


def test_keras_1_dense_arguments():
    with pytest.deprecated_call() as record:
        layer = Dense(output_dim=3, init="uniform", W_regularizer=regularizers.l2(0.1), b_regularizer="l1")
    messages = " | ".join(str(w.message) for w in record)
    assert len(record) == 4
    for old, new in [("output_dim=3", "units=3"), ("init='uniform'", "kernel_initializer='uniform'"),
                     ("W_regularizer=", "kernel_regularizer="), ("b_regularizer='l1'", "bias_regularizer='l1'")]:
        assert f"argument {old}" in messages and f"use {new}" in messages
    assert layer.units == 3 and isinstance(layer.kernel_initializer, initializers.RandomUniform)
    assert (layer.kernel_initializer.minval, layer.kernel_initializer.maxval) == (-0.05, 0.05)
    assert layer.kernel_regularizer.l2 == 0.1 and isinstance(layer.bias_regularizer, regularizers.L1)


def test_the_warning_points_at_the_calling_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Dense(2, input_dim=3)
    assert len(caught) == 1 and caught[0].filename == __file__


def test_both_spellings_at_once_are_refused():
    with pytest.raises(TypeError, match=r"both output_dim=3 and units=.*Fix: pass only units=3"):
        Dense(4, output_dim=3)
    with pytest.raises(TypeError, match="both lr=0.1 and learning_rate"):
        SGD(learning_rate=0.2, lr=0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nb_epochs'"):
        Dense(2).__init__(2, nb_epochs=3)


@pytest.mark.parametrize("optimizer", [SGD, RMSprop, Adagrad, Adadelta, Adam])
def test_lr_means_learning_rate(optimizer):
    with pytest.deprecated_call(match=rf"{optimizer.__name__}: argument lr=0.25 .* use learning_rate=0.25"):
        instance = optimizer(lr=0.25)
    assert instance.learning_rate == 0.25 and instance.get_config()["learning_rate"] == 0.25


def test_a_keras_1_script_runs(backend):
    """The Pima-diabetes tutorial shape, as written for Keras 1: input_dim, init, lr, nb_epoch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    axonal.set_seed(1)
    with pytest.deprecated_call():
        model = Sequential([Dense(12, input_dim=8, init="uniform", activation="relu"),
                            Dense(1, init="uniform", activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer=Adam(lr=0.01), metrics=["accuracy"])
    with pytest.deprecated_call(match=r"Sequential.fit: argument nb_epoch=30 .* use epochs=30"):
        history = model.fit(x, y, nb_epoch=30, batch_size=10, verbose=0)
    assert len(history.history["loss"]) == 30 and history.history["accuracy"][-1] > 0.9
