"""Callbacks that watch a logged quantity: the MonitorCallback base, EarlyStopping, TerminateOnNaN."""
from __future__ import annotations

import math
import warnings

import numpy as np

from axonal.callbacks.base import Callback

# Metric names (without ``val_``) whose better values are larger; everything else in
# _LOWER_IS_BETTER is an error to minimise. A metric object may also say so itself with a
# ``direction`` attribute of "up" or "down", which wins over the name.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall")
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "mse", "mae", "hinge")


class MonitorCallback(Callback):
    """Base of callbacks that compare a logged quantity with the best value seen so far.

    Args:
        monitor: the log key to watch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"``, ``"max"``, or ``"auto"`` to infer the direction from the name (losses
            and errors are minimised, accuracies maximised).
        baseline: an initial best value, or None to take the first value seen.
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__} mode must be 'auto', 'min' or 'max', received "
                             f"mode={mode!r}. Fix: pass mode='min' for losses, mode='max' for accuracies.")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(f"{type(self).__name__} min_delta must be a number, received {min_delta!r}.")
        self.monitor = monitor
        self.mode = mode
        self.baseline = baseline
        self.best = baseline
        self.min_delta = abs(float(min_delta))
        self.direction: str | None = None  # "min" or "max", resolved when the model is known

    def _resolve_direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        for metric in getattr(self.model, "metrics", None) or []:
            if getattr(metric, "name", None) == name and getattr(metric, "direction", None) in ("up", "down"):
                return "max" if metric.direction == "up" else "min"
        if name == "loss" or any(part in name for part in _LOWER_IS_BETTER):
            return "min"
        if any(part in name for part in _HIGHER_IS_BETTER):
            return "max"
        raise ValueError(f"{type(self).__name__} cannot tell whether monitor={self.monitor!r} should go "
                         "up or down. Fix: pass mode='max' (higher is better) or mode='min'.")

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta`` (None: always)."""
        if self.direction is None:
            self.direction = self._resolve_direction()
        if reference is None:
            return True
        if self.direction == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def _monitored_value(self, logs) -> float | None:
        """The monitored value from ``logs``, or None (with a warning) when it is not logged."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} is conditioned on {self.monitor!r}, which is not in the "
                          f"logs; available keys: {', '.join(logs or {}) or 'none'}. Fix: pass one of "
                          "them as monitor=, or give fit() validation data for a 'val_' key.", stacklevel=3)
        return value


class EarlyStopping(MonitorCallback):
    """Stops training when the monitored quantity has stopped improving, as Keras 3 does.

    Each epoch from ``start_from_epoch`` on, an improvement (by more than ``min_delta``) resets the
    wait; ``patience`` epochs in a row without one stop the run. With a ``baseline``, an epoch must
    also beat the baseline to reset the wait. With ``restore_best_weights``, the weights of the best
    epoch are put back when training ends, whether the callback stopped it or the epochs ran out.

    Args:
        monitor: log key to watch.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a line when stopping and when restoring.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :class:`MonitorCallback`).
        baseline: value the monitored quantity must beat, or None.
        restore_best_weights: put back the best epoch's weights at the end of training.
        start_from_epoch: epochs of warm-up to ignore before monitoring.

    Attributes:
        stopped_epoch: the 0-based epoch at which training was stopped (0 when it was not).
        best_epoch: the 0-based epoch with the best value.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, epochs=100, validation_split=0.1, callbacks=[stop])  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, None, min_delta)
        self.patience = _non_negative_int(patience, "patience")
        self.start_from_epoch = _non_negative_int(start_from_epoch, "start_from_epoch")
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # Reset so that one instance can serve several fit() calls, as in Keras.
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights, self.direction = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitored_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first monitored epoch is the best so far, whatever the baseline says.
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.",
                      flush=True)
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stops training at the batch whose loss is NaN or infinite, and says which.

    The loss it reads is the epoch's running mean, which turns non-finite at the very batch whose
    own loss does, so the run stops after that batch: its update is applied (the weights are then
    likely NaN too; :class:`ModelCheckpoint` does not save them), the epoch is closed as Keras
    closes it (validation and ``on_epoch_end`` run) and training ends. To stop *before* a bad
    update is applied, and learn which layer produced it, use ``compile(check_numerics=True)``.

    Args:
        raise_error: raise a RuntimeError at once (no further hooks run) instead of stopping
            gracefully with ``model.stop_training``.

    Attributes:
        stopped_epoch, stopped_batch: where it stopped the run (0-based), or None.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[TerminateOnNaN()])  # doctest: +SKIP
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error
        self.stopped_epoch: int | None = None
        self.stopped_batch: int | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.stopped_epoch = self.stopped_batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        self.stopped_epoch, self.stopped_batch = self._epoch, batch
        where = f"epoch {self._epoch + 1}, batch {batch}"
        if self.raise_error:
            raise RuntimeError(f"Loss became {loss} at batch {batch} ({where}). Fix: lower the learning rate, "
                               "scale the inputs, or check the labels for bad values.")
        # Keras' line first, then where and what, for people who grep logs for either.
        print(f"Batch {batch}: Invalid loss, terminating training ({where}: loss {loss}; this batch's "
              "update was applied)", flush=True)
        self.model.stop_training = True


def _non_negative_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{argument} must be a non-negative integer, received {value!r}.")
    return int(value)
