"""Metrics, with Keras' names, definitions and sample weighting.

Metrics run on the host on the model's predictions (probabilities, as ``predict`` returns them)
and keep a state across the batches of an epoch or an ``evaluate`` call. Accuracies and errors
are weighted means of per-sample values (the mean of batch means weighted by batch size without
sample weights, as Keras reports them); Precision, Recall and AUC accumulate weighted confusion
counts. ``"accuracy"`` (or ``"acc"``) is resolved like Keras from the shapes: one output unit
means binary accuracy, integer class ids mean sparse categorical accuracy, anything else
categorical accuracy.

Names: ``accuracy``, ``binary_accuracy``, ``categorical_accuracy``, ``sparse_categorical_accuracy``,
``top_k_categorical_accuracy``, ``sparse_top_k_categorical_accuracy`` (k = 5), ``precision``,
``recall``, ``auc``, ``mse``/``mean_squared_error``, ``mae``/``mean_absolute_error``; or the
classes themselves. :func:`confusion_matrix` tabulates predictions against labels.

Example:
    >>> metric = metrics.CategoricalAccuracy()
    >>> metric.update_state(np.eye(3, dtype="float32"), np.eye(3, dtype="float32"))
    >>> metric.result()
    1.0
"""
from __future__ import annotations

from typing import Any, Iterable

from axonal._validation import lookup
from axonal.metrics.accuracy import (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                     SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from axonal.metrics.base import MeanMetric, Metric
from axonal.metrics.confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives,
                                      TruePositives, confusion_matrix)
from axonal.metrics.regression import MeanAbsoluteError, MeanSquaredError

__all__ = ["Metric", "MeanMetric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision", "Recall", "AUC",
           "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
           "MeanSquaredError", "MeanAbsoluteError", "confusion_matrix", "get", "get_list"]

_CLASSES = (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
            SparseTopKCategoricalAccuracy, Precision, Recall, AUC, MeanSquaredError, MeanAbsoluteError,
            TruePositives, FalsePositives, TrueNegatives, FalseNegatives)
_BY_NAME = {
    **{cls.__name__.lower(): cls for cls in _CLASSES},
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "true_positives": TruePositives,
    "false_positives": FalsePositives,
    "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives,
    "accuracy": None,  # resolved by get() from the shapes
    "acc": None,
}


def get(identifier: str | Metric, sparse_labels: bool, output_width: int) -> Metric:
    """A metric from its name or itself, with ``"accuracy"`` resolved from the label and output shapes.

    Args:
        identifier: a name (``"accuracy"``, ``"auc"``...) or a Metric.
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
        other = ("one-hot rows with loss='categorical_crossentropy'" if not metric.sparse_labels
                 else "class ids with loss='sparse_categorical_crossentropy'")
        raise ValueError(f"Metric {metric.name!r} expects labels as {form}, but the loss provides the "
                         f"other form. Fix: use metrics=['accuracy'], which adapts to the labels, or give "
                         f"{other}.")
    return metric


def get_list(identifiers: Iterable[Any] | None, sparse_labels: bool, output_width: int) -> list[Metric]:
    """Resolve ``compile(metrics=...)``: None, one identifier, or a list of them."""
    if identifiers is None:
        return []
    if isinstance(identifiers, (str, Metric)):
        identifiers = [identifiers]
    return [get(identifier, sparse_labels, output_width) for identifier in identifiers]
