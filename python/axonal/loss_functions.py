"""Keras' loss functions, called on arrays: ``categorical_crossentropy(y_true, y_pred)`` and the rest.

These are what a program calls outside ``fit`` (to check a prediction, or in a hand-written loop):
each returns the loss of every sample, shape (N,) (the last axis reduced), with Keras 3's maths:
probabilities are normalised and clipped to [ε, 1 − ε] (ε = ``axonal.backend.epsilon()``, 1e-7)
unless ``from_logits=True``, in which case the exact log-softmax / softplus forms are used. They run
in NumPy on the host, in float32 like Keras. Inside ``fit`` the fused
kernels compute the same losses from the logits (``axonal.losses``), with no clipping.

Example:
    >>> categorical_crossentropy(np.eye(3)[[0, 2]], np.array([[0.8, 0.1, 0.1], [0.2, 0.2, 0.6]]))
    array([0.22314353, 0.5108256 ], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from axonal._validation import as_float_array

__all__ = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
           "mean_squared_error", "mean_absolute_error", "mse", "mae"]


def _epsilon() -> float:
    from axonal.backend import epsilon  # the fuzz factor a program may have changed with set_epsilon

    return epsilon()


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = as_float_array(y_true, "y_true"), as_float_array(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}. "
                         "Fix: give one target per prediction (one-hot rows for categorical losses; "
                         "sparse_categorical_crossentropy takes class ids).")
    return y_true, y_pred


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _log_probabilities(y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    if from_logits:
        return _log_softmax(y_pred)
    eps = _epsilon()
    normalised = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return np.log(np.clip(normalised, eps, 1 - eps))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0):
    """``−Σ y_true·log(y_pred)`` over the last axis, per sample.

    Args:
        y_true: one-hot (or soft) targets, shape (N, K).
        y_pred: probabilities (or logits with ``from_logits=True``), shape (N, K).
        label_smoothing: in [0, 1]: targets become ``y·(1 − s) + s/K``.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return -(y_true * _log_probabilities(y_pred, from_logits)).sum(axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """``−log(y_pred[y_true])`` per sample, for class ids ``y_true`` of shape (N,) or (N, 1)."""
    y_pred = as_float_array(y_pred, "y_pred")
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"y_true of shape {np.shape(y_true)} does not match y_pred of shape {y_pred.shape}: "
                         "sparse_categorical_crossentropy takes one class id per row. Fix: pass class ids of shape "
                         f"{y_pred.shape[:-1]}, or use categorical_crossentropy for one-hot targets.")
    if labels.size and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))
                        or labels.min() < 0 or labels.max() >= y_pred.shape[-1]):
        raise ValueError(f"sparse_categorical_crossentropy: y_true holds values outside the class ids 0.."
                         f"{y_pred.shape[-1] - 1} (from {labels.min()!r} to {labels.max()!r}). "
                         "Fix: labels must be integers in [0, number of classes).")
    picked = np.take_along_axis(_log_probabilities(y_pred, from_logits), labels.astype(np.int64)[..., None], -1)
    return -picked[..., 0]


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0):
    """The mean over the last axis of ``−(y·log p + (1 − y)·log(1 − p))``, per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:  # softplus form: exact for any logit
        losses = np.maximum(y_pred, 0) - y_pred * y_true + np.log1p(np.exp(-np.abs(y_pred)))
    else:
        eps = _epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        losses = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
    return losses.mean(axis=-1)


def mean_squared_error(y_true, y_pred):
    """The mean over the last axis of ``(y_pred − y_true)²``, per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.square(y_pred - y_true).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    """The mean over the last axis of ``|y_pred − y_true|``, per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.abs(y_pred - y_true).mean(axis=-1)


mse = mean_squared_error
mae = mean_absolute_error


def reduce_over_batch(per_sample: np.ndarray, sample_weight=None):
    """Keras' ``sum_over_batch_size``: the (weighted) sum of the per-sample losses over their count."""
    if sample_weight is not None:
        weights = as_float_array(sample_weight, "sample_weight")
        if weights.size != 1 and weights.shape != per_sample.shape:
            raise ValueError(f"sample_weight of shape {weights.shape} does not match the {per_sample.shape[0]} "
                             "samples. Fix: one weight per sample, shape (N,).")
        per_sample = per_sample * weights
    return per_sample.dtype.type(per_sample.sum() / max(per_sample.size, 1))
