"""model.save / load_model / save_weights / load_weights: exact resume, atomic writes, refusal of
damaged or hostile files, and the committed fixture every later version must still load."""
import importlib.util
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Dropout, Input, Layer
from axonal.models import Sequential, load_model
from axonal.optimizers import SGD, Adam, RMSprop
from axonal.saving import FORMAT_VERSION, SavedFileError

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)


def data(samples=60):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, samples)
    x = rng.normal(0, 0.5, (samples, 8)).astype(np.float32)
    x[np.arange(samples), labels] += 1.5
    return x, labels


def mlp(optimizer="adam", seed=11):
    axonal.set_seed(seed)
    model = Sequential([Input(shape=(8,)), Dense(16, activation="relu"), Dropout(0.3),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def trained(path, epochs=1, **kwargs):
    model = mlp(**kwargs)
    x, y = data()
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    model.save(path)
    return model


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)


# ----- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_resumed_training_is_bit_identical_to_uninterrupted_training(backend, tmp_path, optimizer):
    """2 epochs, save, load, 1 epoch == 3 epochs: weights, optimiser slots, iteration count, the
    dropout step counter and the shuffling generator are all restored."""
    if optimizer == "sgd":
        optimizer = SGD(0.05, momentum=0.9, nesterov=True)
    x, y = data()
    straight = mlp(optimizer if isinstance(optimizer, str) else SGD.from_config(optimizer.get_config()))
    expected = straight.fit(x, y, epochs=3, batch_size=16, verbose=0).history
    first = mlp(optimizer)
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.save(tmp_path / "run.axonal")
    axonal.set_seed(999)  # whatever happens to the global seed in between changes nothing
    resumed = load_model(tmp_path / "run.axonal")
    assert resumed.steps.value == first.steps.value == 8
    assert resumed.optimizer.iterations == 8
    history = resumed.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert history["loss"] == expected["loss"][2:] and history["accuracy"] == expected["accuracy"][2:]
    assert_same_weights(resumed.get_weights(), straight.get_weights())
    assert_same_weights(resumed.optimizer.variables, straight.optimizer.variables)


def test_slots_of_a_frozen_layer_survive_save_and_load(backend, tmp_path):
    """Freeze the first layer mid-run, save, load, unfreeze: it resumes from its own Adam moments,
    exactly as in a run that was never saved (regression: they used to be dropped silently)."""
    x, y = data()

    def train(model, saved_path=None):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        model.layers[0].trainable = False
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        if saved_path is not None:
            model.save(saved_path)
            model = load_model(saved_path)
            assert model.layers[0].trainable is False
        model.layers[0].trainable = True
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        return model

    straight = train(mlp())
    resumed = train(mlp(), tmp_path / "frozen.axonal")
    assert_same_weights(resumed.get_weights(), straight.get_weights())


def test_load_model_restores_compile_settings_and_predictions(backend, tmp_path):
    model = trained(tmp_path / "m.axonal", optimizer=RMSprop(learning_rate=0.003, momentum=0.5, centered=True))
    model.optimizer.learning_rate = 0.0007  # as a callback may have left it
    model.save(tmp_path / "m.axonal")
    loaded = load_model(tmp_path / "m.axonal")
    assert type(loaded.optimizer) is RMSprop
    assert loaded.optimizer.get_config() == {**model.optimizer.get_config(), "learning_rate": 0.0007}
    assert loaded.loss.get_config() == model.loss.get_config()
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    x, y = data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    uncompiled = load_model(tmp_path / "m.axonal", compile=False)
    assert uncompiled.optimizer is None
    np.testing.assert_array_equal(uncompiled.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unbuilt_uncompiled_and_untrained_models_round_trip(tmp_path):
    Sequential([Dense(4), Dense(2)], name="plain").save(tmp_path / "plain.axonal")
    plain = load_model(tmp_path / "plain.axonal")
    assert plain.name == "plain" and not plain.built and plain.optimizer is None
    model = mlp()
    model.save(tmp_path / "fresh.axonal")  # compiled but never trained: no optimiser slots yet
    fresh = load_model(tmp_path / "fresh.axonal")
    assert fresh.optimizer.iterations == 0 and not fresh.optimizer.built
    assert_same_weights(fresh.get_weights(), model.get_weights())


def test_saving_is_deterministic_and_leaves_the_global_generator_alone(tmp_path):
    model = trained(tmp_path / "a.axonal")
    model.save(tmp_path / "b.axonal")
    assert (tmp_path / "a.axonal").read_bytes() == (tmp_path / "b.axonal").read_bytes()
    axonal.set_seed(5)
    expected = np.random.random()
    axonal.set_seed(5)
    load_model(tmp_path / "a.axonal")
    assert np.random.random() == expected


def test_custom_layers_load_through_custom_objects(tmp_path):
    class Scale(Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def forward(self, x, training):
            return np.multiply(x, self.factor, out=self.buffers.get("y", x.shape))

        def backward(self, dy):
            return np.multiply(dy, self.factor, out=self.buffers.get("dx", dy.shape))

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    Sequential([Input(shape=(3,)), Scale(2.0), Dense(2)]).save(tmp_path / "c.axonal")
    with pytest.raises(SavedFileError, match=r"custom_objects=\{'Scale': Scale\}"):
        load_model(tmp_path / "c.axonal")
    assert load_model(tmp_path / "c.axonal", custom_objects={"Scale": Scale}).layers[0].factor == 2.0


# ----- weights only -------------------------------------------------------------------------------

def test_save_and_load_weights(backend, tmp_path):
    model = trained(tmp_path / "unused.axonal")
    model.save_weights(tmp_path / "w.axonal")
    other = mlp(seed=12)
    other.load_weights(tmp_path / "w.axonal")
    assert_same_weights(other.get_weights(), model.get_weights())
    unbuilt = Sequential([Dense(16, activation="relu"), Dropout(0.3), Dense(3, activation="softmax")])
    unbuilt.load_weights(tmp_path / "unused.axonal")  # a full model file works too
    assert unbuilt.input_shape == (None, 8)
    assert_same_weights(unbuilt.get_weights(), model.get_weights())
    with pytest.raises(ValueError, match="holds only weights.*model.load_weights"):
        load_model(tmp_path / "w.axonal")


def test_load_weights_refuses_other_shapes_and_counts_and_changes_nothing(tmp_path):
    mlp().save_weights(tmp_path / "w.axonal")
    wider = Sequential([Input(shape=(8,)), Dense(32, activation="relu"), Dense(3, activation="softmax")])
    before = wider.get_weights()
    with pytest.raises(SavedFileError, match=r"w.axonal'.*weight dense_\d+/kernel \(saved as dense_?\d*/kernel\) "
                                             r"has shape \(8, 16\) in the file, but the model expects \(8, 32\)"):
        wider.load_weights(tmp_path / "w.axonal")
    assert_same_weights(wider.get_weights(), before)
    with pytest.raises(SavedFileError, match="holds 4 weight arrays but model .* has 6"):
        Sequential([Input(shape=(8,)), Dense(16), Dense(16), Dense(3)]).load_weights(tmp_path / "w.axonal")


# ----- writing ------------------------------------------------------------------------------------

def test_save_refuses_bad_destinations(tmp_path):
    model = mlp()
    model.save(tmp_path / "m.axonal")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(tmp_path / "m.axonal", overwrite=False)
    with pytest.raises(FileNotFoundError, match="does not exist.*os.makedirs"):
        model.save(tmp_path / "missing" / "m.axonal")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        model.save(tmp_path)


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    model = trained(tmp_path / "m.axonal")
    before = (tmp_path / "m.axonal").read_bytes()
    written = []
    real_write_array = np.lib.format.write_array

    def fail_on_third_array(file, array, **kwargs):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(array.shape)
        real_write_array(file, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_third_array)
    for name in ("m.axonal", "new.axonal"):
        written.clear()
        with pytest.raises(OSError, match="No space left"):
            model.save(tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == ["m.axonal"]  # no new file, no temporary left behind
    assert (tmp_path / "m.axonal").read_bytes() == before


def test_saved_files_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    mlp().save(tmp_path / "m.axonal")
    assert (tmp_path / "m.axonal").stat().st_mode & 0o777 == 0o666 & ~mask


# ----- hostile and damaged files ------------------------------------------------------------------

def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def with_config(members, **changes):
    config = json.loads(members["config.json"])
    config.update(changes)
    return {**members, "config.json": json.dumps(config)}


def corrupt(kind, members):
    """A damaged copy of a good file's members, and the message load_model must give."""
    if kind == "newer format":
        return with_config(members, format_version=FORMAT_VERSION + 1), r"file format 2 .* upgrade axonal"
    if kind == "unknown format":
        return with_config(members, format_version="1.0"), r"format_version '1.0' is not one axonal ever wrote"
    if kind == "not axonal":
        return with_config(members, format="keras"), "does not say format 'axonal'"
    if kind == "missing member":
        return {k: v for k, v in members.items() if k != "weights/1.npy"}, "lacks member.*weights/1.npy"
    if kind == "extra member":
        return {**members, "weights/99.npy": npy(np.zeros(1, np.float32))}, "unexpected member.*weights/99.npy"
    if kind == "wrong shape":
        return ({**members, "weights/0.npy": npy(np.zeros((8, 17), np.float32))},
                r"has shape \(8, 17\) in the file, but the model expects \(8, 16\)")
    if kind == "wrong dtype":
        return ({**members, "weights/0.npy": npy(np.zeros((8, 16), np.float64))},
                "has dtype float64 in the file, but the model expects float32")
    if kind == "pickled objects":
        return ({**members, "weights/0.npy": npy(np.empty((8, 16), object))}, "has dtype object")
    if kind == "huge header shape":  # refused from the header, before numpy would allocate 4 TB
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        return ({**members, "weights/1.npy": header.getvalue() + b"\0" * 64},
                r"has shape \(1000000000000,\) in the file, but the model expects \(16,\)")
    if kind == "path traversal":
        return {**members, "../../evil.npy": b"x"}, r"'../../evil.npy' has an empty, '.' or '..' path component"
    if kind == "absolute path":
        return {**members, "/etc/evil": b"x"}, "'/etc/evil' is an absolute"
    if kind == "absurd config":
        return {**members, "config.json": b" " * (17 * 2**20)}, "config.json' claims 17825792 bytes"
    if kind == "trailing data":
        return ({**members, "weights/1.npy": members["weights/1.npy"] + b"\0" * 70_000},
                "weights/1.npy' claims .* bytes, more than")
    if kind == "bad json":
        return {**members, "config.json": b"{not json"}, "config.json is not valid JSON"
    if kind == "optimizer mismatch":
        config = json.loads(members["config.json"])
        config["compile_config"]["optimizer"] = {"class_name": "SGD", "config": {}}
        return {**members, "config.json": json.dumps(config)}, "optimizer slots .* do not match those of SGD"
    if kind == "bad layer":
        config = json.loads(members["config.json"])
        config["model_config"]["config"]["layers"][0]["config"]["units"] = -3
        return {**members, "config.json": json.dumps(config)}, "model config .*cannot be rebuilt.*units"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["newer format", "unknown format", "not axonal", "missing member", "extra member",
                                  "wrong shape", "wrong dtype", "pickled objects", "huge header shape",
                                  "path traversal", "absolute path", "absurd config", "trailing data",
                                  "bad json", "bad layer", "optimizer mismatch"])
def test_load_model_refuses_damaged_files_naming_file_and_problem(tmp_path, kind):
    trained(tmp_path / "good.axonal")
    members, message = corrupt(kind, members_of(tmp_path / "good.axonal"))
    write_members(tmp_path / "bad.axonal", members)
    with pytest.raises(SavedFileError, match=message) as error:
        load_model(tmp_path / "bad.axonal")
    assert f"Cannot load {str(tmp_path / 'bad.axonal')!r}" in str(error.value) and "Fix:" in str(error.value)


def test_load_model_refuses_non_archives_truncated_files_and_duplicates(tmp_path):
    good = tmp_path / "good.axonal"
    trained(good)
    (tmp_path / "text.axonal").write_text("hello")
    (tmp_path / "cut.axonal").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for name in ("text.axonal", "cut.axonal"):
        with pytest.raises(SavedFileError, match=f"{name}'.*not an axonal file"):
            load_model(tmp_path / name)
    members = members_of(good)
    with zipfile.ZipFile(tmp_path / "twice.axonal", "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("weights/0.npy", members["weights/0.npy"])
    with pytest.raises(SavedFileError, match="'weights/0.npy' appears twice"):
        load_model(tmp_path / "twice.axonal")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_model(tmp_path / "nothing.axonal")


# ----- the committed fixture ----------------------------------------------------------------------

# Printed by tests/fixtures/make_fixtures.py when seed_mlp_v1.axonal was written (numpy backend).
SEED_MLP_V1_WEIGHTS_SHA256 = "27135246874f29fbd70dabd14d28816119b185cd1b975ecd079be326983e813b"
SEED_MLP_V1_PREDICTIONS = [[0.21306121349334717, 0.13516449928283691, 0.6517742872238159],
                           [0.3280612826347351, 0.42552587389945984, 0.24641285836696625]]
SEED_MLP_V1_SUMS_AFTER_ONE_MORE_EPOCH = [-1.7944816900417209, -0.044693538919091225, 2.1260290117934346,
                                         -0.011916286777704954]


def test_the_format_1_fixture_still_loads_and_resumes(backend):
    path = FIXTURES / "seed_mlp_v1.axonal"
    assert path.stat().st_size < 50_000
    model = load_model(path)
    assert make_fixtures.weights_digest(model) == SEED_MLP_V1_WEIGHTS_SHA256
    assert (model.name, model.seed, model.steps.value, model.optimizer.iterations) == ("seed_mlp", 2525503112, 6, 6)
    assert type(model.optimizer) is Adam and model.optimizer.learning_rate == 0.01
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    np.testing.assert_allclose(model.predict(make_fixtures.PROBE, verbose=0), SEED_MLP_V1_PREDICTIONS, rtol=1e-6)
    x, labels = make_fixtures.seed_mlp_data()
    model.fit(x, labels, epochs=1, batch_size=16, verbose=0)
    sums = [float(w.sum(dtype=np.float64)) for w in model.get_weights()]
    np.testing.assert_allclose(sums, SEED_MLP_V1_SUMS_AFTER_ONE_MORE_EPOCH, rtol=1e-5, atol=1e-6)
