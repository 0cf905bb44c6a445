"""Keras' compile settings (optimiser, losses, metrics) and optimiser variables, both ways.

Keras 3 keeps the settings as ``compile_config`` in ``config.json`` (the legacy HDF5 as
``training_config``, with ``optimizer_config``), and the optimiser's state as one flat list of
variables: the iteration count, the learning rate (Keras 3 only; tf.keras 2.11+ keeps only the
count, Keras <= 2.10 ``iter``), then the slots over ``model.trainable_variables``. Keras 3 makes
each group of slots in one pass over the variables, interleaving the names of a group
(Adam: momentum and velocity per variable, then every velocity_hat; RMSprop: every velocity,
then every momentum, then every average_gradient), so a slot's kind and variable follow from its
position (:func:`keras_slot_order`). Legacy files name each variable, and the names say the
kind: :func:`slot_kind`.
"""
from __future__ import annotations

import re
from typing import Any

from axonal import losses, metrics as metrics_module, optimizers
from axonal.saving.keras_objects import keras_error, keras_object

# Keras optimiser class -> (axonal class, {Keras argument: axonal argument}).
_HYPER = {"SGD": ("momentum", "nesterov"), "RMSprop": ("rho", "momentum", "epsilon", "centered"),
          "Adagrad": ("initial_accumulator_value", "epsilon"), "Adadelta": ("rho", "epsilon"),
          "Adam": ("beta_1", "beta_2", "epsilon", "amsgrad"), "AdamW": ("beta_1", "beta_2", "epsilon", "amsgrad"),
          "Lion": ("beta_1", "beta_2"), "Adamax": ("beta_1", "beta_2", "epsilon")}
# Arguments with no effect at these values (anything else changes training, which axonal cannot do).
_OPTIMIZER_NO_OPS = {"use_ema": (False, None), "loss_scale_factor": (None,), "gradient_accumulation_steps": (None,)}
# Arguments every axonal optimiser takes as Keras does (decay: Keras 2's, with a DeprecationWarning).
_OPTIMIZER_COMMON = ("clipnorm", "global_clipnorm", "clipvalue", "decay")
_OPTIMIZER_IGNORED = ("name", "ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer")
# Keras slot groups per axonal optimiser kernel: each inner tuple is made in one interleaved pass.
_SLOT_GROUPS = {"sgd": [("momentum",)], "rmsprop": [("velocity",), ("momentum",), ("average_gradient",)],
                "adagrad": [("accumulator",)], "adadelta": [("accumulated_grad", "accumulated_delta")],
                "adam": [("momentum", "velocity"), ("velocity_hat",)], "lion": [("momentum",)],
                "adamax": [("momentum", "norm")]}
# Names of slot kinds in every Keras version's files, as axonal's slot names.
SLOT_NAMES = {"m": "momentum", "momentum": "momentum", "v": "velocity", "velocity": "velocity",
              "vhat": "velocity_hat", "velocity_hat": "velocity_hat", "rms": "velocity",
              "mg": "average_gradient", "average_gradient": "average_gradient", "accumulator": "accumulator",
              "accum_grad": "accumulated_grad", "accumulated_grad": "accumulated_grad",
              "accum_var": "accumulated_delta", "accumulated_delta_var": "accumulated_delta", "norm": "norm"}
_KERAS_SLOT = {"accumulated_delta": "accumulated_delta_var"}
ITERATION_NAMES = ("iter", "iteration", "iterations")
LEARNING_RATE_NAMES = ("learning_rate", "lr")
_LOSSES = {"CategoricalCrossentropy": losses.CategoricalCrossentropy,
           "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
           "BinaryCrossentropy": losses.BinaryCrossentropy, "MeanSquaredError": losses.MeanSquaredError}
_LOSS_NO_OPS = {"reduction": ("sum_over_batch_size", "auto", None), "label_smoothing": (0, 0.0, None),
                "axis": (-1, None), "ignore_class": (None,), "dtype": (None, "float32")}
_METRIC_NO_OPS = {"dtype": (None, "float32"), "top_k": (None,), "class_id": (None,), "curve": ("ROC",),
                  "summation_method": ("interpolation",), "multi_label": (False,), "num_labels": (None,),
                  "label_weights": (None,), "from_logits": (False,)}


def optimizer_from_keras(path: str, where: str, record: Any) -> optimizers.Optimizer:
    """The axonal optimiser of a Keras optimiser record (``Custom>Adam`` and Keras 2's ``lr`` included)."""
    if isinstance(record, str):
        record = {"class_name": record, "config": {}}
    if not isinstance(record, dict) or not isinstance(record.get("class_name"), str):
        raise keras_error(path, where, f"is {record!r:.80}, not a serialized optimizer")
    name = record["class_name"].removeprefix("Custom>")
    name = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adagrad": "Adagrad", "adadelta": "Adadelta",
            "lion": "Lion", "adamw": "AdamW", "adamax": "Adamax"}.get(name.lower(), name)
    if name not in _HYPER:
        raise keras_error(path, f"{where}.class_name", f"{name!r} is an optimizer axonal lacks (it has "
                          f"{', '.join(_HYPER)})", "load it with load_model(path, compile=False) and compile "
                          "with an optimizer axonal has")
    config = record.get("config") or {}
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        at = f"{where}.config.{key}"
        if key in LEARNING_RATE_NAMES:
            if isinstance(value, dict):
                raise keras_error(path, at, f"is the schedule {value.get('class_name')!r}; axonal's learning "
                                  "rate is a number (change it from a callback)",
                                  "load with compile=False and compile with a fixed learning rate")
            arguments["learning_rate"] = value
        elif key == "weight_decay":
            arguments["weight_decay"] = value
        elif key in _HYPER[name]:
            arguments[key] = value
        elif key in _OPTIMIZER_COMMON:
            if value:  # None or 0: off
                arguments[key] = value
        elif key in _OPTIMIZER_NO_OPS:
            if value not in _OPTIMIZER_NO_OPS[key]:
                raise keras_error(path, at, f"is {value!r:.40}; axonal's optimizers have no {key}",
                                  "load with compile=False and compile with an optimizer axonal has")
        elif key not in _OPTIMIZER_IGNORED and value is not None:
            raise keras_error(path, at, f"is {value!r:.40}, an argument axonal's {name} lacks")
    if name == "AdamW":  # Keras' AdamW is Adam with decoupled weight decay, which axonal's Adam has
        name = "Adam"
        arguments.setdefault("weight_decay", 0.004)
    try:
        return getattr(optimizers, name)(**arguments)
    except (TypeError, ValueError) as error:
        raise keras_error(path, f"{where}.config", f"cannot configure {name} ({error})") from None


def optimizer_to_keras(optimizer: optimizers.Optimizer) -> dict:
    """The Keras 3 record of an axonal optimiser."""
    if optimizer.legacy_decay:
        raise ValueError(f"{type(optimizer).__name__}(decay={optimizer.legacy_decay}) cannot be written for Keras 3, "
                         "which dropped Keras 2's decay argument. Fix: save as .axonal, or compile without decay "
                         "(a LearningRateScheduler callback can lower the rate instead).")
    config = {"name": optimizer.name, "learning_rate": float(optimizer.learning_rate),
              "weight_decay": optimizer.weight_decay, "clipnorm": optimizer.clipnorm,
              "global_clipnorm": optimizer.global_clipnorm, "clipvalue": optimizer.clipvalue,
              "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
              "gradient_accumulation_steps": None}
    class_name = type(optimizer).__name__
    for key in _HYPER[class_name]:
        value = getattr(optimizer, key)
        config[key] = bool(value) if isinstance(value, bool) else value
    return keras_object("keras.optimizers", class_name, config)


def loss_from_keras(path: str, where: str, record: Any) -> losses.Loss:
    if isinstance(record, str):
        try:
            return losses.get(record)
        except ValueError:
            raise keras_error(path, where, f"is the loss {record!r}, which axonal lacks",
                              "load with compile=False and compile with a loss axonal has") from None
    if not isinstance(record, dict) or record.get("class_name") not in _LOSSES:
        name = record.get("class_name") if isinstance(record, dict) else record
        raise keras_error(path, f"{where}.class_name", f"{name!r:.60} is a loss axonal lacks (it has "
                          f"{', '.join(_LOSSES)})", "load with compile=False and compile with a loss axonal has")
    cls, arguments = _LOSSES[record["class_name"]], {}
    for key, value in (record.get("config") or {}).items():
        if key in ("name", "from_logits") and not (key == "from_logits" and cls is losses.MeanSquaredError):
            arguments[key] = value
        elif key in _LOSS_NO_OPS and value in _LOSS_NO_OPS[key]:
            continue
        elif key != "fn" or value is None:
            raise keras_error(path, f"{where}.config.{key}", f"is {value!r:.40}; axonal's {cls.__name__} "
                              "supports only Keras' defaults there")
    return cls(**arguments)


def loss_to_keras(loss: losses.Loss) -> dict:
    config = {"name": loss.name, "reduction": "sum_over_batch_size"}
    if not isinstance(loss, losses.MeanSquaredError):
        config["from_logits"] = bool(loss.from_logits)
    return keras_object("keras.losses", type(loss).__name__, config)


def metric_from_keras(path: str, where: str, record: Any):
    """An axonal metric (a name, or a Metric) from Keras' (a name, a class record, or tf.keras'
    ``MeanMetricWrapper`` around a metric function)."""
    if isinstance(record, str):
        return _known_metric_name(path, where, record)
    if not isinstance(record, dict) or not isinstance(record.get("class_name"), str):
        raise keras_error(path, where, f"is {record!r:.80}, not a metric")
    config = record.get("config") or {}
    if record["class_name"] == "MeanMetricWrapper":
        for candidate in (config.get("name"), config.get("fn")):
            if isinstance(candidate, str) and candidate.lower() in metrics_module._BY_NAME:
                return candidate
        return _known_metric_name(path, f"{where}.config.fn", config.get("fn"))
    cls = getattr(metrics_module, record["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, metrics_module.Metric)) or record["class_name"] in ("Metric",
                                                                                                          "MeanMetric"):
        raise keras_error(path, f"{where}.class_name", f"{record['class_name']!r} is a metric axonal lacks",
                          "load with compile=False and compile with metrics axonal has")
    arguments = {}
    for key, value in config.items():
        if key in _METRIC_NO_OPS and value in _METRIC_NO_OPS[key]:
            continue
        if key == "thresholds" and value is None:
            continue
        arguments[key] = value
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise keras_error(path, f"{where}.config", f"cannot configure {record['class_name']} "
                          f"({str(error).split(' Fix: ')[0]})") from None


def _known_metric_name(path: str, where: str, name: Any) -> str:
    if isinstance(name, str) and name.lower() in metrics_module._BY_NAME:
        return name
    raise keras_error(path, where, f"is the metric {name!r:.60}, which axonal lacks",
                      "load with compile=False and compile with metrics axonal has")


def metric_to_keras(metric) -> Any:
    if isinstance(metric, str):
        return metric
    return keras_object("keras.metrics", type(metric).__name__, metric.get_config())


def compile_from_keras(path: str, where: str, config: dict, output_names: list[str]) -> dict:
    """``compile()`` arguments from Keras' ``compile_config``/``training_config``."""
    if not isinstance(config, dict):
        raise keras_error(path, where, f"is {config!r:.60}, not an object")
    record = config.get("optimizer", config.get("optimizer_config"))
    optimizer = optimizer_from_keras(path, f"{where}.optimizer", record)
    loss = config.get("loss")
    if isinstance(loss, dict) and "class_name" not in loss:
        loss = [loss[name] for name in output_names] if set(loss) == set(output_names) else list(loss.values())
    if isinstance(loss, list):
        loss = [loss_from_keras(path, f"{where}.loss[{i}]", entry) for i, entry in enumerate(loss)]
    else:
        loss = loss_from_keras(path, f"{where}.loss", loss)
    return {"optimizer": optimizer, "loss": loss, "loss_weights": config.get("loss_weights"),
            "metrics": _metrics(path, f"{where}.metrics", config.get("metrics"), output_names),
            "weighted_metrics": _metrics(path, f"{where}.weighted_metrics", config.get("weighted_metrics"),
                                         output_names)}


def _metrics(path: str, where: str, value: Any, output_names: list[str]) -> Any:
    if not value:
        return None
    if isinstance(value, dict):
        return {name: [metric_from_keras(path, f"{where}.{name}[{i}]", m) for i, m in enumerate(_listed(entries))]
                for name, entries in value.items() if entries}
    if isinstance(value, list) and all(isinstance(entry, list) for entry in value):
        if len(output_names) == 1:  # tf.keras nests one list per output
            value = value[0]
        else:
            return [[metric_from_keras(path, f"{where}[{o}][{i}]", m) for i, m in enumerate(entries)]
                    for o, entries in enumerate(value)]
    return [metric_from_keras(path, f"{where}[{i}]", m) for i, m in enumerate(_listed(value))]


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def compile_to_keras(model) -> dict | None:
    """Keras 3's ``compile_config`` of a compiled axonal model (None when it is not compiled)."""
    if model.optimizer is None or model.loss is None:
        return None
    objective = model.objective
    keras_losses = [loss_to_keras(loss) for loss in objective.losses]
    several = len(keras_losses) > 1

    def by_output(found: list) -> Any:
        metrics = [[metric_to_keras(m) for m in _listed(identifiers or [])] for identifiers in found]
        return dict(zip(objective.output_names, metrics)) if several else (metrics[0] or None)

    return {"optimizer": optimizer_to_keras(model.optimizer),
            "loss": keras_losses if several else keras_losses[0],
            "loss_weights": list(objective.weights) if several else None,
            "metrics": by_output(objective.metric_identifiers),
            "weighted_metrics": by_output(objective.weighted_metric_identifiers),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def keras_slot_order(optimizer: optimizers.Optimizer, count: int) -> list[tuple[str, int]]:
    """``(slot name, trainable variable index)`` of each slot variable, in Keras 3's order."""
    order = []
    for group in _SLOT_GROUPS[optimizer.kernel]:
        present = [name for name in group if name in optimizer._slot_specs]
        for index in range(count):
            order.extend((name, index) for name in present)
    return order


def keras_slot_name(name: str) -> str:
    return _KERAS_SLOT.get(name, name)


def slot_kind(weight_name: str) -> str | None:
    """The axonal slot a legacy optimizer weight name holds (``Adam/m/dense/kernel:0``,
    ``Adam/dense/kernel/m:0``, ``adam/dense_kernel_momentum``), ``"iterations"``,
    ``"learning_rate"``, or None when the name says neither."""
    parts = [p for p in re.sub(r":\d+$", "", weight_name).split("/") if p]
    if not parts:
        return None
    if parts[-1] in ITERATION_NAMES:
        return "iterations"
    if parts[-1] in LEARNING_RATE_NAMES:
        return "learning_rate"
    if parts[-1] in SLOT_NAMES:  # Keras <= 2.10: <optimizer>/<variable>/<slot>
        return SLOT_NAMES[parts[-1]]
    if len(parts) > 2 and parts[1] in SLOT_NAMES:  # tf.keras 2.11+: <optimizer>/<slot>/<variable>
        return SLOT_NAMES[parts[1]]
    for suffix in sorted(SLOT_NAMES, key=len, reverse=True):  # Keras 3: <optimizer>/<variable>_<slot>
        if parts[-1].endswith("_" + suffix):
            return SLOT_NAMES[suffix]
    return None
