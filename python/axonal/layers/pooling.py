"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, on channels_last images (channels_first
by transposing at the layer's edges: :mod:`axonal.layers._data_format`)."""
from __future__ import annotations

import numpy as np

from axonal.layers._data_format import ChannelsFirstEdges, data_format_argument
from axonal.layers._window import as_pair, check_image_shape, check_padding_mode, explicit_padding, output_hw
from axonal.layers.base import Layer



def _image_shape(layer, input_shape, *window) -> tuple:
    """``input_shape`` in channels_last order, checked as an image (and against a window and padding)."""
    last = layer._last_shape(input_shape)
    check_image_shape(layer, last, *window)
    return last

class _Pooling2D(ChannelsFirstEdges, Layer):
    """A window reduced to one value per channel; subclasses run the op in ``forward`` and ``backward``.

    Args:
        pool_size: window (PH, PW), or one int.
        strides: step between windows, or one int; None (the default) means ``pool_size``, so the
            windows tile the image, as in Keras.
        padding: ``'valid'`` (windows inside the image; leftover rows and columns are dropped) or
            ``'same'`` (output ceil(input / stride); padded positions are never chosen by the
            maximum nor counted by the mean).
        data_format: ``'channels_last'`` (images (N, H, W, C)), ``'channels_first'`` ((N, C, H, W),
            transposed around the channels_last kernels; runs layer by layer, not in the native
            loop) or None (the default) for :func:`axonal.backend.image_data_format`.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid", data_format: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_argument(self, data_format)
        self.pool_size = as_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides")
        self.padding = check_padding_mode(padding)

    def build(self, input_shape):
        last = _image_shape(self, input_shape, self.pool_size, self.padding)
        image_hw = tuple(last[1:3])
        self.explicit_padding = explicit_padding(self.padding, image_hw, self.pool_size, self.strides)
        self.output_hw = output_hw(image_hw, self.pool_size, self.strides, self.explicit_padding)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        last = _image_shape(self, input_shape, self.pool_size, self.padding)
        image_hw = tuple(last[1:3])
        padding = explicit_padding(self.padding, image_hw, self.pool_size, self.strides)
        return self._first_shape((last[0], *output_hw(image_hw, self.pool_size, self.strides, padding), last[3]))

    def _output_buffer(self, x):
        return self.buffers.get("y", (len(x), *self.output_hw, x.shape[3]))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The maximum of each window, per channel.

    The first maximum in row-major window order is chosen (its position is kept for the backward
    pass, which routes each gradient to it).

    Shapes:
        x (N, H, W, C) -> y (N, OH, OW, C), OH = (H - PH) // sh + 1 (``'valid'``) or ceil(H / sh).

    Example:
        >>> MaxPooling2D(2)(np.arange(16, dtype="float32").reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """

    def forward(self, x, training):
        x = self._enter(x, "x_channels_last")
        self.input_batch_shape = x.shape
        y = self._output_buffer(x)
        self.argmax = self.buffers.get("argmax", y.shape, np.int32)
        self.ops.max_pool2d_forward(y, self.argmax, x, self.pool_size, self.strides, self.explicit_padding)
        return self._leave(y, "y_channels_first")

    def backward(self, dy):
        dy = self._enter(dy, "dy_channels_last")
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.max_pool2d_backward(dx, dy, self.argmax)
        return self._leave(dx, "dx_channels_first")


class AveragePooling2D(_Pooling2D):
    """The mean of each window, per channel, over its inputs only (padding is not counted).

    Shapes:
        x (N, H, W, C) -> y (N, OH, OW, C), as :class:`MaxPooling2D`.

    Example:
        >>> AveragePooling2D(2)(np.arange(16, dtype="float32").reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]], dtype=float32)
    """

    def forward(self, x, training):
        x = self._enter(x, "x_channels_last")
        self.input_batch_shape = x.shape
        y = self._output_buffer(x)
        self.ops.avg_pool2d_forward(y, x, self.pool_size, self.strides, self.explicit_padding)
        return self._leave(y, "y_channels_first")

    def backward(self, dy):
        dy = self._enter(dy, "dy_channels_last")
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.avg_pool2d_backward(dx, dy, self.pool_size, self.strides, self.explicit_padding)
        return self._leave(dx, "dx_channels_first")


class GlobalAveragePooling2D(ChannelsFirstEdges, Layer):
    """The mean of each channel over the whole image: average pooling with the image as window.

    Args:
        data_format: ``'channels_last'``, ``'channels_first'`` (the input is transposed to
            channels_last first, and its gradient back) or None for
            :func:`axonal.backend.image_data_format`.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, C); channels_first: x (N, C, H, W) -> y (N, C).

    Example:
        >>> GlobalAveragePooling2D()(np.ones((2, 5, 5, 3), dtype="float32")).shape
        (2, 3)
    """

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_argument(self, data_format)

    def build(self, input_shape):
        last = _image_shape(self, input_shape)
        self.window = tuple(last[1:3])
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        last = _image_shape(self, input_shape)
        return (last[0], last[3])

    def forward(self, x, training):
        x = self._enter(x, "x_channels_last")
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), 1, 1, x.shape[3]))
        self.ops.avg_pool2d_forward(y, x, self.window, (1, 1), (0, 0, 0, 0))
        return y.reshape(len(x), -1)  # (N, 1, 1, C) -> (N, C): a view, no copy

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.avg_pool2d_backward(dx, dy.reshape(len(dy), 1, 1, -1), self.window, (1, 1), (0, 0, 0, 0))
        return self._leave(dx, "dx_channels_first")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class GlobalMaxPooling2D(ChannelsFirstEdges, Layer):
    """The maximum of each channel over the whole image: max pooling with the image as window (the
    first maximum in row-major order gets the gradient).

    Args:
        data_format: ``'channels_last'``, ``'channels_first'`` (the input is transposed to
            channels_last first, and its gradient back) or None for
            :func:`axonal.backend.image_data_format`.
        keepdims: keep the spatial axes, of size 1: (N, 1, 1, C) (channels_first (N, C, 1, 1))
            instead of (N, C), as in Keras.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, C); channels_first: x (N, C, H, W) -> y (N, C).

    Example:
        >>> GlobalMaxPooling2D()(np.arange(8, dtype="float32").reshape(1, 2, 2, 2))
        array([[6., 7.]], dtype=float32)
    """

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_argument(self, data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        last = _image_shape(self, input_shape)
        self.window = tuple(last[1:3])
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        last = _image_shape(self, input_shape)
        return self._first_shape((last[0], 1, 1, last[3])) if self.keepdims else (last[0], last[3])

    def forward(self, x, training):
        x = self._enter(x, "x_channels_last")
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), 1, 1, x.shape[3]))
        self.argmax = self.buffers.get("argmax", y.shape, np.int32)
        self.ops.max_pool2d_forward(y, self.argmax, x, self.window, (1, 1), (0, 0, 0, 0))
        # (N, 1, 1, C) -> (N, C), or (N, C, 1, 1) for channels_first keepdims: views, no copy.
        if not self.keepdims:
            return y.reshape(len(x), -1)
        return y.reshape(len(x), -1, 1, 1) if self.channels_first else y

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape)
        self.ops.max_pool2d_backward(dx, dy.reshape(len(dy), 1, 1, -1), self.argmax)
        return self._leave(dx, "dx_channels_first")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}
