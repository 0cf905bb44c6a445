"""Pooling over sequences (N, T, C): MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D,
GlobalMaxPooling1D, as in Keras.

Each runs the 2-D pooling kernels on the one-row image (N, 1, T, C) (a view): a (1, P) window for
the windowed poolings, the whole sequence (1, T) for the global ones. So every backend, the native
loop and the device run them with the pooling steps they already have; each layer exposes the
geometry those steps take (``window``, ``image``, ``image_strides``, ``explicit_padding``).
"""
from __future__ import annotations

import numpy as np

from axonal.layers._sequence import (check_channels_last_only, check_sequence_shape, explicit_sequence_padding,
                                     sequence_padding, single)
from axonal.layers._window import output_hw
from axonal.layers.base import Layer


class _Pooling1D(Layer):
    """A window of P steps reduced to one value per channel.

    Args:
        pool_size: window length P (an int or a 1-tuple).
        strides: step between windows; None (the default) means ``pool_size``, as in Keras.
        padding: ``'valid'`` or ``'same'`` (output ceil(T / stride); padded steps are never chosen
            by the maximum nor counted by the mean).
        data_format: ``'channels_last'`` or None (``'channels_first'`` is refused with a fix).
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).
    """

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_channels_last_only(self, data_format)
        self.pool_size = single(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else single(strides, "strides")
        self.padding = sequence_padding(padding, causal=False)

    def check_input_shape(self, input_shape, sources=None):
        check_sequence_shape(self, input_shape, self.pool_size, self.padding)

    def _output_steps(self, input_shape) -> int:
        self.check_input_shape(input_shape)
        padding = explicit_sequence_padding(self.padding, input_shape[1], self.pool_size, self.strides)
        return output_hw((1, input_shape[1]), (1, self.pool_size), (1, self.strides), padding)[1]

    def build(self, input_shape):
        self.output_steps = self._output_steps(input_shape)
        self.image = (1, input_shape[1], input_shape[2])
        self.window, self.image_strides = (1, self.pool_size), (1, self.strides)
        self.explicit_padding = explicit_sequence_padding(self.padding, input_shape[1], self.pool_size, self.strides)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._output_steps(input_shape), input_shape[2])

    def _image(self, x):
        """(N, T, C) as the (N, 1, T, C) view the kernels take; the output buffer."""
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), 1, self.output_steps, x.shape[2]))
        return x.reshape(len(x), 1, *x.shape[1:]), y

    def get_config(self):
        return {**super().get_config(), "pool_size": (self.pool_size,), "strides": (self.strides,),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """The maximum of each window of steps, per channel (the first maximum wins ties).

    Shapes:
        x (N, T, C) -> y (N, OT, C), OT = (T - P) // s + 1 (``'valid'``) or ceil(T / s).

    Example:
        >>> MaxPooling1D(2)(np.arange(8, dtype="float32").reshape(1, 4, 2))[0]
        array([[2., 3.],
               [6., 7.]], dtype=float32)
    """

    def forward(self, x, training):
        x, y = self._image(x)
        self.argmax = self.buffers.get("argmax", y.shape, np.int32)
        self.ops.max_pool2d_forward(y, self.argmax, x, self.window, self.image_strides, self.explicit_padding)
        return y.reshape(len(y), self.output_steps, -1)

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.max_pool2d_backward(dx.reshape(len(dx), 1, *dx.shape[1:]), dy.reshape(len(dy), 1, *dy.shape[1:]),
                                     self.argmax)
        return dx


class AveragePooling1D(_Pooling1D):
    """The mean of each window of steps, per channel, over its inputs only (padding is not counted).

    Shapes:
        x (N, T, C) -> y (N, OT, C), as :class:`MaxPooling1D`.

    Example:
        >>> AveragePooling1D(2)(np.arange(8, dtype="float32").reshape(1, 4, 2))[0]
        array([[1., 2.],
               [5., 6.]], dtype=float32)
    """

    def forward(self, x, training):
        x, y = self._image(x)
        self.ops.avg_pool2d_forward(y, x, self.window, self.image_strides, self.explicit_padding)
        return y.reshape(len(y), self.output_steps, -1)

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.avg_pool2d_backward(dx.reshape(len(dx), 1, *dx.shape[1:]), dy.reshape(len(dy), 1, *dy.shape[1:]),
                                     self.window, self.image_strides, self.explicit_padding)
        return dx


class _GlobalPooling1D(Layer):
    """One value per channel over the whole sequence.

    Args:
        data_format: ``'channels_last'`` or None (``'channels_first'`` is refused with a fix).
        keepdims: keep the time axis, of length 1: (N, 1, C) instead of (N, C), as in Keras.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).
    """

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_channels_last_only(self, data_format)
        self.keepdims = bool(keepdims)

    def check_input_shape(self, input_shape, sources=None):
        check_sequence_shape(self, input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self.image = (1, input_shape[1], input_shape[2])
        self.window, self.image_strides, self.explicit_padding = (1, input_shape[1]), (1, 1), (0, 0, 0, 0)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self.check_input_shape(input_shape)
        return (input_shape[0], 1, input_shape[2]) if self.keepdims else (input_shape[0], input_shape[2])

    def _shaped(self, y):
        """The (N, 1, 1, C) kernel output as the layer's (N, C) or (N, 1, C): a view."""
        return y.reshape(len(y), 1, -1) if self.keepdims else y.reshape(len(y), -1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each channel over the whole sequence.

    Shapes:
        x (N, T, C) -> y (N, C) (``keepdims``: (N, 1, C)).

    Example:
        >>> GlobalAveragePooling1D()(np.ones((2, 7, 3), dtype="float32")).shape
        (2, 3)
    """

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), 1, 1, x.shape[2]))
        self.ops.avg_pool2d_forward(y, x.reshape(len(x), 1, *x.shape[1:]), self.window, (1, 1), (0, 0, 0, 0))
        return self._shaped(y)

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.avg_pool2d_backward(dx.reshape(len(dx), 1, *dx.shape[1:]), dy.reshape(len(dy), 1, 1, -1),
                                     self.window, (1, 1), (0, 0, 0, 0))
        return dx


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum of each channel over the whole sequence (its first occurrence gets the gradient).

    Shapes:
        x (N, T, C) -> y (N, C) (``keepdims``: (N, 1, C)).

    Example:
        >>> GlobalMaxPooling1D()(np.arange(6, dtype="float32").reshape(1, 3, 2))
        array([[4., 5.]], dtype=float32)
    """

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), 1, 1, x.shape[2]))
        self.argmax = self.buffers.get("argmax", y.shape, np.int32)
        self.ops.max_pool2d_forward(y, self.argmax, x.reshape(len(x), 1, *x.shape[1:]), self.window, (1, 1),
                                    (0, 0, 0, 0))
        return self._shaped(y)

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.max_pool2d_backward(dx.reshape(len(dx), 1, *dx.shape[1:]), dy.reshape(len(dy), 1, 1, -1),
                                     self.argmax)
        return dx
