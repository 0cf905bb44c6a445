"""Callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call as they run, as in Keras.

``logs`` dicts hold running means over the epoch so far: ``loss`` and each metric during
training, plus ``val_loss`` and ``val_<metric>`` at the end of an epoch with validation data.

Example:
    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, logs["loss"])
    >>> model.fit(x, y, epochs=3, callbacks=[PrintLoss()])
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from axonal.utils import Progbar


class Callback:
    """Base class; override the hooks you need. ``self.model`` is the model being run.

    Attributes:
        model: the model, set before the first hook.
        params: ``{"verbose", "epochs", "steps"}`` of the run.
    """

    def __init__(self):
        self.model = None
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit`` with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch with its training (and validation) results."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch (0-based within the epoch)."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running means so far."""

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` and of each validation pass."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` and of each validation pass."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch with the running means so far."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch."""


class CallbackList:
    """The callbacks of one run, plus the progress bar when ``verbose`` asks for one.

    Args:
        callbacks: the user's callbacks (may include a History, which then records the run).
        model: the model being run.
        verbose: 0, 1 or 2 (``"auto"`` already resolved).
        epochs: number of epochs (1 for evaluate/predict).
        steps: number of batches per epoch.
    """

    def __init__(self, callbacks: Iterable[Callback] | None, model, verbose: int, epochs: int, steps: int):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be axonal.callbacks.Callback instances, received "
                                f"{callback!r}. Fix: subclass Callback and override its hooks.")
        if verbose and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def call(self, hook: str, *args) -> None:
        """Run hook ``hook`` (e.g. ``"on_epoch_end"``) on every callback, in order."""
        for callback in self.callbacks:
            getattr(callback, hook)(*args)


class History(Callback):
    """Records each epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one value per epoch.
        epoch: the epoch indices recorded.

    Example:
        >>> history = model.fit(x, y, epochs=5, validation_split=0.1)
        >>> history.history["val_accuracy"][-1]
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


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


class ProgbarLogger(Callback):
    """Prints progress: ``Epoch 1/5`` then one bar per epoch (see :class:`axonal.utils.Progbar`).

    Validation inside ``fit`` is silent; ``evaluate`` and ``predict`` get a bar of their own.
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
