"""Keras 3's weights layout in HDF5: ``model.weights.h5`` inside a ``.keras`` file, and ``*.weights.h5``.

Keras 3 stores layer ``i`` of a model's ``layers`` list under ``layers/<name>/vars/<k>``, where
``<name>`` is the layer's class in snake case, numbered within the model (``dense``, ``dense_1``,
``max_pooling2d``... whatever the layers' own names), and ``<k>`` is the weight's position in the
layer (kernel 0, bias 1). A ``vars`` group also records the layer's own name as attribute
``name``. A compiled model adds ``optimizer/vars/<k>``: the iteration count, the learning rate,
then the slots in Keras' order (:func:`axonal.saving.keras_compile.keras_slot_order`).
Every array is read and checked before the first is copied, so a refused file changes nothing.
"""
from __future__ import annotations

import re

import numpy as np

from axonal.saving import h5_io
from axonal.saving.archive import SavedFileError
from axonal.saving.keras_compile import keras_slot_order

_OPTIMIZER_GROUP = "optimizer/vars"


def snake_case(name: str) -> str:
    """Keras' snake case of a class name: ``MaxPooling2D`` -> ``max_pooling2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_paths(layers: list) -> list[str]:
    """The group of each layer, numbered per class name as Keras numbers them."""
    used: dict[str, int] = {}
    paths = []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        paths.append(f"layers/{base}" if count is None else f"layers/{base}_{count + 1}")
    return paths


def trainable_in_order(model, layers: list) -> list[np.ndarray]:
    """``model.trainable_variables`` in Keras' order: layer by layer in ``layers``' order."""
    if not model.trainable:
        return []
    return [weight for layer in layers for weight in getattr(layer, "trainable_weights", [])]


def write(model, layers: list, include_optimizer: bool) -> bytes:
    """The bytes of a Keras 3 weights file for ``model`` (``layers`` in Keras' order)."""
    buffer, file = h5_io.new_file()
    try:
        file.create_group("vars").attrs["name"] = model.name
        for layer, path in zip(layers, layer_paths(layers)):
            group = file.create_group(f"{path}/vars")
            group.attrs["name"] = layer.name
            for index, weight in enumerate(getattr(layer, "weights", [])):
                group.create_dataset(str(index), data=np.asarray(weight))
        if include_optimizer and model.optimizer is not None:
            group = file.create_group(_OPTIMIZER_GROUP)
            group.attrs["name"] = model.optimizer.name
            for index, value in enumerate(optimizer_variables(model, layers)):
                group.create_dataset(str(index), data=value)
    except BaseException:
        file.close()
        raise
    return h5_io.finish(buffer, file)


def optimizer_variables(model, layers: list) -> list[np.ndarray]:
    """Keras' optimizer variables for ``model``: iterations, learning rate, then the slots.

    Keras builds its optimiser as soon as it compiles a built model, so a file always holds every
    slot; an optimiser axonal has not built yet gives the slots a fresh one starts from.
    """
    optimizer, params = model.optimizer, trainable_in_order(model, layers)
    source = optimizer
    if not optimizer.built:
        source = type(optimizer).from_config(optimizer.get_config())
        source.build(params)
    values = [np.array(optimizer.iterations, dtype=np.int64), np.array(optimizer.learning_rate, dtype=np.float32)]
    for name, index in keras_slot_order(source, len(params)):
        values.append(np.asarray(source.slots_for(params[index])[name]))
    return values


def restore_learning_rate(optimizer, value: float) -> None:
    """Take the file's current learning rate (a callback may have changed it) unless it is the
    configured one rounded to float32, as Keras keeps it: the config's exact value then stays."""
    if np.float32(optimizer.learning_rate) != np.float32(value):
        optimizer.learning_rate = float(value)


def read_layers(reader: h5_io.H5Reader, layers: list, check_names: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(weight, value)`` for every weight of ``layers`` (Keras' order), all checked, none copied.

    Args:
        check_names: refuse a group whose recorded layer name differs (``load_model``, where the
            file describes the model; ``load_weights`` matches by position, as Keras does).
    """
    root = reader.group("layers")
    pairs = []
    for layer, path in zip(layers, layer_paths(layers)):
        weights = list(getattr(layer, "weights", []))
        group = reader.group(f"{path}/vars", required=bool(weights))
        if group is None:
            continue
        saved_as = reader.text_attribute(group, "name")
        if check_names and saved_as is not None and saved_as != layer.name:
            raise SavedFileError(reader.path, f"its group {path!r} holds layer {saved_as!r} where its config puts "
                                 f"{layer.name!r}", "the file is inconsistent: re-save it with Keras")
        stored = reader.names(group)
        if len(stored) != len(weights):
            raise SavedFileError(reader.path, f"its group {path!r} (layer {saved_as or '?'}) holds {len(stored)} "
                                 f"weights where layer {layer.name!r} ({type(layer).__name__}) has {len(weights)}",
                                 "load it into a model with the same layers as the saved one")
        for index, weight in enumerate(weights):
            what = f"weight {index} of layer {layer.name!r} ({path}/vars/{index})"
            pairs.append((weight, reader.array(group, str(index), weight.shape, weight.dtype, what)))
    extra = len(reader.names(root)) - len(layers)
    if extra > 0:
        raise SavedFileError(reader.path, f"it holds {len(reader.names(root))} layers where model has {len(layers)}",
                             "load it into a model with the same layers as the saved one")
    return pairs


def read_optimizer(reader: h5_io.H5Reader, model, layers: list) -> None:
    """Restore the optimiser's iteration count, learning rate and slots from ``optimizer/vars``."""
    group = reader.group(_OPTIMIZER_GROUP, required=False)
    if group is None:
        return
    count = len(reader.names(group))
    optimizer, params = model.optimizer, trainable_in_order(model, layers)
    if count == 0:
        return
    iterations = reader.scalar(group, "0", "the optimizer's iteration count")
    if not float(iterations).is_integer() or not 0 <= iterations < 2**62:
        raise SavedFileError(reader.path, f"its optimizer iteration count {iterations!r} is not a count")
    if count == 1:
        optimizer.iterations = int(iterations)
        return
    model._prepare_optimizer()  # builds the slots of the trainable weights
    order = keras_slot_order(optimizer, len(params))
    if count - 2 != len(order) and count - 2 > 0:
        raise SavedFileError(reader.path, f"its optimizer holds {count - 2} slot variables where "
                             f"{type(optimizer).__name__} on this model's {len(params)} trainable weights has "
                             f"{len(order)}", "load with compile=False, or check that the file matches the model")
    learning_rate = reader.scalar(group, "1", "the optimizer's learning rate")
    values = []
    for position, (name, index) in enumerate(order if count > 2 else []):
        target = optimizer.slots_for(params[index])[name]
        what = f"optimizer slot {name} of trainable weight {index} (optimizer/vars/{position + 2})"
        values.append((target, reader.array(group, str(position + 2), target.shape, target.dtype, what)))
    restore_learning_rate(optimizer, learning_rate)
    for target, value in values:
        np.copyto(target, value)
    optimizer.iterations = int(iterations)
