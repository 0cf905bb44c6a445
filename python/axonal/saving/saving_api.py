"""``save_model``/``load_model`` and ``save_weights``/``load_weights``: one self-describing file.

A model file holds the architecture, the compile settings, the weights and everything training
depends on (optimiser slots and iteration count, the model seed, its dropout step counter and its
shuffling generator), so ``fit`` on a loaded model continues exactly as the saved one would have.
The layout is described in ``docs/design.md`` ("Saving and callbacks").
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import numpy as np

from axonal._version import __version__
from axonal.distribution.files import chief_copy, writes_files
from axonal.layers._weight_limit import weight_limit
from axonal.saving import h5_io, keras_archive, keras_model, keras_weights, legacy_h5
from axonal.saving.formats import is_hdf5_file, load_h5_weights, file_format
from axonal.saving.archive import ArchiveReader, SavedFileError, atomic_write, write_archive
from axonal.saving.serialization import (add_layers, check_input_shape, compile_config, compile_from_config,
                                         model_from_config, serialize)

FORMAT_NAME = "axonal"
FORMAT_VERSION = 1
_RNG_MEMBER = "state/shuffle_rng.npy"
_SLOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MASK_64 = 2**64 - 1
# Step counters reach the kernels as 64-bit integers and keep counting: a saved value this large can
# only come from a damaged file, and would make training fail later with an obscure TypeError.
_COUNTER_LIMIT = 2**62


def save_model(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model`` (architecture, compile settings, weights, optimiser and training state) to
    one file, atomically. ``model.save(filepath)`` calls this.

    The name chooses the format (:func:`file_format`): ``*.axonal`` is axonal's own (everything
    training depends on, so ``fit`` resumes exactly); ``*.keras`` is Keras 3's zip and ``*.h5`` /
    ``*.hdf5`` the legacy Keras HDF5 (architecture, weights, compile settings and optimiser slots,
    which Keras 3.15 loads; the shuffling generator and dropout step are axonal's and not kept).

    Args:
        model: a Sequential or functional model (built, for the Keras formats; compiled or not).
        filepath: the file to write; its folder must exist.
        overwrite: replace an existing file; False raises FileExistsError instead.

    Example:
        >>> model.save("mnist_mlp.axonal")  # doctest: +SKIP
        >>> model.save("mnist_mlp.keras")  # doctest: +SKIP  (keras.saving.load_model reads it)
        >>> model = axonal.models.load_model("mnist_mlp.axonal")  # doctest: +SKIP
    """
    kind = file_format(filepath, weights_only=False)
    if not writes_files():  # under a distribution only rank 0 writes (every rank holds the same model)
        return None
    if kind == "keras":
        return keras_archive.save_keras(model, filepath, overwrite)
    if kind == "h5":
        return legacy_h5.save_legacy_model(model, filepath, overwrite)
    arrays: dict[str, np.ndarray] = {}
    config = _header(model, "model", arrays)
    config["compile_config"] = compile_config(model)
    optimizer = model.optimizer
    slots: list[dict] = []
    # Slots are keyed by the index of their weight in the file's weight list, so those of a frozen
    # layer are kept too (they resume when it is unfrozen).
    if optimizer is not None and optimizer.built:
        for parameter, weight in enumerate(_model_weights(model)):
            for name, array in (optimizer.existing_slots(weight) or {}).items():
                arrays[f"optimizer/{parameter}/{name}.npy"] = array
                slots.append({"parameter": parameter, "slot": name, "shape": list(array.shape),
                              "dtype": array.dtype.name})
    config["optimizer_slots"] = slots
    arrays[_RNG_MEMBER] = _generator_words(model.shuffle_rng)
    config["training_state"] = {
        "seed": int(model.seed), "step": int(model.steps.value),
        "optimizer_iterations": int(optimizer.iterations) if optimizer is not None else 0,
        "shuffle_rng": {"member": _RNG_MEMBER, "bit_generator": "PCG64"},
    }
    atomic_write(filepath, lambda file: write_archive(file, config, arrays), overwrite)


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None, compile: bool = True):
    """The model saved in ``filepath`` by ``model.save``, ready to predict or to resume training.

    Args:
        filepath: a file written by :func:`save_model` (``.axonal``), or by Keras: a Keras 3
            ``.keras`` file or a legacy Keras 1/2, tf.keras or Keras 3 ``.h5`` model file (the
            format is read from the file's content, not its name).
        custom_objects: ``{"ClassName": cls}`` for custom layers and metrics in the file.
        compile: restore the optimiser (with its state), loss and metrics; False returns an
            uncompiled model.

    Raises:
        SavedFileError: (a ValueError) for a damaged or foreign file, or one from a newer axonal,
            naming the file and the problem.

    Example:
        >>> model = load_model("mnist_mlp.axonal")  # doctest: +SKIP
        >>> model.fit(x, y, epochs=1)  # doctest: +SKIP  (continues where the saved run stopped)

    Under a distribution of several ranks, rank 0 reads the file and broadcasts its bytes.
    """
    with chief_copy(filepath) as path:
        return _load_model(path, custom_objects, compile)


def _load_model(filepath, custom_objects: dict | None, compile: bool):
    if is_hdf5_file(filepath):
        with h5_io.H5Reader.open_path(os.fspath(filepath)) as reader:
            if not legacy_h5.is_model_file(reader):
                raise SavedFileError(reader.path, "it is an HDF5 file of weights only (no model_config)",
                                     "create the model, then call model.load_weights(path)")
            return legacy_h5.load_legacy_model(reader, custom_objects, compile)
    with ArchiveReader(filepath) as reader:
        if keras_archive.is_keras_archive(reader):
            return keras_archive.load_keras(reader, custom_objects, compile)
        path = reader.path
        config = _read_header(reader, "model")
        state = _mapping(path, config, "training_state")
        slot_members = {_slot_member(path, entry) for entry in _list(path, config, "optimizer_slots")}
        reader.check_members(set(_weight_members(path, config)) | slot_members | {_RNG_MEMBER})
        model, model_config = model_from_config(path, config.get("model_config"))
        # Seed and step first: layers draw their dropout seeds from them when they are added.
        model.seed = _count(path, state, "seed")
        model.steps.value = _count(path, state, "step", _COUNTER_LIMIT)
        # Layers are built as they are added: bound their weights by what the file can hold.
        with weight_limit(reader.stored_bytes("weights/") // 4):
            add_layers(path, model, model_config, custom_objects)
        _read_weights(reader, model, config)
        model.shuffle_rng = _generator(path, reader.read_array(_RNG_MEMBER, (6,), np.uint64, "shuffle state"))
        if compile and config.get("compile_config") is not None:
            compile_from_config(path, model, _mapping(path, config, "compile_config"), custom_objects)
            iterations = _count(path, state, "optimizer_iterations", _COUNTER_LIMIT)
            _read_optimizer(reader, model, slot_members, iterations)
    return model


def save_weights(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write only the weights of ``model`` (no training state), atomically.

    ``*.weights.h5`` gets Keras 3's layout (with the optimiser's variables when the model is
    compiled, as Keras writes them), ``*.h5``/``*.hdf5`` tf.keras' legacy weights file, and
    ``*.axonal`` axonal's own (weights only).

    Example:
        >>> model.save_weights("mlp.weights.axonal")  # doctest: +SKIP
    """
    kind = file_format(filepath, weights_only=True)
    if not writes_files():  # under a distribution only rank 0 writes
        return None
    if kind == "weights.h5":
        layers = keras_model.keras_layer_order(model)
        include_optimizer = model.optimizer is not None and model.loss is not None
        data = keras_weights.write(model, layers, include_optimizer)
        return atomic_write(filepath, lambda file: file.write(data), overwrite)
    if kind == "h5":
        return legacy_h5.save_legacy_weights(model, filepath, overwrite)
    arrays: dict[str, np.ndarray] = {}
    config = _header(model, "weights", arrays)
    atomic_write(filepath, lambda file: write_archive(file, config, arrays), overwrite)


def load_weights(model, filepath: str | os.PathLike) -> None:
    """Copy the weights saved in ``filepath`` (by ``save_weights`` or ``save``) into ``model``.

    Reads axonal's files, Keras 3's ``*.weights.h5`` and ``.keras``, and the legacy Keras HDF5
    weights and model files (the format is read from the content).

    Weights are matched by position, layer by layer, so layer names may differ; every shape must
    agree. An unbuilt model is first built for the input shape recorded in the file.

    Raises:
        SavedFileError: when the file's weights do not fit the model, naming the weight and both shapes.

    Example:
        >>> model.load_weights("mlp.weights.axonal")  # doctest: +SKIP
    """
    with chief_copy(filepath) as path:
        return _load_weights(model, path)


def _load_weights(model, filepath) -> None:
    if is_hdf5_file(filepath):
        return load_h5_weights(model, os.fspath(filepath))
    with ArchiveReader(filepath) as reader:
        if keras_archive.is_keras_archive(reader):
            return load_h5_weights(model, reader.path, reader)
        path = reader.path
        config = _read_header(reader, None)
        members = set(_weight_members(path, config))
        if config["kind"] == "model":  # a full model file holds more; only its weights are read
            members |= {_slot_member(path, e) for e in _list(path, config, "optimizer_slots")} | {_RNG_MEMBER}
        reader.check_members(members)
        with _unbuilt_if_refused(model):
            if not model.built:
                _build_for_file(reader, model, config)
            _read_weights(reader, model, config)


@contextlib.contextmanager
def _unbuilt_if_refused(model):
    """Layers (and the model) built for a file that is then refused go back to unbuilt: a refused
    load_weights changes nothing."""
    fresh, input_shape, built = [layer for layer in model.layers if not layer.built], model.input_shape, model.built
    try:
        yield
    except BaseException:
        for layer in fresh:
            layer._unbuild()
        model.input_shape, model.built = input_shape, built
        raise


def _build_for_file(reader: ArchiveReader, model, config: dict) -> None:
    """Build ``model`` for the input shape the file records, refusing a damaged shape, and weights
    larger than the file could hold, before anything is allocated."""
    path, model_config = reader.path, _mapping(reader.path, config, "model_config").get("config")
    shape = model_config.get("build_input_shape") if isinstance(model_config, dict) else None
    if shape is None or not model.layers:
        raise SavedFileError(path, f"model {model.name!r} is not built and the file records no input "
                             "shape", "build it first, e.g. model.build((None, 784))")
    check_input_shape(path, shape)
    try:
        with weight_limit(reader.stored_bytes("weights/") // 4):  # float32 weights
            model.build(tuple(shape))
    except (ValueError, TypeError) as error:
        raise SavedFileError(path, f"model {model.name!r} cannot be built for the input shape {tuple(shape)} "
                             f"the file records ({error})", "check that the file belongs to this model; "
                             "or build the model first, e.g. model.build((None, 784))") from None


def _header(model, kind: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The part of ``config.json`` both kinds share; adds the weight arrays to ``arrays``."""
    entries = []
    for layer in model.layers:
        for name, array in zip(_weight_names(layer), layer.weights):  # the order of _model_weights
            arrays[f"weights/{len(entries)}.npy"] = array
            entries.append({"layer": layer.name, "name": name, "shape": list(array.shape),
                            "dtype": array.dtype.name})
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind, "axonal_version": __version__,
            "model_config": serialize(model), "weights": entries}


def _read_header(reader: ArchiveReader, kind: str | None) -> dict[str, Any]:
    """``config.json``, refused unless it is an axonal file of a format this version reads."""
    path, config = reader.path, reader.read_config()
    if config.get("format") != FORMAT_NAME:
        raise SavedFileError(path, "its config.json does not say format 'axonal'",
                             "pass a file written by model.save() or model.save_weights()")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SavedFileError(path, f"its format_version {version!r} is not one axonal ever wrote")
    if version > FORMAT_VERSION:
        raise SavedFileError(path, f"it was written in file format {version} by axonal "
                             f"{config.get('axonal_version', '?')}; axonal {__version__} reads format "
                             f"{FORMAT_VERSION} and earlier", "upgrade axonal (pip install -U axonal)")
    if config.get("kind") not in ("model", "weights"):
        raise SavedFileError(path, f"its kind {config.get('kind')!r} is neither 'model' nor 'weights'")
    if kind == "model" and config["kind"] != "model":
        raise SavedFileError(path, "it holds only weights (written by save_weights)",
                             "create the model, then call model.load_weights(path)")
    return config


def _read_weights(reader: ArchiveReader, model, config: dict) -> None:
    entries = _list(reader.path, config, "weights")
    targets = [(layer, name, array) for layer in model.layers
               for name, array in zip(_weight_names(layer), layer.weights)]
    if len(entries) != len(targets):
        raise SavedFileError(reader.path, f"it holds {len(entries)} weight arrays but model {model.name!r} has "
                             f"{len(targets)}", "load it into a model with the same layers as the saved one")
    values = []
    for index, ((layer, name, array), entry) in enumerate(zip(targets, entries)):
        saved_as = f"{entry.get('layer')}/{entry.get('name')}" if isinstance(entry, dict) else "?"
        what = f"weight {layer.name}/{name} (saved as {saved_as})"
        values.append(reader.read_array(f"weights/{index}.npy", array.shape, array.dtype, what))
    # Every array is read and checked before the first is copied: a refused file changes nothing.
    for (_, _, array), value in zip(targets, values):
        np.copyto(array, value)


def _read_optimizer(reader: ArchiveReader, model, slot_members: set[str], iterations: int) -> None:
    if slot_members:
        model._prepare_optimizer()  # builds the slots for the model's trainable weights
        weights, expected = _model_weights(model), {}
        for member in slot_members:
            parameter, name = _slot_address(member)
            if parameter is not None and parameter < len(weights):
                slots = model.optimizer.slots_for(weights[parameter])
                if name in slots:
                    expected[member] = slots[name]
        if expected.keys() != slot_members:
            raise SavedFileError(reader.path, f"its optimizer slots ({', '.join(sorted(slot_members)[:4])}...) do "
                                 f"not match those of {type(model.optimizer).__name__} for this model")
        values = {member: reader.read_array(member, array.shape, array.dtype, f"optimizer slot {member}")
                  for member, array in expected.items()}
        for member, value in values.items():
            np.copyto(expected[member], value)
    model.optimizer.iterations = iterations


def _model_weights(model) -> list[np.ndarray]:
    """Every weight array of the model, in the order of the file's ``weights`` list."""
    return [array for layer in model.layers for array in layer.weights]


def _slot_address(member: str) -> tuple[int | None, str]:
    """``optimizer/<parameter>/<slot>.npy`` -> (parameter, slot); (None, "") for anything else."""
    parts = member.split("/")
    if len(parts) != 3 or parts[0] != "optimizer" or not parts[1].isdigit() or not parts[2].endswith(".npy"):
        return None, ""
    return int(parts[1]), parts[2][:-len(".npy")]


def _weight_names(layer) -> list[str]:
    # Layers keep their weights in a name -> array dict; the names make messages readable.
    names = list(getattr(layer, "_weights", {}))
    return names if len(names) == len(layer.weights) else [str(i) for i in range(len(layer.weights))]


def _weight_members(path: str, config: dict) -> list[str]:
    return [f"weights/{index}.npy" for index in range(len(_list(path, config, "weights")))]


def _slot_member(path: str, entry: Any) -> str:
    """``optimizer/<parameter>/<slot>.npy`` for a slot entry, refusing names that are not identifiers."""
    parameter, slot = (entry.get("parameter"), entry.get("slot")) if isinstance(entry, dict) else (None, None)
    if (isinstance(parameter, bool) or not isinstance(parameter, int) or parameter < 0
            or not isinstance(slot, str) or not _SLOT_NAME.fullmatch(slot)):
        raise SavedFileError(path, f"its optimizer slot entry {entry!r:.100} is malformed")
    return f"optimizer/{parameter}/{slot}.npy"


def _generator_words(generator: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's complete state as six uint64 words (its 128-bit numbers split in two)."""
    state = generator.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise TypeError(f"The model's shuffle generator is {state['bit_generator']}; only PCG64 can be saved.")
    value, increment = state["state"]["state"], state["state"]["inc"]
    return np.array([value >> 64, value & _MASK_64, increment >> 64, increment & _MASK_64,
                     state["has_uint32"], state["uinteger"]], dtype=np.uint64)


def _generator(path: str, words: np.ndarray) -> np.random.Generator:
    high, low, inc_high, inc_low, has_uint32, uinteger = (int(word) for word in words)
    generator = np.random.Generator(np.random.PCG64())
    try:
        generator.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": high << 64 | low, "inc": inc_high << 64 | inc_low},
            "has_uint32": has_uint32, "uinteger": uinteger}
    except (ValueError, TypeError, OverflowError) as error:
        raise SavedFileError(path, f"its shuffle generator state is invalid ({error})") from None
    return generator


def _mapping(path: str, config: dict, key: str) -> dict:
    value = config.get(key)
    if not isinstance(value, dict):
        raise SavedFileError(path, f"its config.json lacks the object {key!r}")
    return value


def _list(path: str, config: dict, key: str) -> list:
    value = config.get(key, [])
    if not isinstance(value, list):
        raise SavedFileError(path, f"its config.json entry {key!r} is not a list")
    return value


def _count(path: str, mapping: dict, key: str, limit: int | None = None) -> int:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (limit and value >= limit):
        raise SavedFileError(path, f"its training state {key!r} is {value!r:.40}, not an integer in "
                             f"[0, {limit or 'inf'})")
    return value
