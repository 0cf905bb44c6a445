"""Keras 3's ``.keras`` file: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

``load_keras`` rebuilds the model from ``config.json`` (:mod:`axonal.saving.keras_model`), its
weights and optimiser state from the HDF5 member (:mod:`axonal.saving.keras_weights`), and its
compile settings (:mod:`axonal.saving.keras_compile`). The zip is read with the checks of
``.axonal`` files (:class:`~axonal.saving.archive.ArchiveReader`: regular files only, member
names without traversal, bounded sizes whatever the headers claim); the HDF5 member is read from
memory, never unpacked to disk. Nothing in the file is executed: a ``Lambda`` layer (Keras keeps
its Python bytecode) is an unknown class and refused. ``save_keras`` writes the same layout, atomically.
"""
from __future__ import annotations

import json
import os
import time
import zipfile

import numpy as np

from axonal.saving import h5_io, keras_compile, keras_model, keras_weights
from axonal.saving.archive import ArchiveReader, SavedFileError, atomic_write

KERAS_VERSION = "3.15.1"  # the Keras whose layout and config dialect axonal writes
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_WEIGHTS_LIMIT = 2**34  # 16 GiB: far beyond a model axonal trains, a bound on what one member may claim


def is_keras_archive(reader: ArchiveReader) -> bool:
    """Whether an open zip is a Keras 3 file (Keras writes ``metadata.json``; axonal does not)."""
    return METADATA in reader.members


def load_keras(reader: ArchiveReader, custom_objects: dict | None, compile: bool):
    """The model in an open ``.keras`` archive (see the module docstring)."""
    path = reader.path
    unexpected = sorted(set(reader.members) - {CONFIG, METADATA, WEIGHTS})
    if unexpected:
        raise SavedFileError(path, f"it holds member(s) axonal does not read: {', '.join(unexpected[:5])}",
                             "axonal reads .keras files of layers without assets (no text vectorisation or "
                             "lookup tables)")
    metadata = reader.read_json(METADATA)
    version = metadata.get("keras_version")
    if not isinstance(version, str) or not version.startswith("3."):
        raise SavedFileError(path, f"its metadata.json names Keras {version!r:.30}, not Keras 3",
                             "re-save it with Keras 3, or load a legacy .h5 file instead")
    record = reader.read_json(CONFIG)
    weights = reader._read(WEIGHTS, min(_WEIGHTS_LIMIT, reader.stored_bytes(WEIGHTS) + 2**20))
    model, layers = keras_model.model_from_keras(path, record, custom_objects, len(weights))
    with h5_io.H5Reader.open_bytes(weights, f"{path}/{WEIGHTS}") as h5:
        pairs = keras_weights.read_layers(h5, layers, check_names=True)
        for weight, value in pairs:
            np.copyto(weight, value)
        compile_config = record.get("compile_config")
        if compile and compile_config:
            arguments = keras_compile.compile_from_keras(path, "compile_config", compile_config,
                                                         list(model.output_names))
            _compile(path, model, arguments)
            keras_weights.read_optimizer(h5, model, layers)
    return model


def _compile(path: str, model, arguments: dict) -> None:
    try:
        model.compile(**arguments)
    except (ValueError, TypeError) as error:
        raise SavedFileError(path, f"its compile settings are refused by axonal ({str(error).split(' Fix: ')[0]})",
                             "load it with compile=False and call compile() yourself") from None


def save_keras(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model`` as Keras 3.15 writes ``model.save("m.keras")``, atomically."""
    record = keras_model.model_to_keras(model)
    compile_config = keras_compile.compile_to_keras(model)
    if compile_config is not None:
        record["compile_config"] = compile_config
    layers = keras_model.keras_layer_order(model)
    weights = keras_weights.write(model, layers, include_optimizer=compile_config is not None)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}

    def write(file) -> None:
        with zipfile.ZipFile(file, "w") as archive:
            archive.writestr(_info(METADATA, zipfile.ZIP_STORED), json.dumps(metadata))
            archive.writestr(_info(CONFIG, zipfile.ZIP_STORED), json.dumps(record, allow_nan=False))
            archive.writestr(_info(WEIGHTS, zipfile.ZIP_STORED), weights)

    atomic_write(filepath, write, overwrite)


def _info(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info
