"""Core layers: Input, Dense, Activation, Dropout, Flatten."""
from __future__ import annotations

import math

import numpy as np

from axonal import activations, initializers
from axonal._validation import check_positive_int
from axonal.layers.base import ActivationOutputMixin, Layer, as_rows


class InputLayer(Layer):
    """Declares the per-sample input shape of a Sequential model; created by :func:`Input`.

    Args:
        shape: per-sample shape, e.g. ``(784,)``.
        batch_size: fixed batch size, or None (recorded for the summary only).
    """

    def __init__(self, shape: tuple, batch_size: int | None = None, name: str | None = None):
        super().__init__(name=name)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
            raise ValueError(f"Input shape must be a tuple of positive integers such as (784,), "
                             f"received shape={shape!r}.")
        self.shape = shape
        self.batch_size = batch_size

    def forward(self, x, training):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"shape": self.shape, "batch_size": self.batch_size, "name": self.name}


def Input(shape: tuple, batch_size: int | None = None, name: str | None = None) -> InputLayer:
    """The input of a Sequential model, as its first element.

    Example:
        >>> model = Sequential([Input(shape=(784,)), Dense(10, activation="softmax")])
    """
    return InputLayer(shape, batch_size, name)


class Dense(ActivationOutputMixin, Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``, in one fused kernel.

    Args:
        units: number of outputs K.
        activation: name (``"relu"``, ``"softmax"``...), a function of :mod:`axonal.activations`,
            or None for linear.
        use_bias: whether to add a bias.
        kernel_initializer: initialiser of the (C, K) kernel, by name or object.
        bias_initializer: initialiser of the (K,) bias.
        **kwargs: ``name``, ``trainable``, ``input_shape``, ``input_dim`` (see :class:`Layer`).

    Shapes:
        x (N, C) -> y (N, K).

    Example:
        >>> Dense(512, activation="relu", input_shape=(784,))
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = activations.get(activation)
        self.alpha = activations.default_alpha(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Layer {self.name!r} (Dense) expects inputs of shape (batch, features), received "
                f"input shape {tuple(input_shape)}. Fix: put Flatten() before it, or reshape the "
                f"data to (N, {math.prod(d for d in input_shape[1:] if d)}).")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, "kernel")
        self.bias = self.add_weight((self.units,), self.bias_initializer, "bias") if self.use_bias else None
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def forward(self, x, training):
        self.x = x
        self.y = self.buffers.get("y", (len(x), self.units))
        self.ops.dense_forward(self.y, x, self.kernel, self.bias, self.applied_activation, self.alpha)
        return self.y

    def backward(self, dy):
        dz = self.buffers.get("dz", dy.shape)
        dx = self.buffers.get("dx", self.x.shape) if self.needs_input_gradient else None
        # A frozen layer passes None: the kernel then skips computing weight gradients.
        dkernel = self._gradients["kernel"] if self.trainable else None
        dbias = self._gradients.get("bias") if self.trainable else None
        self.ops.dense_backward(dx, dkernel, dbias, dz, dy, self.x, self.kernel, self.y,
                                self.applied_activation, self.alpha)
        return dx

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Activation(ActivationOutputMixin, Layer):
    """Applies an activation function on its own.

    Args:
        activation: name or function of :mod:`axonal.activations`.

    Shapes:
        x (N, ...) -> y (N, ...); softmax runs over the last axis.

    Example:
        >>> Sequential([Dense(10, input_shape=(784,)), Activation("softmax")])
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.alpha = activations.default_alpha(self.activation)

    def forward(self, x, training):
        if self.applied_activation == "linear":
            return x
        self.y = self.buffers.get("y", x.shape)
        self.ops.activation_forward(as_rows(self.y), as_rows(x), self.applied_activation, self.alpha)
        return self.y

    def backward(self, dy):
        if self.applied_activation == "linear":
            return dy
        dx = self.buffers.get("dx", dy.shape)
        self.ops.activation_backward(as_rows(dx), as_rows(dy), as_rows(self.y), self.applied_activation,
                                     self.alpha)
        return dx

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Inverted dropout: in training, zeroes each input with probability ``rate`` and scales the
    rest by ``1 / (1 - rate)``; at inference it passes inputs through unchanged.

    The mask is drawn by Philox from (seed, the layer's position in the model, the model's training
    step, element index), so it is identical on every backend (see ``docs/design.md``).

    Args:
        rate: fraction of inputs to drop, in [0, 1).
        seed: seed of the masks; drawn from the model's seed when None.

    Example:
        >>> Sequential([Dense(512, activation="relu", input_shape=(784,)), Dropout(0.2), Dense(10)])
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), received rate={rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.active = False

    def attach(self, ops, position, seed, steps):
        super().attach(ops, position, seed, steps)
        self.mask_seed = self.seed if self.seed is not None else int(self.rng.integers(2**32))

    def forward(self, x, training):
        self.active = training and self.rate > 0
        if not self.active:
            return x
        y = self.buffers.get("y", x.shape)
        self.mask = self.buffers.get("mask", x.shape, np.uint8)
        self.ops.dropout_forward(as_rows(y), as_rows(self.mask), as_rows(x), self.rate, self.mask_seed,
                                 self.position, self.steps.value)
        return y

    def backward(self, dy):
        if not self.active:
            return dy
        dx = self.buffers.get("dx", dy.shape)
        self.ops.dropout_backward(as_rows(dx), as_rows(dy), as_rows(self.mask), self.rate)
        return dx

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Flatten(Layer):
    """Flattens each sample to one axis: (N, d1, d2, ...) -> (N, d1·d2·...). No copy is made.

    Example:
        >>> Sequential([Input(shape=(28, 28)), Flatten(), Dense(10, activation="softmax")])
    """

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.input_batch_shape)
