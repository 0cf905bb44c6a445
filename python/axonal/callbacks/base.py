"""The Callback base class and History."""
from __future__ import annotations

from typing import Any


class Callback:
    """Base class; override the hooks you need. ``self.model`` is the model being run.

    Every hook Keras 3 defines exists here. ``on_train_batch_begin``/``on_train_batch_end`` call
    ``on_batch_begin``/``on_batch_end`` by default, as in Keras, so callbacks written against the
    older names still run. Setting ``self.model.stop_training = True`` in any training hook ends
    ``fit`` after the current batch (the epoch is then closed: validation and ``on_epoch_end`` run).

    Attributes:
        model: the model, set before the first hook.
        params: ``{"verbose", "epochs", "steps"}`` of the run.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
        >>> model.fit(x, y, epochs=3, callbacks=[PrintLoss()])  # doctest: +SKIP
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
        """Called at the end of each epoch with its training (and validation) results.

        Callbacks may add entries to ``logs`` (``ReduceLROnPlateau`` adds ``learning_rate``); the
        History, which runs last, records them.
        """

    def on_batch_begin(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_begin`, which calls it."""

    def on_batch_end(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_end`, which calls it."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running means so far."""
        self.on_batch_end(batch, logs=logs)

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


class History(Callback):
    """Records each epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one value per epoch.
        epoch: the epoch indices recorded.

    Example:
        >>> history = model.fit(x, y, epochs=5, validation_split=0.1)  # doctest: +SKIP
        >>> history.history["val_accuracy"][-1]  # doctest: +SKIP
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        # Set now, not only after an epoch: a run interrupted in its first epoch then leaves an
        # empty History on the model rather than the previous run's.
        self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self
