"""Callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call as they run, as in Keras.

``logs`` dicts hold running means over the epoch so far: ``loss`` and each metric during
training, plus ``val_loss`` and ``val_<metric>`` at the end of an epoch with validation data.

Modules: :mod:`~axonal.callbacks.base` (Callback, History), ``callback_list``, ``loggers``
(ProgbarLogger, EpochTimer, CSVLogger), ``monitor`` (EarlyStopping, TerminateOnNaN),
``learning_rate`` (ReduceLROnPlateau, LearningRateScheduler) and ``checkpoint`` (ModelCheckpoint).

Example:
    >>> from axonal.callbacks import EarlyStopping, ModelCheckpoint
    >>> callbacks = [EarlyStopping(patience=3, restore_best_weights=True),
    ...              ModelCheckpoint("model.{epoch:02d}-{val_loss:.2f}.axonal", save_best_only=True)]
    >>> model.fit(x, y, epochs=50, validation_split=0.1, callbacks=callbacks)  # doctest: +SKIP
"""
from axonal.callbacks.base import Callback, History
from axonal.callbacks.callback_list import CallbackList
from axonal.callbacks.checkpoint import ModelCheckpoint
from axonal.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from axonal.callbacks.loggers import CSVLogger, EpochTimer, ProgbarLogger
from axonal.callbacks.monitor import EarlyStopping, MonitorCallback, TerminateOnNaN

__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "EpochTimer", "History",
           "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger",
           "ReduceLROnPlateau", "TerminateOnNaN"]
