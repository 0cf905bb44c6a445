"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""
from __future__ import annotations

import math

import numpy as np

from axonal import activations, initializers, regularizers
from axonal._legacy import renamed_arguments
from axonal._validation import check_positive_int, check_shape
from axonal.layers import graph
from axonal.layers._data_format import CHANNELS_FIRST, data_format_argument, move_channels
from axonal.layers.base import ActivationOutputMixin, Layer, as_rows


class InputLayer(Layer):
    """Declares the per-sample input shape of a Sequential model; created by :func:`Input`.

    Args:
        shape: per-sample shape, e.g. ``(784,)``.
        batch_size: fixed batch size, or None (recorded for the summary only).
        dtype: the data's type as the program declares it (``"float32"``, the default, or an integer
            type such as ``"int32"`` for the ids an Embedding reads): recorded, written to Keras
            files and shown by the symbolic tensor. The arrays a model receives are converted as
            every input is: to int32 ids for the layers that read ids, to float32 for the others
            (Keras' float32 layers cast theirs too).
    """

    def __init__(self, shape: tuple, batch_size: int | None = None, dtype: str | None = None,
                 name: str | None = None):
        super().__init__(name=name)
        self.shape = check_shape(shape, "shape", f"Input {self.name!r}")
        self.batch_size = batch_size
        self.dtype = input_dtype(dtype, f"Input {self.name!r}")
        self.built = True
        self.input_shape = (None,) + self.shape
        # The symbolic tensor a functional model starts from (what Input() returns): its output.
        graph.Node(self, [], self.input_shape).output.dtype = self.dtype

    def forward(self, x, training):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"shape": self.shape, "batch_size": self.batch_size, "name": self.name, "dtype": self.dtype}


def input_dtype(dtype, owner: str) -> str:
    """``dtype`` as its NumPy name (None: ``"float32"``), for a float, integer or boolean type."""
    if dtype is None:
        return "float32"
    try:
        kind = np.dtype(dtype)
    except TypeError:
        kind = None
    if kind is None or kind.kind not in "fiub":
        raise ValueError(f"{owner}: dtype={dtype!r} is not supported: inputs are numbers (float32, or integer ids "
                         "for an Embedding). Fix: leave dtype out, or turn text into ids first (e.g. "
                         "axonal.preprocessing.text.Tokenizer) and use dtype='int32'.")
    return kind.name


def Input(shape: tuple | None = None, batch_size: int | None = None, dtype: str | None = None,
          name: str | None = None, *, batch_shape: tuple | None = None) -> graph.KerasTensor:
    """A symbolic input tensor: the start of a functional model, or the first element of a
    Sequential one (as in Keras 3, it is a :class:`~axonal.layers.graph.KerasTensor` made by an
    :class:`InputLayer`). ``batch_shape`` is ``(batch_size,) + shape``, Keras' other spelling.

    Example:
        >>> model = Sequential([Input(shape=(784,)), Dense(10, activation="softmax")])
        >>> inputs = Input(shape=(784,), name="pixels")
        >>> model = Model(inputs, Dense(10, activation="softmax")(inputs))
        >>> ids = Input(shape=(200,), dtype="int32")  # padded word ids, read by an Embedding
    """
    if batch_shape is not None:
        if shape is not None:
            raise ValueError(f"Input takes shape= or batch_shape=, not both: received shape={shape!r} and "
                             f"batch_shape={batch_shape!r}. Fix: keep one, e.g. shape={tuple(batch_shape)[1:]!r}.")
        batch_size, shape = tuple(batch_shape)[0], tuple(batch_shape)[1:]
    return InputLayer(shape, batch_size, dtype, name).output


class Dense(ActivationOutputMixin, Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``, in one fused kernel.

    Args:
        units: number of outputs K.
        activation: name (``"relu"``, ``"softmax"``...), a function of :mod:`axonal.activations`,
            or None for linear.
        use_bias: whether to add a bias.
        kernel_initializer: initialiser of the (C, K) kernel, by name or object.
        bias_initializer: initialiser of the (K,) bias.
        kernel_regularizer: penalty on the kernel (``"l2"``, ``regularizers.l2(1e-4)``...), or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Keras 1 spellings are accepted with a DeprecationWarning: ``output_dim`` for ``units``,
    ``init`` for ``kernel_initializer``, ``W_regularizer``/``b_regularizer`` for the regularisers,
    ``input_dim`` for ``input_shape``.

    Shapes:
        x (N, C) -> y (N, K).

    Example:
        >>> Dense(512, activation="relu", input_shape=(784,), kernel_regularizer=regularizers.l2(1e-4))
    """

    @renamed_arguments(output_dim="units", init="kernel_initializer", W_regularizer="kernel_regularizer",
                       b_regularizer="bias_regularizer")
    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = activations.get(activation)
        self.alpha = activations.default_alpha(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def check_input_shape(self, input_shape, sources=None):
        if len(input_shape) != 2:
            raise ValueError(
                f"Layer {self.name!r} (Dense) expects inputs of shape (batch, features), received "
                f"input shape {tuple(input_shape)}. Fix: put Flatten() before it, or reshape the "
                f"data to (N, {math.prod(d for d in input_shape[1:] if d)}).")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, "kernel",
                                      self.kernel_regularizer)
        self.bias = (self.add_weight((self.units,), self.bias_initializer, "bias", self.bias_regularizer)
                     if self.use_bias else None)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def forward(self, x, training):
        self.x = x
        self.y = self.buffers.get("y", (len(x), self.units))  # the fused kernel's output
        self.ops.dense_forward(self.y, x, self.kernel, self.bias, self.applied_activation, self.alpha)
        return self._activate(self.y)

    def backward(self, dy):
        dy = self._deactivate(dy, self.y)
        dz = self.buffers.get("dz", dy.shape)
        dx = self.buffers.get("dx", self.x.shape) if self.needs_input_gradient else None
        self.ops.dense_backward(dx, self._gradient_buffer("kernel"), self._gradient_buffer("bias"), dz, dy,
                                self.x, self.kernel, self.y, self.applied_activation, self.alpha)
        return dx

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


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

    @property
    def applied_activation(self) -> str:
        """What this layer's op applies: its activation (any: the activation op keeps what the
        derivative needs), or none when a loss absorbs it."""
        return "linear" if self.activation_in_loss else self.activation

    @property
    def separate_activation(self) -> None:
        return None

    def forward(self, x, training):
        if self.applied_activation == "linear":
            return x
        self.x = x
        self.y = self.buffers.get("y", x.shape)
        self.ops.activation_forward(as_rows(self.y), as_rows(x), self.applied_activation, self.alpha)
        return self.y

    def backward(self, dy):
        activation = self.applied_activation
        if activation == "linear":
            return dy
        dx = self.buffers.get("dx", dy.shape)
        source = activations.derivative_source(activation, self.x, self.y)  # GELU, SiLU, Mish: the input
        self.ops.activation_backward(as_rows(dx), as_rows(dy), as_rows(source), activation, self.alpha)
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
        first_row = getattr(self.steps, "first_row", 0)  # a data-parallel shard's place in its global batch
        if first_row:
            self.ops.dropout_forward(as_rows(y), as_rows(self.mask), as_rows(x), self.rate, self.mask_seed,
                                     self.position, self.steps.value, first_element=first_row * as_rows(x).shape[1])
        else:
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

    Args:
        data_format: ``'channels_last'``, ``'channels_first'`` or None (the default:
            :func:`axonal.backend.image_data_format` when the layer is created). As in Keras, with
            ``'channels_first'`` an input of more than two axes has its channel axis (axis 1)
            moved last before it is flattened, (N, C, H, W) -> (N, H·W·C), so a model keeps its
            Dense weights when its data format changes; that moving is a copy (a
            ``transpose_samples`` op; the native loop skips it after a channels_first layer).
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Example:
        >>> Sequential([Input(shape=(28, 28)), Flatten(), Dense(10, activation="softmax")])
    """

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_argument(self, data_format)

    @property
    def transposes_channels(self) -> bool:
        """Whether the layer moves the channel axis (channels_first, input of more than two axes)."""
        return self.data_format == CHANNELS_FIRST and self.input_shape is not None and len(self.input_shape) > 2

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        if not self.transposes_channels:
            return x.reshape(len(x), -1)
        order = (0, *range(2, x.ndim), 1)  # (N, C, d2, ...) -> (N, d2, ..., C)
        moved = self.buffers.get("channels_last", tuple(x.shape[i] for i in order))
        move_channels(self.ops, moved, x, to_last=True)
        return moved.reshape(len(x), -1)

    def backward(self, dy):
        if not self.transposes_channels:
            return dy.reshape(self.input_batch_shape)
        n, channels, *rest = self.input_batch_shape
        dx = self.buffers.get("dx", self.input_batch_shape)
        move_channels(self.ops, dx, dy.reshape(n, *rest, channels), to_last=False)
        return dx

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape``: (N, ...) -> (N, *target_shape). No copy is made.

    Args:
        target_shape: the per-sample shape, without the batch; one entry may be -1, inferred from
            the number of values per sample.

    Example:
        >>> Sequential([Input(shape=(784,)), Reshape((28, 28, 1)), RandomTranslation(0.1, 0.1), Flatten(),
        ...             Dense(10, activation="softmax")])
    """

    def __init__(self, target_shape: tuple, **kwargs):
        super().__init__(**kwargs)
        target = (target_shape,) if isinstance(target_shape, int) else tuple(target_shape)
        valid = all(isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in target)
        if not target or not valid or target.count(-1) > 1:
            raise ValueError(f"Reshape target_shape must be a tuple of positive integers with at most one -1 "
                             f"(the batch excluded), received target_shape={target_shape!r}. "
                             "Fix: e.g. Reshape((28, 28, 1)) or Reshape((-1, 1)).")
        self.target_shape = target

    def build(self, input_shape):
        # Resolved once (and checked before any data arrives): forward only reshapes.
        self.sample_shape = self.compute_output_shape(input_shape)[1:]
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError(
                f"Layer {self.name!r} (Reshape) cannot reshape samples of shape {tuple(input_shape[1:])} "
                f"({size} values) to target_shape={self.target_shape} ({known} values). Fix: choose a "
                f"target shape with {size} values, or put -1 in one place to infer it.")
        return (input_shape[0],) + tuple(size // known if d == -1 else d for d in self.target_shape)

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        return x.reshape((len(x),) + self.sample_shape)

    def backward(self, dy):
        return dy.reshape(self.input_batch_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
