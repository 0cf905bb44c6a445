"""The batch loops behind ``fit``, ``evaluate`` and ``predict``.

They slice batches (gathering shuffled rows into reused buffers), call the model's
``train_step``/``test_step``/``predict_step``, keep running means (batch losses weighted by batch
size, as Keras reports them) and call the callbacks. Arrays arrive already checked and converted,
as lists: ``xs`` one array per model input, ``ys`` one per output; sample weights are an (N,)
float32 array or None, and travel with their samples.

Which executor runs an epoch is decided in one place, :func:`executor_for`: the device (``cuda``),
the native C++ loop (``cpu``), or the plan run layer by layer in Python. Whenever a model on
``cpu`` or ``cuda`` cannot use its fast executor, ``fit``/``predict`` say so once, with the reason.
"""
from __future__ import annotations

import math

import numpy as np

from axonal.callbacks import Callback, CallbackList, History
from axonal.models import device_loop, native_loop
from axonal.models.numerics import NonFiniteError


def fit_loop(model, xs, ys, weights, batch_size: int, epochs: int, initial_epoch: int, verbose: int,
             callbacks: list[Callback], validation: tuple | None, shuffle: bool) -> History:
    """Train epochs ``initial_epoch .. epochs - 1`` on prepared arrays; return the History of
    per-epoch logs. ``validation`` is ``(xs_val, ys_val, weights_val)`` or None."""
    history = History()
    count = len(xs[0])
    steps = math.ceil(count / batch_size)
    callback_list = CallbackList([*callbacks, history], model, verbose, epochs, steps)
    model.stop_training = False
    device_fit = _device_fit(model, xs, ys, weights, batch_size, callback_list.callbacks)
    callback_list.call("on_train_begin", None)
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.call("on_epoch_begin", epoch, None)
        logs = _train_epoch(model, xs, ys, weights, batch_size, shuffle, callback_list, epoch, device_fit)
        if validation is not None:
            xs_val, ys_val, weights_val = validation
            if device_fit is not None and device_loop.evaluation_problem(model, xs_val, weights_val) is None:
                validation_logs = device_fit.test_epoch(xs_val, ys_val, callback_list)
            else:
                validation_logs = _test_epoch(model, *validation, batch_size, callback_list)
            logs = _sorted({**logs, **{f"val_{name}": value for name, value in validation_logs.items()}})
        callback_list.call("on_epoch_end", epoch, logs)
        if model.stop_training:  # a callback asked to stop, as Keras' EarlyStopping does
            break
    callback_list.call("on_train_end", logs)
    return history


def evaluate_loop(model, xs, ys, weights, batch_size: int, verbose: int,
                  callbacks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over prepared arrays, in inference mode."""
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(xs[0]) / batch_size))
    if _on_device(model, "evaluate", device_loop.evaluation_problem(model, xs, weights)):
        return device_loop.evaluate(model, xs, ys, batch_size, callback_list)
    return _test_epoch(model, xs, ys, weights, batch_size, callback_list)


def predict_loop(model, xs, batch_size: int, verbose: int, callbacks: list[Callback],
                 device_array: bool = False) -> list:
    """The model's predictions for prepared inputs: one array per output, one row per sample
    (device arrays when ``device_array`` and the model runs on a device)."""
    count = len(xs[0])
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(count / batch_size))
    callback_list.call("on_predict_begin", None)
    if _on_device(model, "predict", device_loop.inference_problem(model, xs, callback_list.callbacks)):
        predictions = device_loop.predict(model, xs, batch_size, callback_list, device_array)
        callback_list.call("on_predict_end", None)
        return predictions
    predictions = [np.empty((count,) + tuple(shape[1:]), dtype=np.float32) for shape in model.output_shapes]
    if _on_native(model, "predict", native_loop.unsupported_for_predict(model, xs, callback_list.callbacks)):
        _predict_native(model, xs, predictions, batch_size, callback_list)
        callback_list.call("on_predict_end", None)
        return predictions
    for batch, rows in _batches(count, batch_size):
        model._interrupts.check()
        callback_list.call("on_predict_batch_begin", batch, None)
        for out, result in zip(predictions, model.predict_step([x[rows] for x in xs])):
            out[rows] = result
        callback_list.call("on_predict_batch_end", batch, None)
    callback_list.call("on_predict_end", None)
    return predictions


def _predict_native(model, xs, predictions, batch_size, callback_list) -> None:
    """predict's batches in runs of native forward passes written straight into ``predictions``;
    between runs the progress bar moves and a Ctrl-C is delivered."""
    loop = native_loop.build_inference_loop(model, batch_size)
    count = len(xs[0])
    rows, outs = [_as_rows(x) for x in xs], [_as_rows(p) for p in predictions]
    batches, batch = math.ceil(count / batch_size), 0
    while batch < batches:
        model._interrupts.check()
        callback_list.call("on_predict_batch_begin", batch, None)
        batch += loop.predict(rows, outs, batch_size, batch, batches - batch, native_loop.SECONDS_PER_RUN)
        callback_list.call("on_predict_batch_end", batch - 1, None)


def _device_fit(model, xs, ys, weights, batch_size, callbacks) -> device_loop.DeviceFit | None:
    """The device half of a fit, when the model has a device that can run this fit."""
    if _on_device(model, "fit", device_loop.training_problem(model, xs, ys, weights, callbacks)):
        return device_loop.DeviceFit(model, xs, ys, batch_size)
    return None


def _on_device(model, method: str, problem: str | None) -> bool:
    """Whether ``method`` runs on the model's device; warns when a device model cannot."""
    if model.device is None:
        return False
    if problem is not None:
        device_loop.warn_host_fallback(model, method, problem)
    return problem is None


def _on_native(model, method: str, problem: str | None) -> bool:
    """Whether ``method`` runs in the native loop; says once per model and reason when a ``cpu``
    model cannot (the ``numpy`` backend has no native loop: nothing to say there)."""
    if problem is not None and getattr(model.ops, "NAME", None) == "cpu":
        native_loop.report_python_path(model, method, problem)
    return problem is None


def _train_epoch(model, xs, ys, weights, batch_size, shuffle, callback_list, epoch, device_fit) -> dict[str, float]:
    count = len(xs[0])
    order = model.shuffle_rng.permutation(count) if shuffle else None
    model.reset_metrics()
    if device_fit is not None:
        return device_fit.train_epoch(order, callback_list)
    if _on_native(model, "fit", native_loop.unsupported_reason(model, xs, ys, weights, callback_list.callbacks)):
        return _train_epoch_native(model, xs, ys, order, batch_size, callback_list)
    loss_sum, seen = 0.0, 0
    w_batch = None
    for batch, rows in _batches(count, batch_size):
        callback_list.call("on_train_batch_begin", batch, None)
        if order is None:
            xs_batch, ys_batch = [x[rows] for x in xs], [y[rows] for y in ys]
            if weights is not None:
                w_batch = weights[rows]
        else:
            xs_batch = [_gather(model, f"x_batch/{i}", x, order[rows]) for i, x in enumerate(xs)]
            ys_batch = [_gather(model, f"y_batch/{i}", y, order[rows]) for i, y in enumerate(ys)]
            if weights is not None:
                w_batch = _gather(model, "w_batch", weights, order[rows])
        rows_in_batch = len(xs_batch[0])
        try:
            loss_sum += model.train_step(xs_batch, ys_batch, w_batch) * rows_in_batch
        except NonFiniteError as error:  # check_numerics: say where in the run it happened
            error.locate(epoch, batch)
            raise
        seen += rows_in_batch
        callback_list.call("on_train_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
        if model.stop_training:  # e.g. TerminateOnNaN; Keras also closes the epoch as usual
            break
    return make_logs(loss_sum / seen, model.metrics)


def _train_epoch_native(model, xs, ys, order, batch_size, callback_list) -> dict[str, float]:
    """The epoch in runs of whole native steps (see :mod:`axonal.models.native_loop`). The batch
    hooks run once per run (its first batch, then its last), as Keras' ``steps_per_execution``
    calls them; between runs a Ctrl-C or ``stop_training`` ends the epoch."""
    loop = native_loop.build_loop(model, batch_size)
    rows = [_as_rows(x) for x in xs]
    steps = math.ceil(len(xs[0]) / batch_size)
    optimizer = model.optimizer
    loss_sum, seen, batch = 0.0, 0, 0
    trackers = model.objective.loss_trackers
    while batch < steps:
        callback_list.call("on_train_batch_begin", batch, None)
        done, rows_seen, loss_sum, non_finite, totals, output_sums = loop.run(
            rows, ys, order, batch_size, batch, steps - batch, native_loop.SECONDS_PER_RUN, model.steps.value,
            optimizer.iterations, optimizer.learning_rate, loss_sum, [tracker.total for tracker in trackers])
        optimizer.iterations += done
        model.steps.value += done
        native_loop.add_totals(model, totals, rows_seen)
        for tracker, total in zip(trackers, output_sums):
            tracker.total, tracker.count = total, tracker.count + rows_seen
        seen += rows_seen
        batch += done
        callback_list.call("on_train_batch_end", batch - 1, make_logs(loss_sum / seen, model.metrics))
        model._interrupts.check()
        if model.stop_training:
            break
    return make_logs(loss_sum / seen, model.metrics)


def _test_epoch(model, xs, ys, weights, batch_size, callback_list) -> dict[str, float]:
    callback_list.call("on_test_begin", None)
    model.reset_metrics()
    loss_sum, seen = 0.0, 0
    for batch, rows in _batches(len(xs[0]), batch_size):
        model._interrupts.check()  # a Ctrl-C deferred by fit lands here, not after validation
        callback_list.call("on_test_batch_begin", batch, None)
        xs_batch = [x[rows] for x in xs]
        rows_in_batch = len(xs_batch[0])
        loss_sum += model.test_step(xs_batch, [y[rows] for y in ys],
                                    None if weights is None else weights[rows]) * rows_in_batch
        seen += rows_in_batch
        callback_list.call("on_test_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
    logs = make_logs(loss_sum / seen, model.metrics)
    callback_list.call("on_test_end", logs)
    return logs


def _batches(count: int, batch_size: int):
    """(batch index, row slice) pairs covering ``count`` rows; the last batch may be smaller."""
    for batch, start in enumerate(range(0, count, batch_size)):
        yield batch, slice(start, min(start + batch_size, count))


def _gather(model, name: str, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Copy rows ``indices`` of ``data`` into the model's reusable batch buffer ``name``."""
    out = model.buffers.get(name, (len(indices),) + data.shape[1:], data.dtype)
    # mode="clip" skips the bounds check that would make np.take copy through a temporary;
    # the indices come from a permutation, so they are always in range.
    return np.take(data, indices, axis=0, out=out, mode="clip")


def _as_rows(array: np.ndarray) -> np.ndarray:
    """A sample per row: (N, ...) viewed as (N, values per sample), as the native loop takes it."""
    return array.reshape(len(array), -1)


def make_logs(loss: float, metrics) -> dict[str, float]:
    """``{"loss": ..., metric name: result}`` in the order Keras shows them."""
    return _sorted({"loss": loss, **{metric.name: metric.result() for metric in metrics}})


def _sorted(logs: dict[str, float]) -> dict[str, float]:
    """Keys in alphabetical order, the order Keras 3 shows and records them in."""
    return dict(sorted(logs.items()))
