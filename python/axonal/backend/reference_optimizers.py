"""The optimisers of the ``numpy`` backend: Keras 3's update rules, the readable definition of the
``*_update`` ops (maths in ``docs/design.md``, "Optimiser maths").

Each op updates ``param`` and the optimiser's slot arrays (any shape, the parameter's) in place;
a slot the configuration does not use is passed as None. The argument order of every op (slots in
the op's order, then its scalars) is declared once, in ``axonal.optimizers.KERNELS``. Keras'
decoupled weight decay ``p <- p - p * wd * lr`` comes first. Conventions as in
:mod:`axonal.backend.reference`: float32 or float64, the input dtype kept.

Example:
    >>> param, m = np.array([0.5, -1.5]), np.zeros(2)
    >>> lion_update(param, np.array([0.2, -0.4]), m, 0.1, 0.9, 0.99)
    >>> param
    array([ 0.4, -1.4])
"""
from __future__ import annotations

import math

import numpy as np

from axonal.optimizers import KERNELS

__all__ = [kernel.op for kernel in KERNELS.values()]  # the ops reference.py re-exports


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


def lion_update(param, grad, m, lr, beta_1, beta_2, weight_decay=None):
    """Lion: p <- p - lr sign(beta_1 m + (1 - beta_1) g), then m <- beta_2 m + (1 - beta_2) g.

    Every coordinate moves by exactly lr (0 where the interpolated momentum is 0: sign(0) = 0);
    only the direction comes from the gradient and the momentum, which is updated after the step
    with its own rate beta_2.
    """
    # param, grad, m (same shape) -> updated in place
    _require_slot(m, "m", "Lion keeps a momentum")
    _decay_weights(param, lr, weight_decay)
    param[...] = param - lr * np.sign(beta_1 * m + (1 - beta_1) * grad)
    m[...] = beta_2 * m + (1 - beta_2) * grad


def adamax_update(param, grad, m, u, lr, beta_1, beta_2, epsilon, step, weight_decay=None):
    """Adamax, ``step`` the 1-based iteration: m <- m + (g - m)(1 - beta_1); u <- max(beta_2 u, |g|);
    p <- p - lr / (1 - beta_1^step) * m / (u + epsilon).

    Keras 3 divides ``lr * m`` by ``(1 - beta_1^step) (u + epsilon)``; the bias correction is folded
    into the rate here (a Python float, float64 maths), as for Adam.
    """
    # param, grad, m, u (same shape) -> updated in place
    if step < 1:
        raise ValueError(f"Adamax's step is 1-based, received {step}")
    _require_slot(m, "m", "Adamax keeps a momentum")
    _require_slot(u, "u", "Adamax keeps the infinity norm")
    _decay_weights(param, lr, weight_decay)
    alpha = lr / (1 - beta_1**step)
    m[...] = m + (grad - m) * (1 - beta_1)
    u[...] = np.maximum(beta_2 * u, np.abs(grad))
    param[...] = param - alpha * m / (u + epsilon)
