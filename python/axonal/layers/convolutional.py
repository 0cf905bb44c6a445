"""Convolution layers: Conv2D on channels_last images (channels_first by transposing at its edges), as in Keras."""
from __future__ import annotations

from axonal import activations, initializers, regularizers
from axonal._validation import check_positive_int
from axonal.layers._data_format import ChannelsFirstEdges, data_format_argument
from axonal.layers._window import as_pair, check_image_shape, check_padding_mode, explicit_padding, output_hw
from axonal.layers.base import ActivationOutputMixin, Layer


class Conv2D(ChannelsFirstEdges, ActivationOutputMixin, Layer):
    """2-D convolution: ``y = activation(conv(x, kernel) + bias)``, in one fused call.

    Like Keras (and every deep-learning library), it computes a cross-correlation: the kernel is
    not flipped. The ``cpu`` backend runs stride-1 convolutions with 8k or 16k filters as direct
    register-tiled loops (AVX2/AVX-512), the others as im2col + one GEMM + the bias/activation epilogue.

    Args:
        filters: number of output channels F.
        kernel_size: window (KH, KW), or one int for a square window.
        strides: step (sh, sw) between windows, or one int.
        padding: ``'valid'`` (windows inside the image only) or ``'same'`` (zeros around the image
            so that the output is ceil(input / stride) in each direction; an odd row or column of
            padding goes to the bottom/right, as in TensorFlow).
        activation: name (``"relu"``...), a function of :mod:`axonal.activations`, or None for linear.
            Softmax runs over the channels of each pixel.
        use_bias: whether to add a bias per filter.
        kernel_initializer: initialiser of the (KH, KW, C, F) kernel; its fans are KH·KW·C and
            KH·KW·F, as in Keras.
        bias_initializer: initialiser of the (F,) bias.
        kernel_regularizer: penalty on the kernel (``"l2"``, ``regularizers.l2(1e-4)``...), or None.
        bias_regularizer: penalty on the bias, or None.
        dilation_rate, groups: Keras' arguments; only 1 (the default) is supported.
        data_format: ``'channels_last'`` (images (N, H, W, C)), ``'channels_first'`` ((N, C, H, W):
            the layer transposes its input, output and their gradients around the channels_last
            kernels, and runs layer by layer, not in the native loop) or None (the default) for
            :func:`axonal.backend.image_data_format` when the layer is created.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, OH, OW, F) with OH = ceil(H / sh) for ``'same'`` and
        (H - KH) // sh + 1 for ``'valid'``; OW likewise. channels_first: x (N, C, H, W) -> y (N, F, OH, OW).

    Example:
        >>> model = Sequential([Input(shape=(28, 28, 1)), Conv2D(32, (3, 3), activation="relu"),
        ...                     MaxPooling2D((2, 2)), Flatten(), Dense(10, activation="softmax")])
        >>> model.layers[0].output_shape
        (None, 26, 26, 32)
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid", activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format: str | None = None, dilation_rate=(1, 1), groups: int = 1, kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if as_pair(dilation_rate, "dilation_rate") != (1, 1):
            raise ValueError(f"Layer {self.name!r} (Conv2D): dilation_rate={dilation_rate!r} is not supported "
                             "(only 1). Fix: dilate by hand: a kernel of size (K - 1)·rate + 1 with zeros between "
                             "its taps.")
        if groups != 1:
            raise ValueError(f"Layer {self.name!r} (Conv2D): groups={groups!r} is not supported (only 1). Fix: split "
                             "the channels with separate Conv2D layers and Concatenate their outputs.")
        self.data_format = data_format_argument(self, data_format)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.strides = as_pair(strides, "strides")
        self.padding = check_padding_mode(padding)
        self.activation = activations.get(activation)
        self.alpha = activations.default_alpha(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if self.channels_first and self.activation == "softmax":
            # Keras applies it over the last axis, the width here; the kernel would take the channels.
            raise ValueError(f"Layer {self.name!r} (Conv2D): activation='softmax' with data_format='channels_first' "
                             "is not supported (Keras takes the softmax over the last axis, the image width, "
                             "there; axonal's kernel takes it over the channels). Fix: use data_format="
                             "'channels_last', or end the model with Flatten() and Dense(..., activation='softmax').")

    def build(self, input_shape):
        last = self._last_shape(input_shape)
        check_image_shape(self, last, self.kernel_size, self.padding)
        image_hw, channels = tuple(last[1:3]), last[3]
        # The ops take explicit padding; 'same' depends on the image size, known only now.
        self.explicit_padding = explicit_padding(self.padding, image_hw, self.kernel_size, self.strides)
        self.output_hw = output_hw(image_hw, self.kernel_size, self.strides, self.explicit_padding)
        self.kernel = self.add_weight((*self.kernel_size, channels, self.filters), self.kernel_initializer,
                                      "kernel", self.kernel_regularizer)
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, "bias", self.bias_regularizer)
                     if self.use_bias else None)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        last = self._last_shape(input_shape)
        check_image_shape(self, last, self.kernel_size, self.padding)
        image_hw = tuple(last[1:3])
        padding = explicit_padding(self.padding, image_hw, self.kernel_size, self.strides)
        return self._first_shape((last[0], *output_hw(image_hw, self.kernel_size, self.strides, padding),
                                  self.filters))

    def forward(self, x, training):
        self.x = x = self._enter(x, "x_channels_last")
        self.y = self.buffers.get("y", (len(x), *self.output_hw, self.filters))
        self.ops.conv2d_forward(self.y, x, self.kernel, self.bias, self.strides, self.explicit_padding,
                                self.applied_activation, self.alpha)
        return self._leave(self._activate(self.y), "y_channels_first")

    def backward(self, dy):
        dy = self._deactivate(self._enter(dy, "dy_channels_last"), self.y)
        dz = self.buffers.get("dz", dy.shape)
        dx = self.buffers.get("dx", self.x.shape) if self.needs_input_gradient else None
        self.ops.conv2d_backward(dx, self._gradient_buffer("kernel"), self._gradient_buffer("bias"), dz, dy,
                                 self.x, self.kernel, self.y, self.strides, self.explicit_padding,
                                 self.applied_activation, self.alpha)
        return self._leave(dx, "dx_channels_first")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "activation": self.activation,
                "use_bias": self.use_bias, "data_format": self.data_format,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
