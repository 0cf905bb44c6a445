"""Metrics: streaming means over the samples seen since the last reset.

A metric adds each batch's per-sample values and divides by the number of samples, which is the
mean of the batch means weighted by batch size, as Keras reports it. ``"accuracy"`` (or ``"acc"``)
is resolved like Keras from the shapes: one output unit means binary accuracy, integer class ids
mean sparse categorical accuracy, anything else categorical accuracy.

Metrics run on the host on the model's predictions (probabilities, as ``predict`` returns them)
with scratch buffers kept between batches, so updating one allocates nothing.

Example:
    >>> metric = metrics.CategoricalAccuracy()
    >>> metric.update_state(np.eye(3, dtype="float32"), np.eye(3, dtype="float32"))
    >>> metric.result()
    1.0
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from axonal._buffers import BufferCache
from axonal._validation import lookup


class Metric:
    """Base class: subclasses implement :meth:`batch_total`, the sum of the batch's per-sample values.

    Attributes:
        name: the key used in logs and in ``History.history``.
        sparse_labels: whether the metric takes class ids of shape (N,) rather than rows (N, K).
    """

    sparse_labels = False

    def __init__(self, name: str):
        self.name = name
        self._scratch = BufferCache()
        self.reset_state()

    def reset_state(self) -> None:
        """Forget every sample seen so far."""
        self.total = 0.0
        self.count = 0

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Add one batch: ``y_pred`` (N, K) predictions, ``y_true`` targets as the loss prepared them."""
        self.total += self.batch_total(y_true, y_pred)
        self.count += len(y_pred)

    def result(self) -> float:
        """The mean per-sample value since the last reset (0 before any sample)."""
        return self.total / self.count if self.count else 0.0

    def batch_total(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def _argmax_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        return np.argmax(rows, axis=1, out=self._scratch.get(name, (len(rows),), np.intp))


class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest prediction is at the one-hot label's position."""

    def __init__(self, name: str = "categorical_accuracy"):
        super().__init__(name)

    def batch_total(self, y_true, y_pred):
        same = np.equal(self._argmax_rows("true", y_true), self._argmax_rows("pred", y_pred),
                        out=self._scratch.get("same", (len(y_pred),), np.bool_))
        return float(np.count_nonzero(same))


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest prediction is at the integer label."""

    sparse_labels = True

    def __init__(self, name: str = "sparse_categorical_accuracy"):
        super().__init__(name)

    def batch_total(self, y_true, y_pred):
        same = np.equal(y_true, self._argmax_rows("pred", y_pred),
                        out=self._scratch.get("same", (len(y_pred),), np.bool_))
        return float(np.count_nonzero(same))


class BinaryAccuracy(Metric):
    """Fraction of outputs where ``prediction > threshold`` agrees with the 0/1 label."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        super().__init__(name)
        self.threshold = threshold

    def batch_total(self, y_true, y_pred):
        positive = np.greater(y_pred, self.threshold,
                              out=self._scratch.get("positive", y_pred.shape, np.bool_))
        same = np.equal(y_true, positive, out=self._scratch.get("same", y_pred.shape, np.bool_))
        # Each sample contributes the fraction of its outputs that are right.
        return np.count_nonzero(same) / y_pred.shape[1]

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class MeanSquaredError(Metric):
    """Mean over outputs of ``(prediction - target)²``, averaged over samples."""

    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(name)

    def batch_total(self, y_true, y_pred):
        error = np.subtract(y_pred, y_true, out=self._scratch.get("error", y_pred.shape))
        return float(np.vdot(error, error)) / y_pred.shape[1]


class MeanAbsoluteError(Metric):
    """Mean over outputs of ``|prediction - target|``, averaged over samples."""

    def __init__(self, name: str = "mean_absolute_error"):
        super().__init__(name)

    def batch_total(self, y_true, y_pred):
        error = np.subtract(y_pred, y_true, out=self._scratch.get("error", y_pred.shape))
        return float(np.abs(error, out=error).sum()) / y_pred.shape[1]


_BY_NAME = {
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "accuracy": None,  # resolved by get() from the shapes
    "acc": None,
}


def get(identifier: str | Metric, sparse_labels: bool, output_width: int) -> Metric:
    """A metric from its name or itself, with ``"accuracy"`` resolved from the label and output shapes.

    Args:
        identifier: a name (``"accuracy"``, ``"mse"``...) or a Metric.
        sparse_labels: whether the labels are class ids (N,) rather than rows (N, K).
        output_width: K, the number of output units.

    Raises:
        ValueError: for an unknown name, or a metric that cannot read labels of this form.
    """
    if isinstance(identifier, Metric):
        metric = identifier
    elif isinstance(identifier, str):
        cls = lookup("metric", identifier, _BY_NAME)
        if cls is None:  # "accuracy": which kind depends on the labels and outputs, as in Keras
            if output_width == 1:
                cls = BinaryAccuracy
            else:
                cls = SparseCategoricalAccuracy if sparse_labels else CategoricalAccuracy
        metric = cls(name=identifier)
    else:
        raise TypeError(f"Unsupported metric {identifier!r}: expected a name such as 'accuracy' "
                        "or a Metric instance from axonal.metrics.")
    if metric.sparse_labels != sparse_labels:
        form = "class ids of shape (N,)" if metric.sparse_labels else "rows of shape (N, K)"
        raise ValueError(f"Metric {metric.name!r} expects labels as {form}, but the loss provides the "
                         "other form. Fix: use metrics=['accuracy'], which adapts to the labels.")
    return metric


def get_list(identifiers: Iterable[Any] | None, sparse_labels: bool, output_width: int) -> list[Metric]:
    """Resolve ``compile(metrics=...)``: None, one identifier, or a list of them."""
    if identifiers is None:
        return []
    if isinstance(identifiers, (str, Metric)):
        identifiers = [identifiers]
    return [get(identifier, sparse_labels, output_width) for identifier in identifiers]
