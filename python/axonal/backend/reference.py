"""The ``numpy`` backend: the readable definition of every op.

Each function here is the specification its C++ and CUDA twins are tested against (op list and
maths in ``docs/design.md``). Conventions shared by every backend:

* outputs come first and are preallocated by the caller; they are overwritten in place, never
  accumulated into; an output passed as ``None`` is skipped;
* then inputs, then scalar parameters; arrays are 2-D (N, K) row-major, float32 or float64 (this
  backend keeps the input dtype; float64 serves the finite-difference gradient checks);
* activation derivatives are computed from the activation's output ``y``;
* losses return the batch-mean loss as a Python float and write the gradient of their input; an
  optional ``sample_weight`` (N,) scales each sample's loss and gradient row (Keras'
  ``sum_over_batch_size``: the weighted sum is still divided by N, not by the sum of weights).
"""
from __future__ import annotations

import math

import numpy as np

from axonal.backend.philox import dropout_keep_mask

NAME = "numpy"

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "softplus", "hard_step")


def check_activation(activation: str) -> str:
    """Return ``activation`` when it is one of :data:`ACTIVATIONS`, else raise ValueError naming it."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}.")
    return activation


# --------------------------------------------------------------------------------------------------
# Activations

def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: e^-|z| never exceeds 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|), finite for any z."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise e^z / sum e^z, shifted by the row maximum so that no exponent overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activation_forward(y, x, activation, alpha):
    """y = act(x), elementwise (row-wise for softmax).

    ``alpha`` is the negative slope of leaky_relu and the scale of elu; others ignore it.
    """
    # x (N, K) -> y (N, K)
    check_activation(activation)
    if activation == "linear":
        y[...] = x
    elif activation == "relu":
        y[...] = np.maximum(x, 0)
    elif activation == "leaky_relu":
        y[...] = np.where(x > 0, x, alpha * x)
    elif activation == "elu":
        # expm1 of min(x, 0): the positive branch is never exponentiated, so no overflow.
        y[...] = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    elif activation == "sigmoid":
        y[...] = _sigmoid(x)
    elif activation == "tanh":
        y[...] = np.tanh(x)
    elif activation == "softmax":
        y[...] = _softmax_rows(x)
    elif activation == "softplus":
        y[...] = _softplus(x)
    else:  # hard_step, the perceptron's threshold unit
        y[...] = np.where(x >= 0, 1, 0)


def activation_backward(dx, dy, y, activation, alpha):
    """dx = dy * act'(z), with act'(z) written in terms of the output y = act(z).

    hard_step is straight-through: its true derivative is 0 almost everywhere, which would stop
    all learning, so the gradient passes unchanged (dx = dy), as for the classic perceptron rule.
    """
    # dy, y (N, K) -> dx (N, K)
    check_activation(activation)
    if activation in ("linear", "hard_step"):
        dx[...] = dy
    elif activation == "relu":
        dx[...] = np.where(y > 0, dy, 0)
    elif activation == "leaky_relu":
        dx[...] = np.where(y > 0, dy, alpha * dy)
    elif activation == "elu":
        # For z <= 0, y = alpha (e^z - 1), so dy/dz = alpha e^z = y + alpha.
        dx[...] = np.where(y > 0, dy, dy * (y + alpha))
    elif activation == "sigmoid":
        dx[...] = dy * y * (1 - y)
    elif activation == "tanh":
        dx[...] = dy * (1 - y * y)
    elif activation == "softmax":
        # Jacobian-vector product of the row softmax: y * (dy - <dy, y>).
        dx[...] = y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    else:  # softplus: dy/dz = sigmoid(z) = 1 - e^-y; -expm1(-y) keeps precision for small y
        dx[...] = dy * -np.expm1(-y)


# --------------------------------------------------------------------------------------------------
# Dense layer

def dense_forward(y, x, W, b, activation, alpha):
    """y = act(x @ W + b); ``b`` may be None (a layer without bias)."""
    # x (N, C), W (C, K), b (K,) | None -> y (N, K)
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


def dropout_forward(y, mask, x, rate, seed, layer_id, step):
    """y = x * mask / (1 - rate), with the Philox mask of (seed, layer_id, step) written to ``mask``."""
    # x (N, K) -> y (N, K), mask uint8 (N, K)
    scale = _dropout_scale(rate)
    mask[...] = dropout_keep_mask(x.shape, rate, seed, layer_id, step)
    y[...] = x * mask * scale  # a product, not a select: a NaN input stays NaN, as in Keras


def dropout_backward(dx, dy, mask, rate):
    """dx = dy * mask / (1 - rate): the gradient flows through kept elements only."""
    # dy (N, K), mask uint8 (N, K) -> dx (N, K)
    dx[...] = dy * mask * _dropout_scale(rate)


# --------------------------------------------------------------------------------------------------
# Optimisers: Keras 3 update rules, in place on param and its slots (any shape, same as param)

def _require_slot(slot, name: str, reason: str) -> None:
    """Raise when a slot the configuration needs was passed as None."""
    if slot is None:
        raise ValueError(f"{name} is None but {reason}; allocate it like the parameter")


def _decay_weights(param, lr, weight_decay) -> None:
    """Keras' decoupled weight decay, applied before the update: p <- p - p * wd * lr.

    ``weight_decay`` None or 0 (Keras' default is None) means no decay.
    """
    if weight_decay:
        param[...] = param - param * weight_decay * lr


def sgd_update(param, grad, momentum_buf, lr, momentum, nesterov, weight_decay=None):
    """SGD with optional (Nesterov) momentum. ``momentum_buf`` is None when momentum == 0.

    m <- momentum m - lr g; Nesterov: p <- p + momentum m - lr g, else p <- p + m;
    without momentum: p <- p - lr g.
    """
    # param, grad, momentum_buf (same shape) -> param, momentum_buf updated
    if momentum:
        _require_slot(momentum_buf, "momentum_buf", f"momentum is {momentum}")
    _decay_weights(param, lr, weight_decay)
    if momentum_buf is None:
        param[...] = param - lr * grad
        return
    momentum_buf[...] = momentum * momentum_buf - lr * grad
    if nesterov:
        param[...] = param + momentum * momentum_buf - lr * grad
    else:
        param[...] = param + momentum_buf


def rmsprop_update(param, grad, velocity, momentum_buf, average_grad, lr, rho, momentum, epsilon,
                   centered, weight_decay=None):
    """RMSprop, optionally centered and with momentum (epsilon inside the square root, as Keras).

    ``momentum_buf`` is None when momentum == 0, ``average_grad`` None when not centered.
    """
    # param, grad, velocity, momentum_buf, average_grad (same shape) -> updated in place
    if momentum:
        _require_slot(momentum_buf, "momentum_buf", f"momentum is {momentum}")
    if centered:
        _require_slot(average_grad, "average_grad", "centered is True")
    _decay_weights(param, lr, weight_decay)
    velocity[...] = rho * velocity + (1 - rho) * grad * grad
    if centered:
        average_grad[...] = rho * average_grad + (1 - rho) * grad
        denominator = velocity - average_grad * average_grad + epsilon
    else:
        denominator = velocity + epsilon
    increment = lr * grad / np.sqrt(denominator)
    if momentum_buf is not None:
        momentum_buf[...] = momentum * momentum_buf + increment
        param[...] = param - momentum_buf
    else:
        param[...] = param - increment


def adagrad_update(param, grad, accumulator, lr, epsilon, weight_decay=None):
    """Adagrad: acc <- acc + g^2; p <- p - lr g / sqrt(acc + epsilon)."""
    # param, grad, accumulator (same shape) -> updated in place
    _decay_weights(param, lr, weight_decay)
    accumulator[...] = accumulator + grad * grad
    param[...] = param - lr * grad / np.sqrt(accumulator + epsilon)


def adadelta_update(param, grad, accum_grad, accum_delta, lr, rho, epsilon, weight_decay=None):
    """Adadelta: running averages of g^2 and of the step^2 set a per-element step size."""
    # param, grad, accum_grad, accum_delta (same shape) -> updated in place
    _decay_weights(param, lr, weight_decay)
    accum_grad[...] = rho * accum_grad + (1 - rho) * grad * grad
    delta = -np.sqrt(accum_delta + epsilon) / np.sqrt(accum_grad + epsilon) * grad
    accum_delta[...] = rho * accum_delta + (1 - rho) * delta * delta
    param[...] = param + lr * delta


def adam_update(param, grad, m, v, v_hat, lr, beta_1, beta_2, epsilon, step, amsgrad, weight_decay=None):
    """Adam (AMSGrad optional), ``step`` the 1-based iteration; ``v_hat`` is None when not amsgrad.

    The bias corrections are folded into the step size, as Keras does:
    alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t); p <- p - alpha m / (sqrt(v) + epsilon).
    """
    # param, grad, m, v, v_hat (same shape) -> updated in place
    if step < 1:
        raise ValueError(f"Adam's step is 1-based, received {step}")
    if amsgrad:
        _require_slot(v_hat, "v_hat", "amsgrad is True")
    _decay_weights(param, lr, weight_decay)
    alpha = lr * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)  # a Python float (float64 maths)
    m[...] = m + (grad - m) * (1 - beta_1)
    v[...] = v + (grad * grad - v) * (1 - beta_2)
    second_moment = v
    if amsgrad:
        v_hat[...] = np.maximum(v_hat, v)
        second_moment = v_hat
    param[...] = param - alpha * m / (np.sqrt(second_moment) + epsilon)


# Convolution and pooling live in their own module; the op list is re-exported from here.
from axonal.backend.reference_conv import conv2d_forward, conv2d_backward, max_pool2d_forward, max_pool2d_backward, avg_pool2d_forward, avg_pool2d_backward  # noqa: E402,F401
from axonal.backend.reference_merge import merge_forward, merge_backward, concat_forward, concat_backward, accumulate, scale  # noqa: E402,F401
