"""What keeps a model consistent when training is interrupted or shared between threads.

**Interrupts.** Python raises ``KeyboardInterrupt`` (Ctrl-C, SIGINT) between any two bytecodes of
the main thread. Inside an optimiser update that is a loop over parameters (one native call
each), an interrupt could land after some parameters were updated and before the others, leaving
a model that no run of whole steps could produce. While a model trains (``fit``,
``train_on_batch``), an :class:`InterruptGuard` therefore replaces the SIGINT handler with one
that only records the signal; the training step then raises at a safe point: before its update
starts (the step is dropped, nothing of it was applied) or right after the update and the step
counter are complete. The loops also check at every evaluation and prediction batch, so a Ctrl-C
during validation is not held until the next epoch. A second Ctrl-C while the first is still
waiting (a callback that sleeps, say) raises at once, except inside an update, which always
completes. When the guard ends, the previous handler is put back; a user's own SIGINT handler is
called at the safe point instead of raising.

**Threads.** A model's layers own the buffers their kernels write into, so two calls on one model
at once would overwrite each other's activations. :func:`exclusive` serialises a model's public
methods with a per-model re-entrant lock: a second thread's call waits for the first to finish
(a callback may still call the model's methods from the training thread). Different models share
no mutable state and run in parallel. Structural changes (``add``, ``pop``, ``trainable``) are not
serialised but refused while another thread runs a call on the model (:func:`structural`).
"""
from __future__ import annotations

import functools
import signal
import threading

from axonal.layers.base import running_model


def exclusive(method):
    """Run ``method`` holding the model's lock (one call at a time per model, across threads)."""
    name = method.__name__

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock, _Running(self, name):
            return method(self, *args, **kwargs)
    return locked


def training(method):
    """Like :func:`exclusive`, and defer Ctrl-C to a step boundary while ``method`` runs."""
    name = method.__name__

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        with self._lock, _Running(self, name), self._interrupts:
            return method(self, *args, **kwargs)
    return guarded


# ----- structural changes ----------------------------------------------------------------------
# Adding or removing a layer, or freezing one, changes what a running fit computes. From another
# thread it would land at an arbitrary point of that fit (or predict...), so it is refused while
# one runs; from the thread running fit (a callback) add/pop are refused too (the loss, the
# buffers and the native loop were set up for the old layers), while `trainable` flips are
# allowed there: they apply from the next step, the documented way to unfreeze during training.

_TRAINING_CALLS = ("fit", "train_on_batch")
_running_models: set = set()  # models inside one of their locked calls, in any thread


class _Running:
    """Records, while a locked call runs, which thread runs which method of a model. No lock of its
    own: it runs inside the model's lock, and list and set updates are atomic under the GIL. (It
    reads attributes, never ``model.__dict__``: touching that turns every later attribute access of
    the object into a slower dict lookup in CPython 3.11+.)"""

    __slots__ = ("model", "entry", "outer")

    def __init__(self, model, name: str):
        self.model, self.entry = model, (threading.get_ident(), name)

    def __enter__(self) -> None:
        calls = getattr(self.model, "_running_calls", None)
        if calls is None:
            calls = self.model._running_calls = []
        calls.append(self.entry)
        _running_models.add(self.model)
        self.outer = running_model.set(self.model)  # whose loss may absorb an output activation

    def __exit__(self, *exc_info) -> None:
        running_model.reset(self.outer)
        calls = self.model._running_calls
        calls.remove(self.entry)
        if not calls:
            _running_models.discard(self.model)


def structural(change: str, allowed_while_training: bool = False):
    """Decorate a model method that changes its layers (``add``, ``pop``, the ``trainable``
    setter): refused while another thread runs a call on the model, and, unless
    ``allowed_while_training``, while the model trains in this thread. A change that raises
    midway (a layer that cannot be built) is undone: the layer list and input shape are restored."""
    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            check_structural_change(self, change, allowed_while_training)
            stack = self._stack if hasattr(self, "_stack") else self._layers  # Sequential's own list
            layers, input_shape = list(stack), self.input_shape
            try:
                return method(self, *args, **kwargs)
            except BaseException:
                stack[:], self.input_shape = layers, input_shape
                raise
        return guarded
    return decorate


def check_structural_change(model, change: str, allowed_while_training: bool = False) -> None:
    """Raise RuntimeError when ``change`` to ``model`` would alter a call that is running."""
    calls = list(getattr(model, "_running_calls", None) or ())
    me = threading.get_ident()
    for thread, method in calls:
        if thread != me:
            raise RuntimeError(
                f"{change} on model {model.name!r} from thread {threading.current_thread().name!r} is refused: "
                f"model.{method}() is running in thread {_thread_name(thread)!r}, and the change would land at an "
                f"arbitrary step of it. Fix: make structural changes (add, pop, trainable) before or after "
                f"that call, or from a callback of it.")
    training_call = next((method for _, method in calls if method in _TRAINING_CALLS), None)
    if training_call is not None and not allowed_while_training:
        raise RuntimeError(
            f"{change} on model {model.name!r} while model.{training_call}() runs (from a callback?) is "
            f"refused: the loss, buffers and training loop were set up for the current layers. Fix: change "
            f"the layers between {training_call}() calls; freezing or unfreezing (layer.trainable) is "
            f"allowed during training.")


def check_layer_change(layer, change: str) -> None:
    """:func:`check_structural_change` for every running model that holds ``layer``."""
    for model in list(_running_models):
        if any(member is layer for member in getattr(model, "_layers", ())):
            check_structural_change(model, change, allowed_while_training=True)


class InterruptGuard:
    """Defers SIGINT while a model trains, so that it lands between whole training steps.

    Used as a context manager (re-entrant: a callback may call ``train_on_batch`` inside ``fit``).
    It installs its handler only in the main thread, and only when the current SIGINT handler is a
    Python function (``SIG_IGN``/``SIG_DFL`` are left alone: nothing would raise there anyway); in
    any other case it does nothing and :attr:`pending` stays False.

    Attributes:
        pending: a SIGINT arrived and has not been delivered yet.
        updating: set by the training step around its optimiser update, which a second Ctrl-C
            does not break into.
    """

    def __init__(self):
        self.pending = False
        self.updating = False
        self._depth = 0
        self._previous = None  # the handler to put back; None while not installed

    def __enter__(self) -> "InterruptGuard":
        if self._depth == 0:
            self._install()
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._depth -= 1
        if self._depth or self._previous is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        if self.pending and exc_type is None:
            # The signal came after the last safe point (during on_train_end, say): deliver it now
            # rather than lose it. With another exception on its way, that one is reported.
            self._deliver(self._previous)
        self._previous, self.pending, self.updating = None, False, False

    def check(self) -> None:
        """Deliver a pending SIGINT now (called at the safe points)."""
        if self.pending:
            self.pending = False
            self._deliver(self._previous)

    # ----- internals ---------------------------------------------------------------------------

    def _install(self) -> None:
        self.pending = self.updating = False
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; signal.signal would raise here
        # signal.signal returns the handler it replaces: one call instead of getsignal + signal
        # (this runs at every train_on_batch, so its microseconds count).
        previous = signal.signal(signal.SIGINT, self._handle)
        if callable(previous):
            self._previous = previous
        else:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum, frame) -> None:
        if self.pending and not self.updating:
            # The user pressed Ctrl-C again while the first one waited: stop now. No update is
            # running, so the model still holds whole steps only.
            self.pending = False
            self._deliver(self._previous)
            return
        self.pending = True

    @staticmethod
    def _deliver(previous) -> None:
        if previous is signal.default_int_handler or isinstance(getattr(previous, "__self__", None),
                                                                InterruptGuard):
            # Python's own handler, or the guard of an outer fit (one model trained inside
            # another's callback): raise, as Python would have.
            raise KeyboardInterrupt("training interrupted between steps: the model holds the weights "
                                    "of its last completed step, model.history the completed epochs")
        if callable(previous):
            previous(signal.SIGINT, None)  # a user's handler decides (raise, or note it and go on)


def _thread_name(ident: int) -> str:
    return next((thread.name for thread in threading.enumerate() if thread.ident == ident), f"thread {ident}")
