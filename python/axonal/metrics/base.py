"""Metric base classes: the streaming state, sample weights and configuration every metric shares."""
from __future__ import annotations

import numpy as np

from axonal._buffers import BufferCache


class Metric:
    """Base class: a state updated batch by batch and read with :meth:`result`.

    Args:
        name: the key used in logs and in ``History.history`` (a model of several outputs prefixes it
            with the output's name; ``given_name`` keeps the name as given, for the configuration).

    Attributes:
        sparse_labels: whether the metric takes class ids of shape (N,) rather than rows (N, K).

    Subclasses implement :meth:`reset_state`, :meth:`update_state` and :meth:`result`, or derive
    from :class:`MeanMetric` and implement :meth:`MeanMetric.sample_values` only.
    """

    sparse_labels = False

    def __init__(self, name: str):
        self.name = self.given_name = name
        self._scratch = BufferCache()
        self.reset_state()

    def reset_state(self) -> None:
        """Forget every sample seen so far."""
        raise NotImplementedError

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> None:
        """Add one batch: ``y_pred`` (N, K) predictions (probabilities, as ``predict`` returns them),
        ``y_true`` targets as the loss prepared them, ``sample_weight`` (N,) or None."""
        raise NotImplementedError

    def result(self) -> float:
        """The metric over every sample since the last reset."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.given_name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def _as_batch(self, y_true, y_pred, sample_weight):
        """The arguments of a call from a program (lists, one value per sample) as the compiled
        model passes them: arrays, predictions (N, K) with (N, 1) for one value a sample, labels
        alike (class ids (N,) for a sparse metric), weights (N,) or None."""
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true = np.asarray(y_true)
        if y_pred.ndim == 1:
            y_pred = y_pred.reshape(-1, 1)
        if y_true.ndim == 1 and not self.sparse_labels:
            y_true = y_true.reshape(-1, 1)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32).reshape(-1)
        return y_true, y_pred, weights

    def _argmax_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        return np.argmax(rows, axis=1, out=self._scratch.get(name, (len(rows),), np.intp))


class MeanMetric(Metric):
    """A mean of per-sample values, weighted by the sample weights when given.

    ``result = Σ w_n v_n / Σ w_n`` (0 before any weight), with ``w = 1`` without weights: over
    batches this is the mean of the batch means weighted by batch size, as Keras reports it, and
    with weights it is Keras' weighted mean (``MeanMetricWrapper``). A sample with several
    outputs contributes the mean over its outputs.
    """

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._as_batch(y_true, y_pred, sample_weight)
        values = self.sample_values(y_true, y_pred)
        if sample_weight is None:
            self.total += float(values.sum(dtype=np.float64))
            self.count += len(values)
        else:
            self.total += float(np.dot(values, sample_weight))
            self.count += float(sample_weight.sum(dtype=np.float64))

    def result(self):
        return self.total / self.count if self.count else 0.0

    def sample_values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The (N,) float32 value of each sample, in a scratch buffer reused by the next batch."""
        raise NotImplementedError

    def _values(self, count: int) -> np.ndarray:
        return self._scratch.get("values", (count,))
