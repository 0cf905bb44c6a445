"""Training epochs that run in native code: the fast path of ``fit`` for Sequential models on ``cpu``.

A Python training step costs tens of microseconds of interpreter time (layer calls, the loss, the
optimiser's loop over parameters, metrics, callbacks) on top of its kernels: most of a step for the
churn model (47 µs of it), a few percent of the seed MLP's and of the seed CNN's (~0.5 of 14 ms).
When a model is made only of what the native loop knows (``cpp/training_loop.h``) — Input, Dense,
Dropout, Activation, Flatten, Reshape, Conv2D, MaxPooling2D and AveragePooling2D layers, a fused
loss, a built-in optimiser, accuracy metrics —
``fit`` hands whole runs of batches to :class:`axonal._native.TrainingLoop`, which calls the same
kernels in the same order as :meth:`~axonal.models.steps.Steps.train_step`: the weights, losses
and metrics are bit-identical to the Python path's (``tests/test_training_loop.py``).

``predict`` does the same for its batches (:func:`build_inference_loop`): every batch's forward
pass in C++, written straight into the result. Control returns to Python about every 50 ms (and
after any step whose loss is not finite): the progress bar and ``TerminateOnNaN`` see the running
logs, a Ctrl-C lands between whole steps, and ``stop_training`` is honoured. Anything else falls
back to the per-step Python path: :func:`unsupported_reason` says why (callbacks with batch hooks,
sample weights, regularisers, ``check_numerics``, other layers, losses, optimisers or metrics, the
``numpy`` backend).
"""
from __future__ import annotations

import warnings

import numpy as np

from axonal import losses, metrics as metrics_module, optimizers
from axonal.callbacks import Callback, ProgbarLogger, TerminateOnNaN
from axonal.layers import (Activation, AveragePooling2D, Concatenate, Conv2D, Dense, Dropout, Flatten,
                           GlobalAveragePooling2D, InputLayer, MaxPooling2D, Reshape)
from axonal.layers.base import configuration_version
from axonal.layers.merging import MERGE_LAYERS

SECONDS_PER_RUN = 0.05  # how long native code runs before Python sees the logs and Ctrl-C again

_PASS_THROUGH = (InputLayer, Flatten, Reshape)  # no arithmetic: C-contiguous rows stay as they are
_LAYERS = (*_PASS_THROUGH, Dense, Dropout, Activation, Conv2D, MaxPooling2D, AveragePooling2D,
           GlobalAveragePooling2D, *MERGE_LAYERS)
_METRICS = {metrics_module.CategoricalAccuracy: "categorical_accuracy",
            metrics_module.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
            metrics_module.BinaryAccuracy: "binary_accuracy"}
# Callbacks whose batch hooks only read the running logs: once per native run is enough for them.
_RUN_LEVEL_CALLBACKS = (ProgbarLogger, TerminateOnNaN)
_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
_PREDICT_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


_reported: set = set()  # (model id, method, reason) already said


def report_python_path(model, method: str, reason: str) -> None:
    """Say, once per model, method and reason, that ``method`` runs layer by layer in Python."""
    key = (id(model), method, reason)
    if key not in _reported:
        _reported.add(key)
        warnings.warn(f"axonal fast path: model {model.name!r}: {method}() runs layer by layer in Python "
                      f"instead of the native loop, because of {reason}.", UserWarning, stacklevel=5)


def unsupported_reason(model, xs: list, ys: list, weights, callbacks) -> str | None:
    """Why ``fit`` must run this model step by step in Python, or None when the native loop can."""
    return _backend_problem(model) or unsupported_training(model, xs, ys, weights, callbacks)


def unsupported_for_predict(model, xs: list, callbacks) -> str | None:
    """Why ``predict`` must run batch by batch in Python, or None when the native loop can."""
    return _backend_problem(model) or unsupported_inference(model, xs, callbacks)


def unsupported_training(model, xs: list, ys: list, weights, callbacks) -> str | None:
    """What a compiled training loop (this native one, or the device loop of
    :mod:`axonal.models.device_loop`) cannot run in this ``fit``, or None: the model's layers,
    loss, optimiser, metrics and callbacks must be ones whose behaviour it reproduces exactly."""
    reason = _unsupported_layers(model, xs)
    if reason is not None:
        return reason
    if model._numerics is not None:
        return "check_numerics checks every stage of every step from Python"
    if weights is not None:
        return "sample weights"
    if not all(y.flags.c_contiguous for y in ys):
        return "labels are not C-contiguous"
    for layer in model._layers:
        if layer._regularizers:
            return f"layer {layer.name!r} has a regulariser"
    if _kernel_row(model.optimizer, optimizers.KERNELS) is None or _replaced(model.optimizer, ("apply", "update_step")):
        return f"optimizer {type(model.optimizer).__name__}"
    return unsupported_objective(model) or _batch_hooks(callbacks, _RUN_LEVEL_CALLBACKS, _BATCH_HOOKS)


def unsupported_objective(model) -> str | None:
    """The loss or metric a compiled loop cannot compute exactly as the Python path, or None."""
    objective = model.objective
    for loss in objective.losses:
        if _kernel_row(loss, losses.KERNELS) is None or _replaced(loss, ("compute",)):
            return f"loss {loss.name!r}"
    for metrics, shape in zip(objective.output_metrics, model.output_shapes):
        for metric in metrics:
            if type(metric) not in _METRICS or (isinstance(metric, metrics_module.BinaryAccuracy) and shape[-1] != 1):
                return f"metric {metric.name!r}"
    return None


def unsupported_inference(model, xs: list, callbacks) -> str | None:
    """What a compiled loop cannot run in this ``predict``, or None."""
    return _unsupported_layers(model, xs) or _batch_hooks(callbacks, (ProgbarLogger,), _PREDICT_HOOKS)


def _backend_problem(model) -> str | None:
    if getattr(model.ops, "NAME", None) != "cpu":
        return f"the {getattr(model.ops, 'NAME', '?')} backend has no native loop"
    return None


def _unsupported_layers(model, xs: list) -> str | None:
    """What a compiled loop cannot run in this model's forward pass, or None."""
    if not all(x.flags.c_contiguous for x in xs):
        return "inputs are not C-contiguous"
    for layer in model._layers:
        if type(layer) not in _LAYERS:
            return f"layer {layer.name!r} ({type(layer).__name__})"
        if _replaced(layer, ("forward", "backward")):
            return f"layer {layer.name!r} has a method replaced"
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
    the native loop would silently skip it."""
    return any(name in vars(instance) for name in methods)


def build_loop(model, batch_size: int):
    """A :class:`axonal._native.TrainingLoop` over the model's plan and current arrays (weights,
    gradients, optimiser slots), for batches of at most ``batch_size`` rows."""
    from axonal._native import TrainingLoop

    if model._prepared_for != configuration_version():
        model._prepare_optimizer()
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model._parameters)
    row = optimizers.KERNELS[optimizer.kernel]
    name, slot_names = optimizer.kernel, row.slots
    hyper = {key: getattr(optimizer, key) for key in row.hyper}
    hyper["weight_decay"] = optimizer.decay
    params = [(param, grad, *_kernel_slots(optimizer, optimizer.slots_for(param), slot_names))
              for param, grad in zip(model._parameters, model._gradients)]
    params = [entry + (None,) * (5 - len(entry)) for entry in params]
    objective = model.objective
    outputs = [(tensor, losses.KERNELS[loss.table_name].loop, absorbed or "linear", weight,
                [(_METRICS[type(m)], float(getattr(m, "threshold", 0.5))) for m in metrics])
               for tensor, loss, absorbed, weight, metrics in zip(model.plan.outputs, objective.losses,
                                                                  objective.absorbed, objective.weights,
                                                                  objective.output_metrics)]
    return TrainingLoop(_layer_specs(model.plan, training=True), _input_widths(model), outputs, name, hyper,
                        params, _gradient_sums(model.plan), batch_size)


def build_inference_loop(model, batch_size: int):
    """A :class:`axonal._native.TrainingLoop` that only predicts (loss and optimiser ``none``), for
    batches of at most ``batch_size`` rows; the model need not be compiled."""
    from axonal._native import TrainingLoop

    absorbed = model.objective.absorbed if model.objective is not None else [None] * len(model.plan.outputs)
    outputs = [(tensor, "none", activation or "linear", 1.0, []) for tensor, activation in zip(model.plan.outputs, absorbed)]
    return TrainingLoop(_layer_specs(model.plan, training=False), _input_widths(model), outputs, "none", {}, [], [],
                        batch_size)


def _layer_specs(plan, training: bool) -> list[tuple]:
    """The plan's calls as the native loop takes them: (kind, input tensors, output tensor, which
    inputs need their gradient, whether backward runs it, the kind's own items...)."""
    specs = []
    for call in plan.calls:
        layer = call.layer
        reached = training and call.backprop
        needs = tuple(call.needs_input_gradients) if training else (False,) * len(call.inputs)
        head = (tuple(call.inputs), call.output, needs, reached)
        if isinstance(layer, (Dense, Conv2D)):
            # Gradients only where the backward pass reaches (a frozen layer's buffers are None).
            dkernel = layer._gradient_buffer("kernel") if reached else None
            dbias = layer._gradient_buffer("bias") if reached else None
            weights = (layer.kernel, layer.bias, dkernel, dbias, layer.applied_activation, float(layer.alpha),
                       layer.separate_activation or "linear")
            if isinstance(layer, Dense):
                specs.append(("dense", *head, *weights))
            else:
                specs.append(("conv2d", *head, *weights, tuple(layer.input_shape[1:]), layer.strides,
                              layer.explicit_padding))
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            kind = "max_pool2d" if isinstance(layer, MaxPooling2D) else "avg_pool2d"
            specs.append((kind, *head, layer.pool_size, tuple(layer.input_shape[1:]), layer.strides,
                          layer.explicit_padding))
        elif isinstance(layer, GlobalAveragePooling2D):  # an average pool whose window is the image
            specs.append(("avg_pool2d", *head, layer.window, tuple(layer.input_shape[1:]), (1, 1), (0, 0, 0, 0)))
        elif isinstance(layer, Dropout):
            specs.append(("dropout", *head, layer.rate, layer.mask_seed, layer.position))
        elif isinstance(layer, Activation):
            specs.append(("activation", *head, layer.applied_activation, float(layer.alpha)))
        elif isinstance(layer, Concatenate):
            specs.append(("concat", *head))
        elif isinstance(layer, MERGE_LAYERS):
            specs.append(("merge", *head, layer.op))
        else:  # InputLayer, Flatten, Reshape: the same values, C-contiguous rows as they are
            specs.append(("identity", *head))
    return specs


def _gradient_sums(plan) -> list[tuple]:
    """(the layer's gradient, a later call's own) per weight of each shared layer's later calls, in
    call order: what :meth:`PlanRunner.backward` adds after the backward pass."""
    return [(call.owner._gradients[name], call.layer._gradients[name])
            for call in plan.calls if call.is_clone and call.backprop and call.owner.trainable
            for name in call.owner._gradients]


def add_totals(model, totals, rows_seen: int) -> None:
    """Add a native run's metric totals (every output's metrics, in order) to the model's metrics."""
    counted = [metric for metrics in model.objective.output_metrics for metric in metrics]
    for metric, total in zip(counted, totals):
        metric.total += total
        metric.count += rows_seen


def _input_widths(model) -> list[int]:
    """Values per sample of each model input (the loop sees every sample as one row)."""
    return [int(np.prod(tensor_shape[1:])) for tensor_shape in
            (model.input_shape if len(model.input_names) > 1 else [model.input_shape])]


def _kernel_row(instance, table: dict):
    """The table row of a built-in loss or optimiser class; None for a user's own class (its
    Python code would not run in the loop)."""
    name = getattr(type(instance), "table_name", None) or getattr(type(instance), "kernel", None)
    row = table.get(name) if isinstance(name, str) else None
    defined_here = type(instance).__module__ in ("axonal.losses", "axonal.optimizers")
    return row if defined_here else None


def _kernel_slots(optimizer, slots: dict, names: tuple) -> tuple:
    """The slots as the kernel takes them: None where the configuration does not use one (the
    Python optimisers pass the same: see their ``update_step``)."""
    unused = set()
    if isinstance(optimizer, optimizers.RMSprop) and not optimizer.centered:
        unused.add("average_gradient")
    if isinstance(optimizer, optimizers.Adam) and not optimizer.amsgrad:
        unused.add("velocity_hat")
    return tuple(None if name in unused else slots.get(name) for name in names)
