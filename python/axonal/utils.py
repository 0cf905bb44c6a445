"""User-facing helpers: label encoding, the progress bar, data in batches (``PyDataset``,
``Sequence``) and ``pad_sequences``."""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Iterable, TextIO

import numpy as np

from axonal._validation import as_array, check_not_empty, check_numeric, check_positive_int
from axonal.py_dataset import PyDataset, Sequence

__all__ = ["to_categorical", "Progbar", "can_encode", "PyDataset", "Sequence", "pad_sequences", "plot_model",
           "model_to_dot", "set_random_seed"]


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``: the same as :func:`axonal.set_seed`."""
    from axonal.random import set_seed

    set_seed(seed)


def plot_model(model, to_file="model.png", **kwargs) -> None:
    """``keras.utils.plot_model``: see :func:`axonal.model_plot.plot_model` (Graphviz renders it)."""
    from axonal.model_plot import plot_model as plot  # subprocess and tempfile load on use

    plot(model, to_file, **kwargs)


def model_to_dot(model, **kwargs) -> str:
    """``keras.utils.model_to_dot``, as DOT text: see :func:`axonal.model_plot.model_to_dot`."""
    from axonal.model_plot import model_to_dot as to_dot

    return to_dot(model, **kwargs)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """``keras.utils.pad_sequences``: see :func:`axonal.preprocessing.sequence.pad_sequences`."""
    from axonal.preprocessing.sequence import pad_sequences as pad  # the preprocessing package loads on use

    return pad(sequences, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating, value=value)


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Convert integer class labels to one-hot rows, as ``keras.utils.to_categorical`` does.

    Args:
        y: class ids in ``[0, num_classes)``, any shape; a trailing axis of size 1 is dropped.
        num_classes: number of classes; inferred as ``max(y) + 1`` when None.

    Returns:
        A float32 array of shape ``y.shape + (num_classes,)`` (Keras returns float64; axonal's
        models compute in float32, so this saves a conversion).

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = as_array(y, "y")
    check_numeric(labels, "y")
    check_not_empty(labels, "y")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():  # inf would pass the test below
        bad = np.argwhere(~np.isfinite(labels))
        raise ValueError(f"to_categorical expects integer class ids in y, received {len(bad)} NaN or infinite "
                         f"values (the first, {labels[tuple(bad[0])]}, at index {tuple(int(i) for i in bad[0])}). "
                         "Fix: drop those samples or give them their class id before encoding.")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"to_categorical expects integer class ids, received non-integer values "
                         f"such as {labels[labels != np.round(labels)][0]}. Fix: pass class ids "
                         "(0, 1, 2, ...), not probabilities or one-hot rows.")
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1).astype(np.int64)
    if num_classes is None:
        num_classes = int(flat.max()) + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    if flat.min() < 0 or flat.max() >= num_classes:
        raise ValueError(f"to_categorical expects class ids in [0, {num_classes}), received values "
                         f"from {flat.min()} to {flat.max()}. Fix: pass num_classes="
                         f"{max(int(flat.max()) + 1, 1)} or remap the labels to start at 0.")
    one_hot = np.zeros((flat.size, num_classes), dtype=np.float32)
    one_hot[np.arange(flat.size), flat] = 1.0
    return one_hot.reshape(shape + (num_classes,))


def can_encode(stream: TextIO, text: str) -> bool:
    """Whether ``text`` can be written to ``stream`` (box-drawing characters need UTF-8)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Progbar:
    """A Keras-style progress bar: ``469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - loss: 0.3012``.

    On a terminal (``verbose=1``) the line is redrawn in place with ``\\r``. Elsewhere (a pipe, a
    log file, pytest's capture) only the finished line is written, with no control characters.
    ``verbose=2`` writes one summary line when the bar finishes.

    Args:
        target: total number of steps; None when unknown (a generator's first epoch): the count
            then reads ``12/Unknown``, as in Keras, until the finished line.
        verbose: 1 for the bar, 2 for a single line at the end, 0 for nothing.
        width: number of bar characters.
        interval: minimum seconds between two redraws on a terminal.
        unit_name: the unit in the time-per-unit field.
        stream: where to write; ``sys.stdout`` when None.

    Example:
        >>> bar = Progbar(target=10)
        >>> for step in range(1, 11):
        ...     bar.update(step, [("loss", 0.5)], finalize=step == 10)
    """

    def __init__(self, target: int | None, verbose: int = 1, width: int = 20, interval: float = 0.05,
                 unit_name: str = "step", stream: TextIO | None = None):
        self.target = target
        self.verbose = verbose
        self.width = width
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self.dynamic = bool(getattr(self.stream, "isatty", lambda: False)()) or "ipykernel" in sys.modules
        self.bar_char = "━" if can_encode(self.stream, "━") else "="
        self._start = time.perf_counter()
        self._after_first_step: float | None = None
        self._last_draw = 0.0
        self._previous_width = 0

    def update(self, current: int, values: Iterable[tuple[str, float]] = (), finalize: bool = False) -> None:
        """Show progress ``current`` of ``target`` with the given (name, value) pairs, as given."""
        now = time.perf_counter()
        if self.target is None and finalize:
            self.target = current  # the end shows the length, as Keras' finished bar does
        per_unit = self._time_per_unit(current, now)
        if self.verbose == 1 and self.dynamic:
            if finalize or now - self._last_draw >= self.interval:
                self._redraw(current, values, per_unit, now, finalize)
        elif self.verbose == 1 and finalize:
            self._write(self._line(current, values, per_unit, now, finalize, colour=False) + "\n")
        elif self.verbose == 2 and finalize:
            self._write(f"{self._count(current)} - {now - self._start:.0f}s -{self._format_rate(per_unit)}"
                        f"{self._format_values(values)}\n")

    def _redraw(self, current, values, per_unit, now, finalize) -> None:
        line = self._line(current, values, per_unit, now, finalize, colour=True)
        visible = len(self._line(current, values, per_unit, now, finalize, colour=False))
        # Pad with spaces so a shorter line fully covers the previous one.
        padding = " " * max(self._previous_width - visible, 0)
        self._write("\r" + line + padding + ("\n" if finalize else ""))
        self._previous_width = visible
        self._last_draw = now

    def _line(self, current, values, per_unit, now, finalize, colour: bool) -> str:
        if self.target is None:  # no bar and no ETA without a length
            return f"{self._count(current)} {now - self._start:.0f}s{self._format_rate(per_unit)}{self._format_values(values)}"
        done = int(self.width * current / self.target) if self.target else 0
        filled, empty = self.bar_char * done, self.bar_char * (self.width - done)
        if colour:  # green for done, grey for to do, as Keras draws it
            filled = f"\x1b[32m{filled}\x1b[0m" if filled else ""
            empty = f"\x1b[37m{empty}\x1b[0m" if empty else ""
        if finalize:
            timing = f"{now - self._start:.0f}s"
        else:
            timing = self._format_eta(per_unit * (self.target - current))
        return (f"{self._count(current)} {filled}{empty} {timing}{self._format_rate(per_unit)}"
                f"{self._format_values(values)}")

    def _count(self, current: int) -> str:
        """``  7/469``: the step, right-aligned to the target's width (``     12/Unknown`` without one)."""
        if self.target is None:
            return f"{current:>7}/Unknown"
        return f"{current:>{len(str(self.target))}}/{self.target}"

    def _time_per_unit(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (it includes one-off set-up) when possible."""
        if current == 0:
            return 0.0
        if current == 1:
            self._after_first_step = now
        if self._after_first_step is not None and current > 1:
            return (now - self._after_first_step) / (current - 1)
        return (now - self._start) / current

    def _format_rate(self, per_unit: float) -> str:
        if per_unit >= 1 or per_unit == 0:
            return f" {per_unit:.0f}s/{self.unit_name}"
        if per_unit >= 1e-3:
            return f" {per_unit * 1e3:.0f}ms/{self.unit_name}"
        return f" {per_unit * 1e6:.0f}us/{self.unit_name}"

    @staticmethod
    def _format_eta(seconds: float) -> str:
        if seconds > 3600:
            return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
        if seconds > 60:
            return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
        return f"{int(seconds)}s"

    @staticmethod
    def _format_values(values: Iterable[tuple[str, float]]) -> str:
        parts = []
        for name, value in values:
            shown = f"{value:.4f}" if abs(value) > 1e-3 or not math.isfinite(value) else f"{value:.4e}"
            parts.append(f" - {name}: {shown}")
        return "".join(parts)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
