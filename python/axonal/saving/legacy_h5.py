"""The legacy Keras HDF5 formats (Keras 1/2, tf.keras, and Keras 3's ``model.save("m.h5")``).

A model file holds the attributes ``model_config`` and ``training_config`` (JSON), a
``model_weights`` group and, when compiled, ``optimizer_weights``; a weights file holds only the
layer groups, at its root. Either lists its layers in the attribute ``layer_names`` and each
layer's weights in ``weight_names`` (``dense/kernel:0``), the datasets sitting at those paths
inside the layer's group. Layers are matched by position among the layers that have weights, as
Keras matches them. Optimiser weights are named too, and the name gives each one's kind
(:func:`axonal.saving.keras_compile.slot_kind`); within a kind they follow the trainable weights.
Writing follows Keras 3.15's ``legacy_h5_format`` (its config dialect), which tf.keras reads too
for these layers.
"""
from __future__ import annotations

import json
import os

import numpy as np

from axonal._version import __version__
from axonal.saving import h5_io, keras_compile, keras_model
from axonal.saving.archive import SavedFileError, atomic_write
from axonal.saving.keras_archive import KERAS_VERSION
from axonal.saving.keras_weights import restore_learning_rate, trainable_in_order
from axonal.saving.serialization import MAX_LAYERS

_NAME_LIMIT = 64 * MAX_LAYERS


def is_model_file(reader: h5_io.H5Reader) -> bool:
    return "model_config" in reader.file.attrs


def is_legacy_weights(reader: h5_io.H5Reader) -> bool:
    """A legacy file (model or weights) rather than Keras 3's ``layers/.../vars`` layout."""
    return "layer_names" in reader.file.attrs or reader.group("model_weights", required=False) is not None


def load_legacy_model(reader: h5_io.H5Reader, custom_objects: dict | None, compile: bool):
    path = reader.path
    record = reader.json_attribute(reader.file, "model_config", required=True)
    backend = reader.text_attribute(reader.file, "backend")
    size = os.path.getsize(path) if os.path.exists(path) else 0
    model, layers = keras_model.model_from_keras(path, record, custom_objects, size)
    _refuse_theano(path, backend, layers)
    weights_group = reader.group("model_weights")
    for weight, value in read_layers(reader, weights_group, layers, check_names=True):
        np.copyto(weight, value)
    training = reader.json_attribute(reader.file, "training_config")
    if compile and training:
        arguments = keras_compile.compile_from_keras(path, "training_config", training, list(model.output_names))
        try:
            model.compile(**arguments)
        except (ValueError, TypeError) as error:
            raise SavedFileError(path, f"its compile settings are refused by axonal ({str(error).split(' Fix: ')[0]})",
                                 "load it with compile=False and call compile() yourself") from None
        _read_optimizer(reader, model, layers)
    return model


def _refuse_theano(path: str, backend: str | None, layers: list) -> None:
    if backend == "theano" and any(type(layer).__name__ == "Conv2D" for layer in layers):
        raise SavedFileError(path, "it was written by Keras on Theano, whose convolution kernels are flipped",
                             "load and re-save it with Keras 2 on TensorFlow first")


def read_layers(reader: h5_io.H5Reader, group, layers: list, check_names: bool) -> list:
    """``(weight, value)`` for every weight of ``layers``, matched by position among the layers
    with weights; everything is checked before the caller copies anything."""
    names = reader.name_list(group, "layer_names", MAX_LAYERS)
    saved = []
    for name in names:
        layer_group = reader.child(group, name, "group")
        weight_names = reader.name_list(layer_group, "weight_names", _NAME_LIMIT)
        if weight_names:
            saved.append((name, layer_group, weight_names))
    targets = [layer for layer in layers if getattr(layer, "weights", [])]
    if len(saved) != len(targets):
        raise SavedFileError(reader.path, f"it holds weights for {len(saved)} layers where the model has {len(targets)} "
                             "layers with weights", "load it into a model with the same layers as the saved one")
    pairs = []
    for layer, (name, layer_group, weight_names) in zip(targets, saved):
        if check_names and name != layer.name:
            raise SavedFileError(reader.path, f"its weights of layer {name!r} sit where its config puts "
                                 f"{layer.name!r}", "the file is inconsistent: re-save it with Keras")
        if len(weight_names) != len(layer.weights):
            raise SavedFileError(reader.path, f"layer {name!r} holds {len(weight_names)} weights in the file where "
                                 f"layer {layer.name!r} ({type(layer).__name__}) has {len(layer.weights)}",
                                 "load it into a model with the same layers as the saved one")
        for weight_name, weight in zip(weight_names, layer.weights):
            parent, leaf = _parent(reader, layer_group, weight_name)
            what = f"weight {weight_name!r} of layer {name!r}"
            pairs.append((weight, reader.array(parent, leaf, weight.shape, weight.dtype, what)))
    return pairs


def _parent(reader: h5_io.H5Reader, group, name: str):
    parts = [p for p in name.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise SavedFileError(reader.path, f"its weight name {name!r:.80} is not a path inside the layer's group")
    for part in parts[:-1]:
        group = reader.child(group, part, "group")
    return group, parts[-1]


def _read_optimizer(reader: h5_io.H5Reader, model, layers: list) -> None:
    group = reader.group("optimizer_weights", required=False)
    if group is None:
        return
    names = reader.name_list(group, "weight_names", _NAME_LIMIT)
    optimizer = model.optimizer
    model._prepare_optimizer()
    params = trainable_in_order(model, layers)
    kinds: dict[str, list[str]] = {}
    for name in names:
        kind = keras_compile.slot_kind(name)
        if kind is None:
            raise SavedFileError(reader.path, f"its optimizer weight {name!r:.80} is neither a count nor a slot "
                                 f"axonal's {type(optimizer).__name__} has", "load it with compile=False")
        kinds.setdefault(kind, []).append(name)
    expected = set(optimizer._slot_specs)
    slots = {kind: entries for kind, entries in kinds.items() if kind not in ("iterations", "learning_rate")}
    if set(slots) != expected or any(len(entries) != len(params) for entries in slots.values()):
        found = {kind: len(entries) for kind, entries in slots.items()}
        raise SavedFileError(reader.path, f"its optimizer weights hold slots {found} where axonal's "
                             f"{type(optimizer).__name__} has {sorted(expected)} for {len(params)} trainable weights",
                             "load it with compile=False, or check that the file matches the model")
    values = []
    for kind, entries in slots.items():
        for name, param in zip(entries, params):
            target = optimizer.slots_for(param)[kind]
            parent, leaf = _parent(reader, group, name)
            values.append((target, reader.array(parent, leaf, target.shape, target.dtype, f"optimizer weight {name!r}")))
    iterations = 0
    if kinds.get("iterations"):
        parent, leaf = _parent(reader, group, kinds["iterations"][0])
        iterations = reader.scalar(parent, leaf, "the optimizer's iteration count")
        if not float(iterations).is_integer() or not 0 <= iterations < 2**62:
            raise SavedFileError(reader.path, f"its optimizer iteration count {iterations!r} is not a count")
    if kinds.get("learning_rate"):
        parent, leaf = _parent(reader, group, kinds["learning_rate"][0])
        restore_learning_rate(optimizer, reader.scalar(parent, leaf, "the optimizer's learning rate"))
    for target, value in values:
        np.copyto(target, value)
    optimizer.iterations = int(iterations)


# ----- writing --------------------------------------------------------------------------------------

def save_legacy_model(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model`` as Keras 3.15's ``model.save("m.h5")`` does, atomically."""
    record = keras_model.model_to_keras(model)
    layers = keras_model.keras_layer_order(model)
    compile_config = keras_compile.compile_to_keras(model)
    buffer, file = h5_io.new_file()
    try:
        _header(file)
        file.attrs["model_config"] = json.dumps(_legacy_record(record), allow_nan=False)
        if compile_config is not None:
            training = dict(compile_config)
            training["optimizer_config"] = _legacy_record(training.pop("optimizer"))
            file.attrs["training_config"] = json.dumps(training, allow_nan=False)
        _write_layers(file.create_group("model_weights"), layers)
        if compile_config is not None:
            _write_optimizer(file, model, layers)
    except BaseException:
        file.close()
        raise
    data = h5_io.finish(buffer, file)
    atomic_write(filepath, lambda out: out.write(data), overwrite)


def save_legacy_weights(model, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write the weights as tf.keras' ``save_weights("w.h5")`` does (the layer groups at the root)."""
    buffer, file = h5_io.new_file()
    try:
        _write_layers(file, keras_model.keras_layer_order(model))
    except BaseException:
        file.close()
        raise
    data = h5_io.finish(buffer, file)
    atomic_write(filepath, lambda out: out.write(data), overwrite)


def _header(node) -> None:
    node.attrs["backend"] = "tensorflow"
    node.attrs["keras_version"] = KERAS_VERSION
    node.attrs["axonal_version"] = __version__


def _legacy_record(record: dict) -> dict:
    """Keras 3's legacy form of a record: class name and config only, at the top level and for
    each layer (nested objects keep Keras 3's form, as Keras writes them)."""
    out = {"class_name": record["class_name"], "config": dict(record["config"])}
    if isinstance(out["config"].get("layers"), list):
        out["config"]["layers"] = [{key: value for key, value in layer.items()
                                    if key not in ("module", "registered_name", "build_config")}
                                   for layer in out["config"]["layers"]]
    return out


def _write_layers(group, layers: list) -> None:
    _header(group)
    h5_io.set_names(group, "layer_names", [layer.name for layer in layers])
    for layer in layers:
        layer_group = group.create_group(layer.name)
        names = _weight_names(layer)
        h5_io.set_names(layer_group, "weight_names", names)
        for name, weight in zip(names, getattr(layer, "weights", [])):
            layer_group.create_dataset(name, data=np.asarray(weight))
    h5_io.set_names(group.create_group("top_level_model_weights"), "weight_names", [])


def _weight_names(layer) -> list[str]:
    names = list(getattr(layer, "_weights", {}))
    weights = getattr(layer, "weights", [])
    if len(names) != len(weights):
        names = [str(i) for i in range(len(weights))]
    return [f"{layer.name}/{name}" for name in names]


def _write_optimizer(file, model, layers: list) -> None:
    from axonal.saving.keras_weights import optimizer_variables

    optimizer = model.optimizer
    params = trainable_in_order(model, layers)
    owners = [(layer.name, name) for layer in layers if model.trainable
              for name, weight in zip(_weight_names(layer), getattr(layer, "trainable_weights", []))]
    source = optimizer if optimizer.built else type(optimizer).from_config(optimizer.get_config())
    if not source.built:
        source.build(params)
    names = [f"{optimizer.name}/iteration", f"{optimizer.name}/learning_rate"]
    for slot, index in keras_compile.keras_slot_order(source, len(params)):
        layer_name, weight = owners[index]
        names.append(f"{optimizer.name}/{weight.replace('/', '_')}_{keras_compile.keras_slot_name(slot)}")
    group = file.create_group("optimizer_weights")
    h5_io.set_names(group, "weight_names", names)
    for name, value in zip(names, optimizer_variables(model, layers)):
        group.create_dataset(name, data=value)
