"""Keras files in and out: fixtures made once by Keras 3.15 and tf.keras 2.21
(tests/fixtures/make_keras_files.py) are read and compared, axonal's own models go through
.keras/.h5/.weights.h5 and back, and the file name picks the format. Refusals are in
tests/test_keras_refusals.py; a round trip through a live Keras in tests/test_keras_live.py."""
import io
import os
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import axonal
from axonal.callbacks import ModelCheckpoint
from axonal.layers import Add, Concatenate, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from axonal.models import Model, Sequential, load_model
from axonal.optimizers import SGD, Adadelta, Adagrad, Adam, Lion, RMSprop

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras_files")
NAMES = ["seed_mlp", "churn", "cnn", "two_inputs", "residual"]
EXPECTED = {"seed_mlp": ("RMSprop", "CategoricalCrossentropy"), "churn": ("Adam", "BinaryCrossentropy"),
            "cnn": ("SGD", "SparseCategoricalCrossentropy"), "two_inputs": ("Adam", "CategoricalCrossentropy"),
            "residual": ("Adagrad", "MeanSquaredError")}


def _data(name):
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    probe = [data[k] for k in sorted(data.files) if k.startswith("x")]
    fit = [data[k] for k in sorted(data.files) if k.startswith("fit_x")]
    return data, (probe[0] if len(probe) == 1 else probe), (fit[0] if len(fit) == 1 else fit)


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():  # "runs layer by layer" notes of models with regularisers or mae
        warnings.filterwarnings("ignore", message="axonal fast path")
        return model.fit(*args, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("maker", ["keras", "tfkeras"])
def test_fixture_predictions_and_compile_state(name, maker):
    data, probe, _ = _data(name)
    model = load_model(os.path.join(FIXTURES, f"{name}.keras" if maker == "keras" else f"{name}_tfkeras.h5"))
    np.testing.assert_allclose(model.predict(probe, verbose=0), data[f"predict_{maker}"], rtol=0, atol=1e-6)
    optimizer, loss = EXPECTED[name]
    assert type(model.optimizer).__name__ == optimizer
    assert type(model.loss).__name__ == loss
    assert model.optimizer.iterations == int(data[f"iterations_{maker}"]) > 0


def test_keras3_adam_slots_in_keras_order():
    """Keras 3 interleaves momentum and velocity per variable: optimizer/vars/2 is the first
    kernel's momentum, vars/3 its velocity, vars/4 the first bias' momentum."""
    model = load_model(os.path.join(FIXTURES, "churn.keras"))
    first = model.layers[0]
    slots = model.optimizer.slots_for(first.kernel)
    with zipfile.ZipFile(os.path.join(FIXTURES, "churn.keras")) as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as file:
            variables = file["optimizer/vars"]
            np.testing.assert_array_equal(slots["momentum"], variables["2"][()])
            np.testing.assert_array_equal(slots["velocity"], variables["3"][()])
            np.testing.assert_array_equal(model.optimizer.slots_for(first.bias)["momentum"], variables["4"][()])
            assert model.optimizer.learning_rate == pytest.approx(float(variables["1"][()]))
    assert np.abs(slots["velocity"]).sum() > 0


def test_tfkeras_slots_read_by_name():
    model = load_model(os.path.join(FIXTURES, "two_inputs_tfkeras.h5"))
    with h5py.File(os.path.join(FIXTURES, "two_inputs_tfkeras.h5"), "r") as file:
        group = file["optimizer_weights"]
        kernel = model.get_layer("numbers_dense").kernel
        slots = model.optimizer.slots_for(kernel)
        np.testing.assert_array_equal(slots["momentum"], group["Adam/m/numbers_dense/kernel:0"][()])
        np.testing.assert_array_equal(slots["velocity_hat"], group["Adam/vhat/numbers_dense/kernel:0"][()])


@pytest.mark.parametrize("name", ["churn", "cnn", "two_inputs", "residual"])
def test_fit_resumes_where_keras_stopped(name):
    """One more epoch (no shuffling) from the loaded state gives Keras' own weights after it."""
    data, _, fit_x = _data(name)
    model = load_model(os.path.join(FIXTURES, f"{name}.keras"))
    _quiet_fit(model, fit_x, data["fit_y"], epochs=1, batch_size=8, shuffle=False, verbose=0)
    weights = model.get_weights()
    assert len(weights) == len([f for f in data.files if f.startswith("resumed_")])
    for index, weight in enumerate(weights):
        np.testing.assert_allclose(weight, data[f"resumed_{index}"], rtol=0, atol=2e-6)


def test_compile_false_and_metrics_kept():
    model = load_model(os.path.join(FIXTURES, "seed_mlp.keras"), compile=False)
    assert model.optimizer is None
    compiled = load_model(os.path.join(FIXTURES, "seed_mlp_tfkeras.h5"))
    data, _, fit_x = _data("seed_mlp")
    history = compiled.fit(fit_x, data["fit_y"], epochs=1, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert compiled.optimizer.iterations == int(data["iterations_tfkeras"]) + 3


def test_load_weights_from_keras_files():
    data, probe, _ = _data("cnn")
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(3, 3, activation="relu", padding="same"), MaxPooling2D(2),
                        Conv2D(4, 3, activation="relu"), Flatten(), Dense(3, activation="softmax")])
    model.load_weights(os.path.join(FIXTURES, "cnn_tfkeras.h5"))
    np.testing.assert_allclose(model.predict(probe, verbose=0), data["predict_tfkeras"], atol=1e-6)
    model.load_weights(os.path.join(FIXTURES, "cnn.keras"))
    np.testing.assert_allclose(model.predict(probe, verbose=0), data["predict_keras"], atol=1e-6)


# ----- axonal -> Keras files -> axonal -------------------------------------------------------------

def _models():
    axonal.set_seed(7)
    rng = np.random.default_rng(0)
    mlp = Sequential([Input(shape=(6,)), Dense(5, activation="relu", kernel_regularizer="l2"), Dropout(0.1),
                      Dense(3, activation="softmax")])
    mlp.compile(optimizer=RMSprop(0.01, momentum=0.5, centered=True), loss="categorical_crossentropy",
                metrics=["accuracy"])
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    hidden = Dense(5, activation="tanh")(a)
    shared = Dense(5, name="shared")
    merged = Add()([shared(hidden), shared(Dense(5)(Concatenate()([hidden, b])))])
    functional = Model([a, b], Dense(1, activation="sigmoid")(merged))
    functional.compile(optimizer=Adam(0.01, amsgrad=True), loss="binary_crossentropy", metrics=["accuracy", "auc"])
    cnn = Sequential([Input(shape=(6, 6, 2)), Conv2D(2, 3, activation="relu"), Flatten(), Dense(2, activation="softmax")])
    cnn.compile(optimizer=Adadelta(1.0), loss="sparse_categorical_crossentropy")
    cases = [(mlp, rng.random((20, 6), dtype=np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)]),
             (functional, [rng.random((20, 4), dtype=np.float32), rng.random((20, 3), dtype=np.float32)],
              rng.integers(0, 2, (20, 1)).astype(np.float32)),
             (cnn, rng.random((20, 6, 6, 2), dtype=np.float32), rng.integers(0, 2, 20))]
    for model, x, y in cases:
        _quiet_fit(model, x, y, epochs=1, batch_size=5, verbose=0)
    return cases


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_round_trip_keeps_predictions_and_training_state(tmp_path, suffix):
    for model, x, y in _models():
        path = tmp_path / f"{model.name}{suffix}"
        model.save(path)
        loaded = load_model(path)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert loaded.optimizer.get_config() == model.optimizer.get_config()
        assert loaded.optimizer.iterations == model.optimizer.iterations
        for before, after in zip(model.trainable_weights, loaded.trainable_weights):
            for slot, value in model.optimizer.slots_for(before).items():
                np.testing.assert_array_equal(loaded.optimizer.slots_for(after)[slot], value)
        if not any(isinstance(layer, Dropout) for layer in model.layers):  # dropout masks follow axonal's step
            _quiet_fit(model, x, y, epochs=1, batch_size=5, shuffle=False, verbose=0)
            _quiet_fit(loaded, x, y, epochs=1, batch_size=5, shuffle=False, verbose=0)
            for before, after in zip(model.get_weights(), loaded.get_weights()):
                np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5", "w.hdf5", "w.weights.axonal"])
def test_weights_round_trip(tmp_path, name):
    (model, x, _), *_ = _models()
    model.save_weights(tmp_path / name)
    axonal.set_seed(99)
    fresh = Sequential([Input(shape=(6,)), Dense(5, activation="relu"), Dropout(0.1), Dense(3, activation="softmax")])
    assert not np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh.load_weights(tmp_path / name)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_optimizers_without_state_yet_and_every_kind(tmp_path):
    for optimizer in (SGD(0.1, momentum=0.9, nesterov=True), Adagrad(0.1), Lion(1e-3), Adam(weight_decay=0.01)):
        axonal.set_seed(1)
        model = Sequential([Input(shape=(3,)), Dense(2, activation="softmax")])
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        model.save(tmp_path / "fresh.keras")  # unbuilt optimiser: Keras still wants every slot
        loaded = load_model(tmp_path / "fresh.keras")
        assert loaded.optimizer.get_config() == optimizer.get_config()
        assert loaded.optimizer.iterations == 0


def test_file_name_picks_the_format(tmp_path):
    (model, x, y), *_ = _models()
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    model.save_weights(tmp_path / "legacy.h5")
    with h5py.File(tmp_path / "m.h5", "r") as file:
        assert "model_config" in file.attrs and "model_weights" in file and "optimizer_weights" in file
    with h5py.File(tmp_path / "m.weights.h5", "r") as file:
        assert list(file["layers/dense/vars"]) == ["0", "1"] and "optimizer" in file
    with h5py.File(tmp_path / "legacy.h5", "r") as file:
        assert "layer_names" in file.attrs
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    checkpoint = ModelCheckpoint(str(tmp_path / "cp-{epoch}.weights.h5"), save_weights_only=True)
    _quiet_fit(model, x, y, epochs=1, batch_size=10, verbose=0, callbacks=[checkpoint])
    with h5py.File(tmp_path / "cp-1.weights.h5", "r") as file:
        assert "layers" in file
    for call, name in ((model.save, "m.txt"), (model.save, "m"), (model.save_weights, "w.keras"),
                       (model.save_weights, "w.npz")):
        with pytest.raises(ValueError, match="Fix: end it in"):
            call(tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match="ModelCheckpoint filepath"):
        ModelCheckpoint(str(tmp_path / "cp.weights.keras"), save_weights_only=True)
