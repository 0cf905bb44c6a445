"""The epochs of ``fit``, and the single passes of ``evaluate`` and ``predict``: callbacks, History
and validation around the executor that runs the batches (:mod:`axonal.models.executors`).

Arrays arrive already checked and converted, as lists: ``xs`` one array per model input, ``ys``
one per output; sample weights are an (N,) float32 array or None, and travel with their samples.
Every epoch the model's seeded generator draws the shuffle order on the host, so each executor
sees the same batches.
"""
from __future__ import annotations

import math

from axonal.callbacks import Callback, CallbackList, History
from axonal.models import executors
from axonal.models.batch_loops import validation_runner
from axonal.models.executors import configure_for_prediction
from axonal.models.executors.layerwise import NO_CALLBACKS, make_logs, sorted_logs

__all__ = ["configure_for_prediction", "evaluate_loop", "fit_loop", "make_logs", "predict_loop"]


def fit_loop(model, xs, ys, weights, batch_size: int, epochs: int, initial_epoch: int, verbose: int,
             callbacks: list[Callback], validation: tuple | None, shuffle: bool) -> History:
    """Train epochs ``initial_epoch .. epochs - 1`` on prepared arrays; return the History of
    per-epoch logs. ``validation`` is ``(xs_val, ys_val, weights_val)`` or None."""
    history = History()
    count = len(xs[0])
    callback_list = CallbackList([*callbacks, history], model, verbose, epochs, math.ceil(count / batch_size))
    model.stop_training = False
    executor = executors.for_training(model, xs, ys, weights, batch_size, callback_list.callbacks)
    tester = None
    callback_list.call("on_train_begin", None)
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.call("on_epoch_begin", epoch, None)
        order = model.shuffle_rng.permutation(count) if shuffle else None
        model.reset_metrics()
        logs = executor.train_epoch(xs, ys, weights, order, callback_list, epoch)
        if validation is not None:
            if tester is None:  # validation arrays, or a batch source (models/batch_loops.py)
                tester = validation_runner(model, validation, batch_size, callback_list, executor)
            validation_logs = tester()
            logs = sorted_logs({**logs, **{f"val_{name}": value for name, value in validation_logs.items()}})
        callback_list.call("on_epoch_end", epoch, logs)
        if model.stop_training:  # a callback asked to stop, as Keras' EarlyStopping does
            break
    callback_list.call("on_train_end", logs)
    return history


def evaluate_loop(model, xs, ys, weights, batch_size: int, verbose: int,
                  callbacks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over prepared arrays, in inference mode."""
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(xs[0]) / batch_size))
    executor = executors.for_testing(model, xs, ys, weights, batch_size, callback_list.callbacks)
    return executor.test_epoch(xs, ys, weights, callback_list)


def predict_loop(model, xs, batch_size: int, verbose: int, callbacks: list[Callback],
                 device_array: bool = False) -> list:
    """The model's predictions for prepared inputs: one array per output, one row per sample
    (device arrays when ``device_array`` and the model runs on a device)."""
    if not callbacks and not verbose:
        # Nothing observes the run (no callback, no progress bar): skip making a callback list
        # and calling its hooks, a measurable share of a one-row predict.
        return executors.for_prediction(model, xs, batch_size, []).predict(xs, NO_CALLBACKS, device_array)
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(xs[0]) / batch_size))
    callback_list.call("on_predict_begin", None)
    executor = executors.for_prediction(model, xs, batch_size, callback_list.callbacks)
    predictions = executor.predict(xs, callback_list, device_array)
    callback_list.call("on_predict_end", None)
    return predictions

