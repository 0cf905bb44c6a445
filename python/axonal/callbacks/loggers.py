"""Callbacks that report a run: the progress bar, per-epoch timings and a CSV log."""
from __future__ import annotations

import csv
import os
import time
from typing import Any

from axonal.callbacks.base import Callback
from axonal.distribution.files import writes_files
from axonal.utils import Progbar


class ProgbarLogger(Callback):
    """Prints progress: ``Epoch 1/5`` then one bar per epoch (see :class:`axonal.utils.Progbar`).

    ``fit`` adds one when ``verbose`` is 1 or 2. Validation inside ``fit`` is silent; ``evaluate``
    and ``predict`` get a bar of their own.
    """

    def __init__(self):
        super().__init__()
        self.progbar: Progbar | None = None
        self._in_fit = False

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.params["epochs"] > 1:  # Keras omits the header for a single epoch
            print(f"Epoch {epoch + 1}/{self.params['epochs']}", flush=True)
        self._start_bar()

    def on_train_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1, list((logs or {}).items()))

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.params["steps"], list((logs or {}).items()), finalize=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start_bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self.progbar.update(batch + 1, list((logs or {}).items()))

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self.progbar.update(self.params["steps"], list((logs or {}).items()), finalize=True)

    def on_predict_begin(self, logs=None):
        self._start_bar()

    def on_predict_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1)

    def on_predict_end(self, logs=None):
        self.progbar.update(self.params["steps"], finalize=True)

    def _start_bar(self) -> None:
        self.progbar = Progbar(target=self.params["steps"], verbose=self.params["verbose"])


class EpochTimer(Callback):
    """Records the wall-clock seconds of every epoch in ``seconds`` (an axonal extra, not in Keras).

    Example:
        >>> timer = EpochTimer()
        >>> model.fit(x, y, epochs=3, callbacks=[timer])  # doctest: +SKIP
        >>> timer.seconds  # doctest: +SKIP
        [1.52, 1.49, 1.50]
    """

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class CSVLogger(Callback):
    """Writes one row per epoch (``epoch`` 0-based, then the logs) to a CSV file, as Keras does.

    The columns are ``epoch`` and the first epoch's log keys in alphabetical order; a key missing
    from a later epoch is written as ``NA``. The file is flushed after every row, so it can be
    followed while training runs, and closed when ``fit`` ends.

    Args:
        filename: path of the CSV file, e.g. ``"run/log.csv"`` (its folder must exist).
        separator: the field delimiter.
        append: add to an existing file (without repeating its header) instead of replacing it,
            for a training run that continues an earlier one.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[CSVLogger("training.csv")])  # doctest: +SKIP
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger separator must be one character, received {separator!r}. "
                             "Fix: pass e.g. separator=';'.")
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._close()
        if not writes_files():  # under a distribution only rank 0 writes (every rank logs the same)
            return
        has_content = (self.append and os.path.isfile(self.filename)
                       and os.path.getsize(self.filename) > 0)
        self._write_header = not has_content
        # newline="" lets the csv module choose the line ends, as its documentation asks.
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys],
                                          delimiter=self.separator, extrasaction="ignore")
            if self._write_header:
                self._writer.writeheader()
        row: dict[str, Any] = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._writer = None
