"""The epochs of ``fit``, and the single passes of ``evaluate`` and ``predict``: callbacks, History
and validation around the executor that runs the batches (:mod:`axonal.models.executors`).

Arrays arrive already checked and converted, as lists: ``xs`` one array per model input, ``ys``
one per output; sample weights are an (N,) float32 array or None, and travel with their samples.
Every epoch the model's seeded generator draws the shuffle order on the host, so each executor
sees the same batches.

Under a :class:`axonal.distribution.DataParallel` of several ranks (:mod:`axonal.distribution.fitting`):
the ranks are checked to agree and get rank 0's weights before the first step, every epoch uses
rank 0's shuffle, the executors shard each global batch and sum the gradients, BatchNormalization's
moving statistics are averaged after each epoch, validation and ``evaluate`` run each rank on its
block of rows and reduce, and ``predict`` gathers every rank's block.
"""
from __future__ import annotations

import math

from axonal import distribution as _distribution
from axonal.callbacks import Callback, CallbackList, History
from axonal.distribution import fitting
from axonal.models import executors
from axonal.models.batch_loops import validation_runner
from axonal.models.data import ValidationSchedule
from axonal.models.executors import configure_for_prediction
from axonal.models.executors.layerwise import NO_CALLBACKS, empty_predictions, make_logs, sorted_logs

__all__ = ["configure_for_prediction", "evaluate_loop", "fit_loop", "make_logs", "predict_loop"]


def fit_loop(model, xs, ys, weights, batch_size: int, epochs: int, initial_epoch: int, verbose: int,
             callbacks: list[Callback], validation: tuple | None, shuffle: bool,
             schedule: ValidationSchedule = ValidationSchedule()) -> History:
    """Train epochs ``initial_epoch .. epochs - 1`` on prepared arrays; return the History of
    per-epoch logs. ``validation`` is ``(xs_val, ys_val, weights_val)`` or None, run after the
    epochs ``schedule`` says."""
    history = History()
    count = len(xs[0])
    callback_list = CallbackList([*callbacks, history], model, verbose, epochs, math.ceil(count / batch_size))
    model.stop_training = False
    distributed = _distribution.active() is not None
    if distributed:
        fitting.refuse_unsupported(model)
    executor = executors.for_training(model, xs, ys, weights, batch_size, callback_list.callbacks)
    if distributed:  # check the ranks agree (the executor too: their collectives differ), start from rank 0's weights
        fitting.check_agreement(model, xs, ys, weights, batch_size=batch_size, epochs=epochs,
                                initial_epoch=initial_epoch, shuffle=shuffle, executor=executor.name,
                                validation=None if validation is None else _shapes(validation))
        fitting.broadcast_state(model)
    tester = None
    callback_list.call("on_train_begin", None)
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.call("on_epoch_begin", epoch, None)
        order = model.shuffle_rng.permutation(count) if shuffle else None
        order = fitting.shared_order(order)
        model.reset_metrics()
        logs = executor.train_epoch(xs, ys, weights, order, callback_list, epoch)
        fitting.average_batch_statistics(model)
        if validation is not None and schedule.validates(epoch):
            if tester is None:  # validation arrays, or a batch source (models/batch_loops.py)
                size = schedule.batch_size or batch_size
                if distributed:
                    tester = _sharded_tester(model, validation, size, callback_list, executor)
                else:
                    tester = validation_runner(model, validation, size, callback_list, executor)
            validation_logs = tester()
            logs = sorted_logs({**logs, **{f"val_{name}": value for name, value in validation_logs.items()}})
        callback_list.call("on_epoch_end", epoch, logs)
        if model.stop_training:  # a callback asked to stop, as Keras' EarlyStopping does
            break
    if distributed:
        fitting.reconcile_weights(model)
    callback_list.call("on_train_end", logs)
    return history


def _shapes(validation) -> list:
    xs, ys, weights = validation
    return [tuple(a.shape) for a in [*xs, *ys]] + ([] if weights is None else [tuple(weights.shape)])


def _sharded_tester(model, validation, batch_size: int, callback_list, fit_executor):
    """A fit's validation under a distribution: each rank tests its block of the validation rows."""
    xs, ys, weights = validation
    rows = fitting.local_rows(len(xs[0]))
    local = ([x[rows] for x in xs], [y[rows] for y in ys], None if weights is None else weights[rows])
    count = rows.stop - rows.start
    if count == 0:
        return lambda: _empty_test_pass(model, callback_list)
    tester = executors.for_testing(model, *local, batch_size, callback_list.callbacks, "fit validation", fit_executor)
    return lambda: fitting.reduced_test_logs(model, tester.test_epoch(*local, callback_list), count)


def _empty_test_pass(model, callback_list) -> dict[str, float]:
    """A rank with no rows to test still joins the reduction."""
    callback_list.call("on_test_begin", None)
    logs = fitting.reduced_test_logs(model, None, 0)
    callback_list.call("on_test_end", logs)
    return logs


def evaluate_loop(model, xs, ys, weights, batch_size: int, verbose: int,
                  callbacks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over prepared arrays, in inference mode."""
    if _distribution.active() is not None:  # each rank tests its block of rows, then the logs are reduced
        fitting.refuse_unsupported(model)
        rows = fitting.local_rows(len(xs[0]))
        xs, ys, weights = [x[rows] for x in xs], [y[rows] for y in ys], None if weights is None else weights[rows]
        count = rows.stop - rows.start
        callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(count / batch_size))
        if count == 0:
            return _empty_test_pass(model, callback_list)
        executor = executors.for_testing(model, xs, ys, weights, batch_size, callback_list.callbacks)
        return fitting.reduced_test_logs(model, executor.test_epoch(xs, ys, weights, callback_list), count)
    callback_list = CallbackList(callbacks, model, verbose, 1, math.ceil(len(xs[0]) / batch_size))
    executor = executors.for_testing(model, xs, ys, weights, batch_size, callback_list.callbacks)
    return executor.test_epoch(xs, ys, weights, callback_list)


def predict_loop(model, xs, batch_size: int, verbose: int, callbacks: list[Callback],
                 device_array: bool = False) -> list:
    """The model's predictions for prepared inputs: one array per output, one row per sample
    (device arrays when ``device_array`` and the model runs on a device)."""
    if _distribution.active() is not None:  # each rank predicts its block of rows; every rank gets them all
        fitting.refuse_unsupported(model)
        count = len(xs[0])
        rows = fitting.local_rows(count)
        local = [x[rows] for x in xs]
        if rows.stop > rows.start:
            parts = _predict(model, local, batch_size, verbose, callbacks, False)
        else:
            parts = empty_predictions(model, 0)
        return fitting.gather_rows(parts, count)
    return _predict(model, xs, batch_size, verbose, callbacks, device_array)


def _predict(model, xs, batch_size: int, verbose: int, callbacks: list[Callback], device_array: bool) -> list:
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

