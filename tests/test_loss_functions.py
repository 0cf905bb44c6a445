"""Loss functions and loss objects called on arrays, as Keras programs call them outside fit.

Their values equal Keras 3.15.1's, recorded once by tests/fixtures/make_loss_fixtures.py (no Keras
here); the rest checks the refusals and that a loss object's value agrees with what fit reports.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import axonal
from axonal import losses
from axonal.layers import Dense, Input
from axonal.models import Sequential

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_loss_fixtures as cases  # noqa: E402  (the inputs the fixture was made from)

RECORDED = json.loads((FIXTURES / "keras_losses.json").read_text())


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_loss_values_equal_keras(name):
    ours = cases.outputs(losses)[name]
    np.testing.assert_allclose(ours, RECORDED[name], rtol=1e-6, atol=2e-7)


def test_functions_return_one_loss_per_sample_in_float32():
    values = losses.categorical_crossentropy(cases.ONE_HOT, cases.PROBABILITIES)
    assert values.shape == (6,) and values.dtype == np.float32
    assert isinstance(losses.SparseCategoricalCrossentropy()(cases.LABELS, cases.PROBABILITIES), np.float32)


@pytest.mark.parametrize("call, message", [
    (lambda: losses.categorical_crossentropy(np.eye(3), np.full((3, 4), 0.25)), r"y_true of shape \(3, 3\)"),
    (lambda: losses.sparse_categorical_crossentropy([0, 4], np.full((2, 4), 0.25)), "class ids 0..3"),
    (lambda: losses.sparse_categorical_crossentropy([0.5, 1], np.full((2, 4), 0.25)), "integers"),
    (lambda: losses.sparse_categorical_crossentropy(np.zeros((2, 4)), np.full((2, 4), 0.25)), "one class id per row"),
    (lambda: losses.MeanSquaredError()(np.zeros((3, 1)), np.ones((3, 1)), sample_weight=[1, 2]), "one weight per"),
])
def test_bad_arrays_are_refused_with_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_loss_object_gives_the_loss_fit_reports():
    axonal.set_seed(0)
    x = np.random.default_rng(1).normal(size=(32, 5)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 3, 32)
    model = Sequential([Input(shape=(5,)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    reported = model.evaluate(x, y, batch_size=32, verbose=0)
    direct = losses.SparseCategoricalCrossentropy()(y, model.predict(x, verbose=0))
    assert direct == pytest.approx(reported, rel=1e-5)


@pytest.mark.parametrize("function, name", [(losses.categorical_crossentropy, "categorical_crossentropy"),
                                            (losses.sparse_categorical_crossentropy, "sparse_categorical_crossentropy"),
                                            (losses.binary_crossentropy, "binary_crossentropy"),
                                            (losses.mse, "mean_squared_error")])
def test_compile_takes_the_keras_loss_functions_as_their_names(function, name):
    assert type(losses.get(function)) is type(losses.get(name))


def test_a_loss_function_in_compile_trains_as_its_name():
    x = np.random.default_rng(1).normal(size=(32, 5)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 3, 32)
    results = []
    for loss in (losses.sparse_categorical_crossentropy, "sparse_categorical_crossentropy"):
        axonal.set_seed(0)
        model = Sequential([Input(shape=(5,)), Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss=loss)
        results.append(model.fit(x, y, epochs=2, verbose=0).history["loss"])
    assert results[0] == results[1]


def test_a_python_function_that_is_no_fused_loss_is_refused():
    with pytest.raises(TypeError, match="Unsupported loss"):
        losses.get(losses.mean_absolute_error)
    with pytest.raises(TypeError, match="Unsupported loss"):
        losses.get(lambda y_true, y_pred: y_pred)
