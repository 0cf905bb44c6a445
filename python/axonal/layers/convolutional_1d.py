"""Conv1D over sequences (N, T, C), as in Keras, run by the conv2d kernels on images one row high.

A sequence (N, T, C) is the image (N, 1, T, C) and a (K, C, F) kernel the (1, K, C, F) one; both
are views of the same memory, so the layer calls ``conv2d_forward``/``conv2d_backward`` of any
backend, and the native loop and the device run it as the Conv2D step they already know.
"""
from __future__ import annotations

from axonal import activations, initializers, regularizers
from axonal._validation import check_positive_int
from axonal.layers._sequence import (check_channels_last_only, check_sequence_shape, check_unit_argument,
                                     explicit_sequence_padding, sequence_padding, single)
from axonal.layers._window import output_hw
from axonal.layers.base import ActivationOutputMixin, Layer


class Conv1D(ActivationOutputMixin, Layer):
    """1-D convolution: ``y = activation(conv(x, kernel) + bias)`` along the time axis, fused.

    Like Keras, a cross-correlation (the kernel is not flipped).

    Args:
        filters: number of output channels F.
        kernel_size: window length K (an int, or a 1-tuple).
        strides: step between windows (an int, or a 1-tuple).
        padding: ``'valid'`` (windows inside the sequence), ``'same'`` (output ceil(T / stride); an
            odd padding step goes to the end, as in TensorFlow) or ``'causal'`` (K - 1 zeros before
            the sequence: output t sees inputs up to t only).
        data_format: ``'channels_last'`` (sequences (N, T, C)) or None; ``'channels_first'`` is
            refused with a fix.
        dilation_rate: 1 only (an int or a 1-tuple); other rates are refused with a fix.
        groups: 1 only.
        activation: name or function of :mod:`axonal.activations`, or None for linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer: initialiser of the (K, C, F) kernel (fans K·C and K·F, as in Keras).
        bias_initializer: initialiser of the (F,) bias.
        kernel_regularizer: penalty on the kernel, or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, T, C) -> y (N, OT, F), OT = (T - K) // s + 1 (``'valid'``) or ceil(T / s)
        (``'same'``, ``'causal'``).

    Example:
        >>> model = Sequential([Input(shape=(100, 8)), Conv1D(16, 5, activation="relu"),
        ...                     GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
        >>> model.layers[0].output_shape
        (None, 96, 16)
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_channels_last_only(self, data_format)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = single(kernel_size, "kernel_size")
        self.strides = single(strides, "strides")
        self.padding = sequence_padding(padding, causal=True)
        check_unit_argument(self, dilation_rate, "dilation_rate", "dilate by hand: a kernel of size "
                            "(K - 1)·rate + 1 with zeros between its taps")
        check_unit_argument(self, groups, "groups", "split the channels with separate Conv1D layers and "
                            "Concatenate their outputs")
        self.activation = activations.get(activation)
        self.alpha = activations.default_alpha(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def check_input_shape(self, input_shape, sources=None):
        check_sequence_shape(self, input_shape, self.kernel_size, self.padding)

    def _geometry(self, input_shape):
        """The (1, T, C) image, the explicit (top, bottom, left, right) padding and the output length."""
        self.check_input_shape(input_shape)
        steps, channels = input_shape[1], input_shape[2]
        padding = explicit_sequence_padding(self.padding, steps, self.kernel_size, self.strides)
        return (1, steps, channels), padding, output_hw((1, steps), (1, self.kernel_size), (1, self.strides), padding)[1]

    def build(self, input_shape):
        self.image, self.explicit_padding, self.output_steps = self._geometry(input_shape)
        channels = self.image[2]
        self.kernel = self.add_weight((self.kernel_size, channels, self.filters), self.kernel_initializer, "kernel",
                                      self.kernel_regularizer)
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, "bias", self.bias_regularizer)
                     if self.use_bias else None)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._geometry(input_shape)[2], self.filters)

    # The conv2d ops' view of the layer: a (1, K, C, F) kernel, strides (1, s).
    @property
    def image_strides(self) -> tuple[int, int]:
        return (1, self.strides)

    def image_kernel(self, array):
        """A (K, C, F) kernel (or its gradient) as the (1, K, C, F) view the conv2d ops take; None stays None."""
        return None if array is None else array.reshape(1, *array.shape)

    def forward(self, x, training):
        n = len(x)
        self.x = x.reshape(n, 1, *x.shape[1:])  # (N, T, C) -> (N, 1, T, C): a view
        self.y = self.buffers.get("y", (n, 1, self.output_steps, self.filters))
        self.ops.conv2d_forward(self.y, self.x, self.image_kernel(self.kernel), self.bias, self.image_strides,
                                self.explicit_padding, self.applied_activation, self.alpha)
        return self._activate(self.y).reshape(n, self.output_steps, self.filters)

    def backward(self, dy):
        n = len(dy)
        dy = self._deactivate(dy.reshape(n, 1, self.output_steps, self.filters), self.y)
        dz = self.buffers.get("dz", dy.shape)
        dx = self.buffers.get("dx", self.x.shape) if self.needs_input_gradient else None
        self.ops.conv2d_backward(dx, self.image_kernel(self._gradient_buffer("kernel")),
                                 self._gradient_buffer("bias"), dz, dy, self.x, self.image_kernel(self.kernel),
                                 self.y, self.image_strides, self.explicit_padding, self.applied_activation,
                                 self.alpha)
        return None if dx is None else dx.reshape(n, *self.input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": (self.kernel_size,),
                "strides": (self.strides,), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": (1,), "groups": 1, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
