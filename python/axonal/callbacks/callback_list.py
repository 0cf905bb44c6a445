"""CallbackList: runs a model's callbacks, in order, adding the progress bar when asked for."""
from __future__ import annotations

from typing import Iterable

from axonal.callbacks.base import Callback
from axonal.callbacks.loggers import ProgbarLogger


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
