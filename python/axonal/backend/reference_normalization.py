"""Normalization ops of the ``numpy`` backend: the readable definition of Keras' BatchNormalization
and LayerNormalization, forward and backward.

Arrays are 2-D rows of features: BatchNormalization sees a batch (N, ...) with its channel axis last
as M rows of C channels (M = N for Dense outputs, N·H·W for images) and normalises each column over
the rows; LayerNormalization sees R rows of K features and normalises each row. The statistics are
summed in float64 and rounded once to the arrays' dtype; everything else runs in that dtype, in the
order written here, which is the order of the C++ and CUDA kernels:

* mean = Σx / count, variance = Σ(x − mean)² / count (biased, two passes, as Keras' ``moments``),
  inv_std = 1 / sqrt(variance + epsilon);
* y = x·a + b with a = gamma·inv_std and b = beta − mean·a (TensorFlow's ``batch_normalization``
  form; gamma None means 1, beta None means 0);
* BatchNormalization in training updates the moving statistics in place, Keras' order:
  ``moving = moving·momentum + batch·(1 − momentum)`` (the variance is the biased one);
* backward (batch statistics): x̂ = (x − mean)·inv_std, dbeta = Σ dy, dgamma = Σ dy·x̂,
  dx = gamma·inv_std·(dy − Σdy/count − x̂·Σ(dy·x̂)/count);
* LayerNormalization's ``rms_scaling=True`` is Keras 3.15's deprecated form: y = x·inv_std·gamma
  (no centring; beta is ignored; the variance is still about the mean).

Outputs come first and are overwritten (None: skipped); an empty batch (no rows) changes nothing.

Example:
    >>> x = np.array([[1.0], [3.0]]); y = np.empty_like(x); mean = np.empty(1); inv = np.empty(1)
    >>> mm, mv = np.zeros(1), np.ones(1)
    >>> batch_norm_forward(y, mean, inv, mm, mv, x, None, None, 0.99, 1e-3); y[:, 0].round(3), mm
    (array([-1.,  1.]), array([0.02]))
"""
from __future__ import annotations

import numpy as np


def _check_momentum_epsilon(op: str, momentum, epsilon) -> None:
    if momentum is not None and not 0 <= momentum <= 1:
        raise ValueError(f"{op}: momentum must be in [0, 1], received {momentum!r}.")
    if not epsilon > 0:  # also refuses NaN
        raise ValueError(f"{op}: epsilon must be positive, received {epsilon!r}.")


def _inv_std(variance64: np.ndarray, epsilon: float, dtype) -> np.ndarray:
    """1 / sqrt(variance + epsilon), in float64, rounded once to ``dtype``."""
    return (1.0 / np.sqrt(variance64 + float(epsilon))).astype(dtype)


def _scale_shift(mean, inv_std, gamma, beta):
    """(a, b) with y = x·a + b: a = gamma·inv_std, b = beta − mean·a, in the arrays' dtype."""
    a = inv_std if gamma is None else gamma * inv_std
    shift = mean * a
    b = -shift if beta is None else beta - shift
    return a, b


def _moments(x: np.ndarray, axis: int):
    """(mean, variance) along ``axis`` in float64 (two passes, the variance about the mean rounded to
    the dtype, as the kernels compute it), the mean also rounded to x's dtype."""
    count = x.shape[axis]
    mean = (x.astype(np.float64).sum(axis=axis) / count).astype(x.dtype)
    centred = x.astype(np.float64) - np.expand_dims(mean, axis).astype(np.float64)
    variance = (centred * centred).sum(axis=axis) / count
    return mean, variance


def batch_norm_forward(y, mean, inv_std, moving_mean, moving_variance, x, gamma, beta, momentum, epsilon):
    """Training mode: normalise each column of x with the batch's mean and (biased) variance, keep
    them for the backward pass and move the moving statistics towards them.

    Shapes: x (M, C), gamma/beta (C,) | None -> y (M, C); mean, inv_std (C,) written (the batch's);
    moving_mean, moving_variance (C,) updated in place.
    """
    _check_momentum_epsilon("batch_norm_forward", momentum, epsilon)
    if x.shape[0] == 0:
        return
    batch_mean, variance64 = _moments(x, 0)
    mean[...] = batch_mean
    inv_std[...] = _inv_std(variance64, epsilon, x.dtype)
    dtype = x.dtype.type
    keep, take = dtype(momentum), dtype(1.0 - momentum)
    moving_mean[...] = moving_mean * keep + mean * take
    moving_variance[...] = moving_variance * keep + variance64.astype(x.dtype) * take
    a, b = _scale_shift(mean, inv_std, gamma, beta)
    y[...] = x * a + b


def batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma):
    """Gradients of :func:`batch_norm_forward` (the batch statistics depend on x).

    Shapes: dy, x (M, C); mean, inv_std (C,) from the forward pass; gamma (C,) | None ->
    dx (M, C) | None, dgamma (C,) | None, dbeta (C,) | None.
    """
    count = x.shape[0]
    if count == 0:
        return
    x_hat = (x - mean) * inv_std
    sum_dy = dy.astype(np.float64).sum(axis=0)
    sum_dy_xhat = (dy.astype(np.float64) * x_hat.astype(np.float64)).sum(axis=0)
    if dbeta is not None:
        dbeta[...] = sum_dy
    if dgamma is not None:
        dgamma[...] = sum_dy_xhat
    if dx is not None:
        k = inv_std if gamma is None else gamma * inv_std
        mean_dy = (sum_dy / count).astype(x.dtype)
        mean_dy_xhat = (sum_dy_xhat / count).astype(x.dtype)
        dx[...] = k * (dy - mean_dy - x_hat * mean_dy_xhat)


def batch_norm_inference_forward(y, x, moving_mean, moving_variance, gamma, beta, epsilon):
    """Inference mode (and a frozen layer): normalise with the moving statistics.

    Shapes: x (M, C), moving_mean, moving_variance, gamma, beta (C,) (gamma, beta may be None) -> y (M, C).
    """
    _check_momentum_epsilon("batch_norm_inference_forward", None, epsilon)
    inv_std = _inv_std(moving_variance.astype(np.float64), epsilon, x.dtype)
    a, b = _scale_shift(moving_mean, inv_std, gamma, beta)
    y[...] = x * a + b


def batch_norm_inference_backward(dx, dy, moving_variance, gamma, epsilon):
    """dx = dy · gamma / sqrt(moving_variance + epsilon): the statistics are constants here.

    Shapes: dy (M, C), moving_variance, gamma (C,) (gamma may be None) -> dx (M, C).
    """
    _check_momentum_epsilon("batch_norm_inference_backward", None, epsilon)
    inv_std = _inv_std(moving_variance.astype(np.float64), epsilon, dy.dtype)
    a = inv_std if gamma is None else gamma * inv_std
    dx[...] = dy * a


def layer_norm_forward(y, mean, inv_std, x, gamma, beta, epsilon, rms_scaling):
    """Normalise each row of x over its K features.

    Shapes: x (R, K), gamma/beta (K,) | None -> y (R, K); mean, inv_std (R,) written (per row).
    ``rms_scaling``: y = x·inv_std·gamma (Keras 3.15's deprecated form: no centring, beta unused).
    """
    _check_momentum_epsilon("layer_norm_forward", None, epsilon)
    if x.shape[0] == 0 or x.shape[1] == 0:
        return
    row_mean, variance64 = _moments(x, 1)
    mean[...] = row_mean
    inv_std[...] = _inv_std(variance64, epsilon, x.dtype)
    a = inv_std[:, None] if gamma is None else inv_std[:, None] * gamma
    if rms_scaling:
        y[...] = x * a
        return
    shift = mean[:, None] * a
    y[...] = x * a + (-shift if beta is None else beta - shift)


def layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, rms_scaling):
    """Gradients of :func:`layer_norm_forward`.

    Shapes: dy, x (R, K); mean, inv_std (R,) from the forward pass; gamma (K,) | None ->
    dx (R, K) | None, dgamma (K,) | None, dbeta (K,) | None.
    With h = dy·gamma, x̂ = (x − mean)·inv_std and ẑ = x̂ (ẑ = x·inv_std with ``rms_scaling``):
    dx = inv_std·(h − c·mean(h) − x̂·mean(h·ẑ)) per row (c = 0 with ``rms_scaling``, else 1);
    dgamma = Σ_rows dy·ẑ, dbeta = Σ_rows dy (0 with ``rms_scaling``, which ignores beta).
    """
    if x.shape[0] == 0:
        return
    wide = np.float64
    x_hat = (x - mean[:, None]) * inv_std[:, None]
    z_hat = x * inv_std[:, None] if rms_scaling else x_hat
    if dbeta is not None:
        dbeta[...] = 0 if rms_scaling else dy.astype(wide).sum(axis=0)  # beta is unused with rms_scaling
    if dgamma is not None:
        dgamma[...] = (dy.astype(wide) * z_hat.astype(wide)).sum(axis=0)
    if dx is None or x.shape[1] == 0:
        return
    count = x.shape[1]
    h = dy if gamma is None else dy * gamma
    mean_h = (h.astype(wide).sum(axis=1) / count).astype(x.dtype)[:, None]
    mean_hz = ((h.astype(wide) * z_hat.astype(wide)).sum(axis=1) / count).astype(x.dtype)[:, None]
    centred = h if rms_scaling else h - mean_h
    dx[...] = inv_std[:, None] * (centred - x_hat * mean_hz)
