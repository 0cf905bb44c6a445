"""The ``numpy`` backend: the readable definition of every op.

Each function here is the specification its C++ and CUDA twins are tested against (op list and
maths in ``docs/design.md``). Conventions shared by every backend:

* outputs come first and are preallocated by the caller; they are overwritten in place, never
  accumulated into; an output passed as ``None`` is skipped;
* then inputs, then scalar parameters; arrays are 2-D (N, K) row-major, float32 or float64 (this
  backend keeps the input dtype; float64 serves the finite-difference gradient checks);
* activation derivatives are computed from the activation's output ``y``, or from its input ``z``
  for the activations of ``activations.FROM_INPUT`` (which the fused dense/conv2d kernels refuse);
* losses return the batch-mean loss as a Python float and write the gradient of their input; an
  optional ``sample_weight`` (N,) scales each sample's loss and gradient row (Keras'
  ``sum_over_batch_size``: the weighted sum is still divided by N, not by the sum of weights).
"""
from __future__ import annotations

import numpy as np

from axonal.backend.philox import dropout_keep_mask
from axonal.backend.reference_activations import (ACTIVATIONS, _sigmoid, _softplus, activation_backward,  # noqa: F401
                                                 activation_forward, check_activation, check_fused_activation)
from axonal.backend.reference_conv import conv2d_forward, conv2d_backward, max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward  # noqa: F401
from axonal.backend.reference_augmentation import (affine_backward, affine_forward, augment_draw,  # noqa: F401
                                                   contrast_backward, contrast_forward, normalize_backward,
                                                   normalize_forward, rescale_backward, rescale_forward)
from axonal.backend.reference_embedding import embedding_forward, embedding_backward  # noqa: F401
from axonal.backend.reference_reshaping import (zero_pad2d_forward, zero_pad2d_backward,  # noqa: F401
                                                upsample2d_forward, upsample2d_backward,
                                                spatial_dropout_forward, spatial_dropout_backward,
                                                transpose_samples)
from axonal.backend.reference_merge import merge_forward, merge_backward, concat_forward, concat_backward, accumulate, scale  # noqa: F401
from axonal.backend.reference_normalization import (batch_norm_forward, batch_norm_backward,  # noqa: F401
                                                   batch_norm_inference_forward, batch_norm_inference_backward,
                                                   layer_norm_forward, layer_norm_backward)
from axonal.backend.reference_optimizers import *  # noqa: F401,F403  (an op per row of optimizers.KERNELS)

NAME = "numpy"

def dense_forward(y, x, W, b, activation, alpha):
    """y = act(x @ W + b); ``b`` may be None (a layer without bias)."""
    # x (N, C), W (C, K), b (K,) | None -> y (N, K)
    check_fused_activation("dense_forward", activation)
    np.matmul(x, W, out=y)
    if b is not None:
        y += b
    activation_forward(y, y, activation, alpha)


def dense_backward(dx, dW, db, dz, dy, x, W, y, activation, alpha):
    """Gradients of a dense layer from the gradient ``dy`` of its output ``y``.

    ``dz`` is a caller-owned scratch output that receives dy * act'(y). ``dW`` and ``db`` are None
    for a frozen layer (``db`` also without bias), ``dx`` is None for the first layer.
    """
    # dy, y (N, K), x (N, C), W (C, K) -> dz (N, K), dW (C, K) | None, db (K,) | None, dx (N, C) | None
    check_fused_activation("dense_backward", activation)
    activation_backward(dz, dy, y, activation, alpha)
    if dW is not None:
        np.matmul(x.T, dz, out=dW)
    if db is not None:
        db[...] = dz.sum(axis=0)
    if dx is not None:
        np.matmul(dz, W.T, out=dx)


# --------------------------------------------------------------------------------------------------
# Losses (each fused with its output activation; mean over the batch, optionally sample-weighted)

def _as_targets(targets, like: np.ndarray) -> np.ndarray:
    """``targets`` as an array of ``like``'s shape and dtype (float labels or regression targets)."""
    targets = np.asarray(targets)
    if targets.shape != like.shape:
        raise ValueError(f"labels must have shape {like.shape}, received {targets.shape}")
    return targets.astype(like.dtype, copy=False)


def _one_hot_or_targets(labels, logits: np.ndarray) -> np.ndarray:
    """(N, K) targets from one-hot/probability rows (N, K), or from (N,) integer class ids."""
    labels = np.asarray(labels)
    n, k = logits.shape
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        return _as_targets(labels, logits)
    if labels.shape[0] != n:
        raise ValueError(f"integer labels must have shape ({n},), received {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"class ids must be in [0, {k}), received values from {labels.min()} to {labels.max()}")
    targets = np.zeros_like(logits)
    targets[np.arange(n), labels] = 1
    return targets


def _row_weights(sample_weight, like: np.ndarray):
    """``sample_weight`` (N,) as a column (N, 1) that scales each row of ``like``; 1 when None."""
    if sample_weight is None:
        return 1
    weights = np.asarray(sample_weight)
    if weights.shape != (like.shape[0],):
        raise ValueError(f"sample_weight must have shape ({like.shape[0]},), received {weights.shape}")
    return weights.astype(like.dtype, copy=False)[:, None]


def softmax_cross_entropy(dlogits, logits, labels, sample_weight=None):
    """Softmax + categorical cross-entropy from logits; returns the batch-mean loss.

    l_n = -sum_k t_nk log softmax(z_n)_k = logsumexp(z_n) - sum_k t_nk z_nk for rows of t that sum
    to 1 (one-hot or probabilities); loss = sum_n w_n l_n / N, dlogits_n = w_n (softmax(z_n) - t_n) / N
    (w = 1 without ``sample_weight``).
    """
    # logits (N, K), labels (N, K) float or (N,) int, sample_weight (N,) | None -> dlogits (N, K), float
    targets = _one_hot_or_targets(labels, logits)
    weights = _row_weights(sample_weight, logits)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)  # log-sum-exp shift: exponents <= 0
    log_normaliser = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probabilities = shifted - log_normaliser
    loss = -np.sum(weights * targets * log_probabilities, dtype=np.float64) / n
    dlogits[...] = weights * (np.exp(log_probabilities) - targets) / n
    return float(loss)


def sigmoid_binary_cross_entropy(dlogits, logits, labels, sample_weight=None):
    """Sigmoid + binary cross-entropy from logits; returns the mean over all N*K outputs.

    -[t log s(z) + (1 - t) log(1 - s(z))] = softplus(z) - t z, evaluated stably (no log(0)); a
    sample's loss is the mean over its K outputs, weighted by w_n: loss = sum w_n (...) / (N K),
    dlogits = w_n (sigmoid(z) - t) / (N K).
    """
    # logits, labels (N, K), sample_weight (N,) | None -> dlogits (N, K), float
    targets = _as_targets(labels, logits)
    weights = _row_weights(sample_weight, logits)
    count = logits.size
    loss = np.sum(weights * (_softplus(logits) - targets * logits), dtype=np.float64) / count
    dlogits[...] = weights * (_sigmoid(logits) - targets) / count
    return float(loss)


def mean_squared_error(dpred, pred, target, sample_weight=None):
    """Mean squared error over all N*K outputs, each sample's squares weighted by w_n;
    dpred = 2 w_n (p - t) / (N K)."""
    # pred, target (N, K), sample_weight (N,) | None -> dpred (N, K), float
    target = _as_targets(target, pred)
    weights = _row_weights(sample_weight, pred)
    difference = pred - target
    loss = np.sum(weights * difference * difference, dtype=np.float64) / pred.size
    dpred[...] = 2 * weights * difference / pred.size
    return float(loss)


# --------------------------------------------------------------------------------------------------
# Dropout (inverted: kept elements are scaled by 1 / (1 - rate) at train time)

def _dropout_scale(rate) -> float:
    """1 / (1 - rate), the factor that keeps the expected activation unchanged."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), received {rate!r}")
    return 1 / (1 - float(rate))


def dropout_forward(y, mask, x, rate, seed, layer_id, step, first_element=0):
    """y = x * mask / (1 - rate), with the Philox mask of (seed, layer_id, step) written to ``mask``;
    element i takes mask element ``first_element + i`` (a data-parallel shard's offset)."""
    # x (N, K) -> y (N, K), mask uint8 (N, K)
    scale = _dropout_scale(rate)
    mask[...] = dropout_keep_mask(x.shape, rate, seed, layer_id, step, first_element)
    y[...] = x * mask * scale  # a product, not a select: a NaN input stays NaN, as in Keras


def dropout_backward(dx, dy, mask, rate):
    """dx = dy * mask / (1 - rate): the gradient flows through kept elements only."""
    # dy (N, K), mask uint8 (N, K) -> dx (N, K)
    dx[...] = dy * mask * _dropout_scale(rate)


# Convolution, pooling and the optimisers live in their own modules; the op list is re-exported from here.
