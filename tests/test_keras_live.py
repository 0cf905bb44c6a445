"""Optional: a round trip through a live Keras 3 (skipped where Keras is not installed).

axonal writes .keras, .h5 and .weights.h5 files that Keras loads with predictions within 1e-6 and
its optimiser state in place; Keras writes files that axonal loads, likewise. Run it with an
interpreter that has Keras, e.g. ``PYTHONPATH=python /work/kvenv/bin/python -m pytest tests/test_keras_live.py``.
"""
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import axonal  # noqa: E402
from axonal.layers import Add, Concatenate, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D  # noqa: E402
from axonal.models import Model, Sequential, load_model  # noqa: E402
from axonal.optimizers import Adam, RMSprop  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")  # Keras' and TensorFlow's own deprecation notes


def _axonal_models():
    axonal.set_seed(3)
    rng = np.random.default_rng(0)
    mlp = Sequential([Input(shape=(6,)), Dense(5, activation="relu"), Dropout(0.2), Dense(3, activation="softmax")])
    mlp.compile(optimizer=RMSprop(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    hidden = Dense(5, activation="elu")(a)
    merged = Add()([Dense(5)(Concatenate()([hidden, b])), hidden])
    functional = Model([a, b], Dense(1, activation="sigmoid")(merged))
    functional.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    cnn = Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3, activation="relu", padding="same"), MaxPooling2D(2),
                      Flatten(), Dense(2, activation="softmax")])
    cnn.compile(optimizer=Adam(), loss="sparse_categorical_crossentropy")
    cases = [(mlp, rng.random((16, 6), dtype=np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]),
             (functional, [rng.random((16, 4), dtype=np.float32), rng.random((16, 3), dtype=np.float32)],
              rng.integers(0, 2, (16, 1)).astype(np.float32)),
             (cnn, rng.random((16, 6, 6, 1), dtype=np.float32), rng.integers(0, 2, 16))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model, x, y in cases:
            model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return cases


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_loads_what_axonal_writes(tmp_path, suffix):
    for model, x, y in _axonal_models():
        path = str(tmp_path / f"{model.name}{suffix}")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
        assert int(loaded.optimizer.iterations) == model.optimizer.iterations
        if suffix == ".keras":
            loaded.fit(x, y, epochs=1, verbose=0)  # the optimiser state fits the model
        weights_path = str(tmp_path / f"{model.name}.weights.h5")
        model.save_weights(weights_path)
        fresh = keras.models.clone_model(loaded)
        fresh.load_weights(weights_path)
        np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_axonal_loads_what_keras_writes(tmp_path):
    keras.utils.set_random_seed(1)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    shared = keras.layers.Dense(4, activation="tanh", name="shared")
    joined = keras.layers.Concatenate()([shared(a), b])
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Add()([keras.layers.Dense(4)(joined), shared(a)]))
    model = keras.Model([a, b], out)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(2)
    x = [rng.random((16, 4), dtype=np.float32), rng.random((16, 3), dtype=np.float32)]
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for suffix in (".keras", ".h5"):
        path = str(tmp_path / f"k{suffix}")
        model.save(path)
        loaded = load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
        assert loaded.optimizer.iterations == int(model.optimizer.iterations)
