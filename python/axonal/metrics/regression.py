"""Regression metrics: mean squared and mean absolute error, averaged over outputs, then samples."""
from __future__ import annotations

import numpy as np

from axonal.metrics.base import MeanMetric


class MeanSquaredError(MeanMetric):
    """Mean over outputs of ``(prediction - target)²``, averaged over samples.

    Example:
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mse"])
    """

    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        error = np.subtract(y_pred, y_true, out=self._scratch.get("error", y_pred.shape))
        np.multiply(error, error, out=error)
        return np.mean(error, axis=1, out=self._values(len(y_pred)))


class MeanAbsoluteError(MeanMetric):
    """Mean over outputs of ``|prediction - target|``, averaged over samples.

    Example:
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    """

    def __init__(self, name: str = "mean_absolute_error"):
        super().__init__(name)

    def sample_values(self, y_true, y_pred):
        error = np.subtract(y_pred, y_true, out=self._scratch.get("error", y_pred.shape))
        np.abs(error, out=error)
        return np.mean(error, axis=1, out=self._values(len(y_pred)))
