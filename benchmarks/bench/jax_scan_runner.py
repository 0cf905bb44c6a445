"""Hand-written JAX: one jitted function runs a whole epoch as a single ``jax.lax.scan`` over the batches.

This is the fastest way to train a small model in JAX (no Python between steps), the bar for
per-step overhead. Dense and Dropout layers only (W1 and W2). Keras' formulas throughout, so the
trajectory is comparable: Glorot-uniform kernels and zero biases; RMSprop ``v = ρv + (1−ρ)g²,
p −= lr·g/√(v+ε)``; Adam ``α = lr·√(1−β2ᵗ)/(1−β1ᵗ), m += (g−m)(1−β1), v += (g²−v)(1−β2),
p −= α·m/(√v+ε)`` (ε = 1e-7, β = 0.9, 0.999, ρ = 0.9). The epoch's shuffle is a NumPy permutation
drawn on the host; a last partial batch runs as one more jitted step. Interface: see ``keras_style``.
"""
from __future__ import annotations

import functools
import os
import time

import numpy as np

RHO, BETA_1, BETA_2, EPSILON = 0.9, 0.9, 0.999, 1e-7


class JaxScanRunner:
    """Models are dicts holding the parameters, optimiser state and the jitted functions."""

    def __init__(self, seed: int):
        import jax  # an ImportError means "not installed" to the worker
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.key = jax.random.PRNGKey(seed)
        self.rng = np.random.default_rng(seed)

    def threads(self) -> int:
        return len(os.sched_getaffinity(0))  # XLA's CPU client sizes its thread pool to the cores

    def build(self, spec, optimizer: str, learning_rate: float, metrics: bool = True):
        """The one model builder: parameters, optimiser slots and the jitted epoch, step and predict."""
        jax, jnp = self.jax, self.jnp
        if any(layer[0] not in ("dense", "dropout") for layer in spec.layers):
            raise NotImplementedError("jax-scan implements Dense and Dropout models only")
        params, width = [], spec.input_shape[0]
        for layer in spec.layers:
            if layer[0] == "dense":
                self.key, sub = jax.random.split(self.key)
                limit = np.sqrt(6.0 / (width + layer[1]))
                params.append((jax.random.uniform(sub, (width, layer[1]), jnp.float32, -limit, limit),
                               jnp.zeros((layer[1],), jnp.float32)))
                width = layer[1]
        zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
        state = (zeros(),) if optimizer == "rmsprop" else (zeros(), zeros(), jnp.zeros((), jnp.float32))
        self.key, key = jax.random.split(self.key)
        step = functools.partial(_train_step, self._loss_fn(spec), _UPDATES[optimizer], learning_rate)
        return {"params": params, "state": state, "key": key, "spec": spec,
                "epoch": jax.jit(functools.partial(_epoch, step)), "step": jax.jit(step),
                "predict": jax.jit(functools.partial(self._forward, spec, output=True))}

    def _forward(self, spec, params, x, key=None, output=False):
        """Logits (or probabilities with ``output``); Dropout is active only when a key is given."""
        jax, jnp = self.jax, self.jnp
        dense = 0
        for position, layer in enumerate(spec.layers):
            if layer[0] == "dense":
                kernel, bias = params[dense]
                dense += 1
                x = x @ kernel + bias
                if position < len(spec.layers) - 1:
                    x = jax.nn.relu(x) if layer[2] == "relu" else jax.nn.sigmoid(x)
            elif key is not None:   # dropout, training
                key, sub = jax.random.split(key)
                keep = jax.random.bernoulli(sub, 1.0 - layer[1], x.shape)
                x = jnp.where(keep, x / (1.0 - layer[1]), 0.0)
        if output:
            return jax.nn.sigmoid(x) if spec.binary else jax.nn.softmax(x, axis=1)
        return x

    def _loss_fn(self, spec):
        """Mean cross-entropy from logits (the stable fused forms)."""
        jax, jnp = self.jax, self.jnp

        def loss(params, x, y, key):
            logits = self._forward(spec, params, x, key)
            if spec.binary:
                return jnp.mean(jnp.logaddexp(0.0, logits) - y * logits)
            log_p = jax.nn.log_softmax(logits, axis=1)
            return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))
        return loss

    def prepare(self, spec, x, y):
        return self.jnp.asarray(x), self.jnp.asarray(y)

    def train(self, model, data, batch_size: int, epochs: int):
        x, y = data
        seconds, loss = [], float("nan")
        full = len(x) // batch_size * batch_size
        for _ in range(epochs):
            start = time.perf_counter()
            order = self.rng.permutation(len(x)).astype(np.int32)
            carry = (model["params"], model["state"], model["key"])
            carry, losses = model["epoch"](carry, x, y, order[:full].reshape(-1, batch_size))
            if full < len(x):
                carry, last = model["step"](carry, x, y, order[full:])
                losses = self.jnp.append(losses, last)
            model["params"], model["state"], model["key"] = carry
            loss = float(losses.mean())   # waits for the epoch: JAX dispatches asynchronously
            seconds.append(time.perf_counter() - start)
        return seconds, loss

    def predict(self, model, x, batch_size: int):
        return np.concatenate([np.asarray(model["predict"](model["params"], x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])


def _train_step(loss_fn, update, learning_rate, carry, x, y, rows):
    """One batch: gradients of the loss on ``x[rows]`` and the optimiser update."""
    import jax

    params, state, key = carry
    key, sub = jax.random.split(key)
    loss, grads = jax.value_and_grad(loss_fn)(params, x[rows], y[rows], sub)
    params, state = update(learning_rate, params, grads, state)
    return (params, state, key), loss


def _epoch(step, carry, x, y, batches):
    """All the epoch's full batches (rows of ``batches``) in one scan."""
    import jax

    return jax.lax.scan(lambda c, rows: step(c, x, y, rows), carry, batches)


def _rmsprop(lr, params, grads, state):
    import jax
    import jax.numpy as jnp

    tree = jax.tree_util.tree_map
    velocity = tree(lambda v, g: RHO * v + (1 - RHO) * g * g, state[0], grads)
    params = tree(lambda p, g, v: p - lr * g / jnp.sqrt(v + EPSILON), params, grads, velocity)
    return params, (velocity,)


def _adam(lr, params, grads, state):
    import jax
    import jax.numpy as jnp

    tree = jax.tree_util.tree_map
    m, v, t = state
    t = t + 1
    alpha = lr * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
    m = tree(lambda m_, g: m_ + (g - m_) * (1 - BETA_1), m, grads)
    v = tree(lambda v_, g: v_ + (g * g - v_) * (1 - BETA_2), v, grads)
    params = tree(lambda p, m_, v_: p - alpha * m_ / (jnp.sqrt(v_) + EPSILON), params, m, v)
    return params, (m, v, t)


_UPDATES = {"rmsprop": _rmsprop, "adam": _adam}
