"""Fuzz targets for saved models: ``load_model(path)`` and ``model.load_weights(path)``.

The seeds are real files written by ``model.save``/``save_weights`` from four small models (an
MLP with dropout, a regulariser and Adam state; a CNN with SGD momentum and threshold metrics; an
uncompiled model of image and augmentation layers; a weights-only file). Each input damages one:
its ``config.json`` edited at random places (wrong types, missing or extra keys, huge numbers,
100,000-deep nesting), its members renamed, duplicated, dropped, swapped or oversized, an ``.npy``
member given a hostile header, or the whole archive mutated byte by byte. The loaders document a
single exception, :class:`axonal.saving.SavedFileError` (a ``ValueError``).
"""
from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

import axonal
from axonal.backend import backend_name
from axonal.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                           MaxPooling2D, RandomFlip, RandomTranslation, Reshape)
from axonal.metrics import AUC, Precision
from axonal.models import Sequential, load_model
from axonal.optimizers import SGD, Adam
from axonal.saving import SavedFileError
from fuzz_harness import FuzzInput, Target
from fuzz_mutators import mutated, mutated_json, mutated_members, npy_bytes, read_members, zip_bytes

MODEL_FILE = "model.axonal"


def _mlp() -> Sequential:
    return Sequential([Input(shape=(8,)), Dense(16, activation="relu", kernel_regularizer="l2"), Dropout(0.25),
                       Dense(3, activation="softmax")], name="fuzz_mlp")


def _cnn() -> Sequential:
    return Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3, padding="same", activation="relu"), MaxPooling2D(2),
                       Flatten(), Dense(1, activation="sigmoid")], name="fuzz_cnn")


def _images() -> Sequential:
    return Sequential([Input(shape=(5, 5, 1)), RandomFlip(seed=3), RandomTranslation(0.2, 0.2, seed=4),
                       AveragePooling2D(2, padding="same"), GlobalAveragePooling2D(), Reshape((1,)), Dense(2)],
                      name="fuzz_images")


# name -> (model factory, is the seed a weights-only file)
ARCHITECTURES = {"mlp": (_mlp, False), "cnn": (_cnn, False), "images": (_images, False), "weights": (_mlp, True)}


@functools.lru_cache(maxsize=None)
def seed_files() -> dict[str, bytes]:
    """The bytes of each seed file (made once per process, on the reference backend, seeded)."""
    previous = backend_name()
    axonal.set_backend("numpy")
    try:
        axonal.set_seed(99)
        rng = np.random.default_rng(0)
        mlp = _mlp()
        mlp.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        mlp.fit(rng.normal(size=(8, 8)).astype(np.float32), rng.integers(0, 3, 8), batch_size=4, verbose=0)
        cnn = _cnn()
        cnn.compile(optimizer=SGD(0.1, momentum=0.9, nesterov=True), loss="binary_crossentropy",
                    metrics=[AUC(), Precision(), "accuracy"])
        cnn.fit(rng.normal(size=(4, 6, 6, 1)).astype(np.float32), rng.integers(0, 2, (4, 1)).astype(np.float32),
                batch_size=4, verbose=0)
        files = {}
        with tempfile.TemporaryDirectory() as folder:
            for name, model, weights_only in (("mlp", mlp, False), ("cnn", cnn, False), ("images", _images(), False),
                                              ("weights", mlp, True)):
                path = Path(folder) / f"{name}.axonal"
                (model.save_weights if weights_only else model.save)(path)
                files[name] = path.read_bytes()
        return files
    finally:
        axonal.set_backend(previous)


def _npy_header(content: bytes) -> tuple[tuple, str]:
    stream = io.BytesIO(content)
    np.lib.format.read_magic(stream)
    shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    return shape, dtype.str


@st.composite
def model_inputs(draw) -> FuzzInput:
    """A damaged copy of one seed file, with the options of the load (which seed, built or not)."""
    seed = draw(st.sampled_from(sorted(ARCHITECTURES)))
    members = read_members(seed_files()[seed])
    damage = draw(st.sampled_from(["json", "json", "json", "members", "npy", "bytes", "json+members"]))
    if "json" in damage:
        index = next(i for i, (name, _, _) in enumerate(members) if name == "config.json")
        name, content, compression = members[index]
        members[index] = (name, draw(mutated_json(json.loads(content))).encode("utf-8"), compression)
    if "members" in damage:
        members = draw(mutated_members(members))
    if damage == "npy":
        arrays = [i for i, (name, _, _) in enumerate(members) if name.endswith(".npy")]
        index = draw(st.sampled_from(arrays))
        name, content, compression = members[index]
        members[index] = (name, draw(npy_bytes(*_npy_header(content))), compression)
    data = zip_bytes(members)
    if damage == "bytes":
        data = draw(mutated(data))
    return FuzzInput({MODEL_FILE: data}, {"seed": seed, "built": draw(st.booleans())})


def _load_model(folder: Path, options: dict):
    return load_model(folder / MODEL_FILE)


def _load_weights(folder: Path, options: dict):
    model = ARCHITECTURES[options["seed"]][0]()
    if not options["built"]:  # an unbuilt model (no Input) takes its input shape from the file
        model = Sequential([type(layer).from_config(layer.get_config()) for layer in model.layers])
    model.load_weights(folder / MODEL_FILE)
    return model


def _check_model(model) -> None:
    assert isinstance(model, Sequential), type(model)


TARGETS = [
    Target("load_model", model_inputs(), _load_model, (SavedFileError,), _check_model),
    Target("load_weights", model_inputs(), _load_weights, (SavedFileError,), _check_model),
]
