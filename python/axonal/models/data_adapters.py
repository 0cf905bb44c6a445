"""Data that comes in batches: a :class:`~axonal.py_dataset.PyDataset` (or ``Sequence``), a Python
generator or iterator, or any iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches.

:func:`is_batch_source` tells such data from arrays (which keep their own path in
:mod:`axonal.models.training`); :class:`BatchSource` serves its batches epoch by epoch with Keras 3's
rules (``keras.src.trainers.epoch_iterator``): without ``steps`` an epoch is the dataset's length
or runs until the iterator ends; with ``steps`` an epoch takes that many batches and the next one
continues where it stopped, starting over once a re-iterable source is used up; a source that runs
out before ``steps`` ends the epoch early with Keras' warning. :func:`prepare_batch` checks and
converts one batch with the same checks arrays get, naming the batch. The loops that feed the
prepared batches to the executors are in :mod:`axonal.models.batch_loops`.
"""
from __future__ import annotations

import collections
import itertools
import warnings
from typing import Any

import numpy as np

from axonal.models import data
from axonal.py_dataset import PyDataset

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches. (A generator that loops forever, "
           "`while True: ... yield x, y`, always can.)")


def is_batch_source(value: Any) -> bool:
    """Whether ``value`` gives batches (a PyDataset, an iterator or generator, an iterable that is no
    array, or a list of batch tuples) rather than the samples themselves."""
    if isinstance(value, np.ndarray) or value is None:  # the arrays' path costs one check
        return False
    if isinstance(value, PyDataset) or hasattr(value, "__next__"):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(_is_batch_tuple(item) for item in value)
    if isinstance(value, (dict, str, bytes)) or hasattr(value, "__array__") or hasattr(value, "toarray"):
        return False  # a dict of inputs, a tensor or DataFrame, a scipy.sparse matrix
    return hasattr(value, "__iter__")


def _is_batch_tuple(item: Any) -> bool:
    """A tuple ``(x,)``, ``(x, y)`` or ``(x, y, w)`` whose x holds samples (not a row of numbers)."""
    return (isinstance(item, tuple) and 1 <= len(item) <= 3
            and (isinstance(item[0], (dict, list, tuple)) or np.ndim(item[0]) >= 1))


def describe(value: Any) -> str:
    """What the source is, for messages: ``a generator``, ``a PyDataset (Batches)``, ..."""
    if isinstance(value, PyDataset):
        return f"a PyDataset ({type(value).__name__})"
    if hasattr(value, "__next__"):
        return "a generator" if hasattr(value, "gi_frame") else f"an iterator ({type(value).__name__})"
    return f"an iterable of batches ({type(value).__name__})"


class BatchSource:
    """The batches of one call, epoch by epoch.

    Args:
        source: the PyDataset, iterator or iterable.
        steps: batches per epoch (``steps_per_epoch``/``validation_steps``/``steps``), or None.
        shuffle: shuffle a PyDataset's batch order each epoch (with ``rng``); ignored otherwise,
            since a generator decides its own order.
        rng: the model's seeded generator.
        argument: the argument's name in messages (``x``, ``validation_data``).
    """

    def __init__(self, source: Any, steps: int | None, shuffle: bool, rng: np.random.Generator, argument: str):
        self.source, self.steps, self.rng, self.argument = source, steps, rng, argument
        self.description = describe(source)
        self.dataset = source if isinstance(source, PyDataset) else None
        self.num_batches = self._length()
        self.shuffle = bool(shuffle) and self.dataset is not None and self.num_batches is not None
        self.iterator = None  # kept across epochs when ``steps`` is given, as Keras keeps it
        self.seen = 0         # batches taken from ``iterator``
        self.ran_out = False  # the last epoch ended early (or got nothing)
        self.in_epoch = False
        self.pending: list = []  # a batch taken ahead (the first one, peeked to build the model)

    def _length(self) -> int | None:
        if self.dataset is not None:
            try:
                count = self.dataset.num_batches
            except NotImplementedError:
                count = None
            if count is not None and count < 1:
                raise ValueError(f"{self.argument} is {self.description} of length {count}: there is no batch to "
                                 "train on. Fix: make __len__ return the number of batches (at least 1).")
            return count
        if isinstance(self.source, (list, tuple)):
            return len(self.source)
        return None

    @property
    def steps_per_epoch(self) -> int | None:
        """The batches an epoch will hold, when known (the progress bar's target)."""
        return self.steps or self.num_batches

    def peek(self):
        """The coming epoch's first batch, taken now and served first by :meth:`epoch`; None when
        the source has no batch left."""
        self._start_epoch()
        if not self.pending:
            entry = self._next()
            if entry is None:
                return None
            self.pending.append(entry)
        return self.pending[0][1]

    def epoch(self):
        """The batches of one epoch as ``(step, raw batch)``, around the dataset's epoch hooks;
        ``ran_out`` tells afterwards whether the source ended before the epoch's steps."""
        self._start_epoch()
        limit, taken, finished = self.steps_per_epoch, 0, False
        try:
            while limit is None or taken < limit:
                entry = self.pending.pop(0) if self.pending else self._next()
                if entry is None:
                    self.ran_out = self.steps is not None or taken == 0
                    break
                yield taken, entry[1]
                taken += 1
            finished = True
        finally:
            if finished and self.num_batches is None and self.steps is None:
                self.num_batches = taken  # an unknown epoch length is found by running out, as in Keras
            if not finished or self.steps is None or self._used_up():
                self._close()  # the next epoch starts over (with steps, Keras goes on where it stopped)
            self.in_epoch = False
            if self.dataset is not None:
                self.dataset.on_epoch_end()

    def close(self) -> None:
        """Stop the fetching threads, if any (end of the call)."""
        self.pending.clear()
        self._close()

    def _start_epoch(self) -> None:
        if not self.in_epoch:
            self.in_epoch, self.ran_out = True, False
            if self.iterator is None:
                self.iterator, self.seen = self._new_iterator(), 0
            if self.dataset is not None:
                self.dataset.on_epoch_begin()

    def _used_up(self) -> bool:
        return self.num_batches is not None and self.seen >= self.num_batches

    def _next(self):
        """``(index, batch)`` from the iterator, or None when it is used up."""
        if self.steps is not None and self._used_up():
            return None
        if self.iterator is None:  # used up earlier in this epoch
            return None
        try:
            entry = next(self.iterator)
        except StopIteration:
            self._close()  # a re-iterable source starts over next epoch; a generator stays empty
            return None
        self.seen += 1
        return entry

    def _close(self) -> None:
        if hasattr(self.iterator, "close"):
            self.iterator.close()
        self.iterator = None

    def _new_iterator(self):
        if self.dataset is None:
            return enumerate(iter(self.source))
        count = self.num_batches
        indices = itertools.count() if count is None else np.arange(count)
        if self.shuffle:
            indices = self.rng.permutation(count)
        return _fetch(self.dataset, (int(i) for i in indices), self.argument, self.description)


def _fetch(dataset: PyDataset, indices, argument: str, description: str):
    """``(index, dataset[index])`` in order; fetched ahead in threads when the dataset asks for workers."""
    workers = int(dataset.workers or 1)
    if workers <= 1 and not dataset.use_multiprocessing:
        for index in indices:
            yield index, _get(dataset, index, argument, description)
        return
    import concurrent.futures  # only datasets with workers need it: kept out of `import axonal`

    queue_size = max(1, int(dataset.max_queue_size or 1))
    with concurrent.futures.ThreadPoolExecutor(max(workers, 1), thread_name_prefix="axonal-batches") as pool:
        pending = collections.deque()
        try:
            for index in itertools.islice(indices, queue_size):
                pending.append((index, pool.submit(_get, dataset, index, argument, description)))
            while pending:
                index, future = pending.popleft()
                following = next(indices, None)
                if following is not None:
                    pending.append((following, pool.submit(_get, dataset, following, argument, description)))
                yield index, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _get(dataset: PyDataset, index: int, argument: str, description: str):
    try:
        return dataset[index]
    except Exception as error:
        error.add_note(f"(raised by {type(dataset).__name__}[{index}]: batch {index} of {argument}, {description})")
        raise


def unpack(batch: Any, index: int, where: str, need_targets: bool) -> tuple[Any, Any, Any]:
    """``(x, y or None, sample_weight or None)`` from one batch as Keras reads it: a tuple or list
    of 1 to 3 items, or the inputs alone (an array, or a dict keyed by input name)."""
    if isinstance(batch, np.ndarray) or isinstance(batch, dict):
        batch = (batch,)
    elif isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or not 1 <= len(batch) <= 3:
        shown = f"a tuple of {len(batch)} items" if isinstance(batch, tuple) else f"{type(batch).__name__} {batch!r:.80}"
        raise ValueError(f"{where}: batch {index} must be a tuple (inputs,), (inputs, targets) or (inputs, targets, "
                         f"sample_weights), received {shown}. Fix: yield / return e.g. (x_batch, y_batch).")
    x, y, weights = batch + (None,) * (3 - len(batch))
    if need_targets and y is None:
        raise ValueError(f"{where}: batch {index} has no targets (it is {'(inputs,)' if len(batch) == 1 else 'inputs, None'}), "
                         "but the model needs labels to compute its loss. Fix: yield (x_batch, y_batch).")
    return x, y, weights


class PreparedBatch:
    """One batch checked and converted as arrays are: ``xs`` per input, ``ys`` per output (None for
    predict), ``weights`` (N,) or None."""

    __slots__ = ("xs", "ys", "weights", "rows")

    def __init__(self, xs: list, ys: list | None, weights):
        self.xs, self.ys, self.weights, self.rows = xs, ys, weights, len(xs[0])

    def owned(self, raw: Any) -> "PreparedBatch":
        """This batch with copies of the arrays that may share memory with the batch as received
        (a generator may fill one buffer again for its next batch while this one waits in a chunk)."""
        leaves = [leaf for leaf in _leaves(raw) if isinstance(leaf, np.ndarray)]

        def own(array):
            return array.copy() if any(np.may_share_memory(array, leaf) for leaf in leaves) else array
        return PreparedBatch([own(a) for a in self.xs], None if self.ys is None else [own(a) for a in self.ys],
                             None if self.weights is None else own(self.weights))


def _leaves(value: Any):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def prepare_batch(model, batch: Any, index: int, where: str, need_targets: bool,
                  class_weight: Any = None, first: bool = False) -> PreparedBatch:
    """Check and convert one batch with the arrays' checks (:mod:`axonal.models.data`); a refused
    batch raises the same message, prefixed with ``where`` and the batch index. The ``first``
    batch of a call builds an unbuilt model and resolves the compiled losses for its outputs."""
    x, y, weights = unpack(batch, index, where, need_targets)
    try:
        xs = data.prepare_inputs(model, x)
        if first:
            model._configure_output()
        if not need_targets:
            return PreparedBatch(xs, None, None)
        ys = data.prepare_targets(model, y, xs)
        if class_weight is not None and weights is not None:
            raise ValueError("this batch has sample weights (its third item) and class_weight was given; both "
                             "cannot be used together (as in Keras). Fix: fold the class weights into the "
                             "batches' sample weights, or yield (x, y) batches.")
        weight_array = data.sample_weights(weights, class_weight, ys, output_shape=model.output_shapes[0])
        return PreparedBatch(xs, ys, weight_array)
    except (ValueError, TypeError) as error:
        error.args = (f"{where}: batch {index}: {error.args[0] if error.args else error}",) + error.args[1:]
        raise


def check_arguments(method: str, source: Any, **given) -> None:
    """Keras' rule: with batches from a source, the arguments that describe arrays must be left out
    (the batches carry the targets and weights, and set their own size)."""
    fixes = {"y": "the targets must be part of each batch: yield (x_batch, y_batch)",
             "sample_weight": "the weights must be part of each batch: yield (x_batch, y_batch, weights)",
             "batch_size": "the source sets the batch size: leave batch_size out",
             "validation_split": "split the data before making the batches, and pass validation_data"}
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{method}(): x is {describe(source)}, so {name} must not be given (received "
                             f"{name}={value!r:.60}). Fix: {fixes[name]}.")


def check_steps(steps: Any, argument: str) -> int | None:
    """``steps_per_epoch``/``validation_steps``/``steps``: None or a positive integer."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{argument} must be None or a positive integer (batches per epoch), received {steps!r}. "
                         f"Fix: e.g. {argument}=len(x_train) // batch_size.")
    return int(steps)


def warn_ran_out(stacklevel: int = 4) -> None:
    """Keras' warning when a source runs out of batches before ``steps`` (or gives none)."""
    warnings.warn(RAN_OUT, UserWarning, stacklevel=stacklevel)
