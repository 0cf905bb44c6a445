"""Nothing silent where a mistake is certain, and messages that help (issue #18, points 4 and 6):
class_weight keys and values, labels a cross-entropy cannot mean, batch sizes above the data,
non-finite labels, input shapes, ragged lists, generators, dicts and scipy.sparse inputs, and
damaged sizes in a saved config. Each message names the argument, what was expected and received,
and a fix."""
from __future__ import annotations

import json
import re
import warnings
import zipfile

import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Input
from axonal.models import Sequential, load_model
from axonal.saving import SavedFileError
from axonal.utils import to_categorical

pytestmark = pytest.mark.usefixtures("backend")
ROWS, FEATURES = 30, 4


def model_for(loss, units, activation):
    axonal.set_seed(2)
    model = Sequential([Input(shape=(FEATURES,)), Dense(units, activation=activation, name="out")])
    model.compile(optimizer="adam", loss=loss)
    return model


def softmax_model(loss="sparse_categorical_crossentropy"):
    return model_for(loss, 3, "softmax")


X = np.random.default_rng(3).normal(size=(ROWS, FEATURES)).astype(np.float32)
CLASSES = np.arange(ROWS) % 3


# ----- class_weight -----------------------------------------------------------------------------------

@pytest.mark.parametrize("class_weight, message", [
    ({"0": 2.0, "cat": 1.0}, r"class_weight has key\(s\) '0', 'cat' that match no class: keys must be class ids "
                             r"0..2 \(the model has 3 outputs\); the labels hold classes 0, 1, 2"),
    ({1: 1.0, 2: 1.0, 3: 5.0}, r"key\(s\) 3 that match no class"),  # off by one: classes 1..3 for 0..2
    ({0.5: 2.0}, r"key\(s\) 0.5 that match no class"),
])
def test_class_weight_keys_that_match_no_class_are_refused(class_weight, message):
    with pytest.raises(ValueError, match=message):
        softmax_model().fit(X, CLASSES, class_weight=class_weight, verbose=0)


def test_class_weight_for_a_class_absent_from_the_batch_is_fine():
    model = softmax_model()
    model.train_on_batch(X[CLASSES == 0], CLASSES[CLASSES == 0], class_weight={0: 1.0, 2: 3.0})
    model.fit(X, CLASSES, class_weight={0: 1.0, 1.0: 2.0, np.int64(2): 3.0}, verbose=0)


@pytest.mark.parametrize("weight, error, message", [
    ("high", TypeError, r"class_weight\[1\] must be a number, received str 'high'"),
    (None, TypeError, r"class_weight\[1\] must be a number, received NoneType"),
    (-1.0, ValueError, r"class_weight\[1\] must be a finite number >= 0, received -1.0"),
    (float("inf"), ValueError, r"class_weight\[1\] must be a finite number >= 0, received inf"),
])
def test_class_weight_values_must_be_finite_numbers(weight, error, message):
    with pytest.raises(error, match=message):
        softmax_model().fit(X, CLASSES, class_weight={0: 1.0, 1: weight}, verbose=0)


def test_binary_class_weight_keys_are_zero_and_one():
    model = model_for("binary_crossentropy", 1, "sigmoid")
    model.fit(X, CLASSES == 1, class_weight={0: 1.0, 1: 4.0}, verbose=0)
    with pytest.raises(ValueError, match=r"key\(s\) 2 that match no class: keys must be 0 and 1"):
        model.fit(X, CLASSES == 1, class_weight={1: 4.0, 2: 1.0}, verbose=0)


# ----- labels a cross-entropy cannot mean --------------------------------------------------------------

def test_binary_crossentropy_refuses_labels_outside_zero_one():
    model = model_for("binary_crossentropy", 1, "sigmoid")
    with pytest.raises(ValueError, match=r"'binary_crossentropy' expects 0/1 labels or probabilities in \[0, 1\] "
                                         r"in y, received values from 0 to 2 \(2 in 10 of 30 rows, the first row 2\)"
                                         r"\. Fix: if they are class ids"):
        model.fit(X, CLASSES, verbose=0)
    with pytest.raises(ValueError, match=r"in validation_data\[1\], received values from -1 to 1"):
        model.fit(X, CLASSES == 1, validation_data=(X, np.where(CLASSES == 1, 1, -1)), verbose=0)
    model.fit(X, np.linspace(0, 1, ROWS), verbose=0)  # soft labels are labels


def test_categorical_crossentropy_refuses_negative_and_warns_about_rows_that_are_no_distribution():
    model = softmax_model("categorical_crossentropy")
    one_hot = to_categorical(CLASSES, 3)
    with pytest.raises(ValueError, match=r"expects one-hot rows or class probabilities in \[0, 1\] in y, received "
                                         r"values from -1 to 1"):
        model.fit(X, one_hot * 2 - 1, verbose=0)
    with pytest.warns(UserWarning, match=r"30 of 30 rows of y do not sum to 1 \(row 0 sums to 2"):
        model.fit(X, np.minimum(one_hot + np.roll(one_hot, 1, axis=1), 1), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, one_hot * 0.9 + 0.1 / 3, verbose=0)  # label smoothing: rows still sum to 1


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_sparse_labels_are_named(bad):
    labels = CLASSES.astype(float)
    labels[4] = bad
    with pytest.raises(ValueError, match=rf"expects integer class ids in \[0, 3\) in y, received 1 NaN or infinite "
                                         rf"values \(the first, {bad}, at index 4\)\. Fix: drop those samples"):
        softmax_model().fit(X, labels, verbose=0)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_to_categorical_names_non_finite_values(bad):
    with pytest.raises(ValueError, match=rf"received 1 NaN or infinite values \(the first, {bad}, at index \(1,\)\)"):
        to_categorical(np.array([0.0, bad, 2.0]))


# ----- batch sizes above the data ------------------------------------------------------------------

def test_a_batch_size_above_the_data_is_one_batch_of_all_of_it():
    results = []
    for batch_size in (ROWS, 10**12):
        model = softmax_model()
        history = model.fit(X, CLASSES, batch_size=batch_size, epochs=2, verbose=0)
        results.append((history.history["loss"], model.evaluate(X, CLASSES, batch_size=batch_size, verbose=0),
                        model.predict(X, batch_size=batch_size, verbose=0)))
    (loss, evaluated, predicted), (huge_loss, huge_evaluated, huge_predicted) = results
    assert loss == huge_loss and evaluated == huge_evaluated
    np.testing.assert_array_equal(predicted, huge_predicted)


# ----- shapes and containers ---------------------------------------------------------------------------

def test_input_shape_as_an_int_means_one_axis():
    assert Dense(3, input_shape=4).input_shape_arg == (4,)
    assert Sequential([Dense(3, input_shape=FEATURES)]).input_shape == (None, FEATURES)


@pytest.mark.parametrize("shape", [(-4,), (4, 0), 2.5, "784", ()])
def test_bad_input_shapes_name_the_layer_and_value(shape):
    with pytest.raises(ValueError, match=rf"Layer 'hidden' \(Dense\): input_shape must be a tuple of positive "
                                         rf"integers .*received input_shape={re.escape(repr(shape))}\. Fix: e\.g\."):
        Dense(3, input_shape=shape, name="hidden")
    with pytest.raises(ValueError, match=r"Input 'in': shape must be a tuple of positive integers"):
        Input(shape=shape, name="in")


def test_a_ragged_list_says_which_rows_differ():
    with pytest.raises(ValueError, match=r"x is a ragged nested list: row 0 has 4 values, row 2 has 3 values.*"
                                         r"Fix: pad or cut the rows"):
        softmax_model().fit([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3]], [0, 1, 2], verbose=0)


def test_a_generator_or_a_dict_gets_a_clear_message():
    # Generators of batches are taken now (tests/test_data_adapters.py); labels beside one are refused.
    with pytest.raises(ValueError, match=r"x is a generator, so y must not be given .*Fix: the targets must be part "
                                         r"of each batch"):
        softmax_model().fit((batch for batch in [X]), CLASSES, verbose=0)
    with pytest.raises(TypeError, match=r"x is a dict \(keys 'features'\).*Fix: pass the array itself, e\.g\. "
                                        r"x=x\['features'\]"):
        softmax_model().predict({"features": X}, verbose=0)


def test_scipy_sparse_inputs_are_accepted_as_in_keras():
    sparse = pytest.importorskip("scipy.sparse")
    dense_model, sparse_model = softmax_model(), softmax_model()
    dense_model.fit(X, CLASSES, epochs=2, verbose=0)
    sparse_model.fit(sparse.csr_matrix(X), CLASSES, epochs=2, verbose=0)
    for a, b in zip(dense_model.get_weights(), sparse_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sparse_model.predict(sparse.csr_matrix(X), verbose=0),
                                  sparse_model.predict(X, verbose=0))


# ----- damaged sizes in a saved config -----------------------------------------------------------------

def _edited(tmp_path, edit):
    path, edited = tmp_path / "m.axonal", tmp_path / "edited.axonal"
    softmax_model().save(path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config["model_config"]["config"])
                data = json.dumps(config)
            target.writestr(name, data)
    return edited


def test_negative_units_in_a_saved_config_name_the_layer_and_value(tmp_path):
    path = _edited(tmp_path, lambda config: config["layers"][0]["config"].update(units=-3))
    with pytest.raises(SavedFileError, match=r"layer 0 of its model config \(Dense 'out'\) cannot be rebuilt "
                                             r"\(ValueError: units must be a positive integer, received -3\.\)\. "
                                             r"Fix: the file's config was damaged or edited"):
        load_model(path)


def test_negative_input_sizes_in_a_saved_config_are_named(tmp_path):
    path = _edited(tmp_path, lambda config: config.update(build_input_shape=[None, -4]))
    with pytest.raises(SavedFileError, match=r"its recorded input shape \[None, -4\] is not \(None, d1, \.\.\.\) with "
                                             r"positive integer sizes\. Fix: the file was damaged or edited"):
        load_model(path)
