"""The native executor: whole runs of batches in C++ (``cpp/training_loop.h``), the ``cpu`` backend's.

A Python training step costs tens of microseconds of interpreter time (layer calls, the losses,
the optimiser's loop over parameters, metrics) on top of its kernels: most of a step for the churn
model, a few percent of the seed MLP's. This executor hands the model's plan
(:mod:`~axonal.models.executors.native_plan`) to :class:`axonal._native.TrainingLoop` and runs
about :data:`~axonal.models.executors.native_plan.SECONDS_PER_RUN` of steps per call: training
steps, test batches (evaluate and validation), or forward passes written straight into
``predict``'s result. Between runs Python updates the progress bar, delivers a pending Ctrl-C and
honours ``stop_training``; batch hooks run once per run (its first batch, then its last), as
Keras' ``steps_per_execution`` calls them. Weights, optimiser state, losses and metrics are the
layer-by-layer executor's bits. Each run's thread count comes from the model's
:class:`~axonal.models.executors.threads.ThreadGovernor` (one call before and one after the run).
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from axonal import distribution as _distribution
from axonal.models.executors import native_plan, quick_predict, threads
from axonal.models.executors.layerwise import NO_CALLBACKS, make_logs


class NativeExecutor:
    """Epochs and predictions of ``model`` in batches of ``batch_size`` rows, in native runs."""

    name = "the native loop"

    def __init__(self, model, batch_size: int):
        self.model, self.batch_size = model, batch_size

    def train_epoch(self, xs, ys, weights, order, callback_list, epoch: int) -> dict[str, float]:
        """One training epoch over ``order`` (a permutation of the rows, or None)."""
        loop = native_plan.build_loop(self.model, self.batch_size)
        return self._epoch(loop, xs, ys, weights, order, callback_list, "on_train_batch_begin", "on_train_batch_end",
                           True)

    def test_epoch(self, xs, ys, weights, callback_list) -> dict[str, float]:
        """Loss and metrics of the rows in inference mode (the model's metrics are reset first)."""
        callback_list.call("on_test_begin", None)
        self.model.reset_metrics()
        loop = native_plan.build_test_loop(self.model, self.batch_size)
        logs = self._epoch(loop, xs, ys, weights, None, callback_list, "on_test_batch_begin", "on_test_batch_end",
                           False)
        callback_list.call("on_test_end", logs)
        return logs

    def predict(self, xs, callback_list, device_array: bool = False) -> list:
        """One array of predictions per output, one row per sample, filled run by run (the loop
        is the model's kept one: :func:`~axonal.models.executors.native_plan.inference_loop`)."""
        model, batch_size = self.model, self.batch_size
        loop, shapes = native_plan.inference_loop(model, batch_size)
        count = len(xs[0])
        predictions = [np.empty((count, *shape), dtype=np.float32) for shape in shapes]
        rows, outs = [_as_rows(x) for x in xs], [_as_rows(p) for p in predictions]
        if count <= batch_size and callback_list is NO_CALLBACKS:  # one batch, nothing watching
            model._interrupts.check()
            loop.predict(rows, outs, batch_size, 0, 1, native_plan.SECONDS_PER_RUN)
            quick_predict.issue(model, loop, batch_size, shapes)
            return predictions
        batches, batch = -(-count // batch_size), 0
        governor = threads.governor_for(model, "predict")
        while batch < batches:
            model._interrupts.check()
            callback_list.call("on_predict_batch_begin", batch, None)
            governor.begin()
            done = loop.predict(rows, outs, batch_size, batch, batches - batch, native_plan.SECONDS_PER_RUN)
            governor.end(min(done * batch_size, count - batch * batch_size))
            batch += done
            callback_list.call("on_predict_batch_end", batch - 1, None)
        return predictions

    def _epoch(self, loop, xs, ys, weights, order, callback_list, begin: str, end: str,
               train: bool) -> dict[str, float]:
        """Runs of training steps (``train``) or test batches over every row (``weights``: the rows'
        sample weights, or None); the logs."""
        model, batch_size = self.model, self.batch_size
        rows = [_as_rows(x) for x in xs]
        steps = math.ceil(len(xs[0]) / batch_size)
        optimizer = model.optimizer
        trackers = model.objective.loss_trackers
        loss_sum, seen, batch = 0.0, 0, 0
        parallel = _DataParallelRuns(_distribution.active()) if train else None
        governor = threads.governor_for(model, "train" if train else "test")  # the thread count of each run
        while batch < steps:
            if not train:
                model._interrupts.check()  # a Ctrl-C deferred by fit lands here, not after validation
            callback_list.call(begin, batch, None)
            max_steps, seconds, shard = steps - batch, native_plan.SECONDS_PER_RUN, {}
            if parallel is not None and parallel.distribution is not None:
                max_steps, seconds, shard = parallel.next_run(max_steps)
            governor.begin()
            with parallel.errors() if parallel is not None else contextlib.nullcontext():
                done, rows_seen, loss_sum, non_finite, totals, output_sums = loop.run(
                    rows, ys, order, batch_size, batch, max_steps, seconds, model.steps.value,
                    optimizer.iterations, optimizer.learning_rate, loss_sum, [tracker.total for tracker in trackers],
                    train, sample_weights=weights, **shard)
            governor.end(rows_seen)
            if parallel is not None:
                totals = parallel.end_run(done, totals)
            if train:
                optimizer.iterations += done
                model.steps.value += done
            native_plan.add_totals(model, totals, rows_seen)
            for tracker, total in zip(trackers, output_sums):
                tracker.total, tracker.count = total, tracker.count + rows_seen
            seen += rows_seen
            batch += done
            callback_list.call(end, batch - 1, make_logs(loss_sum / seen, model.metrics))
            if train:
                model._interrupts.check()
                if model.stop_training:
                    break
        return make_logs(loss_sum / seen, model.metrics)


class _DataParallelRuns:
    """A data-parallel fit's runs in the native loop: every rank must run the same steps in each
    run (each step joins collectives), so a run is a step count agreed from the slowest rank's
    step time rather than a time; the loop shards each global batch and sums gradients and losses
    through the reducer (``cpp/collectives.h``); each run's metric counts are summed here."""

    def __init__(self, distribution):
        self.distribution = distribution
        self.steps_per_run = 1  # the first run measures the step time
        self.started = 0.0

    def next_run(self, remaining: int) -> tuple[int, float, dict]:
        from axonal.distribution.native import make_reducer

        distribution = self.distribution
        self.started = time.perf_counter()
        shard = {"reducer": make_reducer(distribution), "shard_rank": distribution.rank,
                 "shard_count": distribution.size}
        return min(remaining, self.steps_per_run), math.inf, shard

    def errors(self):
        if self.distribution is None:
            return contextlib.nullcontext()
        from axonal.distribution.native import collective_errors

        return collective_errors(self.distribution.communicator, "a data-parallel training step")

    def end_run(self, done: int, totals) -> list:
        """The run's metric totals summed over the ranks (in rank order); the next run's length."""
        if self.distribution is None:
            return totals
        per_step = (time.perf_counter() - self.started) / max(done, 1)
        merged = self.distribution.communicator.allgather(np.array([*totals, per_step], dtype=np.float64),
                                                          "the metrics' reduction")
        summed = merged[0, :-1].copy()
        for part in merged[1:, :-1]:
            summed += part
        slowest = float(merged[:, -1].max())
        self.steps_per_run = max(1, int(native_plan.SECONDS_PER_RUN / max(slowest, 1e-9)))
        return summed.tolist()


def _as_rows(array):
    """A sample per row: (N, ...) viewed as (N, values per sample), as the native loop takes it."""
    return array if array.ndim == 2 else array.reshape(len(array), -1)
