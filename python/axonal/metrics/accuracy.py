"""Accuracy metrics: binary, categorical, sparse categorical and top-k, with Keras' definitions.

Each computes a per-sample value (1 right, 0 wrong; the fraction of right outputs for binary
accuracy over several outputs) into scratch buffers kept between batches, so an update allocates
nothing; :class:`~axonal.metrics.base.MeanMetric` averages them, weighted by sample weights.
"""
from __future__ import annotations

import numpy as np

from axonal._validation import check_positive_int
from axonal.metrics.base import MeanMetric


class BinaryAccuracy(MeanMetric):
    """Fraction of outputs where ``prediction > threshold`` agrees with the 0/1 label.

    Args:
        name: log key.
        threshold: the decision threshold on the predicted probability.

    Example:
        >>> metric = BinaryAccuracy()
        >>> metric.update_state(np.array([[1.0], [0.0]]), np.array([[0.7], [0.6]]))
        >>> metric.result()
        0.5
    """

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        positive = np.greater(y_pred, self.threshold, out=self._scratch.get("positive", y_pred.shape, np.bool_))
        same = np.equal(y_true, positive, out=self._scratch.get("same", y_pred.shape))
        return np.mean(same, axis=1, out=self._values(len(y_pred)))

    def get_config(self):
        return {"name": self.given_name, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetric):
    """Fraction of samples whose largest prediction is at the one-hot label's position.

    Example:
        >>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[CategoricalAccuracy()])
    """

    def __init__(self, name: str = "categorical_accuracy"):
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        return np.equal(self._argmax_rows("true", y_true), self._argmax_rows("pred", y_pred),
                        out=self._values(len(y_pred)))


class SparseCategoricalAccuracy(MeanMetric):
    """Fraction of samples whose largest prediction is at the integer label.

    Example:
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
        ...               metrics=["sparse_categorical_accuracy"])
    """

    sparse_labels = True

    def __init__(self, name: str = "sparse_categorical_accuracy"):
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        return np.equal(y_true, self._argmax_rows("pred", y_pred), out=self._values(len(y_pred)))


class TopKCategoricalAccuracy(MeanMetric):
    """Fraction of samples whose one-hot label is among the ``k`` largest predictions.

    A label tied with the k-th largest prediction counts as found (Keras' ``in_top_k``).

    Args:
        k: how many of the largest predictions count (Keras' default 5).
        name: log key.

    Example:
        >>> model.compile(optimizer="adam", loss="categorical_crossentropy",
        ...               metrics=["top_k_categorical_accuracy"])
    """

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy"):
        self.k = check_positive_int(k, "k")
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        return self._in_top_k(self._argmax_rows("true", y_true), y_pred)

    def _in_top_k(self, labels: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """1 where fewer than k predictions of the row exceed the label's own prediction."""
        label_scores = np.take_along_axis(y_pred, labels[:, None], axis=1)
        above = np.greater(y_pred, label_scores, out=self._scratch.get("above", y_pred.shape, np.bool_))
        return np.less(np.count_nonzero(above, axis=1), self.k, out=self._values(len(y_pred)))

    def get_config(self):
        return {"k": self.k, "name": self.given_name}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Fraction of samples whose integer label is among the ``k`` largest predictions.

    Example:
        >>> SparseTopKCategoricalAccuracy(k=3)
    """

    sparse_labels = True

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy"):
        super().__init__(k, name)

    def sample_values(self, y_true, y_pred):
        return self._in_top_k(y_true, y_pred)
