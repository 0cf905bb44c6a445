"""Which format a file name asks for when saving, and the Keras HDF5 side of ``load_weights``.

``save``/``save_weights`` choose the format by the file name (:func:`file_format`); loading reads
it from the content: an HDF5 signature (:func:`is_hdf5_file`) or a zip (Keras' has ``metadata.json``).
"""
from __future__ import annotations

import os

import numpy as np

from axonal._files import remove_stale_temporaries, special_file_problem
from axonal.saving import h5_io, keras_archive, keras_model, keras_weights, legacy_h5
from axonal.saving.archive import ArchiveReader, SavedFileError


def file_format(filepath: str | os.PathLike, weights_only: bool) -> str:
    """The format a path's name asks for: ``"axonal"``, ``"keras"``, ``"weights.h5"`` or ``"h5"``.

    Raises:
        ValueError: for any other name, with the names each format takes.
    """
    name = os.fspath(filepath).lower()
    if os.path.isdir(filepath):  # the atomic writer refuses a folder with its own message and fix
        return "axonal"
    if name.endswith(".axonal"):
        return "axonal"
    if weights_only and name.endswith(".weights.h5"):
        return "weights.h5"
    if name.endswith((".h5", ".hdf5")):
        return "h5"
    if name.endswith(".keras") and not weights_only:
        return "keras"
    call = "save_weights" if weights_only else "save"
    names = ("'.weights.axonal' (axonal), '.weights.h5' (Keras 3) or '.h5' (legacy Keras)" if weights_only
             else "'.axonal' (axonal's own), '.keras' (Keras 3) or '.h5' (legacy Keras)")
    raise ValueError(f"model.{call}({os.fspath(filepath)!r}): the file name does not say which format to write. "
                     f"Fix: end it in {names}.")


def is_hdf5_file(filepath: str | os.PathLike) -> bool:
    """Whether an existing regular file starts with HDF5's signature (others go to the zip reader,
    whose checks and messages cover missing files, folders, FIFOs and garbage)."""
    path = os.fspath(filepath)
    if not os.path.isfile(path) or special_file_problem(path) is not None:
        return False
    remove_stale_temporaries(path)
    try:
        return h5_io.is_hdf5(h5_io.file_head(path))
    except OSError:
        return False


def load_h5_weights(model, path: str, archive: ArchiveReader | None = None) -> None:
    """``load_weights`` from Keras' HDF5 layouts (a file, or the weights inside a ``.keras`` zip)."""
    if not model.built:
        raise SavedFileError(path, f"model {model.name!r} is not built, and Keras weights files record no input "
                             "shape", "build it first, e.g. model.build((None, 784)), or load the whole model "
                             "with load_model")
    layers = keras_model.keras_layer_order(model)
    if archive is not None:
        data = archive._read(keras_archive.WEIGHTS, archive.stored_bytes(keras_archive.WEIGHTS) + 2**20)
        reader = h5_io.H5Reader.open_bytes(data, f"{path}/{keras_archive.WEIGHTS}")
    else:
        reader = h5_io.H5Reader.open_path(path)
    with reader:
        if legacy_h5.is_legacy_weights(reader):
            group = reader.group("model_weights") if legacy_h5.is_model_file(reader) else reader.file
            pairs = legacy_h5.read_layers(reader, group, layers, check_names=False)
        else:
            pairs = keras_weights.read_layers(reader, layers, check_names=False)
    for weight, value in pairs:  # every array was checked before the first copy
        np.copyto(weight, value)
