"""The batch loops behind ``fit``, ``evaluate`` and ``predict``.

They slice batches (gathering shuffled rows into reused buffers), call the model's
``train_step``/``test_step``/``predict_step``, keep running means (batch losses weighted by batch
size, as Keras reports them) and call the callbacks. Arrays arrive already checked and converted;
sample weights are an (N,) float32 array or None, and travel with their samples.
"""
from __future__ import annotations

import math

import numpy as np

from axonal.callbacks import Callback, CallbackList, History
from axonal.models import device_loop, native_loop
from axonal.models.numerics import NonFiniteError


def fit_loop(model, x, y, weights, batch_size: int, epochs: int, initial_epoch: int, verbose: int,
             callbacks: list[Callback], validation: tuple | None, shuffle: bool) -> History:
    """Train epochs ``initial_epoch .. epochs - 1`` on prepared arrays; return the History of
    per-epoch logs. ``validation`` is ``(x_val, y_val, weights_val)`` or None."""
    history = History()
    steps = math.ceil(len(x) / batch_size)
    callback_list = CallbackList([*callbacks, history], model, verbose, epochs, steps)
    model.stop_training = False
    device_fit = _device_fit(model, x, y, weights, batch_size, callback_list.callbacks)
    callback_list.call("on_train_begin", None)
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.call("on_epoch_begin", epoch, None)
        logs = _train_epoch(model, x, y, weights, batch_size, shuffle, callback_list, epoch, device_fit)
        if validation is not None:
            x_val, y_val, weights_val = validation
            if device_fit is not None and device_loop.evaluation_problem(model, x_val, weights_val) is None:
                validation_logs = device_fit.test_epoch(x_val, y_val, callback_list)
            else:
                validation_logs = _test_epoch(model, *validation, batch_size, callback_list)
            logs = _sorted({**logs, **{f"val_{name}": value for name, value in validation_logs.items()}})
        callback_list.call("on_epoch_end", epoch, logs)
        if model.stop_training:  # a callback asked to stop, as Keras' EarlyStopping does
            break
    callback_list.call("on_train_end", logs)
    return history


def evaluate_loop(model, x, y, weights, batch_size: int, verbose: int,
                  callbacks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over prepared arrays, in inference mode."""
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(x) / batch_size))
    if _on_device(model, "evaluate", device_loop.evaluation_problem(model, x, weights)):
        return device_loop.evaluate(model, x, y, batch_size, callback_list)
    return _test_epoch(model, x, y, weights, batch_size, callback_list)


def predict_loop(model, x, batch_size: int, verbose: int, callbacks: list[Callback],
                 device_array: bool = False):
    """The model's predictions for prepared inputs, one row per sample (a device array when
    ``device_array`` and the model runs on a device)."""
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(x) / batch_size))
    callback_list.call("on_predict_begin", None)
    if _on_device(model, "predict", device_loop.inference_problem(model, x, callback_list.callbacks)):
        predictions = device_loop.predict(model, x, batch_size, callback_list, device_array)
        callback_list.call("on_predict_end", None)
        return predictions
    predictions = np.empty((len(x),) + model.output_shape[1:], dtype=np.float32)
    if native_loop.unsupported_for_predict(model, x, callback_list.callbacks) is None:
        _predict_native(model, x, predictions, batch_size, callback_list)
        callback_list.call("on_predict_end", None)
        return predictions
    for batch, rows in _batches(len(x), batch_size):
        model._interrupts.check()
        callback_list.call("on_predict_batch_begin", batch, None)
        predictions[rows] = model.predict_step(x[rows])
        callback_list.call("on_predict_batch_end", batch, None)
    callback_list.call("on_predict_end", None)
    return predictions


def _predict_native(model, x, predictions, batch_size, callback_list) -> None:
    """predict's batches in runs of native forward passes written straight into ``predictions``;
    between runs the progress bar moves and a Ctrl-C is delivered."""
    loop = native_loop.build_inference_loop(model, batch_size)
    rows, out = x.reshape(len(x), -1), predictions.reshape(len(x), -1)
    batches, batch = math.ceil(len(x) / batch_size), 0
    while batch < batches:
        model._interrupts.check()
        callback_list.call("on_predict_batch_begin", batch, None)
        batch += loop.predict(rows, out, batch_size, batch, batches - batch, native_loop.SECONDS_PER_RUN)
        callback_list.call("on_predict_batch_end", batch - 1, None)


def _device_fit(model, x, y, weights, batch_size, callbacks) -> device_loop.DeviceFit | None:
    """The device half of a fit, when the model has a device that can run this fit."""
    if _on_device(model, "fit", device_loop.training_problem(model, x, y, weights, callbacks)):
        return device_loop.DeviceFit(model, x, y, batch_size)
    return None


def _on_device(model, method: str, problem: str | None) -> bool:
    """Whether ``method`` runs on the model's device; warns when a device model cannot."""
    if model.device is None:
        return False
    if problem is not None:
        device_loop.warn_host_fallback(model, method, problem)
    return problem is None


def _train_epoch(model, x, y, weights, batch_size, shuffle, callback_list, epoch, device_fit) -> dict[str, float]:
    order = model.shuffle_rng.permutation(len(x)) if shuffle else None
    model.reset_metrics()
    if device_fit is not None:
        return device_fit.train_epoch(order, callback_list)
    if native_loop.unsupported_reason(model, x, y, weights, callback_list.callbacks) is None:
        return _train_epoch_native(model, x, y, order, batch_size, callback_list)
    loss_sum, seen = 0.0, 0
    w_batch = None
    for batch, rows in _batches(len(x), batch_size):
        callback_list.call("on_train_batch_begin", batch, None)
        if order is None:
            x_batch, y_batch = x[rows], y[rows]
            if weights is not None:
                w_batch = weights[rows]
        else:
            x_batch = _gather(model, "x_batch", x, order[rows])
            y_batch = _gather(model, "y_batch", y, order[rows])
            if weights is not None:
                w_batch = _gather(model, "w_batch", weights, order[rows])
        try:
            loss_sum += model.train_step(x_batch, y_batch, w_batch) * len(x_batch)
        except NonFiniteError as error:  # check_numerics: say where in the run it happened
            error.locate(epoch, batch)
            raise
        seen += len(x_batch)
        callback_list.call("on_train_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
        if model.stop_training:  # e.g. TerminateOnNaN; Keras also closes the epoch as usual
            break
    return make_logs(loss_sum / seen, model.metrics)


def _train_epoch_native(model, x, y, order, batch_size, callback_list) -> dict[str, float]:
    """The epoch in runs of whole native steps (see :mod:`axonal.models.native_loop`). The batch
    hooks run once per run (its first batch, then its last), as Keras' ``steps_per_execution``
    calls them; between runs a Ctrl-C or ``stop_training`` ends the epoch."""
    loop = native_loop.build_loop(model, batch_size)
    rows = x.reshape(len(x), -1)
    steps = math.ceil(len(x) / batch_size)
    optimizer = model.optimizer
    loss_sum, seen, batch = 0.0, 0, 0
    while batch < steps:
        callback_list.call("on_train_batch_begin", batch, None)
        done, rows_seen, loss_sum, non_finite, totals = loop.run(
            rows, y, order, batch_size, batch, steps - batch, native_loop.SECONDS_PER_RUN, model.steps.value,
            optimizer.iterations, optimizer.learning_rate, loss_sum)
        optimizer.iterations += done
        model.steps.value += done
        for metric, total in zip(model.metrics, totals):
            metric.total += total
            metric.count += rows_seen
        seen += rows_seen
        batch += done
        callback_list.call("on_train_batch_end", batch - 1, make_logs(loss_sum / seen, model.metrics))
        model._interrupts.check()
        if model.stop_training:
            break
    return make_logs(loss_sum / seen, model.metrics)


def _test_epoch(model, x, y, weights, batch_size, callback_list) -> dict[str, float]:
    callback_list.call("on_test_begin", None)
    model.reset_metrics()
    loss_sum, seen = 0.0, 0
    for batch, rows in _batches(len(x), batch_size):
        model._interrupts.check()  # a Ctrl-C deferred by fit lands here, not after validation
        callback_list.call("on_test_batch_begin", batch, None)
        x_batch = x[rows]
        loss_sum += model.test_step(x_batch, y[rows], None if weights is None else weights[rows]) * len(x_batch)
        seen += len(x_batch)
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


def make_logs(loss: float, metrics) -> dict[str, float]:
    """``{"loss": ..., metric name: result}`` in the order Keras shows them."""
    return _sorted({"loss": loss, **{metric.name: metric.result() for metric in metrics}})


def _sorted(logs: dict[str, float]) -> dict[str, float]:
    """Keys in alphabetical order, the order Keras 3 shows and records them in."""
    return dict(sorted(logs.items()))
