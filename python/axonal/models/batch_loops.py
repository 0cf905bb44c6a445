"""``fit``, ``evaluate`` and ``predict`` on data that comes in batches (:mod:`.data_adapters`).

Each batch is checked and converted as arrays are, then consecutive batches of one size are joined
into a *chunk* (up to :data:`CHUNK_BATCHES` batches, :data:`CHUNK_BYTES` bytes, or what arrived in
:data:`CHUNK_SECONDS`), and the chunk runs through the executor that the arrays would get
(:mod:`axonal.models.executors`: the native loop on ``cpu``, the device on ``cuda``) as one
``train_epoch``/``test_epoch``/``predict`` call over its rows in order. Per-batch executor calls
would pay the loop's set-up for every batch; a chunk pays it once for many, while a slow source
(heavy augmentation) still sends each batch as soon as it is ready.

The executors number batches and average the loss within their call; :class:`_Relay` renumbers
their batch hooks from the epoch's start and turns their logs into the epoch's running logs, so
callbacks and the progress bar see what an epoch over arrays shows.
"""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np

from axonal import distribution as _distribution
from axonal.callbacks import CallbackList, History
from axonal.distribution import fitting
from axonal.models import executors
from axonal.models.data_adapters import BatchSource, PreparedBatch, prepare_batch, warn_ran_out
from axonal.models.executors.device import DeviceExecutor
from axonal.models.executors.layerwise import make_logs, sorted_logs
from axonal.models.executors.native_plan import SECONDS_PER_RUN

CHUNK_BATCHES = 64        # the most batches joined into one executor call
CHUNK_BYTES = 16 << 20    # ... and the most bytes of inputs and targets
CHUNK_SECONDS = SECONDS_PER_RUN  # a chunk is sent once its batches took this long to arrive
VALIDATION_BATCH_SIZE = 32  # for validation arrays when the training data sets no batch size (Keras' default)


class _Chunk:
    """Consecutive batches of one size (the last may be smaller) as one set of arrays."""

    def __init__(self, first_step: int):
        self.first_step, self.batches, self.nbytes = first_step, [], 0
        self.started = time.perf_counter()

    @property
    def batch_size(self) -> int:
        return self.batches[0].rows

    def accepts(self, batch: PreparedBatch) -> bool:
        return not self.batches or batch.rows <= self.batch_size

    def add(self, batch: PreparedBatch) -> bool:
        """Add ``batch``; whether the chunk is complete."""
        self.batches.append(batch)
        self.nbytes += sum(a.nbytes for a in batch.xs) + sum(a.nbytes for a in batch.ys or [])
        # Under a distribution every rank must cut the same chunks (each runs the same collectives):
        # no time limit there, only what the batches themselves say.
        timed = _distribution.active() is None
        return (batch.rows < self.batch_size or len(self.batches) >= CHUNK_BATCHES or self.nbytes >= CHUNK_BYTES
                or (timed and time.perf_counter() - self.started >= CHUNK_SECONDS))

    def arrays(self):
        """``(xs, ys, weights, rows)`` of the whole chunk."""
        batches = self.batches
        if len(batches) == 1:
            only = batches[0]
            return only.xs, only.ys, only.weights, only.rows

        def join(pick):
            return np.concatenate([pick(b) for b in batches])
        xs = [join(lambda b, i=i: b.xs[i]) for i in range(len(batches[0].xs))]
        ys = None if batches[0].ys is None else [join(lambda b, i=i: b.ys[i]) for i in range(len(batches[0].ys))]
        weights = None if batches[0].weights is None else join(lambda b: b.weights)
        return xs, ys, weights, sum(b.rows for b in batches)


def _chunks(model, source: BatchSource, where: str, need_targets: bool, class_weight=None):
    """The epoch's batches, prepared, as chunks; one warning of each kind per call."""
    chunk, weighted, said = None, None, set()
    for step, raw in source.epoch():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batch = prepare_batch(model, raw, step, where, need_targets, class_weight)
        for warning in caught:  # the label checks warn once per call on arrays: the same here
            if warning.category not in said:
                said.add(warning.category)
                warnings.warn(warning.message, warning.category, stacklevel=5)
        if weighted is None:
            weighted = batch.weights is not None
        elif weighted != (batch.weights is not None):
            raise ValueError(f"{where}: batch {step} {'lacks' if weighted else 'has'} sample weights but the first "
                             f"batch {'had' if weighted else 'had none'}. Fix: give every batch the same form, "
                             "(x, y) or (x, y, sample_weight).")
        if chunk is not None and not chunk.accepts(batch):
            yield chunk
            chunk = None
        if chunk is None:
            chunk = _Chunk(step)
        if chunk.add(batch.owned(raw)):
            yield chunk
            chunk = None
    if chunk is not None:
        yield chunk


class _Tally:
    """The epoch's running loss across chunks (each executor call averages its own rows), and on
    the device the metric counts that each of its calls restarts from zero."""

    def __init__(self, model, device: bool):
        self.model, self.device = model, device
        self.loss_sum, self.seen, self.base = 0.0, 0, []

    def start_chunk(self) -> None:
        if self.device:
            self.base = [(metric.total, metric.count) for metric in self.model.metrics]

    def running(self, logs: dict, rows: int) -> dict:
        """The epoch's logs after ``rows`` rows of the current chunk, whose own logs are ``logs``."""
        loss = (self.loss_sum + logs["loss"] * rows) / (self.seen + rows)
        if not self.device:
            return sorted_logs({**logs, "loss": loss})
        for metric, (total, count) in zip(self.model.metrics, self.base):
            metric.total, metric.count = metric.total + total, metric.count + count
        return make_logs(loss, self.model.metrics)

    def end_chunk(self, logs: dict, rows: int) -> None:
        self.loss_sum += logs["loss"] * rows
        self.seen += rows

    def logs(self) -> dict:
        return make_logs(self.loss_sum / max(self.seen, 1), self.model.metrics)


class _Relay:
    """The callback list as one chunk's executor sees it: batch numbers counted from the epoch's
    start, running logs over the whole epoch, and ``on_test_begin``/``on_test_end`` left to the
    loop (said once per evaluation, not once per chunk)."""

    def __init__(self, callback_list, tally: _Tally | None, first_step: int, batch_size: int, rows: int):
        self.target, self.tally = callback_list, tally
        self.callbacks = callback_list.callbacks
        self.first_step, self.batch_size, self.rows = first_step, batch_size, rows
        self.rows_done = 0

    def call(self, hook: str, *args) -> None:
        if hook in ("on_test_begin", "on_test_end"):
            return
        if hook.endswith("_batch_begin") or hook.endswith("_batch_end"):
            batch, logs = args
            if hook.endswith("_end"):
                self.rows_done = min((batch + 1) * self.batch_size, self.rows)
                if logs is not None and self.tally is not None:
                    logs = self.tally.running(logs, self.rows_done)
            self.target.call(hook, self.first_step + batch, logs)
            return
        self.target.call(hook, *args)


class _Executors:
    """One executor decision per call (said once, by ``choose``), then one executor of that kind
    per chunk: the device executor keeps the first rows it is given for the rest of its life."""

    def __init__(self, model, choose):
        self.model, self.choose, self.kind = model, choose, None

    def get(self, xs, ys, weights, batch_size: int):
        if self.kind is None:
            executor = self.choose(xs, ys, weights, batch_size)
            self.kind = type(executor)
            return executor
        return self.kind(self.model, batch_size)


@contextlib.contextmanager
def _metrics_kept(model):
    """``test_epoch`` resets the metrics first, right for one call over every row; the chunks of
    one evaluation must keep counting, so the reset is skipped while they run."""
    model.reset_metrics = lambda: None
    try:
        yield
    finally:
        del model.reset_metrics


def train_epoch(model, source: BatchSource, where: str, class_weight, callback_list, runner: _Executors,
                epoch: int) -> dict:
    """One epoch of training steps over the source's batches, chunk by chunk."""
    tally = None
    for chunk in _chunks(model, source, where, True, class_weight):
        xs, ys, weights, rows = chunk.arrays()
        fitting.agree_on_chunk(rows, chunk.batch_size)
        executor = runner.get(xs, ys, weights, chunk.batch_size)
        if tally is None:
            tally = _Tally(model, isinstance(executor, DeviceExecutor))
        relay = _Relay(callback_list, tally, chunk.first_step, chunk.batch_size, rows)
        tally.start_chunk()
        logs = executor.train_epoch(xs, ys, weights, None, relay, epoch)
        tally.end_chunk(logs, relay.rows_done)
        if model.stop_training:
            break
    fitting.agree_on_chunk(0, 0)  # the epoch's end: every rank's source must end here too
    return tally.logs()


def test_pass(model, source: BatchSource, where: str, callback_list, runner: _Executors,
              standalone: bool = False) -> dict | None:
    """Loss and metrics over one epoch of the source's batches, in inference mode; None when the
    source had no batch left. ``standalone``: an ``evaluate`` (its progress bar learns the length
    of a source that had none), not a fit's validation."""
    callback_list.call("on_test_begin", None)
    model.reset_metrics()
    tally = None
    with _metrics_kept(model):
        for chunk in _chunks(model, source, where, True):
            model._interrupts.check()
            xs, ys, weights, rows = chunk.arrays()
            executor = runner.get(xs, ys, weights, chunk.batch_size)
            if tally is None:
                tally = _Tally(model, isinstance(executor, DeviceExecutor))
            relay = _Relay(callback_list, tally, chunk.first_step, chunk.batch_size, rows)
            tally.start_chunk()
            tally.end_chunk(executor.test_epoch(xs, ys, weights, relay), relay.rows_done)
    logs = None if tally is None else tally.logs()
    if standalone:
        found_steps(callback_list, source)
    callback_list.call("on_test_end", logs)
    return logs


def testing_executors(model, callbacks, method: str) -> _Executors:
    return _Executors(model, lambda xs, ys, w, size: executors.for_testing(model, xs, ys, w, size, callbacks, method))


def found_steps(callback_list, source: BatchSource) -> None:
    """Give the progress bar the epoch length once the source's end has shown it."""
    for callback in callback_list.callbacks:
        if callback.params.get("steps") is None and source.num_batches is not None:
            callback.params["steps"] = source.num_batches


def _check_first_batch(model, source: BatchSource, where: str, need_targets: bool, class_weight=None) -> None:
    """Refuse a source that gives no batch; check the first one (which builds an unbuilt model)."""
    first = source.peek()
    if first is None:
        expected = "(x_batch, y_batch) tuples" if need_targets else "input batches"
        raise ValueError(f"{where} gave no batch. Fix: check that it yields {expected}.")
    prepare_batch(model, first, 0, where, need_targets, class_weight, first=True)


def fit(model, source: BatchSource, epochs: int, initial_epoch: int, verbose: int, callbacks: list,
        validation, class_weight, schedule) -> History:
    """``fit`` over a batch source. ``validation`` is None, prepared arrays ``(xs, ys, weights)``
    or a :class:`BatchSource`, run after the epochs ``schedule`` (a ``data.ValidationSchedule``) says."""
    where = f"fit(): x ({source.description})"
    _check_first_batch(model, source, where, True, class_weight)
    distributed = _distribution.active() is not None
    if distributed:  # every rank reads the same batches; each trains on its shard of each (docs/distributed.md)
        fitting.refuse_unsupported(model)
        fitting.check_agreement(model, [], [], None, source=source.description, batches=source.num_batches,
                                steps=source.steps_per_epoch, epochs=epochs, initial_epoch=initial_epoch)
        fitting.broadcast_state(model)
        verbose = fitting.quiet_unless_chief(verbose)
    history = History()
    callback_list = CallbackList([*callbacks, history], model, verbose, epochs, source.steps_per_epoch)
    model.stop_training = False
    runner = _Executors(model, lambda xs, ys, w, size: executors.for_training(model, xs, ys, w, size,
                                                                              callback_list.callbacks))
    tester, warned, logs = None, False, {}
    callback_list.call("on_train_begin", None)
    try:
        for epoch in range(initial_epoch, epochs):
            if source.peek() is None:  # a generator used up by the epochs before
                if not warned:
                    warn_ran_out()
                break
            callback_list.call("on_epoch_begin", epoch, None)
            model.reset_metrics()
            logs = train_epoch(model, source, where, class_weight, callback_list, runner, epoch)
            fitting.average_batch_statistics(model)
            if source.ran_out and not warned:
                warned = True
                warn_ran_out()
            found_steps(callback_list, source)
            if validation is not None and schedule.validates(epoch):
                if tester is None:
                    tester = validation_runner(model, validation, schedule.batch_size or VALIDATION_BATCH_SIZE,
                                               callback_list)
                validation_logs = tester()
                logs = sorted_logs({**logs, **{f"val_{k}": v for k, v in validation_logs.items()}})
            callback_list.call("on_epoch_end", epoch, logs)
            if model.stop_training:
                break
    finally:
        source.close()
        if isinstance(validation, BatchSource):
            validation.close()
    if distributed:
        fitting.reconcile_weights(model)
    callback_list.call("on_train_end", logs)
    return history


def validation_runner(model, validation, batch_size: int, callback_list, fit_executor=None):
    """A function returning the validation logs after an epoch: ``validation`` is a
    :class:`BatchSource` or prepared arrays ``(xs, ys, weights)`` (``fit_executor``: the fit's own
    executor over arrays, reused where it can run them). A validation generator used up by the
    epochs before gives no logs: Keras' warning, and training stops after this epoch."""
    if isinstance(validation, BatchSource):
        runner = testing_executors(model, callback_list.callbacks, "fit validation")
        where = f"fit(): validation_data ({validation.description})"

        def validate():
            logs = test_pass(model, validation, where, callback_list, runner)
            if logs is None:
                warn_ran_out(stacklevel=5)
                model.stop_training = True
            return logs or {}
        return validate
    tester = executors.for_testing(model, *validation, batch_size, callback_list.callbacks, "fit validation",
                                   fit_executor)
    return lambda: tester.test_epoch(*validation, callback_list)


def evaluate(model, source: BatchSource, verbose: int, callbacks: list) -> dict:
    """``evaluate`` over a batch source: the logs."""
    where = f"evaluate(): x ({source.description})"
    _check_first_batch(model, source, where, True)
    # Under a distribution every rank evaluates every batch: the same numbers everywhere, rank 0 prints.
    callback_list = CallbackList(callbacks, model, fitting.quiet_unless_chief(verbose), 1, source.steps_per_epoch)
    try:
        runner = testing_executors(model, callback_list.callbacks, "evaluate")
        logs = test_pass(model, source, where, callback_list, runner, standalone=True)
    finally:
        source.close()
    if source.ran_out and source.steps is not None:
        warn_ran_out()
    return logs


def predict(model, source: BatchSource, verbose: int, callbacks: list) -> list:
    """``predict`` over a batch source: one array per output, the batches' rows in order."""
    where = f"predict(): x ({source.description})"
    _check_first_batch(model, source, where, False)
    callback_list = CallbackList(callbacks, model, fitting.quiet_unless_chief(verbose), 1, source.steps_per_epoch)
    runner = _Executors(model, lambda xs, ys, w, size: executors.for_prediction(model, xs, size,
                                                                                callback_list.callbacks))
    parts = []
    callback_list.call("on_predict_begin", None)
    try:
        for chunk in _chunks(model, source, where, False):
            xs, _, _, rows = chunk.arrays()
            executor = runner.get(xs, None, None, chunk.batch_size)
            parts.append(executor.predict(xs, _Relay(callback_list, None, chunk.first_step, chunk.batch_size, rows)))
    finally:
        source.close()
    found_steps(callback_list, source)
    callback_list.call("on_predict_end", None)
    if source.ran_out and source.steps is not None:
        warn_ran_out()
    return [np.concatenate(outputs) if len(outputs) > 1 else outputs[0] for outputs in zip(*parts)]
