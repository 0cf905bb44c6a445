"""Executors run a model's plan: one interface, three implementations, one decision.

::

    Model / Sequential ──build──▶ Plan (models/plan.py): calls over numbered tensors,
        │                         derived once from the layer graph
        │ compile ──▶ Objective (losses, loss weights, metrics per output)
        ▼
    fit / evaluate / predict (models/training.py: epochs, callbacks, History)
        │
        ▼  choose() below: the one place that decides
    ┌──────────────────────┬───────────────────────────┬──────────────────────────┐
    │ LayerwiseExecutor    │ NativeExecutor            │ DeviceExecutor           │
    │ layerwise.py         │ native.py + native_plan.py│ device.py + device_copy.py│
    │ the plan in Python,  │ the plan as C++ steps in  │ the plan's layers cloned  │
    │ layer by layer: the  │ axonal._native.TrainingLoop│ onto the GPU, each run of │
    │ definition (numpy,   │ (cpu): runs of ~50 ms,    │ steps captured as a CUDA  │
    │ and what the others  │ the same kernels in the   │ graph and replayed (cuda) │
    │ cannot run)          │ same order                │                          │
    └──────────────────────┴───────────────────────────┴──────────────────────────┘
    each: train_epoch(xs, ys, weights, order, callbacks, epoch) · test_epoch(xs, ys, weights, callbacks)
          · predict(xs, ...)

A model on ``cuda`` runs on the device, on ``cpu`` in the native loop, on ``numpy`` layer by layer.
When the device or the native loop cannot run a call (:mod:`.support` lists every reason), the
layer-by-layer executor runs it and the model says so once: a ``RuntimeWarning`` on ``cuda``, an
"axonal fast path" ``UserWarning`` on ``cpu``.
"""
from __future__ import annotations

from axonal.models.executors import support
from axonal.models.executors.device import DeviceExecutor, warn_host_fallback
from axonal.models.executors.layerwise import LayerwiseExecutor
from axonal.models.executors.native import NativeExecutor

__all__ = ["DeviceExecutor", "LayerwiseExecutor", "NativeExecutor", "configure_for_prediction", "for_prediction",
           "for_testing", "for_training"]


def for_training(model, xs, ys, weights, batch_size: int, callbacks):
    """The executor of a ``fit``."""
    return choose(model, "fit", support.training_problem(model, xs, ys, weights, callbacks), batch_size)


def for_testing(model, xs, ys, weights, batch_size: int, callbacks, method: str = "evaluate", fit_executor=None):
    """The executor of an ``evaluate``, or of a fit's validation (``fit_executor``: the fit's own,
    reused when it can run it: a device fit keeps its copy of the model)."""
    problem = support.testing_problem(model, xs, ys, weights, callbacks)
    if problem is None and isinstance(fit_executor, (DeviceExecutor, NativeExecutor)):
        return fit_executor
    return choose(model, method, problem, batch_size)


def configure_for_prediction(model) -> None:
    """``model._configure_output()`` (which output activations the losses absorb, and so what
    ``predict`` applies to the outputs), skipped while nothing it reads has changed since the last
    call: the plan, the compile arguments and the objective. A one-row ``predict`` would otherwise
    spend a fifth of its time re-deriving the same answer (and a later ``predict`` leaves the
    metrics of an ``evaluate`` in between as they were, as Keras' does)."""
    seen = getattr(model, "_configured_for_prediction", None)
    if seen is not None and seen[0] is model.plan and seen[1] is getattr(model, "_compile_args", None) \
            and seen[2] is model.objective and model.objective is not None:
        return
    try:
        model._configure_output()
    except ValueError:
        # The compiled loss does not fit the model as it is now (a head popped, say): that stops
        # fit and evaluate, not predict, which then returns what the layers compute, as in Keras.
        model.objective = None
    model._configured_for_prediction = (model.plan, getattr(model, "_compile_args", None), model.objective)


def for_prediction(model, xs, batch_size: int, callbacks):
    """The executor of a ``predict``."""
    return choose(model, "predict", support.inference_problem(model, xs, callbacks), batch_size)


def choose(model, method: str, problem: str | None, batch_size: int):
    """The device for a cuda model, the native loop on cpu, else layer by layer; where the fast
    executor cannot run the call (``problem``), layer by layer, said once."""
    if model.device is not None:
        if problem is None:
            return DeviceExecutor(model, batch_size)
        warn_host_fallback(model, method, problem)
    elif getattr(model.ops, "NAME", None) == "cpu":
        if problem is None:
            return NativeExecutor(model, batch_size)
        support.report(model, method, NativeExecutor.name, problem)
    return LayerwiseExecutor(model, batch_size)
