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
no mutable state and run in parallel.
"""
from __future__ import annotations

import functools
import signal
import threading


def exclusive(method):
    """Run ``method`` holding the model's lock (one call at a time per model, across threads)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


def training(method):
    """Like :func:`exclusive`, and defer Ctrl-C to a step boundary while ``method`` runs."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        with self._lock, self._interrupts:
            return method(self, *args, **kwargs)
    return guarded


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
