"""The device executor: ``fit``, ``evaluate`` and ``predict`` on the ``cuda`` backend's GPU.

A fit copies the model to the device (:class:`~axonal.models.executors.device_copy.DeviceModel`) and its
dataset too, once, when it takes at most :data:`DATASET_SHARE` of the free device memory (else
each run's rows are gathered on the host and uploaded). Every epoch the host draws the shuffle
order from the model's generator (the same order as on ``cpu``, so both backends see the same
batches), and the device gathers each run's rows into a window whose batches are views.

Steps run in runs of about :data:`~axonal.models.native_plan.SECONDS_PER_RUN` (the length is
chosen from a timed eager step). Each run of a given shape is captured once per fit as a CUDA
graph and replayed: a full run, and the epoch's last one. Between runs — never inside one — the
host reads the running loss and metric counts for the progress bar and the callbacks, delivers a
Ctrl-C and honours ``stop_training``, exactly where the native ``cpu`` loop does. The weights and
optimiser slots go back to the host arrays at the end of every epoch (callbacks and validation
see them) and are uploaded again at the next one. ``AXONAL_CUDA_GRAPHS=0`` queues the same steps
without capturing them (for debugging).

What the device cannot run (:mod:`~axonal.models.executors.support`) runs layer by layer on the
host backend instead, with a warning that says why.
"""
from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np

from axonal import distribution as _distribution
from axonal.layers.base import configuration_version
from axonal.models.executors import native_plan
from axonal.models.executors.device_copy import FULL, LAST, DeviceModel
from axonal.models.executors.device_parallel import ShardPlan

DATASET_SHARE = 0.5   # a dataset stays on the device when it needs at most this share of free memory
WINDOW_BYTES = 64 << 20  # the most a run's window of rows may take, which caps the steps per run
STEPS_PER_RUN: int | None = None  # fixed run length (tests); None: from a timed step


def warn_host_fallback(model, method: str, reason: str) -> None:
    """Say that a cuda model's ``method`` runs on the host, and why."""
    warnings.warn(f"Model {model.name!r}: {method}() runs on the host ({model.ops.NAME} backend), not on "
                  f"{model.device.name}, because of {reason}.", RuntimeWarning, stacklevel=4)


class _Rows:
    """Rows of host arrays served into a device window: gathered on the device from a copy kept
    there when the arrays fit, else gathered on the host and uploaded."""

    def __init__(self, device, arrays: tuple):
        self.device, self.host = device, arrays
        self.count = len(arrays[0])
        needed = sum(array.nbytes for array in arrays) + 8 * self.count
        self.resident = needed <= DATASET_SHARE * device.free_bytes()
        self.on_device = [device.upload(array) for array in arrays] if self.resident else None
        self.windows: list | None = None
        self.generation = 0
        self.set_order(None)

    def set_order(self, order: np.ndarray | None) -> None:
        """Serve rows in ``order`` (a permutation) from now on, or in their own order for None."""
        self.order = np.arange(self.count, dtype=np.int64) if order is None else order.astype(np.int64)
        if self.resident:
            self.device_order = self.device.upload(self.order)

    def fill(self, start: int, stop: int) -> list:
        """Put rows ``order[start:stop]`` at the top of the window; return those views."""
        rows = stop - start
        if self.windows is None or len(self.windows[0]) < rows:  # grows only before any capture
            self.windows = [self.device.xp.empty((rows,) + array.shape[1:], array.dtype) for array in self.host]
            self.generation += 1  # graphs captured on the old windows are stale
        views = [window[:rows] for window in self.windows]
        for index, view in enumerate(views):
            if self.resident:
                self.device.gather(view, self.on_device[index], self.device_order[start:stop])
            else:
                self.device.upload(np.take(self.host[index], self.order[start:stop], axis=0), view)
        return views


def _batch_rows(batch: int, batch_size: int, count: int) -> int:
    return min(batch_size, count - batch * batch_size)


def _progress(batches_done: int, batch_size: int, count: int) -> tuple[int, int]:
    """(full batches, rows of the smaller last batch) among the first ``batches_done`` batches."""
    done_rows = min(batches_done * batch_size, count)
    last_rows = done_rows % batch_size if done_rows == count else 0
    return (done_rows - last_rows) // batch_size, last_rows


class DeviceFit:
    """One ``fit`` call on the device: the model's copy, its data, and the graphs of its runs."""

    def __init__(self, model, xs: list, ys: list, batch_size: int):
        self.model, self.device, self.batch_size = model, model.device, batch_size
        self.inputs = len(xs)
        # Under a DataParallel of several ranks: this rank's shards of each global batch, NCCL sums
        # the gradients inside each captured step (device_parallel.py, axonal.distribution.nccl).
        self.parallel = _distribution.active()
        self.shards: ShardPlan | None = None
        with self.device.activate():
            self.copy = DeviceModel(model, training=True, distribution=self.parallel)
            self.rows = _Rows(self.device, (*xs, *ys))
        self.validation: _Rows | None = None
        self.graphs: dict[tuple, object] = {}
        self.steps_per_run = STEPS_PER_RUN
        self.use_graphs = os.environ.get("AXONAL_CUDA_GRAPHS", "1") != "0"

    def train_epoch(self, order: np.ndarray | None, callback_list) -> dict[str, float]:
        """One epoch in runs; returns its logs (the weights are back on the host when it returns)."""
        if self.model._prepared_for != configuration_version():  # a layer was frozen or thawed
            self.graphs.clear()
            with self.device.activate():
                self.copy = DeviceModel(self.model, training=True, distribution=self.parallel)
        model, copy, batch_size = self.model, self.copy, self.batch_size
        steps = math.ceil(self.rows.count / batch_size)
        batch, logs = 0, {}
        with self.device.activate():
            copy.upload()
            copy.reset_sums()
            if self.parallel is not None:  # this rank's rows of each global batch, in the shared order
                self.shards = ShardPlan(self.parallel, order, self.rows.count, batch_size)
                order = self.shards.order
            self.rows.set_order(order)
            try:
                while batch < steps:
                    callback_list.call("on_train_batch_begin", batch, None)
                    batch += self._run(batch, steps)
                    full, last = _progress(batch, batch_size, self.rows.count)
                    if self.shards is None:
                        logs = copy.logs(full, last, batch_size)
                    else:
                        self.shards.wait(self.device)
                        logs = copy.logs(full, last, batch_size, self.shards.log_weights(last))
                    callback_list.call("on_train_batch_end", batch - 1, logs)
                    model._interrupts.check()
                    if model.stop_training:
                        break
            finally:
                copy.download()
        return logs

    def _run(self, first: int, steps: int) -> int:
        """Queue the run of steps starting at batch ``first``; return how many it holds."""
        model, batch_size, count = self.model, self.batch_size, self.rows.count
        if self.steps_per_run is None:
            self.steps_per_run = self._timed_run_length(first)
            if self.shards is not None:  # every rank runs the same steps: the slowest rank's length
                self.steps_per_run = self.shards.agree_on_run_length(self.steps_per_run)
        run = min(self.steps_per_run, steps - first)
        if self.shards is None:
            start, stop = first * batch_size, min((first + run) * batch_size, count)
            steps_of_run = [(slice(i * batch_size, min((i + 1) * batch_size, stop - start)), None)
                            for i in range(run)]
        else:
            start, stop, steps_of_run = self.shards.run(first, run)
        window = self.rows.fill(start, stop)
        # A graph per shape of run: its steps are full batches but perhaps the last (the epoch's
        # smaller one: other rows, another loss slot and, on a shard, another share of the batch).
        shapes = [(rows.stop - rows.start, shard) for rows, shard in (steps_of_run[0], steps_of_run[-1])]
        key = (run, stop - start, *shapes, self.rows.generation)
        if not self.use_graphs:
            self._guarded(lambda: self._queue(window, steps_of_run))
        else:
            if key not in self.graphs:
                rows = steps_of_run[0][0]
                if rows.stop > rows.start:  # first calls allocate workspaces (a rank with no rows has none)
                    views = [view[rows] for view in window]
                    self.copy.warm_up(views[:self.inputs], views[self.inputs:])
                self.graphs[key] = self._guarded(lambda: self.device.capture(lambda: self._queue(window, steps_of_run)))
            self._guarded(lambda: self.device.launch(self.graphs[key]))
        model.steps.value += run
        model.optimizer.iterations += run
        return run

    def _guarded(self, work):
        """``work()``; under a distribution a device failure (an NCCL collective ended by a peer's
        abort) becomes a DistributedError with the failing rank's message."""
        if self.shards is None:
            return work()
        from axonal.distribution.nccl import device_failure

        try:
            return work()
        except _distribution.DistributedError:
            raise
        except Exception as error:  # noqa: BLE001 - reported with the other ranks' word on it
            raise device_failure(self.parallel, error, "a data-parallel run of steps") from error

    def _queue(self, window: list, steps_of_run: list) -> None:
        """The run's steps: each is a slice of the window's rows (views of every input's and
        output's rows) and, under a distribution, its shard ``(first_row, global_rows)``."""
        batch_size = self.batch_size
        for rows, shard in steps_of_run:
            global_rows = rows.stop - rows.start if shard is None else shard[1]
            slot = FULL if global_rows == batch_size else LAST
            views = [view[rows] for view in window]
            self.copy.train_step(views[:self.inputs], views[self.inputs:], slot, shard)

    def _timed_run_length(self, first: int) -> int:
        """Steps per run: about SECONDS_PER_RUN of eager steps, within the window's byte budget."""
        if self.shards is None:
            start, stop = first * self.batch_size, first * self.batch_size + _batch_rows(first, self.batch_size,
                                                                                       self.rows.count)
        else:
            start, stop, _ = self.shards.run(first, 1)
        window = self.rows.fill(start, stop)
        seconds = 0.0
        for _ in range(2 if stop > start else 0):  # the first call also initialises cuBLAS and loads kernels
            began = time.perf_counter()
            self.copy.warm_up(window[:self.inputs], window[self.inputs:])
            self.device.synchronize()
            seconds = time.perf_counter() - began
        row_bytes = sum(array.nbytes // max(len(array), 1) for array in self.rows.host)
        by_bytes = max(1, WINDOW_BYTES // (self.batch_size * row_bytes))
        return max(1, min(int(native_plan.SECONDS_PER_RUN / max(seconds, 1e-6)), by_bytes))

    def test_epoch(self, xs, ys, callback_list) -> dict[str, float]:
        """Validation after an epoch, on the device (its data uploaded once per fit)."""
        if self.validation is None:
            with self.device.activate():
                self.validation = _Rows(self.device, (*xs, *ys))
        return evaluate_rows(self.copy, self.validation, self.inputs, self.batch_size, callback_list)


def evaluate_rows(copy: DeviceModel, rows: _Rows, inputs: int, batch_size: int, callback_list) -> dict[str, float]:
    """Loss and metrics of ``rows`` (``inputs`` input arrays, then the targets) in inference mode,
    batch by batch (the logs are read after each batch, for the callbacks)."""
    callback_list.call("on_test_begin", None)
    model, logs = copy.model, {}
    with copy.device.activate():
        copy.reset_sums()
        for batch in range(math.ceil(rows.count / batch_size)):
            model._interrupts.check()
            callback_list.call("on_test_batch_begin", batch, None)
            start = batch * batch_size
            window = rows.fill(start, start + _batch_rows(batch, batch_size, rows.count))
            copy.test_step(window[:inputs], window[inputs:], FULL if len(window[0]) == batch_size else LAST)
            logs = copy.logs(*_progress(batch + 1, batch_size, rows.count), batch_size)
            callback_list.call("on_test_batch_end", batch, logs)
    callback_list.call("on_test_end", logs)
    return logs


def evaluate(model, xs, ys, batch_size: int, callback_list) -> dict[str, float]:
    """``evaluate`` on the device."""
    with model.device.activate():
        copy, rows = DeviceModel(model, training=False), _Rows(model.device, (*xs, *ys))
    return evaluate_rows(copy, rows, len(xs), batch_size, callback_list)


def predict(model, xs: list, batch_size: int, callback_list, device_array: bool) -> list:
    """``predict`` on the device: one numpy array per output, or the device arrays themselves."""
    device = model.device
    count = len(xs[0])
    with device.activate():
        copy, rows = DeviceModel(model, training=False), _Rows(device, tuple(xs))
        outs = [device.xp.empty((count,) + tuple(shape[1:]), dtype=np.float32) for shape in model.output_shapes]
        for batch in range(math.ceil(count / batch_size)):
            model._interrupts.check()
            callback_list.call("on_predict_batch_begin", batch, None)
            start = batch * batch_size
            inputs = rows.fill(start, start + _batch_rows(batch, batch_size, count))
            for out, result in zip(outs, copy.predictions(copy.forward(inputs, training=False))):
                out[start:start + len(inputs[0])] = result
            callback_list.call("on_predict_batch_end", batch, None)
        return outs if device_array else [device.download(out) for out in outs]


class DeviceExecutor:
    """Epochs and predictions of a cuda model, on its device, in batches of ``batch_size`` rows.
    The first training epoch uploads the model and the data of the fit (:class:`DeviceFit`)."""

    name = "the device"

    def __init__(self, model, batch_size: int):
        self.model, self.batch_size = model, batch_size
        self.fit: DeviceFit | None = None

    def train_epoch(self, xs, ys, weights, order, callback_list, epoch: int) -> dict[str, float]:
        if self.fit is None:
            self.fit = DeviceFit(self.model, xs, ys, self.batch_size)
        return self.fit.train_epoch(order, callback_list)

    def test_epoch(self, xs, ys, weights, callback_list) -> dict[str, float]:
        if self.fit is not None:  # validation: the fit's copy, the rows uploaded once per fit
            return self.fit.test_epoch(xs, ys, callback_list)
        return evaluate(self.model, xs, ys, self.batch_size, callback_list)

    def predict(self, xs, callback_list, device_array: bool = False) -> list:
        return predict(self.model, xs, self.batch_size, callback_list, device_array)
