"""Keras files axonal must refuse, each with a clear error and without touching anything: classes
axonal lacks (named with their place in the config), Lambda layers, path traversal, oversized
members, links into other files, truncated and garbage files; and a refused save leaves the
previous file as it was."""
import io
import json
import os
import shutil
import zipfile

import h5py
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Input
from axonal.models import Sequential, load_model
from axonal.saving import SavedFileError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras_files")


def _edited_keras(tmp_path, edit=None, extra=None, name="edited.keras"):
    """A copy of the seed MLP's .keras with its config edited and/or extra members."""
    source = os.path.join(FIXTURES, "seed_mlp.keras")
    target = tmp_path / name
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for member in archive.namelist():
            data = archive.read(member)
            if member == "config.json" and edit is not None:
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            out.writestr(member, data)
        for member, data in (extra or {}).items():
            out.writestr(member, data)
    return target


def test_unknown_layer_is_named_with_its_place(tmp_path):
    def edit(config):
        config["config"]["layers"][3]["class_name"] = "LSTM"
    with pytest.raises(SavedFileError, match=r"layers\[3\]\.class_name 'LSTM' is a layer axonal lacks"):
        load_model(_edited_keras(tmp_path, edit))


def test_lambda_layer_is_refused_without_running_it(tmp_path):
    def edit(config):
        config["config"]["layers"][2] = {"module": "keras.layers", "class_name": "Lambda",
                                          "config": {"name": "evil", "function": {"class_name": "__lambda__",
                                                                                  "config": {"code": "4wAAAA=="}}}}
    with pytest.raises(SavedFileError, match=r"layers\[2\]\.class_name 'Lambda'"):
        load_model(_edited_keras(tmp_path, edit))


@pytest.mark.parametrize("edit, pattern", [
    (lambda c: c["config"]["layers"][1]["config"].update(activation="selu"), r"layers\[1\]\.config\.activation"),
    (lambda c: c["config"]["layers"][1]["config"].update(kernel_constraint={"class_name": "MaxNorm"}),
     r"layers\[1\]\.config\.kernel_constraint"),
    (lambda c: c["config"]["layers"][1]["config"].update(dtype="float64"), "float32 only"),
    (lambda c: c["compile_config"]["optimizer"].update(class_name="Nadam"), r"compile_config\.optimizer\.class_name"),
    (lambda c: c["compile_config"]["optimizer"]["config"].update(use_ema=True), "use_ema"),
    (lambda c: c["compile_config"].update(loss="huber"), r"compile_config\.loss"),
    (lambda c: c.update(class_name="MyModel"), "not a model axonal reads"),
])
def test_settings_axonal_lacks_are_refused(tmp_path, edit, pattern):
    with pytest.raises(SavedFileError, match=pattern):
        load_model(_edited_keras(tmp_path, edit))


def test_compile_false_skips_compile_settings_axonal_lacks(tmp_path):
    path = _edited_keras(tmp_path, lambda c: c["compile_config"]["optimizer"].update(class_name="Nadam"))
    assert load_model(path, compile=False).optimizer is None


def test_traversal_and_foreign_members_are_refused(tmp_path):
    with pytest.raises(SavedFileError, match="path traversal"):
        load_model(_edited_keras(tmp_path, extra={"../evil.txt": b"x"}))
    with pytest.raises(SavedFileError, match="does not read: assets/x"):
        load_model(_edited_keras(tmp_path, extra={"assets/x": b"x"}, name="assets.keras"))


def test_oversized_config_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        out.writestr("config.json", b" " * (17 * 2**20))  # deflates to a few KB
        out.writestr("model.weights.h5", b"")
    with pytest.raises(SavedFileError, match="more than the"):
        load_model(path)


def test_oversized_model_is_refused_before_allocating(tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["units"] = 10**8  # 1.2e9 weights: far beyond the file
    with pytest.raises(SavedFileError, match="cannot be rebuilt"):
        load_model(_edited_keras(tmp_path, edit))


def test_external_link_is_refused(tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as file:
        file["kernel:0"] = np.zeros((12, 8), np.float32)
    path = tmp_path / "linked.h5"
    shutil.copy(os.path.join(FIXTURES, "seed_mlp_tfkeras.h5"), path)
    with h5py.File(path, "a") as file:
        group = file["model_weights/dense/dense"]
        del group["kernel:0"]
        group["kernel:0"] = h5py.ExternalLink(str(secret), "kernel:0")
    with pytest.raises(SavedFileError, match="ExternalLink, which could read another file"):
        load_model(path)


@pytest.mark.parametrize("name", ["seed_mlp.keras", "seed_mlp_tfkeras.h5"])
def test_truncated_and_garbage_files_give_clear_errors(tmp_path, name):
    with open(os.path.join(FIXTURES, name), "rb") as file:
        data = file.read()
    for label, content in (("truncated", data[: len(data) // 2]), ("garbage", os.urandom(4096)),
                           ("hdf5 header only", b"\x89HDF\r\n\x1a\n" + bytes(100))):
        path = tmp_path / f"{label}-{name}"
        path.write_bytes(content)
        with pytest.raises(SavedFileError, match="Cannot load"):
            load_model(path)
        axonal.set_seed(0)
        model = Sequential([Input(shape=(12,)), Dense(8, activation="relu"), Dense(8, activation="relu"),
                            Dense(4, activation="softmax")])
        before = model.get_weights()
        with pytest.raises(SavedFileError):
            model.load_weights(path)
        for old, new in zip(before, model.get_weights()):
            np.testing.assert_array_equal(old, new)


def test_weights_of_another_model_change_nothing(tmp_path):
    axonal.set_seed(0)
    model = Sequential([Input(shape=(12,)), Dense(8, activation="relu"), Dense(4, activation="softmax")])
    before = model.get_weights()
    for name in ("seed_mlp.keras", "seed_mlp_tfkeras.h5"):
        with pytest.raises(SavedFileError, match="layers"):
            model.load_weights(os.path.join(FIXTURES, name))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_unbuilt_model_cannot_take_keras_weights():
    model = Sequential([Dense(8), Dense(4)])
    with pytest.raises(SavedFileError, match="not built"):
        model.load_weights(os.path.join(FIXTURES, "seed_mlp_tfkeras.h5"))


def test_refused_save_leaves_the_previous_file(tmp_path):
    axonal.set_seed(0)
    good = Sequential([Input(shape=(3,)), Dense(2, activation="relu")])
    path = tmp_path / "m.keras"
    good.save(path)
    before = path.read_bytes()
    bad = Sequential([Input(shape=(3,)), Dense(2, activation="gelu_approximate")])
    with pytest.raises(ValueError, match="Keras has no name for"):
        bad.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]
    unbuilt = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        unbuilt.save(tmp_path / "u.h5")
    assert not (tmp_path / "u.h5").exists()


def test_weights_only_h5_is_not_a_model(tmp_path):
    axonal.set_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(SavedFileError, match="weights only"):
        load_model(tmp_path / "w.h5")


def test_keras2_spellings_are_mapped(tmp_path):
    """A Keras 2 file with `lr`, `decay` and Keras 1 argument names loads; a real decay is Keras 2's
    time-based learning-rate decay, kept with a DeprecationWarning."""
    source = os.path.join(FIXTURES, "churn_tfkeras.h5")
    for decay in (0.0, 1e-4):
        path = tmp_path / f"decay{decay}.h5"
        shutil.copy(source, path)
        with h5py.File(path, "a") as file:
            training = json.loads(file.attrs["training_config"])
            config = training["optimizer_config"]["config"]
            config["lr"] = config.pop("learning_rate")
            config["decay"] = decay
            file.attrs["training_config"] = json.dumps(training)
            model_config = json.loads(file.attrs["model_config"])
            first = model_config["config"]["layers"][1]["config"]
            first["output_dim"] = first.pop("units")
            file.attrs["model_config"] = json.dumps(model_config)
        if not decay:
            model = load_model(path)
        else:
            with pytest.warns(DeprecationWarning, match="Keras 2's time-based learning-rate decay"):
                model = load_model(path)
        assert model.layers[0].units == 6 and model.optimizer.learning_rate == pytest.approx(0.01)
        assert model.optimizer.legacy_decay == (decay or None)
