"""Callbacks that change the optimiser's learning rate between epochs.

The optimiser reads ``learning_rate`` at every step, so a new value takes effect from the next
batch. Both callbacks record the rate in the epoch's logs as ``learning_rate``, as Keras 3 does,
so it appears in ``History.history``.
"""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from axonal.callbacks.base import Callback
from axonal.callbacks.monitor import MonitorCallback, _non_negative_int


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` when the monitored quantity stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta`` the rate becomes
    ``max(lr * factor, min_lr)``; the next ``cooldown`` epochs are then ignored before waiting
    starts again.

    Args:
        monitor: log key to watch.
        factor: multiplier of the learning rate, in [0, 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints a line at each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :class:`MonitorCallback`).
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound of the learning rate.

    Example:
        >>> reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-5)
        >>> model.fit(x, y, epochs=50, validation_split=0.1, callbacks=[reduce])  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, None, min_delta)
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) or not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau factor must be in [0, 1), received factor={factor!r}. "
                             "Fix: pass e.g. factor=0.5 to halve the learning rate.")
        self.factor = float(factor)
        self.patience = _non_negative_int(patience, "patience")
        self.cooldown = _non_negative_int(cooldown, "cooldown")
        self.min_lr = float(min_lr)
        self.verbose = verbose
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.direction = None, None
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._monitored_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            # Compared in float32, as Keras does, so a rate already at min_lr is not "reduced" again.
            if self.wait >= self.patience and np.float32(optimizer.learning_rate) > np.float32(self.min_lr):
                optimizer.learning_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{optimizer.learning_rate}.", flush=True)
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch to ``schedule(epoch, lr)``.

    Args:
        schedule: a function of the 0-based epoch and the current rate returning the new rate (a
            function of the epoch alone is also accepted, as in Keras).
        verbose: 1 prints the rate set at each epoch.

    Example:
        >>> def schedule(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> model.fit(x, y, epochs=20, callbacks=[LearningRateScheduler(schedule)])  # doctest: +SKIP
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler expects a function schedule(epoch, lr) -> lr, received "
                            f"{schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        current = float(optimizer.learning_rate)
        rate = self.schedule(epoch, current) if self._takes_lr else self.schedule(epoch)
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.number)):
            raise ValueError(f"The schedule of LearningRateScheduler must return a number, received "
                             f"{rate!r} for epoch {epoch}. Fix: return a float such as lr * 0.9.")
        optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(rate)}.",
                  flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _accepts_two_arguments(function: Callable) -> bool:
    """Whether ``function`` can be called with (epoch, lr); Keras 3 also accepts ``f(epoch)``."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have no signature: assume the documented form
        return True
    try:
        signature.bind(0, 0.0)
        return True
    except TypeError:
        return False
