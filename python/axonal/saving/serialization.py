"""JSON configurations of a model and of its compile settings, and the model rebuilt from them.

Objects are written as Keras writes them, ``{"class_name": ..., "config": get_config()}``, and
read back only through tables of known classes (plus the ``custom_objects`` a caller passes), so
a file can name classes but never run code of its choosing.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from axonal import layers as layers_module, losses, metrics as metrics_module, optimizers
from axonal.saving.archive import SavedFileError

# Far more layers (and layer calls) than any model here has; bounds the time a damaged config can cost.
MAX_LAYERS = 1_000


def serialize(obj: Any) -> dict:
    """``{"class_name": ..., "config": obj.get_config()}``, checked to be plain JSON."""
    record = {"class_name": type(obj).__name__, "config": obj.get_config()}
    try:
        json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{type(obj).__name__}.get_config() returned a value JSON cannot hold ({error}): "
                        f"{record['config']!r:.200}. Fix: return only numbers, strings, lists, dicts and "
                        "None from get_config().") from None
    return record


def compile_config(model) -> dict | None:
    """The optimiser, loss(es), loss weights and metrics given to ``compile``, or None for an
    uncompiled model. A model of several outputs stores one loss per output and its metrics by
    output name."""
    if model.optimizer is None or model.loss is None:
        return None
    objective = model.objective
    if len(objective.losses) == 1:
        return {"optimizer": serialize(model.optimizer), "loss": serialize(objective.losses[0]),
                "metrics": _metric_records(objective.metric_identifiers[0]),
                "weighted_metrics": _metric_records(objective.weighted_metric_identifiers[0])}
    return {"optimizer": serialize(model.optimizer), "loss": [serialize(loss) for loss in objective.losses],
            "loss_weights": list(objective.weights),
            **{key: {name: _metric_records(identifiers) for name, identifiers in zip(objective.output_names, found)}
               for key, found in (("metrics", objective.metric_identifiers),
                                  ("weighted_metrics", objective.weighted_metric_identifiers))}}


def _metrics_argument(records, custom_objects: dict | None):
    """``compile``'s metrics (or weighted_metrics) from their records: a list, or a dict by output."""
    if isinstance(records, dict):
        return {name: _metrics(entries, custom_objects) for name, entries in records.items()}
    return _metrics(records, custom_objects)


def _metric_records(identifiers) -> list:
    # Metric names are kept as given ("accuracy"), so the reloaded model logs the same keys.
    if identifiers is None:
        return []
    if isinstance(identifiers, (str, metrics_module.Metric)):
        identifiers = [identifiers]
    return [name if isinstance(name, str) else serialize(name) for name in identifiers]


def model_from_config(path: str, record: Any):
    """A new model from ``{"class_name": "Sequential" or "Model", "config": ...}``, without layers yet.

    Its layers are made only by :func:`add_layers`, after the caller has set the model's seed:
    layers draw their weights and dropout seeds from it when they are attached.
    """
    from axonal.models.model import Model  # models import this package
    from axonal.models.sequential import Sequential

    classes = {"Sequential": Sequential, "Model": Model, "Functional": Model}
    name = record.get("class_name") if isinstance(record, dict) else None
    if not isinstance(name, str) or name not in classes:  # a damaged file may hold any JSON there
        received = record.get("class_name") if isinstance(record, dict) else record
        raise SavedFileError(path, f"it describes a model of class {received!r}; this axonal loads "
                             "'Sequential' and functional ('Model') models")
    config = record.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise SavedFileError(path, "its model config has no list of layers")
    return empty_model(classes[record["class_name"]], config.get("name")), config


def empty_model(cls, name: str | None):
    """A model of ``cls`` (Sequential or Model) with no layers yet, for a loader to fill.

    Creating a model draws a seed from the global generator; loading must not shift what the
    models created after it draw, so the generator's state is put back.
    """
    from axonal.models.sequential import Sequential  # models import this package

    state = np.random.get_state()
    try:
        model = cls.__new__(cls)
        model._init_state(name)
        if cls is Sequential:
            Sequential.__init__(model, name=name)
    finally:
        np.random.set_state(state)
    return model


def add_layers(path: str, model, config: dict, custom_objects: dict | None) -> None:
    """Add the layers of ``config`` to ``model``, then build it once for the recorded input shape.

    A Sequential whose input shape is known rebuilds itself at every ``add``, which made loading
    quadratic in the number of layers (a damaged config listing 3,000 Dropout layers took a
    minute): the layers go into the model while its input shape is still unknown (the first
    layer's own ``input_shape`` held back meanwhile), and the model is built once at the end.
    """
    try:
        records = config["layers"]
        if len(records) > MAX_LAYERS:
            raise SavedFileError(path, f"its model config lists {len(records)} layers, more than the {MAX_LAYERS} "
                                 "a saved model may hold", "do not load this file: it is damaged")
        if not hasattr(model, "add"):  # a functional model: its layers and calls, built with its seed
            if not isinstance(config.get("nodes"), list) or len(config["nodes"]) > MAX_LAYERS:
                raise SavedFileError(path, f"its model config has no list of at most {MAX_LAYERS} layer calls",
                                     "do not load this file: it is damaged")
            model._graph_from_config(config, lambda index, record: _layer(path, index, record, custom_objects))
            return
        layers = [_layer(path, index, record, custom_objects) for index, record in enumerate(records)]
        shape = config.get("build_input_shape")
        if shape is not None:
            check_input_shape(path, shape)
        from axonal.models import nesting  # models import this package

        first_shape = layers[0].input_shape_arg if layers else None
        # A nested model first knows its own input shape (it is built): nothing to hold back.
        holds_shape = bool(layers) and not nesting.is_model(layers[0])
        if shape is None and first_shape is not None:
            shape = (None, *first_shape)
        if holds_shape:
            layers[0].input_shape_arg = None
        for layer in layers:
            model.add(layer)
        if holds_shape:
            layers[0].input_shape_arg = first_shape
        if shape is not None and layers:
            model.build(tuple(shape))
        elif shape is not None:  # an Input and no layers: nothing to build
            model.input_shape = tuple(shape)
    except SavedFileError:
        raise
    except Exception as error:  # a damaged config can fail in any constructor
        raise SavedFileError(path, f"its model config cannot be rebuilt ({type(error).__name__}: {error})",
                             "if the model has custom layers, pass them as load_model(path, "
                             "custom_objects={'MyLayer': MyLayer})") from None


def compile_from_config(path: str, model, config: dict, custom_objects: dict | None) -> None:
    """Compile ``model`` with the optimiser, loss and metrics recorded by :func:`compile_config`."""
    try:
        optimizer = optimizers.get(config["optimizer"])
        loss_records = config["loss"]
        if isinstance(loss_records, list):
            loss = [_instance(record, losses, losses.Loss, custom_objects) for record in loss_records]
        else:
            loss = _instance(loss_records, losses, losses.Loss, custom_objects)
        metrics, weighted = (_metrics_argument(config.get(key) or [], custom_objects)
                             for key in ("metrics", "weighted_metrics"))
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights"),
                      weighted_metrics=weighted or None)
    except SavedFileError:
        raise
    except Exception as error:
        raise SavedFileError(path, f"its compile config cannot be restored ({type(error).__name__}: {error})",
                             "load it with load_model(path, compile=False) and call compile() yourself")


def _metrics(entries: list, custom_objects: dict | None) -> list:
    return [entry if isinstance(entry, str) else _instance(entry, metrics_module, metrics_module.Metric, custom_objects)
            for entry in entries or []]


def check_input_shape(path: str, shape: Any) -> None:
    """Refuse a recorded input shape that is not ``(None, d1, ...)`` with positive integer sizes."""
    if (not isinstance(shape, list) or len(shape) < 2
            or any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in shape[1:])):
        raise SavedFileError(path, f"its recorded input shape {shape!r:.100} is not (None, d1, ...) with positive "
                             "integer sizes", "the file was damaged or edited: re-save the model, or build it in "
                             "code (e.g. model.build((None, 784))) and load only its weights")


def _layer(path: str, index: int, record: Any, custom_objects: dict | None):
    """Layer ``index`` of a config, or a SavedFileError naming it, its bad value and a fix."""
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise SavedFileError(path, f"layer {index} of its model config is {record!r:.100}, not "
                             "{'class_name', 'config'}", "the file is damaged: re-save the model")
    from axonal.models import nesting  # models import this package

    name = record.get("class_name")
    custom = (custom_objects or {}).get(name)
    try:
        if custom is not None:
            return custom.from_config(dict(record["config"]))
        return nesting.deserialize(record, custom_objects)  # a layer, or a nested model
    except Exception as error:  # noqa: BLE001 - a damaged config can fail in any constructor
        known = (custom is not None or str(name).lower() in layers_module.known_layer_names()
                 or name in nesting.MODEL_CLASS_NAMES)
        fix = ("the file's config was damaged or edited: re-save the model, or restore the file" if known else
               f"if {name!r} is a custom layer, pass it as load_model(path, custom_objects={{{name!r}: {name}}})")
        raise SavedFileError(path, f"layer {index} of its model config ({name} "
                             f"{record['config'].get('name', '?')!r}) cannot be rebuilt ({type(error).__name__}: "
                             f"{str(error).split(' Fix: ')[0]})", fix) from None


def _instance(record: Any, module, base: type, custom_objects: dict | None):
    """An object of class ``base`` from ``{"class_name", "config"}``: a class of ``module`` or custom."""
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise ValueError(f"expected {{'class_name', 'config'}}, received {record!r:.100}")
    name = record.get("class_name")
    cls = (custom_objects or {}).get(name) or getattr(module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"unknown {base.__name__} class {name!r}")
    return cls.from_config(dict(record["config"]))
