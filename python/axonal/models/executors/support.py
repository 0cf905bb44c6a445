"""What the compiled executors (the native loop on ``cpu``, the device on ``cuda``) can run, and why
not when they cannot.

Every layer, loss and optimiser of axonal runs on every executor. What a compiled executor cannot
reproduce exactly is Python the user brings or asks for step by step; each such case has a reason
here, and the layer-by-layer executor runs the call instead, with a note (:func:`report`). The
complete list (``tests/test_fast_path.py`` pins it):

- a layer implemented in Python: the user's own ``Layer`` subclasses;
- an ``Embedding`` that reads values the model computes (a Reshape or another layer between the
  input and it) rather than an id input: the native loop takes ids as an int32 input only
  (docs/layers.md);
- a BatchNormalization whose channel axis is neither the last nor axis 1 (channels_first images
  and sequences run natively, with transposes: ``native_layout.py``);
- an ``Activation("softmax")``, a ``Softmax`` or a ``Concatenate`` on tensors of rank 3 or more (the
  native loop's steps take a sample as one row, so they would span whole samples; softmax fused
  into Dense or Conv2D is per position and runs natively);
- an instance whose ``forward``/``backward``, ``compute``, ``apply``/``update_step`` was replaced;
- a user's own loss or optimiser class; gradient clipping (``clipnorm``, ``global_clipnorm``,
  ``clipvalue``) or Keras 2's ``decay`` (applied in Python: axonal/gradient_clipping.py);
- a metric without a counting kernel (only the accuracies have one: MAE, MSE, AUC, precision,
  recall and top-k are computed by NumPy from the predictions);
- sample weights or class weights, regularisers, ``check_numerics``;
- a callback with batch hooks (other than the progress bar and ``TerminateOnNaN``, which read the
  running logs after each run of steps).

(Inputs and labels reach the executors C-contiguous: ``models/data.py`` converts them once per call.)
"""
from __future__ import annotations

import warnings

from axonal import distribution as _distribution, losses, metrics as metrics_module, optimizers
from axonal.callbacks import Callback, ProgbarLogger, TerminateOnNaN
from axonal.layers import (ELU, Activation, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate,
                           Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                           GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, InputLayer,
                           LayerNormalization, LeakyReLU, MaxPooling1D, MaxPooling2D, Normalization, RandomContrast,
                           RandomFlip, RandomRotation, RandomTranslation, RandomZoom, ReLU, Rescaling, Reshape, Softmax,
                           SpatialDropout2D, UpSampling2D, ZeroPadding2D)
from axonal.layers.base import configuration_version
from axonal.layers.embedding import id_readers
from axonal.layers.merging import MERGE_LAYERS
from axonal.models.objective import row_width

# The layers a compiled executor computes (the rest of axonal's run layer by layer with the
# fast-path note).
LAYERS = (InputLayer, Flatten, Reshape, Dense, Dropout, Activation, ReLU, LeakyReLU, ELU, Softmax, Conv2D, MaxPooling2D,
          AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Conv1D, MaxPooling1D, AveragePooling1D,
          GlobalAveragePooling1D, GlobalMaxPooling1D, BatchNormalization, LayerNormalization, ZeroPadding2D,
          UpSampling2D, SpatialDropout2D, Embedding, *MERGE_LAYERS, RandomFlip, RandomTranslation, RandomRotation,
          RandomZoom, RandomContrast, Rescaling, Normalization)
_LAYER_SET = frozenset(LAYERS)
# The metrics with a counting kernel, by the name the kernels take.
COUNTED_METRICS = {metrics_module.CategoricalAccuracy: "categorical_accuracy",
                   metrics_module.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
                   metrics_module.BinaryAccuracy: "binary_accuracy"}
# Callbacks whose batch hooks only read the running logs: once per run of steps is enough for them.
_RUN_LEVEL_CALLBACKS = (ProgbarLogger, TerminateOnNaN)
_TRAIN_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
_TEST_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
_PREDICT_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")

_reported: set = set()  # (model id, method, reason) already said


def report(model, method: str, executor: str, reason: str) -> None:
    """Say, once per model, method and reason, that ``method`` runs layer by layer in Python
    instead of on ``executor``."""
    key = (id(model), method, reason)
    if key not in _reported:
        _reported.add(key)
        warnings.warn(f"axonal fast path: model {model.name!r}: {method}() runs layer by layer in Python "
                      f"instead of {executor}, because of {reason}.", UserWarning, stacklevel=6)


def training_problem(model, xs: list, ys: list, weights, callbacks) -> str | None:
    """What a compiled executor cannot run in this ``fit``, or None."""
    return (_layer_problem(model, xs) or _step_problem(model, ys, weights) or _optimizer_problem(model)
            or objective_problem(model) or _batch_hooks(callbacks, _RUN_LEVEL_CALLBACKS, _TRAIN_HOOKS))


def testing_problem(model, xs: list, ys: list, weights, callbacks) -> str | None:
    """What a compiled executor cannot run in this ``evaluate`` (or validation), or None."""
    return (_layer_problem(model, xs) or _step_problem(model, ys, weights) or objective_problem(model)
            or _batch_hooks(callbacks, (ProgbarLogger,), _TEST_HOOKS))


def inference_problem(model, xs: list, callbacks) -> str | None:
    """What a compiled executor cannot run in this ``predict``, or None."""
    return _layer_problem(model, xs) or _batch_hooks(callbacks, (ProgbarLogger,), _PREDICT_HOOKS)


def objective_problem(model) -> str | None:
    """The loss or metric a compiled executor cannot compute exactly as the Python path, or None."""
    objective = model.objective
    for loss in objective.losses:
        if kernel_row(loss, losses.KERNELS) is None or _replaced(loss, ("compute",)):
            return f"loss {loss.name!r}"
    for metrics, shape in zip(objective.output_metrics, model.output_shapes):
        for metric in metrics:
            if type(metric) not in COUNTED_METRICS or (isinstance(metric, metrics_module.BinaryAccuracy)
                                                       and row_width(shape) != 1):
                return f"metric {metric.name!r}"
    return None


def kernel_row(instance, table: dict):
    """The table row of a built-in loss or optimiser class; None for a user's own class (its
    Python code would not run in a compiled executor)."""
    name = getattr(type(instance), "table_name", None) or getattr(type(instance), "kernel", None)
    row = table.get(name) if isinstance(name, str) else None
    defined_here = type(instance).__module__ in ("axonal.losses", "axonal.optimizers")
    return row if defined_here else None


def _layer_problem(model, xs: list) -> str | None:
    # Runs at every predict (a one-row predict of the seed MLP is about 40 microseconds in all): what
    # follows from the layers' classes and configuration is kept per plan, output fusion and layer
    # configuration; a replaced method is looked for every time (one instance-dict read per layer).
    key = configuration_key(model)
    kept = getattr(model, "_static_layer_problems", None)
    if kept is None or kept[0] is not model.plan or kept[1] != key:
        id_layers = {id(layer) for readers in id_readers(model.plan) for layer in readers}
        kept = model._static_layer_problems = (model.plan, key, [(layer, _static_problem(layer, id_layers))
                                                                  for layer in model._layers])
    for layer, problem in kept[2]:
        if problem is not None:
            return problem
    return replaced_method(layer for layer, _ in kept[2])


def configuration_key(model) -> tuple:
    """What a compiled loop and the decisions about it depend on besides the model's plan: the
    layers' configuration version and the output activations the compiled loss absorbed."""
    objective = model.objective
    return configuration_version(), tuple(objective.absorbed) if objective is not None else None


def replaced_method(layers) -> str | None:
    """The first of ``layers`` whose ``forward`` or ``backward`` its instance replaced, as a reason,
    or None."""
    for layer in layers:
        own = vars(layer)
        if "forward" in own or "backward" in own:
            return f"layer {layer.name!r} has a method replaced"
    return None


def _static_problem(layer, id_layers: set) -> str | None:
    """Why a compiled executor cannot run ``layer``, from its class and configuration, or None.
    ``id_layers``: the ids of the Embedding layers that read an id input of the model."""
    if type(layer) not in _LAYER_SET:
        return f"layer {layer.name!r} ({type(layer).__name__})"
    if getattr(layer, "moves_channel_axis", False) and layer.channel_axis != 1:
        return f"layer {layer.name!r} normalises axis {layer.axis}, neither the last nor 1 (no loop moves it)"
    if isinstance(layer, Embedding) and id(layer) not in id_layers:
        # The loop takes ids as an int32 model input that only Embedding layers read (docs/layers.md).
        return f"layer {layer.name!r} (Embedding) reads values computed by the model, not an id input"
    rank = _last_axis_rank(layer)
    if rank > 2:
        return f"layer {layer.name!r} ({type(layer).__name__}) works along the last axis of rank-{rank} tensors"
    return None


def _last_axis_rank(layer) -> int:
    """The input rank of a layer that works along the last axis of each position (a softmax
    Activation, Concatenate), else 0. The native loop takes each sample as one row, so on tensors
    of rank 3 or more it would softmax or join whole samples instead."""
    if isinstance(layer, Activation) and layer.applied_activation == "softmax":
        return len(layer.input_shape)
    if isinstance(layer, Concatenate):
        return len(layer.input_shape[0])
    return 0


def _step_problem(model, ys: list, weights) -> str | None:
    if model._numerics is not None:
        return "check_numerics checks every stage of every step from Python"
    if weights is not None:
        # The native loop weighs the losses; it counts metrics without weights, as compile's
        # metrics are (weighted_metrics are not), and it does not shard weights over ranks.
        if any(model.objective.is_weighted(metric) for metrics in model.objective.output_metrics
               for metric in metrics):
            return "weighted_metrics with sample weights"
        if model.device is not None or _distribution.active() is not None:
            return "sample weights"
    for layer in model._layers:
        if layer._regularizers:
            return f"layer {layer.name!r} has a regulariser"
    return None


def _optimizer_problem(model) -> str | None:
    optimizer = model.optimizer
    if kernel_row(optimizer, optimizers.KERNELS) is None or _replaced(optimizer, ("apply", "update_step")):
        return f"optimizer {type(optimizer).__name__}"
    if optimizer.runs_in_python:
        return f"optimizer {type(optimizer).__name__}'s {optimizer.runs_in_python} (applied in Python)"
    return None


def _batch_hooks(callbacks, allowed: tuple, hooks: tuple) -> str | None:
    """The first callback (not of an ``allowed`` kind) that overrides one of ``hooks``, as a reason."""
    for callback in callbacks:
        if not isinstance(callback, allowed) and (
                _replaced(callback, hooks)
                or any(getattr(type(callback), hook) is not getattr(Callback, hook) for hook in hooks)):
            return f"callback {type(callback).__name__} has batch hooks"
    return None


def _replaced(instance, methods: tuple[str, ...]) -> bool:
    """Whether any of ``methods`` was replaced on the instance itself (a test's or user's patch):
    a compiled executor would silently skip it."""
    return any(name in vars(instance) for name in methods)
