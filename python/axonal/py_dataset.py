"""``PyDataset`` (Keras 3) and ``Sequence`` (its Keras 2 name): data served batch by batch by index.

``fit``, ``evaluate`` and ``predict`` read one batch per index from ``dataset[i]`` (see
:mod:`axonal.models.data_adapters`); ``shuffle=True`` in ``fit`` shuffles the order of the indices
each epoch; ``on_epoch_begin``/``on_epoch_end`` run around every epoch. ``workers > 1`` fetches
batches ahead in that many threads (at most ``max_queue_size`` waiting), in order.
"""
from __future__ import annotations

import itertools
import warnings

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class of datasets that give batch ``index`` from ``__getitem__``, as Keras' ``PyDataset``.

    A subclass implements ``__getitem__(index)``, returning ``(x, y)``, ``(x, y, sample_weight)``
    or ``(x,)`` for one batch, and ``__len__`` (the number of batches per epoch) or the
    ``num_batches`` property (None for an endless dataset, read with ``steps_per_epoch``).

    Args:
        workers: threads that fetch batches ahead of training (1: fetched when needed).
        use_multiprocessing: accepted for Keras' sake; axonal fetches in threads either way (a
            batch's NumPy work mostly runs without the GIL, and nothing needs pickling).
        max_queue_size: the most batches fetched ahead when ``workers > 1``.

    Example:
        >>> class Batches(PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return math.ceil(len(self.x) / self.batch_size)
        ...     def __getitem__(self, index):
        ...         rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        ...         return self.x[rows], self.y[rows]
        >>> model.fit(Batches(x, y, 64), epochs=3)  # doctest: +SKIP
    """

    _warn_without_super = True  # Keras 3 warns; Keras 2's Sequence had no __init__ to call

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _setting(self, name: str, default):
        if not hasattr(self, name):
            if self._warn_without_super:
                warnings.warn(f"Your `{type(self).__name__}` class should call `super().__init__(**kwargs)` in its "
                              "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                              "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be ignored.",
                              UserWarning, stacklevel=3)
            for attribute, value in (("_workers", 1), ("_use_multiprocessing", False), ("_max_queue_size", 10)):
                if not hasattr(self, attribute):
                    setattr(self, attribute, value)
        return getattr(self, name, default)

    @property
    def workers(self) -> int:
        """Threads fetching batches ahead (1: none)."""
        return self._setting("_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        """Accepted as in Keras; batches are fetched in threads."""
        return self._setting("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        """The most batches fetched ahead when ``workers > 1``."""
        return self._setting("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int):
        """Batch number ``index``: ``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(self, index) returning the "
                                  "batch at that position, e.g. (x_batch, y_batch).")

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch (``len(self)``); None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (batches per epoch) or the "
                                  "num_batches property (None for an endless dataset).")

    def __iter__(self):
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        indices = itertools.count() if count is None else range(count)
        for index in indices:
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before every epoch."""

    def on_epoch_end(self) -> None:
        """Called after every epoch (e.g. to reshuffle the samples behind the batches)."""


class Sequence(PyDataset):
    """Keras 2's name for :class:`PyDataset` (``keras.utils.Sequence``): the same class, without
    the warning about ``super().__init__()``, which Keras 2's Sequence did not need."""

    _warn_without_super = False
