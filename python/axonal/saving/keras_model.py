"""Keras model configurations (Sequential and functional, Keras 1 to 3) as axonal models, and back.

Reading turns Keras' config into axonal's own (:mod:`axonal.models.graph_config` for a functional
model: each layer once, then its calls in an order where every source comes first) and builds
the model with axonal's machinery, so a Keras file rebuilds exactly as an ``.axonal`` one would.
It returns the layers in Keras' order as well: weights files address layers by that order.
Writing gives the Keras 3.15 config of an axonal model, the one ``keras.Model.get_config`` gives.
"""
from __future__ import annotations

from typing import Any

from axonal import layers as layers_module
from axonal.layers import InputLayer
from axonal.layers._weight_limit import weight_limit
from axonal.saving.keras_objects import (check_float32, dtype_policy, input_shape_of, keras_error,
                                         layer_from_keras, layer_to_keras)
from axonal.saving.serialization import MAX_LAYERS, empty_model

MODEL_CLASSES = ("Sequential", "Functional", "Model")


def model_from_keras(path: str, record: Any, custom_objects: dict | None, weight_bytes: int):
    """``(model, keras_layers)``: the axonal model a Keras model config describes, and its layers in
    the order Keras lists them (InputLayers of a functional model included, as Keras counts them).

    Args:
        weight_bytes: what the file's weights can hold; a config asking for more is refused
            before the weights are allocated.
    """
    from axonal.models.model import Model
    from axonal.models.sequential import Sequential

    if not isinstance(record, dict) or record.get("class_name") not in MODEL_CLASSES:
        name = record.get("class_name") if isinstance(record, dict) else record
        raise keras_error(path, "class_name", f"{name!r:.60} is not a model axonal reads (it reads "
                          "'Sequential' and functional models)")
    config = record.get("config")
    if isinstance(config, list):  # Keras 2.0-2.2 wrote a Sequential config as its list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise keras_error(path, "config", "has no list of layers")
    if len(config["layers"]) > MAX_LAYERS:
        raise keras_error(path, "config.layers", f"lists {len(config['layers'])} layers, more than the "
                          f"{MAX_LAYERS} a saved model may hold")
    check_float32(path, "config", config.get("dtype"))
    cls = Sequential if record["class_name"] == "Sequential" else Model
    model = empty_model(cls, config.get("name"))
    with weight_limit(weight_bytes // 4):
        try:
            if cls is Sequential:
                order = _sequential(path, model, config, custom_objects)
            else:
                order = _functional(path, model, config, custom_objects)
        except (ValueError, TypeError) as error:
            if type(error).__name__ == "SavedFileError":
                raise
            raise keras_error(path, "config", f"cannot be rebuilt ({type(error).__name__}: "
                              f"{str(error).split(' Fix: ')[0]})") from None
    if config.get("trainable") is False:
        model.trainable = False
    return model, order


def _make_layer(path: str, where: str, record: dict, custom_objects: dict | None):
    translated, shape = layer_from_keras(path, where, record, custom_objects)
    try:
        if translated.pop("custom", False):
            layer = custom_objects[translated["class_name"]].from_config(translated["config"])
        else:
            layer = layers_module.deserialize(translated)
    except (ValueError, TypeError) as error:
        raise keras_error(path, where, f"({translated['class_name']} {record['config'].get('name', '?')!r}) "
                          f"cannot be rebuilt: {str(error).split(' Fix: ')[0]}") from None
    return layer, shape


def _sequential(path: str, model, config: dict, custom_objects: dict | None) -> list:
    shape = None
    if config.get("build_input_shape") is not None:
        shape = input_shape_of(path, "config.build_input_shape", {"batch_shape": config["build_input_shape"]})
    layers = []
    for index, record in enumerate(config["layers"]):
        where = f"layers[{index}]"
        if isinstance(record, dict) and record.get("class_name") == "InputLayer":
            declared = input_shape_of(path, where + ".config", record.get("config") or {})
            shape = shape or declared
            continue
        layer, declared = _make_layer(path, where, record, custom_objects)
        if not layers and declared is not None:
            shape = shape or declared
        layers.append(layer)
    for layer in layers:
        model.add(layer)
    if layers and shape is not None:
        model.build((None, *shape))
    elif layers:
        raise keras_error(path, "config", "records no input shape, so the weights cannot be placed",
                          "save the Keras model after building it (an Input, or a fit/predict call)")
    return list(model.layers)


def _functional(path: str, model, config: dict, custom_objects: dict | None) -> list:
    records, names, keras_order, calls = config["layers"], {}, [], []
    for index, record in enumerate(records):
        where = f"layers[{index}]"
        if not isinstance(record, dict):
            raise keras_error(path, where, f"is {record!r:.80}, not a layer record")
        if record.get("class_name") == "InputLayer":
            shape = input_shape_of(path, where + ".config", record.get("config") or {})
            if shape is None:
                raise keras_error(path, where, "is an Input without a shape")
            declared = record.get("config") or {}
            dtype = declared.get("dtype") if isinstance(declared.get("dtype"), str) else None
            try:
                layer = InputLayer(shape, name=declared.get("name") or record.get("name"), dtype=dtype)
            except ValueError as error:
                raise keras_error(path, where + ".config.dtype", str(error).split(" Fix: ")[0]) from None
        else:
            layer, _ = _make_layer(path, where, record, custom_objects)
            for call, inbound in enumerate(record.get("inbound_nodes") or []):
                sources = _sources(path, f"{where}.inbound_nodes[{call}]", inbound)
                calls.append((layer.name, sources))
        if layer.name in names:
            raise keras_error(path, where, f"repeats the layer name {layer.name!r}")
        names[layer.name] = layer
        keras_order.append(layer)
    axonal_config = {"layers": [{} for _ in keras_order], "input_layers": _endpoints(path, "input_layers", config.get("input_layers")),
                     "output_layers": _endpoints(path, "output_layers", config.get("output_layers")),
                     "nodes": _graph_order(path, calls, names)}
    for name, _, _ in axonal_config["input_layers"]:
        if not isinstance(names.get(name), InputLayer):
            raise keras_error(path, "config.input_layers", f"names {name!r}, which is not an InputLayer")
    # The layers are made above (with their Keras positions); replay wires their calls.
    model._graph_from_config(axonal_config, lambda index, record: keras_order[index])
    return keras_order


def _sources(path: str, where: str, inbound: Any) -> list[tuple[str, int]]:
    """``[(layer, call), ...]`` a call reads: Keras 3 ``{"args", "kwargs"}`` or Keras 2 ``[[name, call, 0, {}]]``."""
    if isinstance(inbound, dict):
        kwargs = inbound.get("kwargs") or {}
        # Keras records mask=None, and the training flag it traced with, on some calls: neither changes
        # anything (a functional model passes its own training flag to every call when it runs).
        passed = (sorted(key for key, value in kwargs.items() if value is not None and key != "training")
                  if isinstance(kwargs, dict) else kwargs)
        if passed:
            raise keras_error(path, f"{where}.kwargs", f"passes {passed} to the call, which axonal's layers do not take")
        args = inbound.get("args") or []
        if len(args) != 1:
            raise keras_error(path, f"{where}.args", f"passes {len(args)} positional arguments; axonal layers take one")
        tensors = args[0] if isinstance(args[0], list) else [args[0]]
        histories = [t.get("config", {}).get("keras_history") if isinstance(t, dict) else None for t in tensors]
    elif isinstance(inbound, list):
        histories = [entry[:3] if isinstance(entry, list) else None for entry in inbound]
        for entry in inbound:
            if isinstance(entry, list) and len(entry) > 3 and entry[3]:
                raise keras_error(path, where, f"passes {entry[3]!r:.60} to the call, which axonal layers do not take")
    else:
        histories = [None]
    sources = []
    for history in histories:
        if (not isinstance(history, list) or len(history) != 3 or not isinstance(history[0], str)
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in history[1:])):
            raise keras_error(path, where, f"has an input {history!r:.80} that is not [layer, call, 0]")
        if history[2] != 0:
            raise keras_error(path, where, f"reads output {history[2]} of {history[0]!r}; axonal layers have one")
        sources.append((history[0], history[1]))
    return sources


def _endpoints(path: str, key: str, value: Any) -> list | dict:
    """Keras' ``input_layers``/``output_layers``: one ``[name, call, 0]``, a list of them, or a dict
    (kept as one for outputs: the model's outputs are then named by its keys)."""
    if isinstance(value, dict):
        listed = _endpoints(path, key, list(value.values()))
        return dict(zip(value, listed)) if key == "output_layers" else listed
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and isinstance(v[1], int) and v[2] == 0
            for v in value):
        raise keras_error(path, f"config.{key}", f"is {value!r:.80}, not a list of [layer, call, 0]")
    return value


def _graph_order(path: str, calls: list, layers: dict) -> list:
    """axonal's ``nodes``: every call after the calls it reads (Keras lists calls by layer, and a
    shared layer's second call may read a layer listed after it)."""
    done = {(name, 0) for name, layer in layers.items() if isinstance(layer, InputLayer)}
    counts: dict[str, int] = {}
    pending, ordered = list(calls), []
    while pending:
        progress = False
        for entry in list(pending):
            name, sources = entry
            if counts.get(name, 0) != sum(1 for n, _ in ordered if n == name):
                continue
            if all(source in done for source in sources):
                for source in sources:
                    if source[0] not in layers:
                        raise keras_error(path, f"the call of {name!r}", f"reads the unknown layer {source[0]!r}")
                done.add((name, counts.get(name, 0)))
                counts[name] = counts.get(name, 0) + 1
                ordered.append(entry)
                pending.remove(entry)
                progress = True
                break
        if not progress:
            name, sources = pending[0]
            raise keras_error(path, f"the call of layer {name!r}", f"reads {sources} which no earlier call makes "
                              "(a cycle, or a missing layer)")
    return [[name, [list(source) for source in sources]] for name, sources in ordered]


# ----- writing --------------------------------------------------------------------------------------

def keras_layer_order(model) -> list:
    """The layers as Keras 3 lists them: a Sequential's without its input, a functional model's with
    its InputLayers (axonal's ``Model.layers`` follows Keras 3's order)."""
    _refuse_nested(model)
    return list(model.layers)


def _refuse_nested(model) -> None:
    """Keras files of nested models (a model used as a layer) are not written yet: refuse before
    anything is written, rather than write a file neither Keras nor axonal could read."""
    nested = [layer.name for layer in model.layers if hasattr(layer, "_layers")]
    if nested:
        raise ValueError(f"Model {model.name!r} holds the model(s) {nested} as layers, which axonal cannot write to "
                         "Keras files yet. Fix: save it as .axonal (model.save('m.axonal')), or save each model "
                         "on its own.")


def model_to_keras(model) -> dict:
    """The Keras 3 record of ``model`` (``{"module", "class_name", "config", ...}``), without
    ``compile_config``."""
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built, so Keras could not place its weights. Fix: build it "
                         "first (an Input, model.build((None, 784)), or a fit/predict call).")
    _refuse_nested(model)
    if type(model).__name__ == "Sequential":
        input_shape = [None, *model.input_shape[1:]]
        layers = [{"module": "keras.layers", "class_name": "InputLayer",
                   "config": _input_config(input_shape, f"{model.name}_input"), "registered_name": None}]
        shape = tuple(input_shape)
        for layer in model.layers:
            layers.append(_layer_record(layer, list(shape)))
            shape = layer.compute_output_shape(shape)
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": model.name, "trainable": bool(model.trainable), "dtype": dtype_policy(),
                           "layers": layers, "build_input_shape": input_shape},
                "build_config": {"input_shape": input_shape}}
    from axonal.models import graph_config

    config = graph_config.config_of(model)
    calls: dict[str, list] = {}
    for name, sources in config["nodes"]:
        calls.setdefault(name, []).append(sources)
    by_name = {layer.name: layer for layer in model.layers}
    records = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            records.append({"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                            "config": _input_config([None, *layer.shape], layer.name, layer.dtype), "name": layer.name,
                            "inbound_nodes": []})
            continue
        nodes = []
        for sources in calls.get(layer.name, []):
            tensors = [_tensor(by_name, model, name, call) for name, call in sources]
            nodes.append({"args": [tensors if layer.takes_several_inputs else tensors[0]], "kwargs": {}})
        shapes = [t["config"]["shape"] for t in nodes[0]["args"][0]] if layer.takes_several_inputs \
            else nodes[0]["args"][0]["config"]["shape"]
        record = _layer_record(layer, shapes)
        record.update(name=layer.name, inbound_nodes=nodes)
        records.append(record)
    inputs, outputs = config["input_layers"], config["output_layers"]
    shapes = [[None, *by_name[name].shape] for name, _, _ in inputs]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": model.name, "trainable": bool(model.trainable), "layers": records,
                       # one tensor is written bare, as Keras does for a model built on one tensor
                       "input_layers": inputs[0] if len(inputs) == 1 else inputs,
                       "output_layers": outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs},
            "build_config": {"input_shape": shapes[0] if len(shapes) == 1 else shapes}}


def _input_config(batch_shape: list, name: str, dtype: str = "float32") -> dict:
    return {"batch_shape": batch_shape, "dtype": dtype, "sparse": False, "ragged": False, "name": name,
            "optional": False}


def _layer_record(layer, input_shape) -> dict:
    return {"module": "keras.layers", "class_name": type(layer).__name__, "config": layer_to_keras(layer),
            "registered_name": None, "build_config": {"input_shape": _listed(input_shape)}}


def _tensor(by_name: dict, model, name: str, call: int) -> dict:
    layer = by_name[name]
    node = layer.output.node if isinstance(layer, InputLayer) else \
        [n for n in model._nodes if n.layer is layer][call]
    return {"class_name": "__keras_tensor__",
            "config": {"shape": _listed(node.output.shape), "dtype": "float32", "keras_history": [name, call, 0]}}


def _listed(shape) -> list:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_listed(s) for s in shape]
    return [None if d is None else int(d) for d in shape]
