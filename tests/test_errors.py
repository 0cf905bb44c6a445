"""Bad input raises one clear exception naming the layer or argument, the expected and the received
value, and a likely fix."""
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Flatten, Input
from axonal.losses import CategoricalCrossentropy
from axonal.models import Sequential

pytestmark = pytest.mark.usefixtures("backend")

FEATURES, CLASSES = 6, 3


@pytest.fixture
def model():
    axonal.set_seed(0)
    model = Sequential([Input(shape=(FEATURES,)), Dense(8, activation="relu", name="hidden"),
                        Dense(CLASSES, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    x = np.random.default_rng(0).random((10, FEATURES)).astype(np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[np.arange(10) % CLASSES]
    return x, y


def test_wrong_input_width(model, data):
    x, y = data
    with pytest.raises(ValueError) as error:
        model.fit(x[:, :4], y, verbose=0)
    message = str(error.value)
    assert "'hidden'" in message and "expected shape (None, 6)" in message
    assert "received x with shape (10, 4)" in message and "Fix:" in message


def test_images_fed_to_a_flat_model_suggest_a_reshape(model):
    with pytest.raises(ValueError, match=r"received x with shape \(10, 2, 3\).*x.reshape\(10, 6\)"):
        model.predict(np.zeros((10, 2, 3)), verbose=0)


def test_one_sample_without_its_batch_axis_suggests_adding_it(model):
    with pytest.raises(ValueError, match=r"received x with shape \(6,\)\. Fix: add the batch axis, x\[None\]") as error:
        model.predict(np.zeros(FEATURES), verbose=0)
    assert "Input(shape=())" not in str(error.value)  # a shape Input refuses


def test_dense_on_images_suggests_flatten():
    with pytest.raises(ValueError, match=r"'dense_on_images'.*\(None, 28, 28\).*Flatten\(\)"):
        Sequential([Input(shape=(28, 28)), Dense(10, name="dense_on_images")])
    Sequential([Input(shape=(28, 28)), Flatten(), Dense(10)])  # the fix works


def test_wrong_label_width(model, data):
    x, _ = data
    with pytest.raises(ValueError) as error:
        model.fit(x, np.zeros((10, 4)), verbose=0)
    message = str(error.value)
    assert "'categorical_crossentropy'" in message and "(10, 4)" in message
    assert "'output' produces (None, 3)" in message and "Fix:" in message


def test_class_ids_given_to_categorical_crossentropy(model, data):
    x, _ = data
    with pytest.raises(ValueError, match=r"to_categorical\(y, 3\).*sparse_categorical_crossentropy"):
        model.fit(x, np.arange(10) % CLASSES, verbose=0)


def test_sparse_labels_out_of_range(data):
    x, _ = data
    model = Sequential([Input(shape=(FEATURES,)), Dense(CLASSES, activation="softmax", name="output")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\) for output layer 'output', "
                                         r"received values from 0 to 9"):
        model.fit(x, np.arange(10), verbose=0)


def test_string_and_object_arrays(model, data):
    x, y = data
    with pytest.raises(TypeError, match=r"x must hold numbers, received an array of dtype <U\d+ "
                                        r"\(shape \(10, 6\)\)"):
        model.fit(x.astype(str), y, verbose=0)
    with pytest.raises(TypeError, match=r"y must hold numbers, received an array of dtype object"):
        model.fit(x, y.astype(object), verbose=0)


def test_integer_and_boolean_arrays_are_converted(model, data):
    x, y = data
    model.fit((x > 0.5).astype(int), y.astype(bool), verbose=0)
    assert model.predict(x > 0.5, verbose=0).dtype == np.float32


def test_nan_and_infinity(model, data):
    x, y = data
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values "
                                         r"\(1 of 60; the first is nan at index \(3, 2\)\)"):
        model.fit(x, y, verbose=0)
    y[1, 0] = np.inf
    with pytest.raises(ValueError, match=r"y contains NaN or infinite values"):
        model.evaluate(np.zeros((10, FEATURES)), y, verbose=0)


def test_empty_arrays(model, data):
    _, y = data
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 6\)\)"):
        model.fit(np.zeros((0, FEATURES)), y[:0], verbose=0)


@pytest.mark.parametrize("batch_size", [0, -4, 2.5])
def test_batch_size_must_be_positive(model, data, batch_size):
    x, y = data
    with pytest.raises(ValueError, match=rf"batch_size must be a positive integer, received {batch_size}"):
        model.fit(x, y, batch_size=batch_size, verbose=0)


def test_unknown_names(model):
    with pytest.raises(ValueError, match=r"Unknown optimizer 'rmsprob'.*Did you mean 'rmsprop'\?"):
        model.compile(optimizer="rmsprob", loss="mse")
    with pytest.raises(ValueError, match=r"Unknown loss 'categorical_crossentropie'.*"
                                         r"Did you mean 'categorical_crossentropy'\?"):
        model.compile(optimizer="adam", loss="categorical_crossentropie")
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'.*Did you mean 'relu'\?"):
        Dense(3, activation="rleu")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'"):
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acuracy"])


def test_fit_and_evaluate_before_compile(data):
    x, y = data
    model = Sequential([Input(shape=(FEATURES,)), Dense(CLASSES)], name="uncompiled")
    with pytest.raises(RuntimeError, match=r"'uncompiled' must be compiled before fit\(\).*model.compile\("):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match=r"before evaluate\(\)"):
        model.evaluate(x, y)
    assert model.predict(x, verbose=0).shape == (10, CLASSES)  # predict needs no compile, as in Keras


def test_sample_count_mismatch(model, data):
    x, y = data
    with pytest.raises(ValueError, match=r"received x with 10 \(shape \(10, 6\)\) and y with 9"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[0\] with 4 .* validation_data\[1\] with 3"):
        model.fit(x, y, verbose=0, validation_data=(x[:4], y[:3]))


def test_cross_entropy_needs_a_softmax_output(data):
    x, y = data
    model = Sequential([Input(shape=(FEATURES,)), Dense(CLASSES, activation="relu", name="output")])
    with pytest.raises(ValueError, match=r"'output' to end in a softmax activation, "
                                         r"but it ends in relu.*from_logits=True"):
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.compile(optimizer="adam", loss=CategoricalCrossentropy(from_logits=True))
    model.fit(x, y, verbose=0)


@pytest.mark.parametrize("argument, value, message", [
    ("verbose", 3, r"verbose must be 'auto', 0 \(silent\), 1 \(progress bar\) or 2 .*received 3"),
    ("validation_split", 1.5, r"validation_split must be a number in \[0, 1\), received 1.5"),
    ("epochs", 0, r"epochs must be a positive integer, received 0"),
])
def test_bad_fit_arguments(model, data, argument, value, message):
    x, y = data
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, **{argument: value})
