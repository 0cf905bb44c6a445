"""ModelCheckpoint: save the model (or its weights) during training."""
from __future__ import annotations

import math
import os
import warnings

import numpy as np

from axonal.callbacks.monitor import MonitorCallback
from axonal.saving.formats import file_format


class ModelCheckpoint(MonitorCallback):
    """Saves the model, or only its weights, every epoch or every ``save_freq`` batches.

    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (1-based, as Keras numbers
    files), ``batch`` (1-based, for batch-frequency saves) and the logs, e.g.
    ``"ckpt/model.{epoch:02d}-{val_loss:.2f}.axonal"``. Every file is written atomically by
    ``model.save``/``model.save_weights``: an interrupted save never leaves a partial file, and an
    existing checkpoint is replaced only by a complete one. Missing folders are created. The name
    chooses the format, as for ``model.save``: ``.axonal``, ``.keras`` or ``.h5`` for models,
    ``.weights.axonal``, ``.weights.h5`` (Keras 3) or ``.h5`` (legacy) for weights.

    Args:
        filepath: where to save; a template as above, or one fixed path overwritten each time.
        monitor: log key compared when ``save_best_only`` is set.
        verbose: 1 prints a line for every save (and every skipped one).
        save_best_only: save only when the monitored quantity improves on the best so far.
        save_weights_only: write ``model.save_weights`` files instead of whole models.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see :class:`MonitorCallback`).
        save_freq: ``"epoch"``, or a number of batches between saves (the monitored value is then
            the running mean of the epoch so far).
        initial_value_threshold: a best value to beat before the first save (``save_best_only``).

    Example:
        >>> checkpoint = ModelCheckpoint("best.axonal", monitor="val_accuracy", save_best_only=True)
        >>> model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[checkpoint])  # doctest: +SKIP
        >>> model = axonal.models.load_model("best.axonal")  # doctest: +SKIP
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None):
        super().__init__(monitor, mode, initial_value_threshold)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
                                     or save_freq <= 0):
            raise ValueError(f"ModelCheckpoint save_freq must be 'epoch' or a positive number of batches, "
                             f"received save_freq={save_freq!r}.")
        self.filepath = os.fspath(filepath)
        try:  # the file name picks the format: refused now rather than after the first epoch
            file_format(self.filepath, weights_only=save_weights_only)
        except ValueError as error:
            raise ValueError(f"ModelCheckpoint filepath={self.filepath!r}: {str(error).split(': ', 1)[1]}") from None
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self._epoch = 0
        self._batches_since_save = 0

    def on_train_begin(self, logs=None):
        # Keras keeps `best` across fit() calls on the same instance, so a resumed run only saves
        # what beats the earlier best; only the batch count starts afresh.
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: int | None, logs) -> None:
        logs = dict(logs or {})
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            # A diverged model (TerminateOnNaN closes the epoch before stopping) would overwrite
            # the last good checkpoint, the one a resume needs. Keras saves it anyway.
            warnings.warn(f"ModelCheckpoint: not saving epoch {epoch + 1}: its loss is {loss}, so the weights "
                          "are likely NaN; the previous checkpoint is kept.", stacklevel=2)
            return
        filepath = self._format_path(epoch, batch, logs)
        if self.save_best_only and not self._improved(epoch, logs, filepath):
            return
        if not self.save_best_only and self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint cannot save to {filepath!r}: it is an existing folder. "
                                    "Fix: give a file path such as 'checkpoints/model.axonal'.")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _improved(self, epoch: int, logs: dict, filepath: str) -> bool:
        """Whether the monitored value beats the best so far (and remember it when it does)."""
        current = self._monitored_value(logs)
        if current is None:  # Keras saves anyway rather than lose the checkpoint
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
            return False
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model "
                  f"to {filepath}", flush=True)
        self.best = current
        return True

    def _format_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {**logs, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise KeyError(f"ModelCheckpoint could not fill filepath {self.filepath!r} ({error!r}); "
                           f"available fields: {', '.join(sorted(fields))}. Fix: use only these names in "
                           "braces, e.g. 'model.{epoch:02d}-{val_loss:.2f}.axonal' (val_ keys need "
                           "validation data).") from None
