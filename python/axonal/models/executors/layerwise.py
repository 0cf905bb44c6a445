"""The layer-by-layer executor: the plan run in Python, one call of the model's steps per batch.

This is the definition the compiled executors reproduce bit for bit. It runs every model on every
backend (the ``numpy`` reference always uses it), slices batches (gathering shuffled rows into
reused buffers), calls the model's ``train_step``/``test_step``/``predict_step`` and every batch
hook of the callbacks, and keeps running means (batch losses weighted by batch size, as Keras).
"""
from __future__ import annotations

import numpy as np

from axonal import distribution as _distribution
from axonal.callbacks import CallbackList
from axonal.models.numerics import NonFiniteError


class LayerwiseExecutor:
    """Epochs and predictions of ``model`` in batches of ``batch_size`` rows, step by step."""

    name = "layer by layer"

    def __init__(self, model, batch_size: int):
        self.model, self.batch_size = model, batch_size

    def train_epoch(self, xs, ys, weights, order, callback_list, epoch: int) -> dict[str, float]:
        """One training epoch over ``order`` (a permutation of the rows, or None for their order)."""
        if _distribution.active() is not None:
            return self._distributed_epoch(xs, ys, weights, order, callback_list)
        model = self.model
        loss_sum, seen, w_batch = 0.0, 0, None
        for batch, rows in batches(len(xs[0]), self.batch_size):
            callback_list.call("on_train_batch_begin", batch, None)
            if order is None:
                xs_batch, ys_batch = [x[rows] for x in xs], [y[rows] for y in ys]
                w_batch = None if weights is None else weights[rows]
            else:
                xs_batch = [_gather(model, f"x_batch/{i}", x, order[rows]) for i, x in enumerate(xs)]
                ys_batch = [_gather(model, f"y_batch/{i}", y, order[rows]) for i, y in enumerate(ys)]
                w_batch = None if weights is None else _gather(model, "w_batch", weights, order[rows])
            count = len(xs_batch[0])
            try:
                loss_sum += model.train_step(xs_batch, ys_batch, w_batch) * count
            except NonFiniteError as error:  # check_numerics: say where in the run it happened
                error.locate(epoch, batch)
                raise
            seen += count
            callback_list.call("on_train_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
            if model.stop_training:  # e.g. TerminateOnNaN; Keras also closes the epoch as usual
                break
        return make_logs(loss_sum / seen, model.metrics)

    def _distributed_epoch(self, xs, ys, weights, order, callback_list) -> dict[str, float]:
        """A training epoch of data-parallel steps (axonal/distribution/layerwise.py): each global
        batch sharded over the ranks, gradients and losses summed; the epoch's metrics reduced."""
        from axonal.distribution import fitting, layerwise as parallel

        model, distribution = self.model, _distribution.active()
        common = fitting.metric_snapshot(model.metrics)  # what every rank counted before this call
        loss_sum, seen = 0.0, 0
        for batch, rows in batches(len(xs[0]), self.batch_size):
            callback_list.call("on_train_batch_begin", batch, None)
            index = np.arange(rows.start, rows.stop) if order is None else order[rows]
            mine, first = parallel.shard_of(index, distribution)
            loss = parallel.train_step(model, distribution, [x[mine] for x in xs], [y[mine] for y in ys],
                                       None if weights is None else weights[mine], first, len(index))
            loss_sum += loss * len(index)
            seen += len(index)
            callback_list.call("on_train_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
            if model.stop_training:
                break
        fitting.reduce_metrics(model.metrics, since=common)
        return make_logs(loss_sum / seen, model.metrics)

    def test_epoch(self, xs, ys, weights, callback_list) -> dict[str, float]:
        """Loss and metrics of the rows in inference mode (the model's metrics are reset first)."""
        model = self.model
        callback_list.call("on_test_begin", None)
        model.reset_metrics()
        loss_sum, seen = 0.0, 0
        for batch, rows in batches(len(xs[0]), self.batch_size):
            model._interrupts.check()  # a Ctrl-C deferred by fit lands here, not after validation
            callback_list.call("on_test_batch_begin", batch, None)
            xs_batch = [x[rows] for x in xs]
            count = len(xs_batch[0])
            loss_sum += model.test_step(xs_batch, [y[rows] for y in ys],
                                        None if weights is None else weights[rows]) * count
            seen += count
            callback_list.call("on_test_batch_end", batch, make_logs(loss_sum / seen, model.metrics))
        logs = make_logs(loss_sum / seen, model.metrics)
        callback_list.call("on_test_end", logs)
        return logs

    def predict(self, xs, callback_list, device_array: bool = False) -> list:
        """One array of predictions per output, one row per sample (``device_array``: for the
        device executor's interface; these are host arrays)."""
        model = self.model
        count = len(xs[0])
        predictions = empty_predictions(model, count)
        for batch, rows in batches(count, self.batch_size):
            model._interrupts.check()
            callback_list.call("on_predict_batch_begin", batch, None)
            for out, result in zip(predictions, model.predict_step([x[rows] for x in xs])):
                out[rows] = result
            callback_list.call("on_predict_batch_end", batch, None)
        return predictions


# The callback list of a silent predict without callbacks (training.predict_loop): its hooks do
# nothing, and the native executor skips calling them for a single batch.
NO_CALLBACKS = CallbackList([], None, 0, 1, 0)


def empty_predictions(model, count: int) -> list:
    """One float32 array per output, (count, ...) of the output's shape."""
    return [np.empty((count,) + tuple(shape[1:]), dtype=np.float32) for shape in model.output_shapes]


def batches(count: int, batch_size: int):
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
    """``{"loss": ..., metric name: result}`` in the order Keras shows them (alphabetical)."""
    return sorted_logs({"loss": loss, **{metric.name: metric.result() for metric in metrics}})


def sorted_logs(logs: dict[str, float]) -> dict[str, float]:
    """Keys in alphabetical order, the order Keras 3 shows and records them in."""
    return dict(sorted(logs.items()))
