"""Metrics from confusion counts — Precision, Recall, the counts themselves (TruePositives,
FalsePositives, TrueNegatives, FalseNegatives), AUC — and :func:`confusion_matrix`.

Like Keras, Precision, Recall and AUC treat every output of every sample as one binary decision:
(N, K) predictions are flattened with their (N, K) 0/1 labels (a nonzero label is positive), and a
sample weight (N,) weighs all the outputs of its sample. Counts are sums of weights, kept in
float64 across batches.

Example:
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "precision",
    ...               "recall", "auc"])
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from axonal._validation import check_numeric, check_positive_int
from axonal.metrics.base import Metric

_EPSILON = 1e-7  # Keras' backend epsilon: the end thresholds of AUC sit just outside [0, 1]
# AUC keeps four float64 counts per threshold (Keras sets no bound; 10**6 thresholds is 32 MB).
MAX_THRESHOLDS = 10**6


def _divide_no_nan(numerator, denominator):
    """numerator / denominator, and 0 where the denominator is 0 (Keras' ``divide_no_nan``)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def _flat_weights(y_pred: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """One weight per output: each sample's weight repeated over its K outputs (1 without weights)."""
    if sample_weight is None:
        return np.ones(y_pred.size)
    return np.broadcast_to(np.reshape(sample_weight, (-1, 1)), y_pred.shape).reshape(-1)


class _ThresholdCounts(Metric):
    """Weighted true and false positives and negatives of ``prediction > threshold``."""

    def __init__(self, thresholds: float | None = None, name: str = "counts"):
        threshold = 0.5 if thresholds is None else thresholds
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= threshold <= 1:
            raise ValueError(f"{type(self).__name__} takes one threshold in [0, 1], received thresholds="
                             f"{thresholds!r}. Fix: pass e.g. thresholds=0.5, or one metric per threshold.")
        self.thresholds = thresholds
        self.threshold = float(threshold)
        super().__init__(name)

    def reset_state(self):
        self.true_positives = self.false_positives = self.true_negatives = self.false_negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._as_batch(y_true, y_pred, sample_weight)
        predicted = (y_pred > self.threshold).reshape(-1)
        actual = (y_true != 0).reshape(-1)
        weights = _flat_weights(y_pred, sample_weight)
        self.true_positives += float(weights[predicted & actual].sum())
        self.false_positives += float(weights[predicted & ~actual].sum())
        self.true_negatives += float(weights[~predicted & ~actual].sum())
        self.false_negatives += float(weights[~predicted & actual].sum())

    def get_config(self):
        return {"thresholds": self.thresholds, "name": self.given_name}


class Precision(_ThresholdCounts):
    """The fraction of predicted positives that are positive: TP / (TP + FP), 0 before any.

    Args:
        thresholds: a prediction above it counts as positive (Keras' default 0.5).
        name: log key.

    Example:
        >>> metric = Precision()
        >>> metric.update_state(np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.8], [0.2]]))
        >>> metric.result()
        0.5
    """

    def __init__(self, thresholds: float | None = None, name: str = "precision"):
        super().__init__(thresholds, name)

    def result(self):
        return float(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdCounts):
    """The fraction of positives predicted positive: TP / (TP + FN), 0 before any.

    Args:
        thresholds: a prediction above it counts as positive (Keras' default 0.5).
        name: log key.

    Example:
        >>> Recall(thresholds=0.3)
    """

    def __init__(self, thresholds: float | None = None, name: str = "recall"):
        super().__init__(thresholds, name)

    def result(self):
        return float(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


class _Count(_ThresholdCounts):
    """One weighted count of the confusion matrix at ``thresholds`` (Keras' default 0.5): the
    attribute named ``counted``. As in Keras, a prediction above the threshold is a positive.

    Example (the class names follow it):
        >>> model.compile(optimizer="adam", loss="binary_crossentropy",
        ...               metrics=[TruePositives(), FalsePositives(), TrueNegatives(), FalseNegatives()])
    """

    counted: str

    def __init__(self, thresholds: float | None = None, name: str | None = None):
        super().__init__(thresholds, name or self.counted)  # named after its count, as in Keras

    def result(self):
        return float(getattr(self, self.counted))


class TruePositives(_Count):
    """Weighted count of positives predicted positive."""

    counted = "true_positives"


class FalsePositives(_Count):
    """Weighted count of negatives predicted positive."""

    counted = "false_positives"


class TrueNegatives(_Count):
    """Weighted count of negatives predicted negative."""

    counted = "true_negatives"


class FalseNegatives(_Count):
    """Weighted count of positives predicted negative."""

    counted = "false_negatives"


class AUC(Metric):
    """Area under the ROC curve, computed as Keras' ``AUC()`` computes it.

    Counts are kept at ``num_thresholds`` thresholds: -ε, 1/(T-1), 2/(T-1), ..., (T-2)/(T-1), 1+ε
    (ε = 1e-7). A prediction (clipped to [0, 1]) is positive at the thresholds below it; like Keras
    it is placed with ``ceil(p·(T-1)) - 1`` in float32, so predictions count exactly as in Keras.
    The area is the trapezoidal sum over the points (false positive rate, recall) — Keras'
    ``summation_method="interpolation"`` for ROC — and 0 while either class has no weight.

    Args:
        num_thresholds: T, from 2 (Keras' default 200) to 10**6 (axonal's bound; Keras has none).
        name: log key.

    Example:
        >>> metric = AUC()
        >>> metric.update_state(np.array([[0.0], [1.0], [1.0]]), np.array([[0.3], [0.8], [0.2]]))
        >>> round(metric.result(), 4)
        0.5
    """

    def __init__(self, num_thresholds: int = 200, name: str = "auc"):
        self.num_thresholds = check_positive_int(num_thresholds, "num_thresholds")
        if not 2 <= self.num_thresholds <= MAX_THRESHOLDS:
            # The upper bound keeps a damaged saved file from allocating gigabytes of counts.
            raise ValueError(f"AUC needs 2 <= num_thresholds <= {MAX_THRESHOLDS}, received "
                             f"{num_thresholds!r}. Fix: keep Keras' default of 200.")
        super().__init__(name)

    @property
    def thresholds(self) -> np.ndarray:
        """The T thresholds the counts are kept at."""
        inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        return np.array([-_EPSILON, *inner, 1.0 + _EPSILON])

    def reset_state(self):
        zeros = np.zeros(self.num_thresholds)
        self.true_positives, self.false_positives = zeros.copy(), zeros.copy()
        self.true_negatives, self.false_negatives = zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._as_batch(y_true, y_pred, sample_weight)
        predictions = np.clip(y_pred, 0.0, 1.0).astype(np.float32).reshape(-1)
        actual = (y_true != 0).reshape(-1)
        weights = _flat_weights(y_pred, sample_weight)
        # Bucket b holds the predictions in (t_b, t_b+1]: positive at thresholds 0..b.
        buckets = np.maximum(np.ceil(predictions * np.float32(self.num_thresholds - 1)) - 1, 0).astype(np.intp)
        positives = np.bincount(buckets, weights=weights * actual, minlength=self.num_thresholds)
        negatives = np.bincount(buckets, weights=weights * ~actual, minlength=self.num_thresholds)
        true_positives = np.cumsum(positives[::-1])[::-1]
        false_positives = np.cumsum(negatives[::-1])[::-1]
        self.true_positives += true_positives
        self.false_positives += false_positives
        self.true_negatives += negatives.sum() - false_positives
        self.false_negatives += positives.sum() - true_positives

    def result(self):
        recall = _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)
        false_positive_rate = _divide_no_nan(self.false_positives, self.false_positives + self.true_negatives)
        heights = (recall[:-1] + recall[1:]) / 2
        return float(np.sum((false_positive_rate[:-1] - false_positive_rate[1:]) * heights))

    def get_config(self):
        return {"num_thresholds": self.num_thresholds, "name": self.given_name}


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, as ``tf.math.confusion_matrix`` gives them.

    Args:
        y_true: class ids, shape (N,).
        y_pred: predicted class ids, shape (N,) (``np.argmax(model.predict(x), axis=1)``).
        num_classes: the matrix size; ``max(y_true, y_pred) + 1`` when None.

    Returns:
        An int32 array (num_classes, num_classes): row i, column j counts the samples of class i
        predicted as j, so the diagonal holds the correct predictions.

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]], dtype=int32)
    """
    labels, predictions = _class_ids(y_true, "y_true"), _class_ids(y_pred, "y_pred")
    if len(labels) != len(predictions):
        raise ValueError(f"y_true and y_pred must hold one class id per sample each, received {len(labels)} "
                         f"and {len(predictions)}. Fix: pass labels and predictions of the same samples.")
    largest = int(max(labels.max(initial=-1), predictions.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= check_positive_int(num_classes, "num_classes"):
        raise ValueError(f"confusion_matrix received class id {largest} with num_classes={num_classes}; ids "
                         f"must be below it. Fix: pass num_classes={largest + 1}, or None to infer it.")
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int32)


def _class_ids(values, argument: str) -> np.ndarray:
    """``values`` as int64 class ids of shape (N,) ((N, 1) is accepted), or a ValueError with a fix."""
    ids = np.asarray(values)
    check_numeric(ids, argument)
    if ids.ndim == 2 and ids.shape[1] == 1:
        ids = ids.reshape(-1)
    if ids.ndim != 1:
        raise ValueError(f"confusion_matrix takes class ids of shape (N,), received {argument} of shape "
                         f"{ids.shape}. Fix: convert probability or one-hot rows with np.argmax({argument}, "
                         "axis=1).")
    if ids.size and (not np.array_equal(ids, np.round(ids)) or ids.min() < 0):
        raise ValueError(f"confusion_matrix takes class ids (integers >= 0), received {argument} with values "
                         f"from {ids.min()} to {ids.max()}. Fix: pass class ids such as np.argmax(probabilities, "
                         "axis=1).")
    return ids.astype(np.int64)
